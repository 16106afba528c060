//! Attributes of the calling process: dumpability and its environment.

use std::io;

/// Clears the dumpable flag: no core dumps, and other processes of the same
/// uid can no longer ptrace us or open our /proc/<pid>/mem or environ. init
/// holds the channel token; the agent must not be able to read it.
pub fn set_non_dumpable() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the dumpable flag is set.
pub fn is_dumpable() -> io::Result<bool> {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments.
    let r = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r != 0)
}

/// Makes this process the reaper of its orphaned descendants (what PID 1
/// is anyway), so init behaves the same when it is not PID 1 (tests).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes `key` from the environment and wipes its value from memory,
/// returning it.
///
/// Unsetting alone only drops the pointer: the original bytes stay in the
/// initial environment block, which `/proc/<pid>/environ` shows. So the
/// value is overwritten with zeros in place first.
///
/// Modifying the environment races with other threads reading it (libc's
/// getenv is not synchronised), so this refuses to run once the process has
/// a second thread: call it first thing in `main`.
pub fn take_env(key: &str) -> io::Result<Option<String>> {
    if thread_count()? != 1 {
        return Err(io::Error::other(
            "take_env must run before any other thread starts",
        ));
    }
    let value = std::env::var(key).ok();
    let ckey = std::ffi::CString::new(key)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in variable name"))?;
    // SAFETY: single-threaded (checked above). getenv returns null or a
    // pointer to the value inside the live, writable `KEY=VALUE` string of
    // the environment block, so the entry starts `key.len() + 1` bytes
    // before it; we overwrite exactly that entry (without its NUL), before
    // anything else can hold a reference to those bytes.
    unsafe {
        let value_ptr = libc::getenv(ckey.as_ptr());
        if !value_ptr.is_null() {
            let entry = value_ptr.sub(key.len() + 1);
            std::ptr::write_bytes(entry, 0, key.len() + 1 + libc::strlen(value_ptr));
        }
        std::env::remove_var(key);
    }
    Ok(value)
}

/// Threads of this process, from /proc/self/task.
fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_env_refuses_in_a_threaded_process() {
        // The test harness normally runs tests on worker threads.
        let result = take_env("AIRLOCK_SYS_TEST_NEVER_SET");
        if thread_count().unwrap() > 1 {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("before any other thread"), "{err}");
        } else {
            assert_eq!(result.unwrap(), None);
        }
    }
}
