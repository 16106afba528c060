//! Reaping one known child without blocking. The sandbox node is a child
//! subreaper: runtime processes it started (runc's container init, runsc's
//! sandbox and gofer) become its children when the runtime CLI exits, and
//! it reaps them when it removes the sandbox, so removal never waits on a
//! slow host init to collect zombies.

use std::io;

/// Reaps `pid` if it has exited. `Ok(true)` when it is gone (reaped now, or
/// not our child at all), `Ok(false)` while it still runs.
pub fn try_reap(pid: u32) -> io::Result<bool> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        // 0 and negatives mean process groups or "any child": never that.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid on one positive pid with WNOHANG writes only into the
    // live local `status`.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match r {
        0 => Ok(false),
        r if r > 0 => Ok(true),
        _ => {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ECHILD) => Ok(true),
                _ => Err(e),
            }
        }
    }
}
