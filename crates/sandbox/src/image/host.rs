//! The `host` image: a small generated root around the host's own /usr.
//!
//! Only public, generic files are taken from the host (CA certificates, the
//! dynamic linker cache, alternatives symlinks, protocol tables). /etc is
//! otherwise written fresh: no shadow file, no host users, no /root or /home
//! contents, no keys. /usr is not copied; it is bind-mounted read-only at
//! sandbox start, and /bin, /lib, /lib64, /sbin are symlinks into it (Debian
//! 12's merged /usr).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::{FORMAT, HOST_IMAGE, ImageInfo, digest, host_arch, now_rfc3339, write_info};
use crate::error::{Result, SandboxError};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
agent:x:1000:1000:Airlock agent:/home/agent:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";
const GROUP: &str = "root:x:0:\ntty:x:5:\nagent:x:1000:\nnogroup:x:65534:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
/// Points at loopback port 53, where nothing listens: lookups fail at once
/// instead of timing out. Names are resolved by the proxy, outside.
pub(super) const RESOLV: &str = "# Airlock: no DNS inside a sandbox; the proxy resolves names.\n\
nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n\
networks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";

/// Public host files copied as they are (if present).
const COPIED: &[&str] = &[
    "etc/ld.so.cache",
    "etc/ld.so.conf",
    "etc/ld.so.conf.d",
    "etc/ssl/certs",
    "etc/ssl/openssl.cnf",
    "etc/alternatives",
    "etc/protocols",
    "etc/services",
    "etc/debian_version",
    "etc/bash.bashrc",
    "etc/profile",
];

/// Builds the image in a temporary directory next to `dir`, then swaps it in.
pub fn build(dir: &Path) -> Result<ImageInfo> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent)
        .map_err(SandboxError::io(format!("creating {}", parent.display())))?;
    let tmp = parent.join(format!(".{HOST_IMAGE}.building"));
    let _ = fs::remove_dir_all(&tmp);
    let root = tmp.join("rootfs");
    fs::create_dir_all(&root).map_err(SandboxError::io(format!("creating {}", root.display())))?;
    populate(&root).map_err(SandboxError::io(format!("generating {}", root.display())))?;
    let (digest, size) =
        digest::tree(&root).map_err(SandboxError::io(format!("hashing {}", root.display())))?;
    let info = ImageInfo {
        name: HOST_IMAGE.to_string(),
        kind: "host".to_string(),
        format: FORMAT,
        suite: None,
        mirror: None,
        packages: Vec::new(),
        debootstrap_version: None,
        arch: host_arch(),
        created: now_rfc3339(),
        digest,
        size,
    };
    write_info(&tmp, &info)?;
    let _ = fs::remove_dir_all(dir);
    fs::rename(&tmp, dir).map_err(SandboxError::io(format!("renaming {}", tmp.display())))?;
    Ok(info)
}

/// Writes the tree. Everything is owned by root (this runs as root) except
/// the agent's directories.
fn populate(root: &Path) -> std::io::Result<()> {
    for (d, mode) in [
        ("etc", 0o755),
        ("etc/ssl", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("usr", 0o755),
        ("run", 0o755),
        ("run/airlock-host", 0o755),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("var/log", 0o755),
        ("root", 0o700),
        ("home", 0o755),
        ("home/agent", 0o755),
        ("workspace", 0o755),
        ("mnt", 0o755),
        ("opt", 0o755),
        (".airlock", 0o755),
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
    }
    for d in ["home/agent", "workspace"] {
        std::os::unix::fs::chown(root.join(d), Some(1000), Some(1000))?;
    }
    super::add_airlock_dirs(root)?;
    for l in ["bin", "lib", "lib32", "lib64", "libx32", "sbin"] {
        // Only the ones the host has, so no symlink dangles.
        if Path::new("/usr").join(l).is_dir() {
            symlink(format!("usr/{l}"), root.join(l))?;
        }
    }
    write_etc(root)?;
    for rel in COPIED {
        let src = Path::new("/").join(rel);
        if src.symlink_metadata().is_ok() {
            copy_tree(&src, &root.join(rel))?;
        }
    }
    Ok(())
}

fn write_etc(root: &Path) -> std::io::Result<()> {
    let etc = root.join("etc");
    for (name, text) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("hosts", HOSTS),
        ("resolv.conf", RESOLV),
        ("nsswitch.conf", NSSWITCH),
        ("hostname", "sandbox\n"),
        ("timezone", "Etc/UTC\n"),
        ("shells", "/bin/sh\n/bin/bash\n/usr/bin/sh\n/usr/bin/bash\n"),
    ] {
        fs::write(etc.join(name), text)?;
    }
    symlink("../usr/lib/os-release", etc.join("os-release"))?;
    symlink("/usr/share/zoneinfo/Etc/UTC", etc.join("localtime"))?;
    symlink("../proc/self/mounts", etc.join("mtab"))?;
    Ok(())
}

/// Copies a file, symlink or directory tree, keeping symlinks as symlinks
/// and modes; owners become root (the copier).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    if let Some(p) = dst.parent() {
        fs::create_dir_all(p)?;
    }
    if md.file_type().is_symlink() {
        symlink(fs::read_link(src)?, dst)
    } else if md.is_dir() {
        fs::create_dir_all(dst)?;
        fs::set_permissions(dst, md.permissions())?;
        for e in fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(src, dst).map(|_| ())
    }
}
