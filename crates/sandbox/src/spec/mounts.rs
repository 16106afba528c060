//! The mounts of a sandbox: the standard kernel filesystems (as runc's
//! default spec has them, with /sys read-only), and the per-sandbox binds.

use std::path::Path;

use oci_spec::runtime::Mount;

use super::{HOST_DIR, INIT_PATH, ImageMounts};
use crate::layout::SandboxPaths;

/// /proc, a minimal /dev, /sys and its cgroups read-only.
pub fn standard() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// init's binary, the host directory (sockets only: read-only, so the
/// sandbox cannot plant files there), and the image's read-only binds.
pub fn per_sandbox(paths: &SandboxPaths, init: &Path, image: &ImageMounts) -> Vec<Mount> {
    let mut v = vec![
        bind(INIT_PATH, init, &["ro", "nosuid", "nodev"]),
        bind(
            HOST_DIR,
            &paths.host(),
            &["ro", "nosuid", "nodev", "noexec"],
        ),
    ];
    for (host, inside) in &image.ro_binds {
        v.push(bind(inside, host, &["ro", "nosuid", "nodev"]));
    }
    v
}

fn bind(dest: &str, source: &Path, opts: &[&str]) -> Mount {
    let mut options = vec!["rbind".to_string()];
    options.extend(opts.iter().map(|s| s.to_string()));
    Mount::default()
        .set_destination(dest.into())
        .set_typ(Some("bind".into()))
        .set_source(Some(source.to_path_buf()))
        .set_options(Some(options))
        .to_owned()
}

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Mount {
    Mount::default()
        .set_destination(dest.into())
        .set_typ(Some(typ.into()))
        .set_source(Some(source.into()))
        .set_options(Some(opts.iter().map(|s| s.to_string()).collect()))
        .to_owned()
}
