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
    filter(&allowed, json!({"errno": default_errno}), json!("allow"))?.encode(&mut out);
    for (errno, rules) in refused {
        filter(&rules, json!("allow"), json!({"errno": errno}))?.encode(&mut out);
    }
    Ok(out)
}

/// One program: calls matching `rules` get `on_match`, others `otherwise`.
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
        // ~290 calls: one compare each, and more for the argument rules.
        assert!(programs[0].len() > 290, "{}", programs[0].len());
        assert!(programs[1].len() < 20, "{}", programs[1].len());
    }
}
