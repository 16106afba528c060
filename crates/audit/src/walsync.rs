//! Durability of SQLite WAL commits with `fdatasync` instead of `fsync`.
//!
//! The bundled SQLite syncs with `fsync`, which also flushes the file's
//! timestamps: every commit then costs a filesystem journal commit, about four
//! times a plain `fdatasync` on the benchmark disk. So the writer connection
//! runs with `synchronous=NORMAL` (a commit writes its WAL frames without
//! syncing) and the store calls [`WalSync::sync`] after each commit, before it
//! reports success. A commit is acknowledged only once its frames, and the WAL
//! header they hang from, are on disk: the same guarantee `synchronous=FULL`
//! gives, at the cost of a data-only sync. Checkpoints of the WAL into the
//! database are still synced by SQLite itself.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Syncs the `-wal` file of one database.
#[derive(Debug)]
pub(crate) struct WalSync {
    path: PathBuf,
    file: Option<(File, u64)>,
}

impl WalSync {
    /// For the database at `db`.
    pub fn new(db: &Path) -> Self {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        Self {
            path: PathBuf::from(name),
            file: None,
        }
    }

    /// Makes everything written to the WAL so far durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        let inode = std::fs::metadata(&self.path)?.ino();
        // SQLite may have deleted and recreated the WAL (it does when the
        // last connection closes); follow the file the path names now.
        if self.file.as_ref().is_none_or(|(_, ino)| *ino != inode) {
            let file = File::open(&self.path)?;
            // A new file's directory entry must be durable too.
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            self.file = Some((file, inode));
        }
        let (file, _) = self.file.as_ref().expect("opened above");
        file.sync_data()
    }
}
