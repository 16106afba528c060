//! The seccomp profile compiled to BPF on the host, for init to install.
//!
//! Why not leave it to the runtime: runc compiles the profile with
//! libseccomp at every start, 4-8 ms of a ~25 ms start on the standard
//! machine. Compiled once per node here (seccompiler, the compiler of
//! Firecracker), init installs the programs first thing, before it starts
//! anything; every process of the sandbox descends from init and inherits
//! them.
//!
//! The profile's actions map to two programs (a program has one action for
//! a match): the allowlist (match: allow; no match: the profile's default
//! errno), then the calls refused with their own errno (`clone3` with
//! ENOSYS). Installed in that order, the second one's errno wins where
//! both refuse.
//!
//! The allowlist is laid out as a search tree (see [`tree`]) from what
//! seccompiler's programs decide for each syscall number ([`eval`] runs
//! them as the kernel would); the calls with argument rules keep
//! seccompiler's code, which the tree jumps to.

mod eval;
mod tree;

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use serde_json::{Value, json};

use airlock_sys::seccomp::Program;

use crate::error::{Result, SandboxError};

/// Calls whose compared argument is a C `int` / `unsigned int`: the kernel
/// reads only its low 32 bits, so only those are compared (a 64-bit compare
/// would let `socket((1 << 32) | AF_VSOCK, ...)` pass a `!= AF_VSOCK` rule).
const DWORD_ARG_CALLS: &[&str] = &["personality", "socket"];

/// The programs of `profile`, in the file format init reads
/// ([`airlock_sys::seccomp`]).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>> {
    let default_errno = match profile.default_action() {
        LinuxSeccompAction::ScmpActErrno => profile.default_errno_ret().unwrap_or(1),
        other => return Err(unsupported(format!("default action {other:?}"))),
    };
    let mut allowed = Vec::new();
    let mut refused: BTreeMap<u32, Vec<&LinuxSyscall>> = BTreeMap::new();
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        match rule.action() {
            LinuxSeccompAction::ScmpActAllow => allowed.push(rule),
            LinuxSeccompAction::ScmpActErrno => refused
                .entry(rule.errno_ret().unwrap_or(default_errno))
                .or_default()
                .push(rule),
            other => return Err(unsupported(format!("action {other:?}"))),
        }
    }
    let mut out = Vec::new();
    allowlist(&allowed, default_errno)?.encode(&mut out);
    for (errno, rules) in refused {
        filter(&rules, json!("allow"), json!({"errno": errno}))?.encode(&mut out);
    }
    Ok(out)
}

/// Syscall numbers below this are looked up; seccompiler knows no call
/// above it on x86-64 (the last is ~460), and every number from here on
/// is refused.
const SCANNED_NUMBERS: u32 = 1024;

/// The allowlist program: calls matching `rules` are allowed, others get
/// `errno`.
fn allowlist(rules: &[&LinuxSyscall], errno: u32) -> Result<Program> {
    let refuse = json!({"errno": errno});
    let (always, sometimes): (Vec<&LinuxSyscall>, Vec<&LinuxSyscall>) =
        rules.iter().partition(|r| r.args().is_none());
    // A call both always allowed and allowed under conditions is always
    // allowed (OCI rules add up): the tree says Allow before it says Chain.
    // Which numbers the argument rules cover: the same calls, unconditional.
    let named: Vec<LinuxSyscall> = sometimes
        .iter()
        .map(|r| {
            let mut r = (*r).clone();
            r.set_args(None);
            r
        })
        .collect();
    let allows = |rules: &[&LinuxSyscall]| -> Result<Vec<bool>> {
        if rules.is_empty() {
            return Ok(vec![false; SCANNED_NUMBERS as usize]);
        }
        let p = filter(rules, refuse.clone(), json!("allow"))?;
        (0..SCANNED_NUMBERS)
            .map(|nr| {
                let data = eval::SeccompData::x86_64(nr, [0; 6]);
                eval::run(p.insns(), &data)
                    .map(|action| action == tree::RET_ALLOW)
                    .map_err(unsupported)
            })
            .collect()
    };
    let always_allowed = allows(&always)?;
    let chained = allows(&named.iter().collect::<Vec<_>>())?;
    let verdicts = always_allowed
        .iter()
        .zip(&chained)
        .map(|(&a, &c)| match (a, c) {
            (true, _) => tree::Verdict::Allow,
            (false, true) => tree::Verdict::Chain,
            (false, false) => tree::Verdict::Refuse,
        });
    let chain = if sometimes.is_empty() {
        Vec::new()
    } else {
        filter(&sometimes, refuse, json!("allow"))?.insns().to_vec()
    };
    let program = tree::program(&tree::ranges(verdicts), errno, &chain).map_err(unsupported)?;
    Ok(Program::new(program))
}

/// One seccompiler program: calls matching `rules` get `on_match`, others
/// `otherwise`.
fn filter(rules: &[&LinuxSyscall], otherwise: Value, on_match: Value) -> Result<Program> {
    let mut entries = Vec::new();
    let (mut always, mut sometimes) = (Vec::new(), Vec::new());
    for rule in rules {
        for name in rule.names() {
            entries.push(entry(name, rule)?);
            match rule.args() {
                None => always.push(name.as_str()),
                Some(_) => sometimes.push(name.as_str()),
            }
        }
    }
    // seccompiler lets any conditional rule of a call replace its
    // unconditional one; a profile meaning "always" must not become "only if".
    if let Some(both) = always.iter().find(|n| sometimes.contains(n)) {
        return Err(unsupported(format!(
            "{both} is matched both always and under conditions"
        )));
    }
    let doc = json!({"sandbox": {
        "mismatch_action": otherwise,
        "match_action": on_match,
        "filter": entries,
    }});
    let mut map =
        seccompiler::compile_from_json(doc.to_string().as_bytes(), seccompiler::TargetArch::x86_64)
            .map_err(|e| unsupported(e.to_string()))?;
    let bpf = map
        .remove("sandbox")
        .ok_or_else(|| unsupported("no program compiled".into()))?;
    Ok(Program::new(
        bpf.into_iter().map(|i| (i.code, i.jt, i.jf, i.k)),
    ))
}

/// The seccompiler rule for `name` under `rule`'s argument conditions.
fn entry(name: &str, rule: &LinuxSyscall) -> Result<Value> {
    let Some(args) = rule.args() else {
        return Ok(json!({"syscall": name}));
    };
    let width = if DWORD_ARG_CALLS.contains(&name) {
        "dword"
    } else {
        "qword"
    };
    let mut conds = Vec::new();
    for a in args {
        let (op, val) = match a.op() {
            LinuxSeccompOperator::ScmpCmpEq => (json!("eq"), a.value()),
            LinuxSeccompOperator::ScmpCmpNe => (json!("ne"), a.value()),
            // libseccomp: (arg & value) == value_two.
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                (json!({"masked_eq": a.value()}), a.value_two().unwrap_or(0))
            }
            other => return Err(unsupported(format!("operator {other:?} on {name}"))),
        };
        conds.push(json!({"index": a.index(), "type": width, "op": op, "val": val}));
    }
    Ok(json!({"syscall": name, "args": conds}))
}

fn unsupported(what: String) -> SandboxError {
    SandboxError::Io {
        what: "compiling the seccomp profile".into(),
        source: std::io::Error::other(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::seccomp::default_profile;

    #[test]
    fn the_default_profile_compiles_to_an_allowlist_then_the_enosys_calls() {
        let bytes = compile(&default_profile()).unwrap();
        let programs = Program::decode_all(&bytes).unwrap();
        assert_eq!(programs.len(), 2, "allowlist, then clone3's ENOSYS");
        // The tree: a few hundred instructions for ~300 calls, where one
        // compare per call took ~1,500.
        assert!(programs[0].len() < 400, "{}", programs[0].len());
        assert!(programs[1].len() < 20, "{}", programs[1].len());
    }

    #[test]
    fn a_call_allowed_always_and_under_conditions_is_always_allowed() {
        use crate::spec::seccomp::{arg, syscall};
        let always = syscall(&["read"], LinuxSeccompAction::ScmpActAllow, vec![]);
        let when = syscall(
            &["read", "write"],
            LinuxSeccompAction::ScmpActAllow,
            vec![arg(0, 1, LinuxSeccompOperator::ScmpCmpEq)],
        );
        let tree = allowlist(&[&always, &when], 1).unwrap();
        let decide = |nr, fd| {
            let d = eval::SeccompData::x86_64(nr, [fd, 0, 0, 0, 0, 0]);
            eval::run(tree.insns(), &d).unwrap()
        };
        // x86-64 numbers.
        let (read, write) = (0, 1);
        assert_eq!(decide(read, 7), tree::RET_ALLOW, "read, any fd");
        assert_eq!(decide(write, 1), tree::RET_ALLOW, "write to fd 1");
        assert_eq!(decide(write, 7), tree::RET_ERRNO | 1, "write elsewhere");
    }

    /// Argument values that sit on and next to every value the profile
    /// compares with, in both halves of the 64-bit word.
    fn probe_values(profile: &LinuxSeccomp) -> Vec<u64> {
        let mut v = vec![0, 1, u64::MAX, 1 << 32, 0xffff_ffff];
        for rule in profile.syscalls().as_deref().unwrap_or_default() {
            for a in rule.args().as_deref().unwrap_or_default() {
                for x in [a.value(), a.value_two().unwrap_or(0)] {
                    v.extend([x, x ^ 1, x | (1 << 32), !x, x.wrapping_add(1)]);
                }
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn the_tree_decides_every_call_as_seccompilers_list_does() {
        let profile = default_profile();
        let rules: Vec<&LinuxSyscall> = profile
            .syscalls()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
            .collect();
        let errno = profile.default_errno_ret().unwrap_or(1);
        let list = filter(&rules, json!({"errno": errno}), json!("allow")).unwrap();
        let tree = allowlist(&rules, errno).unwrap();
        let values = probe_values(&profile);
        let decide = |p: &Program, d: &eval::SeccompData| eval::run(p.insns(), d).unwrap();
        let numbers = (0..4096).chain([0x4000_0000, 0x4000_0029, 0x7fff_ffff, u32::MAX]);
        let (mut allowed, mut conditional) = (0, 0);
        for nr in numbers {
            let zero = eval::SeccompData::x86_64(nr, [0; 6]);
            let (l, t) = (decide(&list, &zero), decide(&tree, &zero));
            assert_eq!(l, t, "syscall {nr}, zero arguments");
            allowed += usize::from(l == tree::RET_ALLOW);
            // Where arguments matter (x86-64 numbers end below 512), try
            // each probe in each position.
            let mut differs = false;
            for i in (0..6).filter(|_| nr < 512) {
                for &x in &values {
                    let mut args = [0; 6];
                    args[i] = x;
                    let d = eval::SeccompData::x86_64(nr, args);
                    let (l, t) = (decide(&list, &d), decide(&tree, &d));
                    assert_eq!(l, t, "syscall {nr}, args {args:x?}");
                    differs |= l != decide(&list, &zero);
                }
            }
            conditional += usize::from(differs);
        }
        assert!(allowed > 250, "{allowed} calls allowed");
        assert!(
            conditional >= 2,
            "{conditional} calls decided by their arguments"
        );
        // Another calling convention is killed by both.
        let i386 = eval::SeccompData {
            arch: 0x4000_0003,
            ..eval::SeccompData::x86_64(0, [0; 6])
        };
        assert_eq!(decide(&list, &i386), decide(&tree, &i386));
    }
}
