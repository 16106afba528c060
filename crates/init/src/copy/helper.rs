//! `airlock cp`: files and directory trees in and out of the sandbox.
//!
//! The file IO runs on a dedicated thread that first takes the requesting
//! user's filesystem identity (agent by default), so a copy can touch only
//! what that user could: a symlink the agent planted in /workspace cannot
//! turn a copy into a write to /etc. Paths with `..` are refused outright.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use airlock_mux::{Inbound, Stream};
use airlock_sys::fsuser::become_fs_user_on_this_thread;
use airlock_wire::{Control, CopyFormat, FrameKind, User};
use tokio::sync::{mpsc, oneshot};

use crate::init::Ctx;

/// Chunks queued between the stream and the IO thread.
const QUEUE: usize = 8;
const CHUNK: usize = 32 * 1024;

/// Resolves a sandbox path: absolute as given, relative to `base`
/// otherwise; refused if it is empty, has a NUL byte or any `..` component
/// (which could climb out of wherever the user meant).
pub fn resolve(path: &str, base: &Path) -> Result<PathBuf, String> {
    if path.is_empty() || path.contains('\0') {
        return Err(format!("invalid path {path:?}"));
    }
    let p = Path::new(path);
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("path {path:?} must not contain '..'"));
    }
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}

/// Serves a `CopyIn` stream: data frames until `DataEnd`, then `Done`.
pub async fn copy_in(
    ctx: Arc<Ctx>,
    path: String,
    format: CopyFormat,
    mode: Option<u32>,
    user: User,
    mut stream: Stream,
) {
    let dest = match resolve(&path, &ctx.config.agent.workspace) {
        Ok(p) => p,
        Err(e) => return drop(stream.send(&Control::error(e)).await),
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let identity = fs_identity(&ctx, user);
    let done = on_io_thread(identity, move || {
        let mut reader = ChannelReader::new(rx);
        match format {
            CopyFormat::File => write_file(&dest, mode.unwrap_or(0o644), &mut reader),
            CopyFormat::Tar => unpack(&dest, &mut reader),
        }
    });
    loop {
        match stream.recv().await {
            Some(Inbound::Data(FrameKind::Data, data)) => {
                if tx.send(data).await.is_err() {
                    break; // the IO thread failed; its error is reported below
                }
            }
            Some(Inbound::Control(Control::DataEnd)) => break,
            Some(Inbound::Control(Control::Cancel)) | None => return,
            Some(_) => {}
        }
    }
    drop(tx);
    let reply = match done.await {
        Ok(Ok(bytes)) => Control::Done { bytes },
        Ok(Err(e)) => Control::error(format!("cannot write {path}: {e}")),
        Err(_) => Control::error("copy failed"),
    };
    let _ = stream.send(&reply).await;
}

/// Serves a `CopyOut` stream: data frames, then `Done`.
pub async fn copy_out(
    ctx: Arc<Ctx>,
    path: String,
    format: CopyFormat,
    user: User,
    mut stream: Stream,
) {
    let src = match resolve(&path, &ctx.config.agent.workspace) {
        Ok(p) => p,
        Err(e) => return drop(stream.send(&Control::error(e)).await),
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let done = on_io_thread(fs_identity(&ctx, user), move || {
        let mut writer = ChannelWriter::new(tx);
        let n = match format {
            CopyFormat::File => read_file(&src, &mut writer),
            CopyFormat::Tar => pack(&src, &mut writer),
        }?;
        writer.flush()?;
        Ok(n)
    });
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(data) => {
                    if stream.send_data(FrameKind::Data, &data).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            msg = stream.recv() => {
                if matches!(msg, None | Some(Inbound::Control(Control::Cancel))) {
                    return; // dropping `rx` stops the IO thread
                }
            }
        }
    }
    let reply = match done.await {
        Ok(Ok(bytes)) => Control::Done { bytes },
        Ok(Err(e)) => Control::error(format!("cannot read {path}: {e}")),
        Err(_) => Control::error("copy failed"),
    };
    let _ = stream.send(&reply).await;
}

/// The (uid, gid) to do the IO as; `None` keeps init's (root).
fn fs_identity(ctx: &Ctx, user: User) -> Option<(u32, u32)> {
    match user {
        User::Agent => Some((ctx.config.agent.uid, ctx.config.agent.gid)),
        User::Root => None,
    }
}

/// Runs `work` on a fresh thread with the given filesystem identity (a
/// pooled thread must never keep a changed identity).
fn on_io_thread<F>(identity: Option<(u32, u32)>, work: F) -> oneshot::Receiver<io::Result<u64>>
where
    F: FnOnce() -> io::Result<u64> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let result = match identity {
            Some((uid, gid)) => become_fs_user_on_this_thread(uid, gid).and_then(|()| work()),
            None => work(),
        };
        let _ = tx.send(result);
    });
    rx
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
    let n = io::copy(from, &mut file)?;
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
    io::copy(&mut File::open(src)?, to)
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

/// Blocking `Read` over chunks arriving from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.chunk, self.pos) = (chunk, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Blocking `Write` that hands 32 KiB chunks to the async side.
struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "copy cancelled"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let ws = Path::new("/workspace");
        assert_eq!(
            resolve("/etc/hosts", ws).unwrap(),
            PathBuf::from("/etc/hosts")
        );
        assert_eq!(resolve("a/b", ws).unwrap(), PathBuf::from("/workspace/a/b"));
        for bad in ["", "../x", "/a/../b", "a/..", "/x\0y"] {
            assert!(resolve(bad, ws).is_err(), "{bad:?}");
        }
        assert!(
            resolve("a..b/c...", ws).is_ok(),
            "dots inside names are fine"
        );
    }

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
