//! File-descriptor flags that std does not expose.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Turns `O_NONBLOCK` on or off, e.g. on a PTY master before handing it to
/// an async reactor.
pub fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor the caller borrows (so it is open for
    // the duration of the call); no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above; F_SETFL takes an int argument.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets `FD_CLOEXEC`, so the descriptor does not leak into exec'd programs.
pub fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_SETFD on a borrowed, open descriptor; int argument only.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn toggles_nonblocking() {
        let (r, _w) = io::pipe().unwrap();
        set_nonblocking(r.as_fd(), true).unwrap();
        let mut buf = [0u8; 1];
        let err = io::Read::read(&mut &r, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        set_nonblocking(r.as_fd(), false).unwrap();
        set_cloexec(r.as_fd()).unwrap();
    }
}
