//! Network interface flags: bringing `lo` up inside a fresh network
//! namespace, where the kernel creates it down.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Sets `IFF_UP` on interface `name` if it is down. Returns whether it
/// changed anything. Needs `CAP_NET_ADMIN` in the interface's namespace.
pub fn bring_up(name: &str) -> io::Result<bool> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags union member
    // of `req`, a properly sized, initialised `ifreq` we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled `ifru_flags`; it is the active member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(false);
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads `req` (name and flags), which we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

/// Whether interface `name` has `IFF_UP`.
pub fn is_up(name: &str) -> io::Result<bool> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    // SAFETY: as in `bring_up`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: filled by the kernel above.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags & libc::IFF_UP as libc::c_short != 0)
}

/// Any socket serves as a handle for interface ioctls.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be 1-15 bytes without NUL",
        ));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_up_on_the_host() {
        assert!(is_up("lo").unwrap());
        assert!(!bring_up("lo").unwrap(), "already up: nothing to change");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(is_up("").is_err());
        assert!(is_up("a-name-longer-than-15").is_err());
        assert!(is_up("nosuchif0").is_err());
    }
}
