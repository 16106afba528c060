//! The durable path: encode a batch, write it after the tail, fdatasync,
//! publish the new tail. Nothing else happens on it.
//!
//! Why it is cheap: the space a commit writes into was written (with zeros)
//! and synced ahead of time, so the file's size and extents do not change
//! and `fdatasync` flushes data pages only, without a filesystem journal
//! commit. Pre-writing happens in chunks, so its own sync is rare.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::file::format::{COMMIT, SEGMENT_HEADER_LEN, SegmentHeader, encode_record};
use crate::file::segments::{Core, Pos, Segment, segment_path};
use crate::file::{Options, io_error, sync_dir};
use crate::store::NewEntry;

/// Granularity of pre-written space.
const PAGE: u64 = 4096;
/// How often the free space of the filesystem is looked at.
const SPACE_CHECK_EVERY: Duration = Duration::from_millis(10);

/// The writer's side of the log (one per store, behind a mutex).
#[derive(Debug)]
pub(crate) struct Appender {
    pub options: Options,
    pub log_id: [u8; 16],
    /// The last segment: the one appended to.
    pub seg: Arc<Segment>,
    /// Where the durable records end.
    pub tail: Pos,
    /// Length of the current segment file (records, then zeros).
    pub written_to: u64,
    /// Largest size of the current segment.
    pub capacity: u64,
    buf: Vec<u8>,
    space_checked: Option<Instant>,
    /// Set when a failed write could not be undone: appending on top of
    /// bytes of unknown state could bury them, so the store stops.
    poisoned: Option<String>,
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

impl Appender {
    /// The appender for a log whose durable records end at `tail`, in `seg`.
    pub fn new(
        options: Options,
        log_id: [u8; 16],
        seg: Arc<Segment>,
        tail: Pos,
    ) -> Result<Self, StoreError> {
        let len = seg
            .file
            .metadata()
            .map_err(io_error("cannot read", &seg.path))?
            .len();
        Ok(Self {
            capacity: options.segment_bytes.max(len),
            options,
            log_id,
            seg,
            tail,
            written_to: len,
            buf: Vec::new(),
            space_checked: None,
            poisoned: None,
        })
    }

    /// Writes `entries` (the next seqs) durably, or nothing. Returns where
    /// the first one went: the segment's number and the record's offset
    /// (the others follow it back to back).
    pub fn append(&mut self, core: &Core, entries: &[NewEntry]) -> Result<(u64, u64), StoreError> {
        if let Some(why) = &self.poisoned {
            return Err(StoreError::Other(why.clone()));
        }
        let Some(first) = entries.first() else {
            return Ok((self.seg.number, self.tail.offset));
        };
        if first.seq != self.tail.index {
            return Err(StoreError::Other(format!(
                "append at seq {} but the log holds {} entries",
                first.seq, self.tail.index
            )));
        }
        self.encode(entries);
        let len = self.buf.len() as u64;
        self.check_space(len)?;
        if self.tail.offset + len > self.capacity {
            self.roll(core, len)?;
        }
        self.prewrite(self.tail.offset + len)?;
        let at = self.tail.offset;
        let written = self
            .seg
            .file
            .write_all_at(&self.buf, at)
            .and_then(|()| self.seg.file.sync_data());
        if let Err(e) = written {
            self.undo(at, len);
            return Err(io_error("cannot write", &self.seg.path)(e));
        }
        self.tail.offset += len;
        self.tail.index += entries.len() as u64;
        *core.tail.lock().expect("tail lock") = self.tail;
        Ok((self.seg.number, at))
    }

    fn encode(&mut self, entries: &[NewEntry]) {
        self.buf.clear();
        let last = entries.len() - 1;
        for (i, e) in entries.iter().enumerate() {
            let flags = if i == last { COMMIT } else { 0 };
            encode_record(&mut self.buf, e.seq, flags, &e.leaf, &e.body);
        }
    }

    /// Refuses when the filesystem is (nearly) full, even if pre-written
    /// space could still hold the batch: the checkpoints and the index need
    /// room too, and an operation should not go ahead on a disk where
    /// nothing else can be written.
    fn check_space(&mut self, len: u64) -> Result<(), StoreError> {
        let due = self
            .space_checked
            .is_none_or(|t| t.elapsed() >= SPACE_CHECK_EVERY);
        if !due {
            return Ok(());
        }
        let free = free_bytes(&self.seg.file);
        // Low on space: look again at every commit.
        let low = free.is_some_and(|f| f < 16 * (self.options.min_free_bytes + len));
        self.space_checked = (!low).then(Instant::now);
        match free {
            Some(f) if f < self.options.min_free_bytes + len => Err(StoreError::Full),
            _ => Ok(()),
        }
    }

    /// Makes sure the segment file is written (with zeros) at least up to
    /// `need`, growing it by a chunk when it is not.
    fn prewrite(&mut self, need: u64) -> Result<(), StoreError> {
        if need <= self.written_to {
            return Ok(());
        }
        let need = round_up(need);
        // Never pre-write more than an eighth of the free space.
        let free = free_bytes(&self.seg.file).unwrap_or(u64::MAX);
        let chunk = round_up(self.options.prewrite_bytes.min(free / 8));
        let want = (need + chunk).min(self.capacity.max(need));
        let grown = match grow(&self.seg.file, self.written_to, want) {
            Ok(()) => want,
            // Not enough room for a chunk: take exactly what this batch needs.
            Err(_) if want > need => {
                grow(&self.seg.file, self.written_to, need)
                    .map_err(io_error("cannot grow", &self.seg.path))?;
                need
            }
            Err(e) => return Err(io_error("cannot grow", &self.seg.path)(e)),
        };
        self.written_to = grown;
        Ok(())
    }

    /// Starts the next segment, sized for at least `len` bytes of records.
    fn roll(&mut self, core: &Core, len: u64) -> Result<(), StoreError> {
        let number = self.seg.number + 1;
        let header = SegmentHeader {
            log_id: self.log_id,
            number,
            first_seq: self.tail.index,
        };
        let seg = create_segment(&core.dir, &header)?;
        tracing::debug!(
            number,
            first_seq = header.first_seq,
            "new audit log segment"
        );
        let mut segs = core.segments.write().expect("segments lock");
        segs.push(seg.clone());
        self.tail = Pos {
            seg: segs.len() - 1,
            offset: SEGMENT_HEADER_LEN as u64,
            index: self.tail.index,
        };
        drop(segs);
        self.capacity = self
            .options
            .segment_bytes
            .max(SEGMENT_HEADER_LEN as u64 + len);
        self.written_to = SEGMENT_HEADER_LEN as u64;
        self.seg = seg;
        Ok(())
    }

    /// After a failed write: zero what may have reached the file, so that
    /// nothing of the refused batch can come back after a restart.
    fn undo(&mut self, at: u64, len: u64) {
        let zeros = vec![0u8; len as usize];
        let undone = self
            .seg
            .file
            .write_all_at(&zeros, at)
            .and_then(|()| self.seg.file.sync_data());
        if let Err(e) = undone {
            tracing::error!(error = %e, "cannot undo a failed audit write; refusing further appends");
            self.poisoned = Some(format!(
                "a failed write to {} could not be undone ({e}); restart the server",
                self.seg.path.display()
            ));
        }
    }
}

/// Writes zeros to `file` from `from` to `to` and syncs (size included).
fn grow(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; (to - from).min(1 << 20) as usize];
    let mut at = from;
    let res = (|| {
        while at < to {
            let n = (to - at).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        file.sync_data()
    })();
    if res.is_err() {
        // Give back what was taken: a full disk must not stay full because of us.
        let _ = file.set_len(from);
    }
    res
}

/// Bytes available to us on the filesystem holding `file`, if it says.
fn free_bytes(file: &File) -> Option<u64> {
    let st = rustix::fs::fstatvfs(file).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Creates a segment file durably: header, then a first chunk of zeros,
/// written under a temporary name and renamed, so a segment file either
/// does not exist or is whole.
pub(crate) fn create_segment(
    dir: &std::path::Path,
    header: &SegmentHeader,
) -> Result<Arc<Segment>, StoreError> {
    let path = segment_path(dir, header.number);
    let tmp = path.with_extension("log.tmp");
    let io = io_error("cannot create", &path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(&io)?;
    file.write_all_at(&header.encode(), 0).map_err(&io)?;
    file.sync_all().map_err(&io)?;
    std::fs::rename(&tmp, &path).map_err(&io)?;
    sync_dir(dir)?;
    Ok(Arc::new(Segment {
        number: header.number,
        path: path.clone(),
        file,
        header: Ok(*header),
    }))
}
