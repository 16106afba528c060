//! Shaping init's binary so that gVisor maps it instead of copying it.
//!
//! gVisor's ELF loader zeroes the tail of the last page of every loadable
//! segment whose file image ends mid-page. For a read-only segment that
//! write is a copy-on-write break, and the sentry copies the segment whole
//! (up to a 2 MiB unit) into the sandbox's memory file. For init's first
//! segment (relocations, read-only data: 1.3 MiB) that was most of an idle
//! gVisor sandbox's memory outside the Go runtime.
//!
//! Linux maps whole pages of a segment whatever its file size, so the bytes
//! after a read-only segment's end in its last page are visible to the
//! process anyway. Ending such a segment's file image on a page boundary
//! ([`pad_readonly_segments`]) changes nothing a process can see under
//! Linux, keeps the segment read-only and not executable, and lets gVisor
//! map it from the host's page cache, shared by every sandbox.
//!
//! Sans-IO: bytes in, bytes out.

use thiserror::Error;

/// The page size both runtimes map segments with on x86-64 and arm64 hosts
/// configured with 4 KiB pages.
const PAGE: u64 = 4096;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PHDR_SIZE: usize = 56;

/// Why a file was left as it was.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ElfShapeError {
    /// Not a 64-bit little-endian ELF file.
    #[error("not a 64-bit little-endian ELF file")]
    NotElf64,
    /// The program header table lies outside the file or has entries of an
    /// unexpected size.
    #[error("malformed program header table")]
    BadProgramHeaders,
}

/// One loadable segment's fields that matter here.
#[derive(Debug, Clone, Copy)]
struct Segment {
    at: usize,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// Extends every read-only, non-executable `PT_LOAD` segment without bss
/// whose file image ends mid-page to the end of that page (`p_filesz` and
/// `p_memsz`), where the file holds those bytes. Returns how many segments
/// were changed; the file is untouched on error.
pub fn pad_readonly_segments(elf: &mut [u8]) -> Result<usize, ElfShapeError> {
    let segments = loadable_segments(elf)?;
    let len = elf.len() as u64;
    let mut changed = 0;
    for s in &segments {
        let Some(padded) = padded_size(s, len) else {
            continue;
        };
        // A linker may start the next segment in the same page; then that
        // page is the next segment's, and this one must keep its end.
        let (Some(start), Some(end)) = (s.vaddr.checked_add(s.filesz), s.vaddr.checked_add(padded))
        else {
            continue;
        };
        if segments
            .iter()
            .any(|o| o.at != s.at && overlaps(&(start..end), o))
        {
            continue;
        }
        elf[s.at + 32..s.at + 40].copy_from_slice(&padded.to_le_bytes());
        elf[s.at + 40..s.at + 48].copy_from_slice(&padded.to_le_bytes());
        changed += 1;
    }
    Ok(changed)
}

/// The page-rounded size of a segment that should be padded, or `None`.
fn padded_size(s: &Segment, file_len: u64) -> Option<u64> {
    let read_only = s.flags & (PF_W | PF_X) == 0;
    let congruent = s.offset % PAGE == s.vaddr % PAGE;
    if !read_only || !congruent || s.filesz != s.memsz || s.filesz == 0 {
        return None;
    }
    let end = s.offset.checked_add(s.filesz)?;
    let rounded = end.checked_next_multiple_of(PAGE)?;
    (rounded != end && rounded <= file_len).then(|| rounded - s.offset)
}

/// Whether `range` meets any page `o` occupies in memory.
fn overlaps(range: &std::ops::Range<u64>, o: &Segment) -> bool {
    let start = o.vaddr - o.vaddr % PAGE;
    let end = o.vaddr.saturating_add(o.memsz);
    range.start < end && start < range.end
}

fn loadable_segments(elf: &[u8]) -> Result<Vec<Segment>, ElfShapeError> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err(ElfShapeError::NotElf64);
    }
    let phoff = usize::try_from(u64_at(elf, 0x20)).map_err(|_| ElfShapeError::BadProgramHeaders)?;
    let entsize = usize::from(u16_at(elf, 0x36));
    let count = usize::from(u16_at(elf, 0x38));
    let table_end = count
        .checked_mul(PHDR_SIZE)
        .and_then(|n| n.checked_add(phoff))
        .ok_or(ElfShapeError::BadProgramHeaders)?;
    if (count > 0 && entsize != PHDR_SIZE) || table_end > elf.len() {
        return Err(ElfShapeError::BadProgramHeaders);
    }
    Ok((0..count)
        .map(|i| phoff + i * PHDR_SIZE)
        .filter(|&at| u32_at(elf, at) == PT_LOAD)
        .map(|at| Segment {
            at,
            flags: u32_at(elf, at + 4),
            offset: u64_at(elf, at + 8),
            vaddr: u64_at(elf, at + 16),
            filesz: u64_at(elf, at + 32),
            memsz: u64_at(elf, at + 40),
        })
        .collect())
}

// The callers have checked that `at + width <= b.len()`.
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header and `segs` program headers (type, flags, offset,
    /// vaddr, filesz, memsz), in a file of `len` bytes.
    fn elf(segs: &[(u32, u32, u64, u64, u64, u64)], len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, &(typ, flags, off, vaddr, filesz, memsz)) in segs.iter().enumerate() {
            let at = 64 + i * PHDR_SIZE;
            b[at..at + 4].copy_from_slice(&typ.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            b[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
            b[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
        }
        b
    }

    fn sizes(b: &[u8], i: usize) -> (u64, u64) {
        let at = 64 + i * PHDR_SIZE;
        (u64_at(b, at + 32), u64_at(b, at + 40))
    }

    const R: u32 = 4;

    #[test]
    fn a_read_only_segment_ending_mid_page_ends_on_the_page_boundary() {
        // The layout of a static-PIE linked by lld: R, then R+X packed
        // right behind it in the file, one page further on in memory.
        let mut b = elf(
            &[
                (PT_LOAD, R, 0, 0, 0x1ee4, 0x1ee4),
                (PT_LOAD, R | PF_X, 0x1f00, 0x2f00, 0x1100, 0x1100),
                (PT_LOAD, R | PF_W, 0x3000, 0x5000, 0x10, 0x800),
            ],
            0x3010,
        );
        let before = b.clone();
        assert_eq!(pad_readonly_segments(&mut b), Ok(1));
        assert_eq!(sizes(&b, 0), (0x2000, 0x2000));
        assert_eq!(sizes(&b, 1), (0x1100, 0x1100), "executable: untouched");
        assert_eq!(sizes(&b, 2), (0x10, 0x800), "writable: untouched");
        // Only those two fields changed.
        let diff: Vec<usize> = (0..b.len()).filter(|&i| b[i] != before[i]).collect();
        assert!(
            diff.iter().all(|&i| (64 + 32..64 + 48).contains(&i)),
            "{diff:?}"
        );
        // Idempotent.
        assert_eq!(pad_readonly_segments(&mut b), Ok(0));
        // The last page below the top of the address space.
        let mut b = elf(&[(PT_LOAD, R, 0, u64::MAX - 0x1fff, 0x10, 0x10)], 0x1000);
        assert_eq!(pad_readonly_segments(&mut b), Ok(1));
    }

    #[test]
    fn segments_that_must_keep_their_size_are_left_alone() {
        let cases = [
            // Already on a page boundary.
            (PT_LOAD, R, 0, 0, 0x2000, 0x2000),
            // Has bss: the tail must read as zeros.
            (PT_LOAD, R, 0, 0, 0x1ee4, 0x1f00),
            // The rounded end lies past the end of the file.
            (PT_LOAD, R, 0x2000, 0x2000, 0x1010, 0x1010),
            // Offset and address not congruent modulo the page size.
            (PT_LOAD, R, 0x10, 0x20, 0x100, 0x100),
            // Not loadable.
            (6, R, 0, 0, 0x100, 0x100),
            // Empty.
            (PT_LOAD, R, 0x100, 0x100, 0, 0),
        ];
        for case in cases {
            let mut b = elf(&[case], 0x3000);
            let before = b.clone();
            assert_eq!(pad_readonly_segments(&mut b), Ok(0), "{case:?}");
            assert_eq!(b, before, "{case:?}");
        }
        // The padded end would pass the top of the address space.
        let mut b = elf(&[(PT_LOAD, R, 0xff0, u64::MAX - 0xf, 0x8, 0x8)], 0x2000);
        assert_eq!(pad_readonly_segments(&mut b), Ok(0));
        // The next segment starts in the same page (packed by the linker).
        let mut b = elf(
            &[
                (PT_LOAD, R, 0, 0, 0x1ee4, 0x1ee4),
                (PT_LOAD, R | PF_X, 0x1f00, 0x1f00, 0x100, 0x100),
            ],
            0x3000,
        );
        assert_eq!(pad_readonly_segments(&mut b), Ok(0));
    }

    #[test]
    fn files_that_are_not_elf64_or_whose_headers_overrun_are_refused_unchanged() {
        let mut text = b"#!/bin/sh\necho not an ELF file, long enough to be read\n".repeat(2);
        assert_eq!(
            pad_readonly_segments(&mut text),
            Err(ElfShapeError::NotElf64)
        );
        let mut b = elf(&[(PT_LOAD, R, 0, 0, 0x10, 0x10)], 0x1000);
        b[4] = 1; // 32-bit
        assert_eq!(pad_readonly_segments(&mut b), Err(ElfShapeError::NotElf64));
        let mut b = elf(&[(PT_LOAD, R, 0, 0, 0x10, 0x10)], 64 + PHDR_SIZE - 1);
        assert_eq!(
            pad_readonly_segments(&mut b),
            Err(ElfShapeError::BadProgramHeaders)
        );
        let mut b = elf(&[(PT_LOAD, R, 0, 0, 0x10, 0x10)], 0x1000);
        b[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        let before = b.clone();
        assert_eq!(
            pad_readonly_segments(&mut b),
            Err(ElfShapeError::BadProgramHeaders)
        );
        assert_eq!(b, before);
        assert_eq!(pad_readonly_segments(&mut []), Err(ElfShapeError::NotElf64));
    }
}
