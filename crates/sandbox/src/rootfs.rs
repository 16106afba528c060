//! The root filesystem of one sandbox: the image as read-only lower layer,
//! a fresh writable upper layer on a tmpfs sized to the disk limit, joined by
//! an overlay mounted by the host.
//!
//! The tmpfs is what makes "nothing remains" and "disk is bounded" true at
//! once: every byte the sandbox writes lives in it, it cannot grow past its
//! size, and unmounting it frees everything.
//!
//! Images are stored with their canonical ids (root = 0). A runc sandbox runs
//! in a user namespace where root is host uid 100000, so for runc the lower
//! layer is an idmapped view of the image (0 → 100000) and the upper layer's
//! root is owned by 100000: copy-up keeps the shifted ids, and root inside
//! owns its files without the image ever being rewritten on disk.

use std::fs;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use airlock_sys::mount;
use tracing::warn;

use crate::error::{Result, SandboxError};
use crate::layout::SandboxPaths;

/// How to build the root.
#[derive(Debug)]
pub struct RootfsPlan<'a> {
    /// The image's root directory.
    pub image_root: &'a Path,
    /// A user namespace giving the id shift, for runtimes that run in one.
    pub idmap: Option<BorrowedFd<'a>>,
    /// Owner (uid = gid) of the writable layer's root: root as the sandbox
    /// sees it, on the host.
    pub root_owner: u32,
    /// Size of the writable layer in bytes.
    pub disk: u64,
}

/// Creates the sandbox's directories (failing if it already exists) and
/// mounts its root. On error, everything done so far is undone.
pub fn create(paths: &SandboxPaths, plan: &RootfsPlan<'_>) -> Result<()> {
    make_dirs(paths)?;
    if let Err(e) = mount_root(paths, plan) {
        remove(paths);
        return Err(e);
    }
    Ok(())
}

fn make_dirs(paths: &SandboxPaths) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.mode(0o711).recursive(true);
    let parent = paths.dir().parent().unwrap_or(Path::new("/"));
    b.create(parent)
        .map_err(SandboxError::io(format!("creating {}", parent.display())))?;
    // Not recursive: an existing directory means the id is taken (or an
    // orphan is there), and creation must not reuse it.
    b.recursive(false);
    b.create(paths.dir()).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => SandboxError::AlreadyExists(dir_name(paths)),
        _ => SandboxError::io(format!("creating {}", paths.dir().display()))(e),
    })?;
    // The runtime and the sandbox's root (an unprivileged host uid for runc)
    // must traverse to the bundle root, host dir and mounts: 0711 lets them
    // through without letting them list what is here.
    set_mode(paths.dir(), 0o711)?;
    for d in [paths.bundle(), paths.rootfs(), paths.rw(), paths.host()] {
        b.mode(0o711)
            .create(&d)
            .map_err(SandboxError::io(format!("creating {}", d.display())))?;
    }
    set_mode(&paths.host(), 0o755)
}

fn mount_root(paths: &SandboxPaths, plan: &RootfsPlan<'_>) -> Result<()> {
    let rw = paths.rw();
    mount::mount_tmpfs(&rw, plan.disk, 0o700, 0, 0).map_err(SandboxError::io(format!(
        "mounting tmpfs on {}",
        rw.display()
    )))?;
    for d in [paths.upper(), paths.work()] {
        fs::create_dir(&d).map_err(SandboxError::io(format!("creating {}", d.display())))?;
    }
    let upper = paths.upper();
    std::os::unix::fs::chown(&upper, Some(plan.root_owner), Some(plan.root_owner))
        .map_err(SandboxError::io(format!("chown {}", upper.display())))?;
    set_mode(&upper, 0o755)?;
    let lower = match plan.idmap {
        Some(userns) => {
            let l = paths.lower();
            fs::create_dir(&l).map_err(SandboxError::io(format!("creating {}", l.display())))?;
            mount::idmapped_bind(plan.image_root, &l, userns).map_err(|e| {
                SandboxError::Kernel(format!(
                    "idmapped mounts (Linux >= 5.19) for {}: {e}",
                    l.display()
                ))
            })?;
            l
        }
        None => plan.image_root.to_path_buf(),
    };
    let result = mount::mount_overlay(&paths.rootfs(), &lower, &upper, &paths.work()).map_err(
        SandboxError::io(format!("mounting overlay on {}", paths.rootfs().display())),
    );
    if plan.idmap.is_some() {
        // The overlay holds its own private clone of the layer; the view we
        // attached is no longer needed and must not outlive this call.
        let _ = mount::unmount(&lower);
        let _ = fs::remove_dir(&lower);
    }
    result
}

/// Unmounts and deletes everything of the sandbox on the host. Idempotent;
/// problems are logged, and the caller checks what is left.
pub fn remove(paths: &SandboxPaths) {
    for m in [paths.rootfs(), paths.lower(), paths.rw()] {
        if let Err(e) = mount::unmount(&m) {
            warn!(path = %m.display(), error = %e, "unmount failed");
        }
    }
    match fs::remove_dir_all(paths.dir()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %paths.dir().display(), error = %e, "removing sandbox dir failed"),
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .map_err(SandboxError::io(format!("chmod {}", p.display())))
}

fn dir_name(paths: &SandboxPaths) -> String {
    paths
        .dir()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
