//! `airlock cp`: files and directory trees in and out of the sandbox.
//!
//! The file IO of each copy runs in a helper process ([`helper`]: this
//! binary as `airlock-copy`) with the requesting user's identity, fed or
//! drained through pipes. A thread with a per-thread filesystem uid would be
//! cheaper, but gVisor does not implement setfsuid; a process works on
//! every backend and keeps the tar code unprivileged too.

pub mod helper;

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use airlock_mux::{Inbound, Stream};
use airlock_sys::process::{SpawnOptions, kill};
use airlock_wire::{Control, CopyFormat, ExitStatus, FrameKind, User};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::env;
use crate::init::Ctx;

/// The name init answers to as the copy helper.
pub const HELPER_NAME: &str = "airlock-copy";
const SIGKILL: i32 = 9;

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

/// A running helper and its pipes.
struct Helper {
    pid: u32,
    exit: tokio::sync::oneshot::Receiver<ExitStatus>,
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
}

fn spawn_helper(ctx: &Ctx, user: User, args: &[String]) -> io::Result<Helper> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(HELPER_NAME)
        .args(args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let opts = SpawnOptions {
        credentials: env::credentials(&ctx.config, user),
        new_session: true,
        controlling_tty: false,
    };
    let mut spawned = ctx.reaper.spawn(&mut cmd, opts)?;
    let take = |fd: Option<OwnedFd>| fd.ok_or_else(|| io::Error::other("missing helper pipe"));
    Ok(Helper {
        pid: spawned.pid,
        exit: spawned.exit,
        stdin: Some(pipe::Sender::from_owned_fd(take(
            spawned.child.stdin.take().map(OwnedFd::from),
        )?)?),
        stdout: pipe::Receiver::from_owned_fd(take(
            spawned.child.stdout.take().map(OwnedFd::from),
        )?)?,
        stderr: pipe::Receiver::from_owned_fd(take(
            spawned.child.stderr.take().map(OwnedFd::from),
        )?)?,
    })
}

impl Helper {
    /// Waits for the helper; its stderr line on failure.
    async fn finish(mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut err = String::new();
        let _ = self.stdout.read_to_string(&mut out).await;
        let _ = self.stderr.read_to_string(&mut err).await;
        match self.exit.await {
            Ok(ExitStatus::Code(0)) => Ok(out),
            Ok(status) if err.trim().is_empty() => {
                Err(format!("copy helper ended with {status:?}"))
            }
            _ => Err(err.trim().to_owned()),
        }
    }
}

fn format_arg(format: CopyFormat) -> String {
    match format {
        CopyFormat::File => "file".into(),
        CopyFormat::Tar => "tar".into(),
    }
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
    let mode = format!("{:o}", mode.unwrap_or(0o644));
    let args = [
        "in".into(),
        format_arg(format),
        dest.display().to_string(),
        mode,
    ];
    let mut helper = match spawn_helper(&ctx, user, &args) {
        Ok(h) => h,
        Err(e) => {
            return drop(
                stream
                    .send(&Control::error(format!("cannot copy: {e}")))
                    .await,
            );
        }
    };
    let mut stdin = helper.stdin.take();
    let mut feed_error = None;
    loop {
        match stream.recv().await {
            Some(Inbound::Data(FrameKind::Data, data)) => {
                let Some(pipe) = stdin.as_mut() else { continue };
                if let Err(e) = pipe.write_all(&data).await {
                    // Usually the helper failed (its message wins below);
                    // either way the copy is incomplete and must not succeed.
                    feed_error = Some(e);
                    break;
                }
            }
            Some(Inbound::Control(Control::DataEnd)) => break,
            Some(Inbound::Control(Control::Cancel)) | None => {
                let _ = kill(helper.pid, SIGKILL);
                return;
            }
            Some(_) => {}
        }
    }
    drop(stdin);
    let reply = match (helper.finish().await, feed_error) {
        (Err(e), _) => Control::error(format!("cannot write {path}: {e}")),
        (Ok(_), Some(e)) => Control::error(format!("cannot write {path}: {e}")),
        (Ok(out), None) => Control::Done {
            bytes: out.trim().parse().unwrap_or(0),
        },
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
    let args = ["out".into(), format_arg(format), src.display().to_string()];
    let mut helper = match spawn_helper(&ctx, user, &args) {
        Ok(h) => h,
        Err(e) => {
            return drop(
                stream
                    .send(&Control::error(format!("cannot copy: {e}")))
                    .await,
            );
        }
    };
    drop(helper.stdin.take());
    let mut buf = vec![0u8; 32 * 1024];
    let mut sent = 0u64;
    loop {
        tokio::select! {
            n = helper.stdout.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if stream.send_data(FrameKind::Data, &buf[..n]).await.is_err() {
                        let _ = kill(helper.pid, SIGKILL);
                        return;
                    }
                    sent += n as u64;
                }
            },
            msg = stream.recv() => {
                if matches!(msg, None | Some(Inbound::Control(Control::Cancel))) {
                    let _ = kill(helper.pid, SIGKILL);
                    return;
                }
            }
        }
    }
    let reply = match helper.finish().await {
        Ok(_) => Control::Done { bytes: sent },
        Err(e) => Control::error(format!("cannot read {path}: {e}")),
    };
    let _ = stream.send(&reply).await;
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
}
