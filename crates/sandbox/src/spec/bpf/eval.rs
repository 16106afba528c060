//! Runs a classic BPF seccomp program on one `seccomp_data`, as the kernel
//! would: how the tree program learns what seccompiler's programs decide,
//! and how the tests prove the two agree.
//!
//! Only the instructions seccomp programs of this crate use are known;
//! anything else is an error, never a guess.

/// `struct seccomp_data` (x86-64 little-endian layout, 64 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeccompData {
    /// The syscall number, as the kernel stores it (`int`).
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the calling convention.
    pub arch: u32,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    /// A native x86-64 call of `nr` with `args`.
    pub fn x86_64(nr: u32, args: [u64; 6]) -> Self {
        Self {
            nr,
            arch: AUDIT_ARCH_X86_64,
            args,
        }
    }

    /// The 32-bit word at byte `offset`, as `BPF_LD|BPF_W|BPF_ABS` reads it.
    fn word(&self, offset: u32) -> Option<u32> {
        match offset {
            0 => Some(self.nr),
            4 => Some(self.arch),
            // instruction_pointer: no rule of ours reads it.
            16..=63 if offset.is_multiple_of(4) => {
                let arg = self.args[((offset - 16) / 8) as usize];
                Some(if offset.is_multiple_of(8) {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                })
            }
            _ => None,
        }
    }
}

/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Classic BPF opcodes the programs use.
pub mod op {
    /// `BPF_LD | BPF_W | BPF_ABS`: A = data word at k.
    pub const LD_W_ABS: u16 = 0x20;
    /// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
    pub const AND_K: u16 = 0x54;
    /// `BPF_JMP | BPF_JA`: pc += k.
    pub const JA: u16 = 0x05;
    /// `BPF_JMP | BPF_JEQ | BPF_K`.
    pub const JEQ_K: u16 = 0x15;
    /// `BPF_JMP | BPF_JGT | BPF_K`.
    pub const JGT_K: u16 = 0x25;
    /// `BPF_JMP | BPF_JGE | BPF_K`.
    pub const JGE_K: u16 = 0x35;
    /// `BPF_JMP | BPF_JSET | BPF_K`.
    pub const JSET_K: u16 = 0x45;
    /// `BPF_RET | BPF_K`: return k.
    pub const RET_K: u16 = 0x06;
}

/// The action (`SECCOMP_RET_*` with its data) `program` returns for `data`.
pub fn run(program: &[(u16, u8, u8, u32)], data: &SeccompData) -> Result<u32, String> {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let &(code, jt, jf, k) = program
            .get(pc)
            .ok_or_else(|| format!("ran off the end at {pc}"))?;
        pc += 1;
        let cond = |taken: bool| {
            if taken {
                usize::from(jt)
            } else {
                usize::from(jf)
            }
        };
        match code {
            op::LD_W_ABS => {
                a = data
                    .word(k)
                    .ok_or_else(|| format!("load of offset {k} at {}", pc - 1))?;
            }
            op::AND_K => a &= k,
            op::JA => pc += k as usize,
            op::JEQ_K => pc += cond(a == k),
            op::JGT_K => pc += cond(a > k),
            op::JGE_K => pc += cond(a >= k),
            op::JSET_K => pc += cond(a & k != 0),
            op::RET_K => return Ok(k),
            other => return Err(format!("unknown instruction {other:#x} at {}", pc - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_words_the_kernel_lays_out() {
        let d = SeccompData::x86_64(41, [0x1_0000_0028, 0, 0, 0, 0, 0x5555_0000_0000_0007]);
        assert_eq!(d.word(0), Some(41));
        assert_eq!(d.word(4), Some(AUDIT_ARCH_X86_64));
        assert_eq!(d.word(16), Some(0x28), "low half of args[0]");
        assert_eq!(d.word(20), Some(1), "high half of args[0]");
        assert_eq!(d.word(56), Some(7));
        assert_eq!(d.word(60), Some(0x5555_0000));
        assert_eq!(d.word(8), None, "instruction pointer");
        assert_eq!(d.word(18), None, "unaligned");
    }

    #[test]
    fn runs_jumps_and_refuses_unknown_code() {
        // if nr >= 10 { if nr & 1 { ret 1 } else { ret 2 } } else { ret 3 }
        let prog = [
            (op::LD_W_ABS, 0, 0, 0),
            (op::JGE_K, 0, 3, 10),
            (op::JSET_K, 0, 1, 1),
            (op::RET_K, 0, 0, 1),
            (op::RET_K, 0, 0, 2),
            (op::RET_K, 0, 0, 3),
        ];
        let r = |nr| run(&prog, &SeccompData::x86_64(nr, [0; 6])).unwrap();
        assert_eq!((r(11), r(12), r(9)), (1, 2, 3));
        assert!(run(&[(0x07, 0, 0, 0)], &SeccompData::default()).is_err());
        assert!(run(&[(op::JA, 0, 0, 0)], &SeccompData::default()).is_err());
    }
}
