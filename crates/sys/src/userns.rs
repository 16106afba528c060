//! User namespaces held open by a descriptor, used to give idmapped mounts
//! their mapping (see [`crate::mount::idmapped_bind`]).
//!
//! The kernel only hands out a user namespace through a process living in it,
//! so a throwaway child is created in a new user namespace, its mapping is
//! written from here, the namespace is opened through `/proc/<pid>/ns/user`,
//! and the child is killed. The namespace lives as long as the descriptor.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;

/// One line of a `uid_map`/`gid_map`: ids `inside..inside+count` in the
/// namespace are `outside..outside+count` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

/// Creates a user namespace whose uids and gids are both mapped by `range`
/// and returns a descriptor for it. Needs `CAP_SETUID`/`CAP_SETGID` on the
/// host (the mapping is written by this, privileged, process).
pub fn userns_with_mapping(range: IdRange) -> io::Result<OwnedFd> {
    let pid = spawn_parked_child()?;
    let result = open_mapped(pid, range);
    reap(pid);
    result
}

fn open_mapped(pid: libc::pid_t, range: IdRange) -> io::Result<OwnedFd> {
    let line = format!("{} {} {}\n", range.inside, range.outside, range.count);
    for map in ["uid_map", "gid_map"] {
        let mut f = OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/{map}"))?;
        f.write_all(line.as_bytes())?;
    }
    Ok(File::open(format!("/proc/{pid}/ns/user"))?.into())
}

/// Forks a child in a new user namespace that only waits to be killed.
fn spawn_parked_child() -> io::Result<libc::pid_t> {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone without CLONE_VM behaves like fork: the child gets a copy
    // of the address space. The parent may be multi-threaded, so the child
    // only calls async-signal-safe functions (pause, _exit) before it dies.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        loop {
            // SAFETY: pause has no preconditions; the parent ends us with SIGKILL.
            unsafe { libc::pause() };
        }
    }
    Ok(pid as libc::pid_t)
}

fn reap(pid: libc::pid_t) {
    // SAFETY: `pid` is our own child; kill and waitpid have no memory
    // preconditions. Waiting here keeps the child from lingering as a zombie.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_namespace_when_root() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let fd = userns_with_mapping(IdRange {
            inside: 0,
            outside: 100_000,
            count: 65_536,
        })
        .unwrap();
        drop(fd);
    }
}
