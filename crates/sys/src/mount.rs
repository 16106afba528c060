//! Host-side mounts for sandbox roots: the per-sandbox tmpfs that bounds the
//! writable layer, the overlay root, idmapped views of image layers, and
//! unmounting them again.
//!
//! These are plain syscalls instead of `mount(8)` processes because they sit
//! on the create/destroy hot path (a process spawn costs about a millisecond,
//! the syscall microseconds).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Mounts a tmpfs of at most `size` bytes at `target`, with its root
/// directory owned by `uid:gid` and mode `mode`. `nosuid,nodev`: nothing
/// written by a sandbox can become a device or set-id program on the host.
pub fn mount_tmpfs(target: &Path, size: u64, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
    let data = format!("size={size},mode={mode:o},uid={uid},gid={gid}");
    mount(
        "tmpfs",
        target,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&data),
    )
}

/// Mounts an overlay at `target` with the read-only `lower` directory and the
/// writable `upper`/`work` pair (both on the same filesystem). `nodev`, and
/// the optional overlay features that change on-disk formats are off, so the
/// upper layer only ever holds plain files.
pub fn mount_overlay(target: &Path, lower: &Path, upper: &Path, work: &Path) -> io::Result<()> {
    for p in [lower, upper, work] {
        // Overlay's option string uses ',' and ':' as separators; refuse
        // paths that would be parsed as extra options or layers.
        if p.as_os_str()
            .as_bytes()
            .iter()
            .any(|b| matches!(b, b',' | b':' | b'\\'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "overlay layer path {} contains ',', ':' or '\\'",
                    p.display()
                ),
            ));
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,index=off,metacopy=off",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount("overlay", target, "overlay", libc::MS_NODEV, Some(&data))
}

/// Detaches the mount at `target` (lazy unmount, so a process that still has
/// a file open there cannot keep it pinned in the tree). Returns `Ok(false)`
/// when nothing is mounted there or the path does not exist, which makes
/// cleanup idempotent.
pub fn unmount(target: &Path) -> io::Result<bool> {
    let c = cpath(target)?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call;
    // umount2 only reads it.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(false),
        _ => Err(err),
    }
}

/// Attaches at `target` a recursive bind of `source` whose file ownership is
/// seen through the id mapping of the user namespace `userns`: with a
/// namespace that maps 0 → 100000, a file owned by 0 under `source` appears
/// owned by 100000 under `target`. Nothing on disk changes. Needs Linux 5.12
/// (idmapped mounts) and, to be used as an overlay layer, 5.19.
pub fn idmapped_bind(source: &Path, target: &Path, userns: BorrowedFd<'_>) -> io::Result<()> {
    let tree = open_tree_clone(source)?;
    set_idmap(tree.as_raw_fd(), userns.as_raw_fd())?;
    move_mount_to(tree.as_raw_fd(), target)
}

/// `open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`: a detached copy of the mount
/// tree at `source`, held by the returned descriptor.
fn open_tree_clone(source: &Path) -> io::Result<OwnedFd> {
    let c = cpath(source)?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
    // SAFETY: open_tree reads the NUL-terminated path `c`, valid for the call;
    // it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The `struct mount_attr` of mount_setattr(2), version 0 (32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets `MOUNT_ATTR_IDMAP` with `userns` on the detached tree `tree`.
fn set_idmap(tree: i32, userns: i32) -> io::Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH | libc::AT_RECURSIVE;
    // SAFETY: `attr` is a properly laid out mount_attr that lives across the
    // call, and its size is passed; `empty` is a valid C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree,
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `move_mount` of the detached tree `tree` onto `target`.
fn move_mount_to(tree: i32, target: &Path) -> io::Result<()> {
    let c = cpath(target)?;
    let empty = c"";
    // SAFETY: both strings are valid NUL-terminated C strings for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            empty.as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// mount(2) with an optional data string.
fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: u64,
    data: Option<&str>,
) -> io::Result<()> {
    let src = CString::new(source)?;
    let tgt = cpath(target)?;
    let fs = CString::new(fstype)?;
    let data = data.map(CString::new).transpose()?;
    let data_ptr = data
        .as_ref()
        .map_or(std::ptr::null(), |d| d.as_ptr().cast::<libc::c_void>());
    // SAFETY: all pointers are NUL-terminated strings (or null for `data`)
    // owned by this frame and valid for the duration of the call.
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), flags, data_ptr) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cpath(p: &Path) -> io::Result<CString> {
    Ok(CString::new(p.as_os_str().as_bytes())?)
}
