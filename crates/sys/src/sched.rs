//! CPU scheduling hints for threads on the critical path.

use std::io;
use std::time::Duration;

/// `sched_attr.size` as the kernel's first version of the struct has it.
const SCHED_ATTR_SIZE: u32 = size_of::<libc::sched_attr>() as u32;

/// Asks the kernel's fair scheduler (EEVDF, Linux 6.12 and later) to run
/// the calling thread in time slices of `slice` instead of
/// the default (0.75 ms and more). A shorter slice gives the thread an
/// earlier deadline whenever it wakes, so it preempts whatever runs instead
/// of queuing behind it; it does not give it a larger share of the CPU. The
/// kernel clamps the slice to 0.1–100 ms. The thread's policy stays
/// `SCHED_OTHER` and its nice value is kept.
///
/// Unprivileged. Kernels before 6.12 have no custom slices and ignore or
/// refuse it; callers treat it as a hint that may not be taken.
pub fn set_current_thread_slice(slice: Duration) -> io::Result<()> {
    let nice = current_nice()?;
    let attr = libc::sched_attr {
        size: SCHED_ATTR_SIZE,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: sched_setattr (pid 0: the calling thread) reads `attr.size`
    // bytes from a pointer to a live, fully initialised sched_attr of exactly
    // that size; it keeps no pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &raw const attr,
            0 as libc::c_uint,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's nice value (Linux keeps one per thread; who 0 is
/// the caller).
fn current_nice() -> io::Result<i32> {
    // getpriority may return -1 as a nice value, so errno tells failure.
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: getpriority takes plain integers and returns one.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    match io::Error::last_os_error() {
        e if nice == -1 && e.raw_os_error() != Some(0) => Err(e),
        _ => Ok(nice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_takes_a_short_slice_and_keeps_its_nice() {
        std::thread::spawn(|| {
            let before = current_nice().unwrap();
            set_current_thread_slice(Duration::from_micros(100)).unwrap();
            assert_eq!(current_nice().unwrap(), before);
            let stat = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
            // Kernels that know custom slices show the slice in nanoseconds.
            if let Some(line) = stat.lines().find(|l| l.starts_with("se.slice")) {
                assert!(line.ends_with(" 100000"), "{line}");
            }
        })
        .join()
        .unwrap();
    }
}
