//! `airlock exec` and `airlock ssh`: a process in a sandbox with its stdio
//! streamed over an upgraded connection (see the control plane's
//! `api/exec.rs` for the protocol). The remote exit code becomes ours.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use airlock_control::api::EXEC_STREAM;
use airlock_mux::{FrameReader, send_frame};
use airlock_wire::{Control, ExecRequest, ExitStatus, Frame, FrameKind, Tty, User};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cli::{ExecArgs, SshArgs};
use crate::client::Api;
use crate::exit::{CliError, Exit, usage};
use crate::home::Home;
use crate::terminal::RawMode;

pub async fn exec(a: ExecArgs) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut env = BTreeMap::new();
    for kv in &a.env {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("-e {kv:?}: write KEY=VALUE")))?;
        env.insert(k.to_owned(), v.to_owned());
    }
    let tty = (a.tty || interactive).then(current_tty);
    let req = ExecRequest {
        argv: a.command,
        env,
        cwd: a.workdir,
        user: if a.root { User::Root } else { User::Agent },
        tty,
    };
    run(&a.name, req, false).await
}

pub async fn ssh(a: SshArgs) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "airlock ssh needs a terminal; use `airlock exec NAME -- CMD` from scripts",
        ));
    }
    let req = ExecRequest {
        argv: vec!["/bin/bash".into(), "-l".into()],
        env: BTreeMap::new(),
        cwd: None,
        user: if a.root { User::Root } else { User::Agent },
        tty: Some(current_tty()),
    };
    run(&a.name, req, true).await
}

fn current_tty() -> Tty {
    let (rows, cols) = crate::terminal::size().unwrap_or((24, 80));
    Tty {
        rows,
        cols,
        term: std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into()),
    }
}

/// Runs `req` in sandbox `name` and exits with its code.
async fn run(name: &str, req: ExecRequest, ssh: bool) -> anyhow::Result<()> {
    if name.contains(['/', '?', '#']) {
        return Err(usage(format!("{name:?} is not a sandbox name")));
    }
    let api = Api::logged_in(&Home::from_env()?)?;
    let path = format!(
        "/v1/sandboxes/{name}/exec{}",
        if ssh { "?ssh=true" } else { "" }
    );
    let io = api.upgrade(&path).await?;
    let (rd, mut wr) = tokio::io::split(io);
    write_frame(
        &mut wr,
        &Frame::control(EXEC_STREAM, &Control::Exec(req.clone())),
    )
    .await?;
    let mut reader = FrameReader::new(rd);
    match reader.next().await.map_err(|e| lost(&e.to_string()))? {
        Some(f) => match f.to_control() {
            Ok(Control::Started { .. }) => {}
            Ok(Control::Error { message }) => {
                return Err(CliError::new(Exit::Failure, message).into());
            }
            other => return Err(lost(&format!("unexpected answer {other:?}"))),
        },
        None => return Err(lost("the server closed the stream")),
    }
    let raw = if req.tty.is_some() {
        RawMode::enter()
    } else {
        None
    };
    let status = pump(reader, wr, req.tty.is_some()).await;
    drop(raw);
    let status = status?;
    let _ = std::io::stdout().flush();
    let code = status.shell_code();
    if code != 0 {
        // The remote process's code is ours, whatever it is.
        std::process::exit(code);
    }
    Ok(())
}

fn lost(why: &str) -> anyhow::Error {
    CliError::new(
        Exit::Unavailable,
        format!("lost the connection to the server ({why}); the remote process was stopped"),
    )
    .into()
}

/// Relays until the remote process exits.
async fn pump<R, W>(mut reader: FrameReader<R>, wr: W, tty: bool) -> anyhow::Result<ExitStatus>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let wr = std::sync::Arc::new(tokio::sync::Mutex::new(wr));
    let input = tokio::spawn(forward_stdin(wr.clone()));
    let resize = if tty {
        Some(tokio::spawn(forward_resizes(wr.clone())))
    } else {
        None
    };
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let result = loop {
        let frame = match reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) => break Err(lost("the stream ended early")),
            Err(e) => break Err(lost(&e.to_string())),
        };
        match frame.kind {
            FrameKind::Stdout => {
                stdout.write_all(&frame.payload).await?;
                stdout.flush().await?;
            }
            FrameKind::Stderr => {
                stderr.write_all(&frame.payload).await?;
                stderr.flush().await?;
            }
            FrameKind::Control => match frame.to_control() {
                Ok(Control::Exited { status }) => break Ok(status),
                Ok(Control::Error { message }) => {
                    break Err(CliError::new(Exit::Failure, message).into());
                }
                _ => {}
            },
            _ => {}
        }
    };
    input.abort();
    if let Some(r) = resize {
        r.abort();
    }
    result
}

async fn forward_stdin<W: AsyncWrite + Unpin>(wr: std::sync::Arc<tokio::sync::Mutex<W>>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let frame = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => Frame::control(EXEC_STREAM, &Control::StdinEof),
            Ok(n) => Frame::data(FrameKind::Stdin, EXEC_STREAM, buf[..n].to_vec()),
        };
        let eof = frame.kind == FrameKind::Control;
        if write_frame(&mut *wr.lock().await, &frame).await.is_err() || eof {
            return;
        }
    }
}

async fn forward_resizes<W: AsyncWrite + Unpin>(wr: std::sync::Arc<tokio::sync::Mutex<W>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some((rows, cols)) = crate::terminal::size() {
            let frame = Frame::control(EXEC_STREAM, &Control::Resize { rows, cols });
            if write_frame(&mut *wr.lock().await, &frame).await.is_err() {
                return;
            }
        }
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, f: &Frame) -> anyhow::Result<()> {
    Ok(send_frame(w, f).await?)
}
