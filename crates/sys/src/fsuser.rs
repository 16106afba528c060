//! Filesystem identity of one thread, for doing file IO with a less
//! privileged user's permissions without starting a process.
//!
//! On Linux the filesystem uid/gid and the supplementary groups are
//! per-thread kernel credentials. glibc's `setgroups` wrapper would apply the
//! change to every thread of the process, so the raw syscalls are used: only
//! the calling thread changes. When the fsuid changes from 0 to non-zero the
//! kernel also clears the filesystem capabilities (DAC override, chown,
//! fowner, ...) from that thread's effective set, so its file accesses are
//! checked exactly as the user's would be.

use std::io;

/// Makes the calling thread access files as `uid`/`gid` (with `gid` as the
/// only supplementary group). Run it on a dedicated thread that is discarded
/// afterwards, never on a pooled one.
pub fn become_fs_user_on_this_thread(uid: u32, gid: u32) -> io::Result<()> {
    let groups = [gid];
    // SAFETY: the raw setgroups syscall reads `groups`, a live array of the
    // length passed; it changes this thread's credentials only.
    if unsafe { libc::syscall(libc::SYS_setgroups, 1, groups.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    set_checked(libc::SYS_setfsgid, gid)?;
    set_checked(libc::SYS_setfsuid, uid)
}

/// setfsuid/setfsgid never report errors directly: they return the previous
/// value. Calling again with an invalid id (-1) reads the current one back,
/// which tells whether the change took.
fn set_checked(call: libc::c_long, id: u32) -> io::Result<()> {
    // SAFETY: setfs[ug]id take an integer and touch no memory.
    unsafe { libc::syscall(call, id) };
    // SAFETY: as above; -1 (as u32::MAX) is never a valid id, so this only reads.
    let now = unsafe { libc::syscall(call, u32::MAX) };
    if now as u32 != id {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_can_take_another_fs_identity_alone() {
        // SAFETY: geteuid has no arguments.
        if unsafe { libc::geteuid() } != 0 {
            return; // needs root to change identity
        }
        let dir = std::env::temp_dir().join(format!("airlock-fsuser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root_only = dir.join("secret");
        std::fs::write(&root_only, "x").unwrap();
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(&root_only, mode).unwrap();
        let path = root_only.clone();
        let denied = std::thread::spawn(move || {
            become_fs_user_on_this_thread(65534, 65534).unwrap();
            std::fs::read(&path).unwrap_err().kind()
        })
        .join()
        .unwrap();
        assert_eq!(denied, io::ErrorKind::PermissionDenied);
        assert!(std::fs::read(&root_only).is_ok(), "other threads keep root");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
