//! The segment files of one log, what is durable in them, and reading them.
//!
//! Readers never look past the durable tail the writer publishes after each
//! fdatasync, so they never see a half-written batch.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::StoreError;
use crate::file::format::{COMMIT, SEGMENT_HEADER_LEN, SegmentHeader};
use crate::file::io_error;
use crate::file::reader::{Item, RecordRef, SegmentReader};

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    /// The number in its file name.
    pub number: u64,
    /// Its path.
    pub path: PathBuf,
    /// Open for reading (and for writing, when it is the writer's).
    pub file: File,
    /// Its header, or why it is unreadable.
    pub header: Result<SegmentHeader, String>,
}

impl Segment {
    /// Seq of the first record, per the header (0 when unreadable).
    pub fn first_seq(&self) -> u64 {
        self.header.as_ref().map_or(0, |h| h.first_seq)
    }
}

/// A place in the log: the segment (index in the list), the offset of the
/// next record in it, and how many records come before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    /// Index of the segment in [`Core::segments`].
    pub seg: usize,
    /// Byte offset in that segment.
    pub offset: u64,
    /// Records before this place (the seq of the next record).
    pub index: u64,
}

impl Pos {
    /// The start of the log.
    pub const START: Pos = Pos {
        seg: 0,
        offset: SEGMENT_HEADER_LEN as u64,
        index: 0,
    };
}

/// What a scan finds.
#[derive(Debug)]
pub(crate) enum Found<'a> {
    /// A record at `Pos`.
    Record(RecordRef<'a>),
    /// Bytes that are not records where records should be.
    Unreadable(String),
}

/// The shared state of a log's files.
#[derive(Debug)]
pub(crate) struct Core {
    /// The log directory.
    pub dir: PathBuf,
    /// Segments in number order.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// End of the durable records.
    pub tail: Mutex<Pos>,
}

/// `seg-00000042.log`.
pub(crate) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("seg-{number:08}.log"))
}

/// The segment files in `dir`, by number, opened (read-write when `write`).
pub(crate) fn list_segments(dir: &Path, write: bool) -> Result<Vec<Segment>, StoreError> {
    let mut numbers = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io_error("cannot list", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_error("cannot list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let digits = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".log"));
        if let Some(n) = digits.filter(|d| d.len() == 8).and_then(|d| d.parse().ok()) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| open_segment(dir, n, write))
        .collect()
}

fn open_segment(dir: &Path, number: u64, write: bool) -> Result<Segment, StoreError> {
    let path = segment_path(dir, number);
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(&path)
        .map_err(io_error("cannot open", &path))?;
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    let n = crate::file::reader::read_full(&file, &mut head, 0)
        .map_err(io_error("cannot read", &path))?;
    let header = SegmentHeader::decode(&head[..n])
        .map_err(|e| e.0)
        .and_then(|h| match h.number == number {
            true => Ok(h),
            false => Err(format!("the file holds segment {}", h.number)),
        });
    Ok(Segment {
        number,
        path,
        file,
        header,
    })
}

/// Where the records of a last segment end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentEnd {
    /// Offset after the last record of the last whole commit.
    pub end: u64,
    /// Records before `end`.
    pub records: u64,
    /// Whether anything but zeros follows `end` (a torn tail).
    pub torn: bool,
}

/// Finds the end of the last whole commit in the last segment: records after
/// it (an unfinished batch, a torn record, garbage) were never acknowledged.
pub(crate) fn find_end(seg: &Segment) -> Result<SegmentEnd, StoreError> {
    let io = io_error("cannot read", &seg.path);
    let len = seg.file.metadata().map_err(&io)?.len();
    let start = SEGMENT_HEADER_LEN as u64;
    let mut reader = SegmentReader::new(&seg.file, start, len);
    let (mut end, mut records, mut seen) = (start, 0, 0);
    while let Item::Record(r) = reader.next_item().map_err(&io)? {
        seen += 1;
        if r.intact && r.flags & COMMIT != 0 {
            (end, records) = (r.end, seen);
        }
    }
    let mut tail = SegmentReader::new(&seg.file, end, len);
    let torn = !tail.zeros_until(len).map_err(&io)?;
    Ok(SegmentEnd { end, records, torn })
}

impl Core {
    /// The segments and the durable tail, consistent with each other.
    pub fn snapshot(&self) -> (Vec<Arc<Segment>>, Pos) {
        let segs = self.segments.read().expect("segments lock").clone();
        let tail = *self.tail.lock().expect("tail lock");
        (segs, tail)
    }

    /// The durable tail.
    pub fn tail(&self) -> Pos {
        *self.tail.lock().expect("tail lock")
    }

    /// The segment with this number.
    pub fn segment(&self, number: u64) -> Option<Arc<Segment>> {
        let segs = self.segments.read().expect("segments lock");
        let i = segs.binary_search_by_key(&number, |s| s.number).ok()?;
        Some(segs[i].clone())
    }

    /// The place to start reading for `seq`: the start of the last segment
    /// whose header says it begins at or before it.
    pub fn start_for(&self, seq: u64) -> Pos {
        let segs = self.segments.read().expect("segments lock");
        let i = segs
            .partition_point(|s| s.header.is_ok() && s.first_seq() <= seq)
            .saturating_sub(1);
        match segs.get(i).and_then(|s| s.header.as_ref().ok()) {
            Some(h) if i > 0 => Pos {
                seg: i,
                offset: SEGMENT_HEADER_LEN as u64,
                index: h.first_seq,
            },
            _ => Pos::START,
        }
    }

    /// Visits what lies between `from` and the durable tail, in order. With
    /// `strict`, bytes after the end marker of a finished segment are
    /// reported (verification); otherwise they are skipped. The visitor
    /// gets the place of each item and returns false to stop.
    pub fn scan(
        &self,
        from: Pos,
        strict: bool,
        visit: &mut dyn FnMut(Pos, Found<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let (segs, tail) = self.snapshot();
        let mut pos = from;
        while pos.seg <= tail.seg && pos.seg < segs.len() {
            let seg = &segs[pos.seg];
            let last = pos.seg == tail.seg;
            if let Err(e) = &seg.header {
                let detail = format!("segment file {} is unreadable: {e}", seg.path.display());
                visit(pos, Found::Unreadable(detail));
                return Ok(());
            }
            let io = io_error("cannot read", &seg.path);
            let limit = match last {
                true => tail.offset,
                false => seg.file.metadata().map_err(&io)?.len(),
            };
            let mut reader = SegmentReader::new(&seg.file, pos.offset, limit);
            loop {
                let here = Pos {
                    offset: reader.pos(),
                    ..pos
                };
                let clean_end = match reader.next_item().map_err(&io)? {
                    Item::Record(r) => {
                        pos.index += 1;
                        if !visit(here, Found::Record(r)) {
                            return Ok(());
                        }
                        continue;
                    }
                    Item::End => true,
                    Item::Garbage => false,
                };
                if clean_end && (last || !strict || reader.zeros_until(limit).map_err(&io)?) {
                    break;
                }
                let detail = format!(
                    "unreadable bytes at offset {} of {}",
                    here.offset,
                    seg.path.display()
                );
                visit(here, Found::Unreadable(detail));
                return Ok(());
            }
            pos = Pos {
                seg: pos.seg + 1,
                offset: SEGMENT_HEADER_LEN as u64,
                index: pos.index,
            };
        }
        Ok(())
    }

    /// The body of the record at `offset` of segment `number`, if it is a
    /// whole, durable record that claims `seq`.
    pub fn read_one(
        &self,
        number: u64,
        offset: u64,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(seg) = self.segment(number) else {
            return Ok(None);
        };
        let tail = self.tail();
        let segs_before_tail = {
            let segs = self.segments.read().expect("segments lock");
            segs.get(tail.seg).map(|s| s.number)
        };
        let limit = match segs_before_tail {
            Some(n) if n == number => tail.offset,
            Some(n) if n > number => seg
                .file
                .metadata()
                .map_err(io_error("cannot read", &seg.path))?
                .len(),
            _ => return Ok(None),
        };
        let mut reader = SegmentReader::with_chunk(&seg.file, offset, limit, 4096);
        match reader
            .next_item()
            .map_err(io_error("cannot read", &seg.path))?
        {
            Item::Record(r) if r.seq == seq && r.intact => Ok(Some(r.body.to_vec())),
            _ => Ok(None),
        }
    }
}
