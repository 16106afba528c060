//! Pseudo-terminals for interactive sessions.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::fd::set_cloexec;

/// A new PTY pair of size `rows` × `cols`: (master, slave). Both are
/// close-on-exec; the slave becomes the child's stdio through dup2, which
/// clears the flag on the copies only.
pub fn open(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let size = winsize(rows, cols);
    // SAFETY: openpty writes two descriptors into live locals; the name
    // buffer is null (not wanted) and termios null (defaults); `size` is a
    // live winsize it only reads.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both are fresh descriptors we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    set_cloexec(master_borrow(&master))?;
    set_cloexec(master_borrow(&slave))?;
    Ok((master, slave))
}

fn master_borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

/// Changes the terminal size; the kernel sends SIGWINCH to the foreground
/// process group.
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = winsize(rows, cols);
    // SAFETY: TIOCSWINSZ reads a live winsize struct.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The terminal size as (rows, cols).
pub fn get_size(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut size = winsize(0, 0);
    // SAFETY: TIOCGWINSZ writes into a live winsize struct.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}

/// Whether a read error on a PTY master means "every slave descriptor is
/// closed" (Linux reports that end of session as EIO, not as EOF).
pub fn is_hangup(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EIO)
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn open_and_resize() {
        let (master, slave) = open(24, 80).unwrap();
        assert_eq!(get_size(slave.as_fd()).unwrap(), (24, 80));
        set_size(master.as_fd(), 50, 132).unwrap();
        assert_eq!(get_size(slave.as_fd()).unwrap(), (50, 132));
    }
}
