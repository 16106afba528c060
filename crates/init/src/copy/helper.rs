//! The copy helper: the init binary run as `airlock-copy`, with the
//! requesting user's identity (agent by default, every capability dropped),
//! doing the file IO of one copy. A copy can therefore touch only what that
//! user could (a symlink the agent planted in /workspace cannot turn a copy
//! into a write to /etc), and the tar code never runs with privilege.
//!
//! `airlock-copy in file|tar PATH [MODE]`: data on stdin; prints the bytes
//! read. `airlock-copy out file|tar PATH`: data on stdout. Errors: one line
//! on stderr, exit 1.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;

/// The helper's `main`; `args` excludes the program name.
pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> io::Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: airlock-copy in|out file|tar PATH [MODE]",
        )
    };
    match args.as_slice() {
        ["in", format, path, rest @ ..] => {
            let mode = match rest {
                [] => 0o644,
                [m] => u32::from_str_radix(m, 8).map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            let mut input = io::stdin().lock();
            let n = match *format {
                "file" => write_file(Path::new(path), mode, &mut input)?,
                "tar" => unpack(Path::new(path), &mut input)?,
                _ => return Err(bad()),
            };
            writeln!(io::stdout(), "{n}")
        }
        ["out", format, path] => {
            let mut out = io::stdout().lock();
            match *format {
                "file" => read_file(Path::new(path), &mut out)?,
                "tar" => pack(Path::new(path), &mut out)?,
                _ => return Err(bad()),
            };
            out.flush()
        }
        _ => Err(bad()),
    }
}

fn write_file(dest: &Path, mode: u32, from: &mut impl Read) -> io::Result<u64> {
    if dest.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(dest)?;
    let n = plain_copy(from, &mut file)?;
    // `mode` applies only when the file is created; an existing one gets it too.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    Ok(n)
}

fn unpack(dest: &Path, from: &mut impl Read) -> io::Result<u64> {
    fs::create_dir_all(dest)?;
    let mut counting = Counting { inner: from, n: 0 };
    let mut archive = tar::Archive::new(&mut counting);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    // `unpack` refuses entries whose paths leave `dest` (.., absolute).
    archive.unpack(dest)?;
    Ok(counting.n)
}

fn read_file(src: &Path, to: &mut impl Write) -> io::Result<u64> {
    if src.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory (copy it recursively, as a tar archive)",
        ));
    }
    plain_copy(&mut File::open(src)?, to)
}

fn pack(src: &Path, to: &mut impl Write) -> io::Result<u64> {
    let mut counting = Counting { inner: to, n: 0 };
    {
        let mut builder = tar::Builder::new(&mut counting);
        builder.follow_symlinks(false);
        if src.is_dir() {
            builder.append_dir_all(".", src)?;
        } else {
            let name = src.file_name().unwrap_or_default();
            builder.append_path_with_name(src, name)?;
        }
        builder.finish()?;
    }
    Ok(counting.n)
}

/// A read/write loop. Not `io::copy`: for pipes and files std uses
/// splice/sendfile/copy_file_range, and gVisor's splice reports end of
/// input after one pipe buffer (64 KiB), silently truncating the copy.
fn plain_copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Counts bytes passing through a reader or writer.
struct Counting<T> {
    inner: T,
    n: u64,
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_round_trip_through_the_channel_types() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("d/e")).unwrap();
        fs::write(src.path().join("d/e/f.txt"), "deep").unwrap();
        fs::write(src.path().join("top"), "top").unwrap();
        let mut archive = Vec::new();
        pack(src.path(), &mut archive).unwrap();
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("out");
        unpack(&target, &mut archive.as_slice()).unwrap();
        assert_eq!(
            fs::read_to_string(target.join("d/e/f.txt")).unwrap(),
            "deep"
        );
        assert_eq!(fs::read_to_string(target.join("top")).unwrap(), "top");
    }

    #[test]
    fn writing_over_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_file(dir.path(), 0o644, &mut &b"x"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
    }
}
