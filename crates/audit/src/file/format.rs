//! The on-disk format of the file log, sans IO. Everything is little-endian.
//!
//! A segment file (`seg-NNNNNNNN.log`) is a 64-byte header followed by
//! records, then zeros up to the end of the file (space written ahead of
//! time, so that syncing a commit never has to record a new file size):
//!
//! ```text
//! segment header (64 bytes)
//!   0  magic "ALAUDSEG"        8  version u32 (1)     12 reserved (0)
//!   16 log id (16 random bytes, the same in every segment of one log)
//!   32 segment number u64      40 seq of its first record u64
//!   48 CRC-32C of bytes 0..48  52 zeros
//! record (56-byte header, then the body)
//!   0  body length u32 (> 0)   4  CRC-32C of bytes 0..4 and 8..end
//!   8  seq u64                 16 flags u8 (1 = last record of a commit)
//!   17 zeros (7)               24 leaf hash: SHA-256(0x00 ‖ body)
//!   56 body: the canonical event bytes
//! ```
//!
//! A length of zero ends the records of a segment. The commit flag makes a
//! batch atomic across a crash: records after the last flagged one are an
//! unfinished batch and are not part of the log.
//!
//! The checkpoint file (`checkpoints.log`) is a 16-byte header (`ALAUDCKP`,
//! version u32, zeros) and then one record per signed checkpoint: note
//! length u32, CRC-32C of bytes 0..4 and 8..end, tree size u64, the note.
//!
//! The checksums catch torn writes only; an attacker can recompute them.
//! What catches tampering is the Merkle tree and the signed checkpoints.

use crate::file::crc::crc32c;
use crate::merkle::Hash;

/// Length of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 56;
/// Largest body accepted when reading (events are limited to 64 KiB).
pub const MAX_BODY_LEN: usize = 1 << 20;
/// Record flag: the last record of a commit.
pub const COMMIT: u8 = 1;
/// Length of the checkpoint file header.
pub const CHECKPOINT_FILE_HEADER_LEN: usize = 16;
/// Length of a checkpoint record header.
pub const CHECKPOINT_HEADER_LEN: usize = 16;
/// Largest note accepted when reading.
pub const MAX_NOTE_LEN: usize = 64 * 1024;

const SEGMENT_MAGIC: &[u8; 8] = b"ALAUDSEG";
const CHECKPOINT_MAGIC: &[u8; 8] = b"ALAUDCKP";
const VERSION: u32 = 1;

/// Why bytes are not what the format says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Identifies the log (the derived index checks it belongs to this log).
    pub log_id: [u8; 16],
    /// The segment's number (its file name says the same).
    pub number: u64,
    /// Seq of the segment's first record.
    pub first_seq: u64,
}

impl SegmentHeader {
    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[..8].copy_from_slice(SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[16..32].copy_from_slice(&self.log_id);
        b[32..40].copy_from_slice(&self.number.to_le_bytes());
        b[40..48].copy_from_slice(&self.first_seq.to_le_bytes());
        let crc = crc32c(&[&b[..48]]);
        b[48..52].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header.
    pub fn decode(b: &[u8]) -> Result<Self, FormatError> {
        let bad = |m: &str| Err(FormatError(m.to_owned()));
        if b.len() < SEGMENT_HEADER_LEN || &b[..8] != SEGMENT_MAGIC {
            return bad("not an audit log segment (bad magic)");
        }
        if u32_at(b, 8) != VERSION {
            return bad("unknown segment format version");
        }
        if crc32c(&[&b[..48]]) != u32_at(b, 48) {
            return bad("segment header checksum mismatch");
        }
        Ok(Self {
            log_id: b[16..32].try_into().expect("16 bytes"),
            number: u64_at(b, 32),
            first_seq: u64_at(b, 40),
        })
    }
}

/// What a record header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHead {
    /// All zeros: no more records in this segment.
    End,
    /// A record of `len` body bytes (its checksum is checked with the body).
    Record {
        /// Body length.
        len: usize,
        /// Stored checksum.
        crc: u32,
        /// Claimed seq.
        seq: u64,
        /// Flags.
        flags: u8,
        /// Stored leaf hash.
        leaf: Hash,
    },
    /// Not a plausible header.
    Garbage,
}

/// Parses the 56-byte header of a record.
pub fn parse_head(h: &[u8]) -> RecordHead {
    let len = u32_at(h, 0) as usize;
    if len == 0 {
        return if h[..RECORD_HEADER_LEN].iter().all(|&b| b == 0) {
            RecordHead::End
        } else {
            RecordHead::Garbage
        };
    }
    if len > MAX_BODY_LEN {
        return RecordHead::Garbage;
    }
    RecordHead::Record {
        len,
        crc: u32_at(h, 4),
        seq: u64_at(h, 8),
        flags: h[16],
        leaf: h[24..56].try_into().expect("32 bytes"),
    }
}

/// The checksum of a record: its header (without the checksum field) and body.
pub fn record_crc(head: &[u8], body: &[u8]) -> u32 {
    crc32c(&[&head[..4], &head[8..RECORD_HEADER_LEN], body])
}

/// Appends one encoded record to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, flags: u8, leaf: &Hash, body: &[u8]) {
    let start = out.len();
    let len = u32::try_from(body.len()).expect("bodies are limited to 64 KiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(flags);
    out.extend_from_slice(&[0; 7]);
    out.extend_from_slice(leaf);
    out.extend_from_slice(body);
    let crc = record_crc(&out[start..start + RECORD_HEADER_LEN], body);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A record, owned (tools and tests that rewrite segments use this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Claimed seq.
    pub seq: u64,
    /// Flags ([`COMMIT`]).
    pub flags: u8,
    /// Stored leaf hash.
    pub leaf: Hash,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Record {
    /// Appends the encoding (with a correct checksum) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_record(out, self.seq, self.flags, &self.leaf, &self.body);
    }
}

/// Parses a whole segment image up to its end marker (records whose
/// checksum fails are returned too). For tools and tests; the store reads
/// segments incrementally.
pub fn parse_segment(bytes: &[u8]) -> Result<(SegmentHeader, Vec<Record>), FormatError> {
    let header = SegmentHeader::decode(bytes)?;
    let mut at = SEGMENT_HEADER_LEN;
    let mut records = Vec::new();
    while at + RECORD_HEADER_LEN <= bytes.len() {
        let head = &bytes[at..at + RECORD_HEADER_LEN];
        match parse_head(head) {
            RecordHead::End => break,
            RecordHead::Garbage => return Err(FormatError(format!("garbage at offset {at}"))),
            RecordHead::Record {
                len,
                seq,
                flags,
                leaf,
                ..
            } => {
                let body_at = at + RECORD_HEADER_LEN;
                let body = bytes
                    .get(body_at..body_at + len)
                    .ok_or_else(|| FormatError(format!("record at offset {at} is cut off")))?;
                records.push(Record {
                    seq,
                    flags,
                    leaf,
                    body: body.to_vec(),
                });
                at = body_at + len;
            }
        }
    }
    Ok((header, records))
}

/// The header of the checkpoint file.
pub fn checkpoint_file_header() -> [u8; CHECKPOINT_FILE_HEADER_LEN] {
    let mut b = [0u8; CHECKPOINT_FILE_HEADER_LEN];
    b[..8].copy_from_slice(CHECKPOINT_MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b
}

/// Appends one encoded checkpoint record to `out`.
pub fn encode_checkpoint(out: &mut Vec<u8>, size: u64, note: &[u8]) {
    let start = out.len();
    let len = u32::try_from(note.len()).expect("notes are small");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(note);
    let crc = crc32c(&[&out[start..start + 4], &out[start + 8..]]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// One record of the checkpoint file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointEntry {
    /// Byte offset of the record.
    pub offset: u64,
    /// The tree size it claims.
    pub size: u64,
    /// The note bytes.
    pub note: Vec<u8>,
}

/// The records of a checkpoint file image, and where the last whole one ends.
///
/// A record whose checksum fails, or that is cut off, ends the file when
/// nothing whole follows it: that is a torn append (a crash before the
/// checkpoint was acknowledged). One in the middle is returned as read, for
/// its signature to fail.
pub fn parse_checkpoints(bytes: &[u8]) -> Result<(Vec<CheckpointEntry>, u64), FormatError> {
    if bytes.len() < CHECKPOINT_FILE_HEADER_LEN
        || bytes[..CHECKPOINT_FILE_HEADER_LEN] != checkpoint_file_header()
    {
        return Err(FormatError(
            "not an audit checkpoint file (bad header)".into(),
        ));
    }
    let mut at = CHECKPOINT_FILE_HEADER_LEN;
    let (mut entries, mut whole_end, mut whole_count) = (Vec::new(), at, 0);
    while at + CHECKPOINT_HEADER_LEN <= bytes.len() {
        let len = u32_at(bytes, at) as usize;
        let end = at + CHECKPOINT_HEADER_LEN + len;
        if len == 0 || len > MAX_NOTE_LEN || end > bytes.len() {
            break;
        }
        let intact = crc32c(&[&bytes[at..at + 4], &bytes[at + 8..end]]) == u32_at(bytes, at + 4);
        entries.push(CheckpointEntry {
            offset: at as u64,
            size: u64_at(bytes, at + 8),
            note: bytes[at + CHECKPOINT_HEADER_LEN..end].to_vec(),
        });
        at = end;
        if intact {
            (whole_end, whole_count) = (at, entries.len());
        }
    }
    entries.truncate(whole_count);
    Ok((entries, whole_end as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let mut seg = SegmentHeader {
            log_id: [9; 16],
            number: 3,
            first_seq: 40,
        }
        .encode()
        .to_vec();
        let recs: Vec<Record> = (40..43)
            .map(|seq| Record {
                seq,
                flags: if seq == 42 { COMMIT } else { 0 },
                leaf: [seq as u8; 32],
                body: format!("{{\"seq\":{seq}}}").into_bytes(),
            })
            .collect();
        for r in &recs {
            r.encode(&mut seg);
        }
        seg.extend_from_slice(&[0; 100]);
        let (h, back) = parse_segment(&seg).unwrap();
        assert_eq!((h.number, h.first_seq, back), (3, 40, recs));
        let at = SEGMENT_HEADER_LEN;
        let head = &seg[at..at + RECORD_HEADER_LEN];
        let RecordHead::Record { len, crc, .. } = parse_head(head) else {
            panic!("a record")
        };
        let body = &seg[at + RECORD_HEADER_LEN..at + RECORD_HEADER_LEN + len];
        assert_eq!(record_crc(head, body), crc);
        let mut edited = body.to_vec();
        edited[2] ^= 1;
        assert_ne!(record_crc(head, &edited), crc);
        assert_eq!(parse_head(&[0; RECORD_HEADER_LEN]), RecordHead::End);
        let mut junk = [0u8; RECORD_HEADER_LEN];
        junk[30] = 1;
        assert_eq!(parse_head(&junk), RecordHead::Garbage);
        seg[0] = b'X';
        assert!(SegmentHeader::decode(&seg).is_err());
    }

    #[test]
    fn a_torn_last_checkpoint_is_dropped_a_damaged_middle_one_kept() {
        let mut f = checkpoint_file_header().to_vec();
        for size in [1u64, 2, 3] {
            encode_checkpoint(&mut f, size, format!("note {size}\n").as_bytes());
        }
        let (all, end) = parse_checkpoints(&f).unwrap();
        assert_eq!(all.iter().map(|e| e.size).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(end, f.len() as u64);
        let mut torn = f.clone();
        torn.truncate(f.len() - 3);
        let (some, end) = parse_checkpoints(&torn).unwrap();
        assert_eq!((some.len(), end), (2, all[2].offset));
        let mut middle = f.clone();
        middle[all[1].offset as usize + 17] ^= 1;
        let (kept, _) = parse_checkpoints(&middle).unwrap();
        assert_eq!(
            kept.len(),
            3,
            "a damaged middle record is returned for verify"
        );
        assert_ne!(kept[1].note, all[1].note);
    }
}
