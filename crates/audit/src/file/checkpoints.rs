//! The checkpoint file: signed notes, appended and synced, one per record.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::file::format::{
    CHECKPOINT_FILE_HEADER_LEN, CHECKPOINT_HEADER_LEN, CheckpointEntry, checkpoint_file_header,
    encode_checkpoint, parse_checkpoints,
};
use crate::file::{io_error, sync_dir};
use crate::store::StoredCheckpoint;

/// The checkpoint file of a log.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    path: PathBuf,
    file: Option<File>,
    /// `(size, offset, note length)` of every record, in file order.
    entries: Vec<(u64, u64, usize)>,
    end: u64,
}

/// `DIR/checkpoints.log`.
pub(crate) fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.log")
}

impl CheckpointFile {
    /// Opens the file for appending, creating it when missing, and cuts off
    /// a torn last record (a checkpoint that was never acknowledged).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = checkpoint_path(dir);
        let io = io_error("cannot open", &path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(&io)?;
        // A file shorter than its header holds no records: (re)write it.
        if file.metadata().map_err(&io)?.len() < CHECKPOINT_FILE_HEADER_LEN as u64 {
            file.write_all_at(&checkpoint_file_header(), 0)
                .map_err(&io)?;
            file.sync_all().map_err(&io)?;
            sync_dir(dir)?;
        }
        let (entries, end) = read_entries(&file, &path)?;
        if file.metadata().map_err(&io)?.len() > end {
            tracing::warn!(path = %path.display(), "cutting off a torn checkpoint record");
            file.set_len(end)
                .and_then(|()| file.sync_all())
                .map_err(&io)?;
        }
        Ok(Self::with(path.clone(), Some(file), &entries, end))
    }

    /// Reads the file without changing it (a missing file has no checkpoints).
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let path = checkpoint_path(dir);
        if !path.exists() {
            return Ok(Self::with(path, None, &[], 0));
        }
        let file = File::open(&path).map_err(io_error("cannot open", &path))?;
        let (entries, end) = read_entries(&file, &path)?;
        Ok(Self::with(path, Some(file), &entries, end))
    }

    fn with(path: PathBuf, file: Option<File>, entries: &[CheckpointEntry], end: u64) -> Self {
        let entries = entries
            .iter()
            .map(|e| (e.size, e.offset, e.note.len()))
            .collect();
        Self {
            path,
            file,
            entries,
            end,
        }
    }

    /// Appends a checkpoint durably.
    pub fn append(&mut self, size: u64, note: &str) -> Result<(), StoreError> {
        let io = io_error("cannot write", &self.path);
        let file = self.file.as_ref().ok_or(StoreError::ReadOnly)?;
        let mut rec = Vec::with_capacity(CHECKPOINT_HEADER_LEN + note.len());
        encode_checkpoint(&mut rec, size, note.as_bytes());
        let written = file
            .write_all_at(&rec, self.end)
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            let _ = file.set_len(self.end);
            return Err(io(e));
        }
        self.entries.push((size, self.end, note.len()));
        self.end += rec.len() as u64;
        Ok(())
    }

    /// The size of the latest checkpoint.
    pub fn latest_size(&self) -> Option<u64> {
        self.entries.last().map(|e| e.0)
    }

    /// Every checkpoint, in file order.
    pub fn all(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        (0..self.entries.len()).map(|i| self.read(i)).collect()
    }

    /// The first checkpoint whose size is greater than `seq`.
    pub fn covering(&self, seq: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let i = self.entries.partition_point(|e| e.0 <= seq);
        if i == self.entries.len() {
            return Ok(None);
        }
        self.read(i).map(Some)
    }

    fn read(&self, i: usize) -> Result<StoredCheckpoint, StoreError> {
        let (size, offset, len) = self.entries[i];
        let file = self.file.as_ref().ok_or(StoreError::ReadOnly)?;
        let mut note = vec![0u8; len];
        file.read_exact_at(&mut note, offset + CHECKPOINT_HEADER_LEN as u64)
            .map_err(io_error("cannot read", &self.path))?;
        Ok(StoredCheckpoint {
            size,
            note: String::from_utf8_lossy(&note).into_owned(),
        })
    }
}

fn read_entries(file: &File, path: &Path) -> Result<(Vec<CheckpointEntry>, u64), StoreError> {
    let len = file
        .metadata()
        .map_err(io_error("cannot read", path))?
        .len();
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(io_error("cannot read", path))?;
    parse_checkpoints(&bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
}
