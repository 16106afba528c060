//! Sequential reading of one segment file through a large buffer.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::file::format::{RECORD_HEADER_LEN, RecordHead, parse_head, record_crc};
use crate::merkle::Hash;

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// One record as read; `body` borrows the reader's buffer.
#[derive(Debug)]
pub(crate) struct RecordRef<'a> {
    /// Offset just after it.
    pub end: u64,
    /// Claimed seq.
    pub seq: u64,
    /// Flags.
    pub flags: u8,
    /// Stored leaf hash.
    pub leaf: Hash,
    /// Body bytes.
    pub body: &'a [u8],
    /// Whether the checksum matches (false: torn, or altered without care).
    pub intact: bool,
}

/// What the reader found at its position.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    /// A record.
    Record(RecordRef<'a>),
    /// The end of the records: an all-zero header, or the read limit.
    End,
    /// Bytes that are not a record header, or a record cut off by the limit.
    Garbage,
}

/// Reads records of one segment from `pos` up to `limit`.
#[derive(Debug)]
pub(crate) struct SegmentReader<'f> {
    file: &'f File,
    buf: Vec<u8>,
    buf_at: u64,
    pos: u64,
    limit: u64,
    chunk: usize,
}

impl<'f> SegmentReader<'f> {
    /// A reader of `file` from `pos`, never past `limit`, for long scans.
    pub fn new(file: &'f File, pos: u64, limit: u64) -> Self {
        Self::with_chunk(file, pos, limit, CHUNK)
    }

    /// A reader that reads `chunk` bytes at a time (small for lookups).
    pub fn with_chunk(file: &'f File, pos: u64, limit: u64, chunk: usize) -> Self {
        Self {
            file,
            buf: Vec::new(),
            buf_at: pos,
            pos,
            limit,
            chunk,
        }
    }

    /// The offset of the next item.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The next item; a record advances the position, End and Garbage don't.
    pub fn next_item(&mut self) -> io::Result<Item<'_>> {
        let at = self.pos;
        let left = self.limit.saturating_sub(at);
        if left == 0 {
            return Ok(Item::End);
        }
        if left < RECORD_HEADER_LEN as u64 {
            return Ok(if self.zeros_until(self.limit)? {
                Item::End
            } else {
                Item::Garbage
            });
        }
        let head = self.bytes(at, RECORD_HEADER_LEN)?;
        let (len, crc, seq, flags, leaf) = match parse_head(head) {
            RecordHead::End => return Ok(Item::End),
            RecordHead::Garbage => return Ok(Item::Garbage),
            RecordHead::Record {
                len,
                crc,
                seq,
                flags,
                leaf,
            } => (len, crc, seq, flags, leaf),
        };
        let end = at + (RECORD_HEADER_LEN + len) as u64;
        if end > self.limit {
            return Ok(Item::Garbage);
        }
        self.pos = end;
        let all = self.bytes(at, RECORD_HEADER_LEN + len)?;
        let (head, body) = all.split_at(RECORD_HEADER_LEN);
        Ok(Item::Record(RecordRef {
            end,
            seq,
            flags,
            leaf,
            intact: record_crc(head, body) == crc,
            body,
        }))
    }

    /// Whether every byte from the position to `end` is zero (the unused,
    /// pre-written part of a segment).
    pub fn zeros_until(&mut self, end: u64) -> io::Result<bool> {
        let mut at = self.pos;
        while at < end {
            let n = (end - at).min(self.chunk as u64) as usize;
            if self.bytes(at, n)?.iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// `len` bytes at file offset `at`, reading ahead a chunk at a time.
    fn bytes(&mut self, at: u64, len: usize) -> io::Result<&[u8]> {
        let have = self.buf_at..self.buf_at + self.buf.len() as u64;
        if at < have.start || at + len as u64 > have.end {
            let want = len
                .max(self.chunk)
                .min((self.limit.max(at + len as u64) - at) as usize);
            self.buf.resize(want, 0);
            let n = read_full(self.file, &mut self.buf, at)?;
            self.buf.truncate(n);
            self.buf_at = at;
            if n < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the segment file is shorter than expected",
                ));
            }
        }
        let from = (at - self.buf_at) as usize;
        Ok(&self.buf[from..from + len])
    }
}

/// Reads into `buf` from `at` until it is full or the file ends; returns
/// the bytes read.
pub(crate) fn read_full(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
