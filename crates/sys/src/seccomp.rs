//! Installing seccomp filters compiled elsewhere.
//!
//! The host compiles a sandbox's profile to classic BPF once per node and
//! hands init the programs in a file; init installs them before it starts
//! anything else, so every process of the sandbox inherits them. Compiling
//! inside the runtime (runc + libseccomp) cost 4-8 ms at every start.
//!
//! File format: one or more programs, each a little-endian `u32`
//! instruction count followed by that many 8-byte `sock_filter`s (`code`
//! u16 LE, `jt` u8, `jf` u8, `k` u32 LE). Programs are installed in file
//! order; when several return the same action for a call, the kernel uses
//! the data (errno) of the one installed last.

use std::io;

/// Largest program the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;
/// Bytes of one instruction.
const INSN_BYTES: usize = 8;

/// One classic BPF seccomp program: `(code, jt, jf, k)` instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program(Vec<(u16, u8, u8, u32)>);

impl Program {
    /// A program from `(code, jt, jf, k)` instructions.
    pub fn new(insns: impl IntoIterator<Item = (u16, u8, u8, u32)>) -> Self {
        Self(insns.into_iter().collect())
    }

    /// The instructions, `(code, jt, jf, k)`.
    pub fn insns(&self) -> &[(u16, u8, u8, u32)] {
        &self.0
    }

    /// Instructions in the program.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the program has no instructions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends this program to `out` in the file format.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        for &(code, jt, jf, k) in &self.0 {
            out.extend_from_slice(&code.to_le_bytes());
            out.extend_from_slice(&[jt, jf]);
            out.extend_from_slice(&k.to_le_bytes());
        }
    }

    /// Every program in `bytes`, in order; an error names what is wrong.
    pub fn decode_all(mut bytes: &[u8]) -> Result<Vec<Self>, String> {
        let mut programs = Vec::new();
        while !bytes.is_empty() {
            let (count, rest) = bytes
                .split_first_chunk::<4>()
                .ok_or("truncated instruction count")?;
            let n = u32::from_le_bytes(*count) as usize;
            if n == 0 || n > MAX_INSNS {
                return Err(format!("program of {n} instructions (1..={MAX_INSNS})"));
            }
            let body = rest.get(..n * INSN_BYTES).ok_or("truncated program")?;
            programs.push(Self::new(body.chunks_exact(INSN_BYTES).map(|c| {
                (
                    u16::from_le_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })));
            bytes = &rest[n * INSN_BYTES..];
        }
        if programs.is_empty() {
            return Err("no program".into());
        }
        Ok(programs)
    }
}

/// Sets no_new_privs and installs `program` on the calling thread (threads
/// started later inherit it). Call before any other thread exists: threads
/// already running are not covered.
pub fn install(program: &Program) -> io::Result<()> {
    if program.is_empty() || program.len() > MAX_INSNS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp program length out of range",
        ));
    }
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut insns: Vec<libc::sock_filter> = program
        .0
        .iter()
        .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
        .collect();
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; the
    // kernel copies the instructions (copy_from_user) and keeps no pointer.
    // The length was checked against BPF_MAXINSNS above.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_round_trip_through_the_file_format() {
        let a = Program::new([(0x20, 0, 0, 4), (0x06, 0, 0, 0x7fff_0000)]);
        let b = Program::new([(0x06, 1, 2, 0x0005_0026)]);
        let mut bytes = Vec::new();
        a.encode(&mut bytes);
        b.encode(&mut bytes);
        assert_eq!(Program::decode_all(&bytes).unwrap(), vec![a, b]);
    }

    #[test]
    fn damaged_files_are_refused() {
        let mut bytes = Vec::new();
        Program::new([(0x06, 0, 0, 0)]).encode(&mut bytes);
        assert!(Program::decode_all(&[]).unwrap_err().contains("no program"));
        assert!(
            Program::decode_all(&bytes[..6])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            Program::decode_all(&bytes[..2])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            Program::decode_all(&[0, 0, 0, 0])
                .unwrap_err()
                .contains("0 instructions")
        );
        let huge = 5000u32.to_le_bytes();
        assert!(Program::decode_all(&huge).unwrap_err().contains("5000"));
    }
}
