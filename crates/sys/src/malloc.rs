//! glibc's malloc parameters. Rust code allocates through mimalloc, but C
//! libraries in the process (SQLite: the audit search index and the state
//! store) still allocate through glibc.

use std::io;

/// Largest block glibc may take from its heaps instead of a fresh mapping
/// (its maximum on 64-bit targets).
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of a heap that glibc keeps instead of returning.
const TRIM_THRESHOLD: libc::c_int = 512 << 20;

/// Makes glibc keep the memory C code frees for reuse instead of handing it
/// back to the kernel at once.
///
/// By default glibc maps blocks above 128 KiB on their own and unmaps them on
/// free, and returns the top of its heaps past 128 KiB: the audit index's
/// SQLite then spent half of its CPU time faulting in and zeroing the same
/// pages again after every batch (docs/benchmarks.md, access proxy). The cost
/// is that memory SQLite used at its peak stays with the process.
pub fn keep_freed_memory() -> io::Result<()> {
    for (param, value, name) in [
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD, "M_MMAP_THRESHOLD"),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD, "M_TRIM_THRESHOLD"),
    ] {
        // SAFETY: mallopt takes two integers and only changes malloc's
        // tunables, which it guards with its own lock.
        if unsafe { libc::mallopt(param, value) } != 1 {
            return Err(io::Error::other(format!(
                "glibc refused mallopt({name}, {value})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes glibc currently serves from mappings of their own. Other test
    /// threads may free such blocks meanwhile (the count falls), so the
    /// test looks only for a rise of a whole megabyte, the block's own.
    fn mapped_bytes() -> usize {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    #[test]
    fn a_freed_megabyte_stays_on_the_heap() {
        keep_freed_memory().unwrap();
        let before = mapped_bytes();
        // SAFETY: a plain allocation, checked for null, freed once below.
        let block = unsafe { libc::malloc(1 << 20) };
        assert!(!block.is_null());
        let during = mapped_bytes();
        // SAFETY: `block` came from malloc above and is freed only here.
        unsafe { libc::free(block) };
        assert!(
            during < before + (1 << 20),
            "a 1 MiB block was mapped on its own"
        );
    }
}
