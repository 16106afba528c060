//! Exec requests: start the process (pipes or a PTY), stream its output,
//! feed its input, forward resizes and signals, report how it ended.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use airlock_mux::{Inbound, Stream, StreamSender};
use airlock_sys::process::{SpawnOptions, kill_group};
use airlock_sys::pty;
use airlock_wire::{Control, ExecRequest, ExitStatus, FrameKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::env;
use crate::init::Ctx;
use crate::pipes::PtyMaster;

/// After the process exits, how long its output may still drain: a
/// background grandchild can hold the pipes open forever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Stdin chunks buffered between the stream and a slow reader.
const STDIN_QUEUE: usize = 16;
const SIGKILL: i32 = 9;

/// A started process.
struct Running {
    pid: u32,
    exit: oneshot::Receiver<ExitStatus>,
    io: ProcIo,
}

enum ProcIo {
    Pipes {
        stdin: pipe::Sender,
        stdout: pipe::Receiver,
        stderr: pipe::Receiver,
    },
    Pty(Arc<PtyMaster>),
}

/// Serves one exec stream to its end.
pub async fn serve(ctx: Arc<Ctx>, req: ExecRequest, stream: Stream) {
    match start(&ctx, &req) {
        Ok(running) => supervise(running, stream).await,
        Err(e) => {
            let program = req.argv.first().map_or("", String::as_str);
            let msg = Control::error(format!("cannot run {program:?}: {e}"));
            let _ = stream.send(&msg).await;
        }
    }
}

/// Builds the command with its environment, directory and identity.
pub fn command(config: &Config, req: &ExecRequest) -> io::Result<(Command, SpawnOptions)> {
    let Some((program, args)) = req.argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let cwd = env::cwd(config, req);
    if !cwd.is_dir() {
        // std would report a bad directory as the program not being found.
        let msg = format!("working directory {} does not exist", cwd.display());
        return Err(io::Error::new(io::ErrorKind::NotFound, msg));
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env::build(config, req))
        .current_dir(cwd);
    let opts = SpawnOptions {
        credentials: env::credentials(config, req.user),
        new_session: true,
        controlling_tty: req.tty.is_some(),
    };
    Ok((cmd, opts))
}

fn start(ctx: &Ctx, req: &ExecRequest) -> io::Result<Running> {
    let (mut cmd, opts) = command(&ctx.config, req)?;
    if let Some(tty) = &req.tty {
        let (master, slave) = pty::open(tty.rows, tty.cols)?;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let spawned = ctx.reaper.spawn(&mut cmd, opts)?;
        // The command holds our copies of the slave: close them, or the
        // master never sees the session end.
        drop(cmd);
        return Ok(Running {
            pid: spawned.pid,
            exit: spawned.exit,
            io: ProcIo::Pty(Arc::new(PtyMaster::new(master)?)),
        });
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut spawned = ctx.reaper.spawn(&mut cmd, opts)?;
    let taken = |fd: Option<OwnedFd>| fd.ok_or_else(|| io::Error::other("missing stdio pipe"));
    let stdin = taken(spawned.child.stdin.take().map(OwnedFd::from))?;
    let stdout = taken(spawned.child.stdout.take().map(OwnedFd::from))?;
    let stderr = taken(spawned.child.stderr.take().map(OwnedFd::from))?;
    Ok(Running {
        pid: spawned.pid,
        exit: spawned.exit,
        io: ProcIo::Pipes {
            stdin: pipe::Sender::from_owned_fd(stdin)?,
            stdout: pipe::Receiver::from_owned_fd(stdout)?,
            stderr: pipe::Receiver::from_owned_fd(stderr)?,
        },
    })
}

async fn supervise(mut running: Running, mut stream: Stream) {
    let out = stream.sender();
    if out
        .send(&Control::Started { pid: running.pid })
        .await
        .is_err()
    {
        let _ = kill_group(running.pid, SIGKILL);
    }
    let (stdin_tx, stdin_rx) = mpsc::channel(STDIN_QUEUE);
    let (pumps, pty) = start_pumps(running.io, &out, stdin_rx);
    let mut stdin_tx = Some(stdin_tx);
    let mut stream_open = true;
    let status = loop {
        tokio::select! {
            status = &mut running.exit => break status.unwrap_or(ExitStatus::Signal(SIGKILL)),
            msg = stream.recv(), if stream_open => match msg {
                Some(Inbound::Data(FrameKind::Stdin, data)) => {
                    if let Some(tx) = &stdin_tx {
                        // Blocks while the process does not read its input;
                        // ends when it exits (the writer then drops `rx`).
                        let _ = tx.send(data).await;
                    }
                }
                Some(Inbound::Control(msg)) => {
                    stream_open = on_control(msg, running.pid, pty.as_deref(), &mut stdin_tx).await;
                }
                Some(Inbound::Data(..)) => {}
                None => {
                    stream_open = false;
                    let _ = kill_group(running.pid, SIGKILL);
                }
            },
        }
    };
    drain(pumps).await;
    let _ = out.send(&Control::Exited { status }).await;
}

/// Applies one control message; returns whether to keep reading the stream.
async fn on_control(
    msg: Control,
    pid: u32,
    pty: Option<&PtyMaster>,
    stdin: &mut Option<mpsc::Sender<Vec<u8>>>,
) -> bool {
    match msg {
        Control::StdinEof => *stdin = None,
        Control::Resize { rows, cols } => {
            if let Some(pty) = pty {
                let _ = pty.resize(rows, cols).await;
            }
        }
        Control::Signal { signo } => {
            if let Err(e) = kill_group(pid, signo) {
                tracing::debug!(pid, signo, error = %e, "signal not delivered");
            }
        }
        Control::Cancel => {
            // The client went away: end the job, as a hangup would.
            let _ = kill_group(pid, SIGKILL);
            return false;
        }
        other => tracing::debug!(?other, "ignoring message on an exec stream"),
    }
    true
}

/// Starts the output pumps and the stdin writer.
fn start_pumps(
    io: ProcIo,
    out: &StreamSender,
    stdin_rx: mpsc::Receiver<Vec<u8>>,
) -> (Vec<JoinHandle<()>>, Option<Arc<PtyMaster>>) {
    match io {
        ProcIo::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            tokio::spawn(write_pipe(stdin, stdin_rx));
            let pumps = vec![
                tokio::spawn(pump_pipe(stdout, FrameKind::Stdout, out.clone())),
                tokio::spawn(pump_pipe(stderr, FrameKind::Stderr, out.clone())),
            ];
            (pumps, None)
        }
        ProcIo::Pty(master) => {
            tokio::spawn(write_pty(master.clone(), stdin_rx));
            let pumps = vec![tokio::spawn(pump_pty(master.clone(), out.clone()))];
            (pumps, Some(master))
        }
    }
}

async fn drain(pumps: Vec<JoinHandle<()>>) {
    for mut pump in pumps {
        if tokio::time::timeout(DRAIN_GRACE, &mut pump).await.is_err() {
            pump.abort();
        }
    }
}

async fn pump_pipe(mut from: pipe::Receiver, kind: FrameKind, to: StreamSender) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if to.send_data(kind, &buf[..n]).await.is_err() {
            break;
        }
    }
}

async fn pump_pty(master: Arc<PtyMaster>, to: StreamSender) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n @ 1..) = master.read(&mut buf).await {
        if to.send_data(FrameKind::Stdout, &buf[..n]).await.is_err() {
            break;
        }
    }
}

/// Feeds stdin; dropping the pipe (on EOF or when the queue's sender goes)
/// gives the process its end of input.
async fn write_pipe(mut to: pipe::Sender, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(data) = rx.recv().await {
        if to.write_all(&data).await.is_err() {
            break;
        }
    }
}

/// Feeds keyboard input. A PTY has no half-close: end of input is the
/// terminal's EOF character, which the client sends as data (Ctrl-D).
async fn write_pty(master: Arc<PtyMaster>, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(data) = rx.recv().await {
        if master.write_all(&data).await.is_err() {
            break;
        }
    }
}
