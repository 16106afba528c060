//! A full disk: appends fail with a clear error, nothing half-written
//! remains, and the log still verifies.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_audit::{AuditError, AuditLog, StoreError, verify_store};

use crate::util::{ORIGIN, event, signer, verifier};

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tiny_tmpfs(dir: &Path) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(Mount(dir.to_owned()));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI runs as root and must mount a tmpfs"
    );
    eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
    None
}

#[test]
fn full_disk_refuses_appends_and_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = mount_tiny_tmpfs(dir.path()) else {
        return;
    };
    let path = dir.path().join("audit");
    // Ballast the admin can delete once the disk is full.
    let ballast = dir.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 256 * 1024]).unwrap();
    let log = AuditLog::open(&path, signer(), ORIGIN).unwrap();
    let big = |i: usize| event(i).detail("padding", "p".repeat(3000));
    let mut acked = 0u64;
    let mut failure = None;
    for i in 0..2000 {
        match log.append_many_blocking((0..4).map(|k| big(i * 4 + k)).collect()) {
            Ok(r) => acked += r.len() as u64,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("a 1 MiB filesystem must fill up");
    eprintln!("disk full after {acked} events: {err}");
    assert!(
        matches!(err, AuditError::NotDurable(StoreError::Full)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("disk is full") && err.to_string().contains("refused"),
        "{err}"
    );
    assert_eq!(log.stats().size, acked, "the frontier did not advance");
    // The failed batch left nothing: the next seq is still `acked`.
    assert!(log.stats().failed_commits >= 1);
    let report = verify_store(&path, &verifier()).unwrap();
    assert_eq!(report.entries, acked, "{report}");
    assert!(
        report
            .problem
            .is_none_or(|p| p.kind == airlock_audit::Tampering::Unsigned)
    );
    // Space comes back: the same handle signs and appends again, and the
    // log verifies with no gap.
    std::fs::remove_file(&ballast).unwrap();
    let next = log.append_blocking(event(0)).unwrap();
    assert_eq!(next.seq, acked);
    drop(log);
    let report = verify_store(&path, &verifier()).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, acked + 1);
}
