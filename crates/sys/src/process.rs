//! Starting processes with the session, terminal and privilege set-up init
//! needs, signalling them, and reaping every child as PID 1 must.
//!
//! Spawning goes through std's `Command` (fork+exec, stdio wiring, error
//! reporting through a CLOEXEC pipe); this module adds a `pre_exec` hook
//! that runs in the child between fork and exec. That hook only makes raw
//! syscalls: it must not allocate or lock (the parent may have been
//! multi-threaded when it forked).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Who the child becomes and what it may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// User id to switch to (no switch if it is already ours).
    pub uid: u32,
    /// Group id; also the only supplementary group.
    pub gid: u32,
    /// Drop every capability from the bounding, ambient, inheritable,
    /// permitted and effective sets, and set `no_new_privs`, so neither the
    /// process nor anything it execs (setuid binaries, file capabilities)
    /// can regain privilege.
    pub drop_all_caps: bool,
}

/// How to set up the child before exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpawnOptions {
    /// Identity to switch to; `None` keeps ours.
    pub credentials: Option<Credentials>,
    /// Start a new session (and process group) so signals can target the
    /// whole job, and a PTY can become its controlling terminal.
    pub new_session: bool,
    /// Make stdin (a PTY slave) the controlling terminal. Needs `new_session`.
    pub controlling_tty: bool,
}

/// Spawns `cmd` with `opts` applied in the child just before exec.
pub fn spawn(cmd: &mut Command, opts: SpawnOptions) -> io::Result<Child> {
    // SAFETY: the hook only calls async-signal-safe syscalls (setsid, ioctl,
    // prctl, setgroups, setgid, setuid, capset) on values copied into the
    // closure; it allocates nothing and touches no lock, as required between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || child_setup(opts));
    }
    cmd.spawn()
}

/// Runs in the forked child. Order matters: the session first (TIOCSCTTY
/// needs it and root privilege may be needed for stealing a terminal), then
/// the bounding set (dropping it needs CAP_SETPCAP, lost by setuid), then
/// the ids, then the remaining capability sets and no_new_privs.
fn child_setup(opts: SpawnOptions) -> io::Result<()> {
    if opts.new_session {
        // SAFETY: setsid has no arguments.
        check(unsafe { libc::setsid() })?;
    }
    if opts.controlling_tty {
        // SAFETY: TIOCSCTTY on fd 0 with an integer argument (0: do not steal).
        check(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) })?;
    }
    if let Some(creds) = opts.credentials {
        switch_user(creds)?;
    }
    Ok(())
}

fn switch_user(creds: Credentials) -> io::Result<()> {
    if creds.drop_all_caps {
        drop_bounding_set()?;
        clear_ambient()?;
    }
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != creds.uid {
        let groups = [creds.gid];
        // SAFETY: `groups` is a live array of the length we pass.
        check(unsafe { libc::setgroups(1, groups.as_ptr()) })?;
        // SAFETY: integer arguments only. setgid before setuid: afterwards
        // we would no longer have the privilege to change groups.
        check(unsafe { libc::setgid(creds.gid) })?;
        // SAFETY: integer argument only.
        check(unsafe { libc::setuid(creds.uid) })?;
    }
    if creds.drop_all_caps {
        clear_capability_sets()?;
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    }
    Ok(())
}

/// Drops every capability from the bounding set. EINVAL marks the end of
/// the kernel's capability list. EPERM (no CAP_SETPCAP, e.g. init already
/// runs with a reduced set) is tolerated: the caller then also loses every
/// effective capability and sets no_new_privs, so the bounding set can no
/// longer be used to regain anything.
fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINVAL) | Some(libc::EPERM) => Ok(()),
                _ => Err(err),
            };
        }
    }
    Ok(())
}

/// Clears the ambient set. EINVAL means the kernel (or gVisor) has no
/// ambient capabilities, so there is nothing to clear.
fn clear_ambient() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    match check(r) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

/// Empties the effective, permitted and inheritable sets with capset(2)
/// (version 3 header: two 32-bit words per set).
fn clear_capability_sets() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads one header and two data structs, laid out as the
    // kernel's `__user_cap_header_struct` / `__user_cap_data_struct` (repr(C)),
    // both alive for the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } as libc::c_int)
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `signal` to process `pid`.
pub fn kill(pid: u32, signal: i32) -> io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: kill(2) with integer arguments; pid > 0 targets one process.
    check(unsafe { libc::kill(pid, signal) })
}

/// Sends `signal` to every process in group `pgid`.
pub fn kill_group(pgid: u32, signal: i32) -> io::Result<()> {
    let pgid = i32::try_from(pgid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pgid <= 1 {
        // -1 would mean "every process we may signal": never that.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill(2) with a negative pid targets exactly one process group.
    check(unsafe { libc::kill(-pgid, signal) })
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Reaps one terminated child of any pid without blocking. `None` when no
/// child has terminated (or there are no children at all).
pub fn reap_any() -> io::Result<Option<(u32, WaitStatus)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes the status into a live local integer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid == 0 {
        return Ok(None);
    }
    if pid < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ECHILD) => Ok(None),
            _ => Err(err),
        };
    }
    let status = if libc::WIFSIGNALED(status) {
        WaitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        WaitStatus::Exited(libc::WEXITSTATUS(status))
    };
    Ok(Some((pid as u32, status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_session_makes_the_child_a_group_leader() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "test \"$(ps -o pgid= -p $$ | tr -d ' ')\" = $$"]);
        let opts = SpawnOptions {
            new_session: true,
            ..Default::default()
        };
        let status = spawn(&mut cmd, opts).unwrap().wait().unwrap();
        assert!(status.success());
    }

    #[test]
    fn group_kill_refuses_special_groups() {
        assert!(kill_group(0, libc::SIGTERM).is_err());
        assert!(kill_group(1, libc::SIGTERM).is_err());
    }
}
