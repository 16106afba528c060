//! The cgroups of sandboxes on the host, for cleanup and for checking that
//! nothing is left. Every sandbox's cgroup is `<parent>/<id>` (the parent is
//! [`crate::layout::NodeLayout::cgroup_parent`]) under each
//! mounted hierarchy (one per controller on cgroup v1, plus the unified
//! one on hybrid hosts). The runtimes create and delete them; this module
//! only removes what a crash left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Every hierarchy root: `/sys/fs/cgroup/<ctrl>` on v1 and hybrid hosts,
/// `/sys/fs/cgroup` itself on pure v2.
fn hierarchies() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect()
}

/// The cgroup directories of sandbox `id` that exist now.
pub fn leftovers(parent: &str, id: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(parent).join(id))
        .filter(|p| p.exists())
        .collect()
}

/// Ids that have a cgroup under `parent` in any hierarchy.
pub fn sandbox_ids(parent: &str) -> Vec<String> {
    let mut ids: Vec<String> = hierarchies()
        .into_iter()
        .filter_map(|h| fs::read_dir(h.join(parent)).ok())
        .flat_map(|d| d.flatten())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Removes the cgroups of `id` left by a runtime that did not clean up.
/// A cgroup with processes cannot be removed (EBUSY); they are killed by the
/// runtime's delete before this runs, so a few short retries cover exit.
pub async fn remove(parent: &str, id: &str) {
    for dir in leftovers(parent, id) {
        let mut tries = 0;
        while let Err(e) = fs::remove_dir(&dir) {
            if e.kind() == std::io::ErrorKind::NotFound {
                break;
            }
            tries += 1;
            if tries > 20 {
                warn!(path = %dir.display(), error = %e, "cannot remove cgroup");
                break;
            }
            kill_all(&dir);
            tokio::time::sleep(Duration::from_millis(10 * tries)).await;
        }
    }
}

/// Removes the node's parent cgroups if they are empty (EBUSY otherwise,
/// which is fine). Called only when the node has no sandbox, not even one
/// being created, so it cannot race a runtime creating a child.
pub fn remove_parent(parent: &str) {
    for h in hierarchies() {
        let _ = fs::remove_dir(h.join(parent));
    }
}

/// SIGKILLs every process of sandbox `id` and waits (up to 2 s) until they
/// are gone: out of the cgroup (at exit) and reaped (runsc treats a zombie
/// as alive and would wait a second for it).
///
/// `known` are pids recorded at start: those that already exited are no
/// longer in the cgroup but may still be unreaped children of ours.
pub async fn kill_all_and_wait(parent: &str, id: &str, known: Vec<u32>) {
    let dirs = leftovers(parent, id);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut killed = known;
    loop {
        let procs: Vec<u32> = dirs.iter().flat_map(|d| procs(d)).collect();
        // Our own children (the node is a subreaper) are reaped here; others
        // are waited for until their parent reaps them.
        killed.retain(|&pid| {
            !airlock_sys::child::try_reap(pid).unwrap_or(true)
                || Path::new(&format!("/proc/{pid}")).exists()
        });
        if (procs.is_empty() && killed.is_empty()) || std::time::Instant::now() > deadline {
            return;
        }
        for pid in procs {
            let _ = airlock_sys::process::kill(pid, 9);
            killed.push(pid);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The processes in sandbox `id`'s cgroup (from its first hierarchy).
pub fn pids(parent: &str, id: &str) -> Vec<u32> {
    leftovers(parent, id)
        .first()
        .map(|d| procs(d))
        .unwrap_or_default()
}

fn procs(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process in a cgroup.
fn kill_all(dir: &Path) {
    for pid in procs(dir) {
        let _ = airlock_sys::process::kill(pid, 9);
    }
}
