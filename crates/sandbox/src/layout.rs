//! Where a node keeps things on the host. One place that names every path,
//! so creation, cleanup and orphan detection cannot disagree.
//!
//! ```text
//! <state_dir>/images/<name>/rootfs/      read-only image root (canonical ids)
//! <state_dir>/images/<name>/image.json   how it was made
//! <run_dir>/runc/ , <run_dir>/runsc/     the runtimes' state (--root)
//! <run_dir>/sb/<id>/sandbox.json         what was asked (for list after a crash)
//! <run_dir>/sb/<id>/bundle/config.json   the OCI spec
//! <run_dir>/sb/<id>/rootfs/              overlay mount point (bundle root)
//! <run_dir>/sb/<id>/rw/                  tmpfs sized to the disk limit
//! <run_dir>/sb/<id>/rw/{upper,work}/     the overlay's writable layer
//! <run_dir>/sb/<id>/lower/               idmapped image view (runc, transient)
//! <run_dir>/sb/<id>/host/                bind-mounted at /run/airlock-host
//! <run_dir>/sb/<id>/host/ctl.sock        init channel (channel module)
//! <run_dir>/sb/<id>/host/proxy.sock      proxy endpoint (proxy)
//! <run_dir>/sb/<id>/init.log             init's stdout and stderr
//! ```

use std::path::{Path, PathBuf};

use airlock_core::SandboxId;

use crate::error::{Result, SandboxError};

/// The cgroup directory (under each hierarchy) holding every node's.
pub const CGROUP_ROOT_PARENT: &str = "airlock";

/// Longest path a `sockaddr_un` holds, without the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// The node-wide directories.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    state_dir: PathBuf,
    run_dir: PathBuf,
}

impl NodeLayout {
    /// A layout rooted at the two directories.
    pub fn new(state_dir: PathBuf, run_dir: PathBuf) -> Self {
        Self { state_dir, run_dir }
    }

    /// Where images live.
    pub fn images(&self) -> PathBuf {
        self.state_dir.join("images")
    }

    /// The runtime directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The `--root` state directory of an OCI runtime (`runc`, `runsc`).
    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.run_dir.join(runtime)
    }

    /// The cgroup parent of this node's sandboxes, relative to each
    /// hierarchy root: `airlock/<last component of run_dir>`. Per node, so
    /// that two nodes (or test nodes) on one host never touch each other's.
    pub fn cgroup_parent(&self) -> String {
        let tag = self
            .run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        format!(
            "{CGROUP_ROOT_PARENT}/{}",
            tag.unwrap_or_else(|| "node".into())
        )
    }

    /// The parent of all sandbox directories.
    pub fn sandboxes(&self) -> PathBuf {
        self.run_dir.join("sb")
    }

    /// The paths of one sandbox.
    pub fn sandbox(&self, id: &SandboxId) -> SandboxPaths {
        self.sandbox_str(id.as_str())
    }

    /// The paths of a sandbox by raw id (orphans found on disk). The id
    /// must be a single path component.
    pub(crate) fn sandbox_str(&self, id: &str) -> SandboxPaths {
        debug_assert!(!id.contains('/') && id != ".." && id != ".");
        SandboxPaths {
            dir: self.sandboxes().join(id),
        }
    }
}

/// The host paths of one sandbox (see the module docs for the tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPaths {
    dir: PathBuf,
}

impl SandboxPaths {
    /// The sandbox's directory; removing it removes everything below.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The record of what was asked.
    pub fn record(&self) -> PathBuf {
        self.dir.join("sandbox.json")
    }
    /// The OCI bundle directory.
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    /// The overlay mount point, the bundle's `root.path`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The tmpfs that bounds the writable layer.
    pub fn rw(&self) -> PathBuf {
        self.dir.join("rw")
    }
    /// The overlay upper directory (on the tmpfs).
    pub fn upper(&self) -> PathBuf {
        self.rw().join("upper")
    }
    /// The overlay work directory (on the tmpfs).
    pub fn work(&self) -> PathBuf {
        self.rw().join("work")
    }
    /// Where an idmapped view of the image is attached while the overlay is
    /// being mounted.
    pub fn lower(&self) -> PathBuf {
        self.dir.join("lower")
    }
    /// The directory shared with the sandbox at `/run/airlock-host`.
    pub fn host(&self) -> PathBuf {
        self.dir.join("host")
    }
    /// The init channel socket (listened on by the channel module).
    pub fn ctl_sock(&self) -> PathBuf {
        self.host().join("ctl.sock")
    }
    /// The per-sandbox proxy endpoint socket.
    pub fn proxy_sock(&self) -> PathBuf {
        self.host().join("proxy.sock")
    }
    /// The compiled seccomp programs init installs (runc).
    pub fn seccomp(&self) -> PathBuf {
        self.host().join(crate::spec::SECCOMP_FILE)
    }
    /// init's stdout and stderr.
    pub fn init_log(&self) -> PathBuf {
        self.dir.join("init.log")
    }

    /// Refuses layouts whose socket paths would not fit a `sockaddr_un`.
    pub fn check_socket_paths(&self) -> Result<()> {
        for p in [self.ctl_sock(), self.proxy_sock()] {
            if p.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(SandboxError::PathTooLong(p));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_must_fit() {
        let id = SandboxId::from_random([7; 8]);
        let ok = NodeLayout::new("/s".into(), "/run/airlock/0123abcd".into());
        ok.sandbox(&id).check_socket_paths().unwrap();
        assert_eq!(
            ok.sandbox(&id).ctl_sock(),
            Path::new("/run/airlock/0123abcd/sb/sb-0707070707070707/host/ctl.sock")
        );
        let long = NodeLayout::new("/s".into(), PathBuf::from("/x".repeat(40)));
        assert!(matches!(
            long.sandbox(&id).check_socket_paths(),
            Err(SandboxError::PathTooLong(_))
        ));
    }
}
