//! The allowlist as a binary search over syscall numbers.
//!
//! seccompiler compiles a list of calls to one compare per call, in order.
//! Installing such a ~1,500-instruction program took 0.7 ms at every
//! sandbox start, most of it in the kernel working out which calls the
//! filter always allows (it runs the program once per syscall number to
//! fill its bypass bitmap). A search tree decides each number in about
//! eight jumps: same decisions, a few hundred instructions, installed in
//! under a fifth of the time.

use airlock_sys::seccomp::MAX_INSNS;

use super::eval::{AUDIT_ARCH_X86_64, op};

/// What a range of syscall numbers gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed whatever the arguments.
    Allow,
    /// Decided by the argument rules (the chain program).
    Chain,
    /// Refused with the profile's errno.
    Refuse,
}

/// `SECCOMP_RET_KILL_PROCESS`: a call from another calling convention.
const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO`, errno in the low 16 bits.
pub const RET_ERRNO: u32 = 0x0005_0000;

type Insn = (u16, u8, u8, u32);

/// One program: check the calling convention, load the number, search the
/// ranges, then `chain` (entered with nothing loaded: it must load what it
/// reads, as seccompiler's programs do). `ranges` are `(first number,
/// verdict)` in increasing order from 0; the last one runs to `u32::MAX`.
pub fn program(ranges: &[(u32, Verdict)], errno: u32, chain: &[Insn]) -> Result<Vec<Insn>, String> {
    if ranges.first().map(|r| r.0) != Some(0) {
        return Err("the ranges must start at syscall 0".into());
    }
    if ranges.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err("the ranges must be in increasing order".into());
    }
    if chain.is_empty() && ranges.iter().any(|r| r.1 == Verdict::Chain) {
        return Err("a range refers to argument rules that were not given".into());
    }
    let mut out = vec![
        (op::LD_W_ABS, 0, 0, 4),
        (op::JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (op::RET_K, 0, 0, RET_KILL_PROCESS),
        (op::LD_W_ABS, 0, 0, 0),
    ];
    let chain_at = out.len() + size(ranges);
    emit(ranges, errno, chain_at, &mut out);
    debug_assert_eq!(out.len(), chain_at);
    out.extend_from_slice(chain);
    if out.len() > MAX_INSNS {
        return Err(format!(
            "{} instructions, over the kernel's {MAX_INSNS}",
            out.len()
        ));
    }
    Ok(out)
}

/// Instructions [`emit`] writes for `ranges`.
fn size(ranges: &[(u32, Verdict)]) -> usize {
    if ranges.len() == 1 {
        return 1;
    }
    let (low, high) = ranges.split_at(ranges.len() / 2);
    let low_size = size(low);
    branch_size(low_size) + low_size + size(high)
}

/// A branch jumps over the low half directly when the offset fits in the
/// 8-bit `jt`; otherwise through a `ja`, whose offset is 32-bit.
fn branch_size(low_size: usize) -> usize {
    if low_size <= usize::from(u8::MAX) {
        1
    } else {
        2
    }
}

/// Writes the search over `ranges` (number in A) at the end of `out`.
fn emit(ranges: &[(u32, Verdict)], errno: u32, chain_at: usize, out: &mut Vec<Insn>) {
    if let [(_, verdict)] = ranges {
        let leaf = match verdict {
            Verdict::Allow => (op::RET_K, 0, 0, RET_ALLOW),
            Verdict::Refuse => (op::RET_K, 0, 0, RET_ERRNO | (errno & 0xffff)),
            Verdict::Chain => (op::JA, 0, 0, (chain_at - out.len() - 1) as u32),
        };
        out.push(leaf);
        return;
    }
    let (low, high) = ranges.split_at(ranges.len() / 2);
    let boundary = high[0].0;
    let low_size = size(low);
    match u8::try_from(low_size) {
        // A >= boundary: skip the low half.
        Ok(skip) if branch_size(low_size) == 1 => out.push((op::JGE_K, skip, 0, boundary)),
        _ => {
            out.push((op::JGE_K, 0, 1, boundary));
            out.push((op::JA, 0, 0, low_size as u32));
        }
    }
    emit(low, errno, chain_at, out);
    emit(high, errno, chain_at, out);
}

/// Ranges from the verdict of each number below `verdicts.len()`; every
/// number from there on is refused.
pub fn ranges(verdicts: impl IntoIterator<Item = Verdict>) -> Vec<(u32, Verdict)> {
    let mut out: Vec<(u32, Verdict)> = Vec::new();
    for (nr, v) in (0u32..).zip(verdicts.into_iter().chain([Verdict::Refuse])) {
        if out.last().map(|r| r.1) != Some(v) {
            out.push((nr, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::eval::{SeccompData, run};
    use super::*;

    fn verdicts(n: u32) -> Vec<Verdict> {
        // A mix with long and short runs, so both branch forms appear.
        (0..n)
            .map(|i| match i % 7 {
                0 | 3 => Verdict::Refuse,
                5 => Verdict::Chain,
                _ if i % 97 < 40 => Verdict::Allow,
                _ => Verdict::Refuse,
            })
            .collect()
    }

    #[test]
    fn every_number_gets_its_verdict() {
        let chain_ret = 0x0005_0063;
        let chain = [(op::RET_K, 0, 0, chain_ret)];
        let v = verdicts(1000);
        let prog = program(&ranges(v.clone()), 1, &chain).unwrap();
        let has_ja_branch = prog
            .windows(2)
            .any(|w| w[0].0 == op::JGE_K && w[1].0 == op::JA);
        assert!(has_ja_branch, "a large tree needs the long branch form");
        let expect = |nr: u32| match v.get(nr as usize).copied().unwrap_or(Verdict::Refuse) {
            Verdict::Allow => RET_ALLOW,
            Verdict::Chain => chain_ret,
            Verdict::Refuse => RET_ERRNO | 1,
        };
        let probes = (0..1200).chain([0x4000_0000, 0x4000_0001, u32::MAX - 1, u32::MAX]);
        for nr in probes {
            let got = run(&prog, &SeccompData::x86_64(nr, [0; 6])).unwrap();
            assert_eq!(got, expect(nr), "syscall {nr}");
        }
        let foreign = SeccompData {
            arch: 0x4000_0003, // i386
            ..SeccompData::x86_64(1, [0; 6])
        };
        assert_eq!(run(&prog, &foreign).unwrap(), RET_KILL_PROCESS);
    }

    #[test]
    fn malformed_ranges_are_refused() {
        assert!(program(&[(1, Verdict::Allow)], 1, &[]).is_err());
        assert!(program(&[(0, Verdict::Allow), (0, Verdict::Refuse)], 1, &[]).is_err());
        assert!(program(&[(0, Verdict::Chain)], 1, &[]).is_err());
    }

    #[test]
    fn ranges_merge_runs_and_end_refusing() {
        use Verdict::*;
        assert_eq!(
            ranges([Allow, Allow, Refuse, Chain, Chain]),
            vec![(0, Allow), (2, Refuse), (3, Chain), (5, Refuse)]
        );
        assert_eq!(ranges([Refuse, Refuse]), vec![(0, Refuse)]);
    }
}
