//! `airlock exec` and `airlock ssh`: a process in a sandbox with its stdio
//! streamed over an upgraded HTTP/1.1 connection.
//!
//! After `101 Switching Protocols` both sides speak `airlock-wire` frames on
//! stream 1: the client first sends `Exec(request)`, the server answers
//! `Started{pid}` (or `Error`), then relays stdin/resize/signal one way and
//! stdout/stderr/exit the other, exactly as the init channel carries them.
//! The server authorizes and audits the request before it runs, and records
//! interactive (`ssh`) sessions as asciicast v2 files whose hashes go into
//! the audit log. If the client goes away, the process is killed: nothing
//! is left running that nobody can see.

use std::time::Duration;

use airlock_audit::EventCode;
use airlock_audit::recording::{RecordingHeader, RecordingWriter};
use airlock_mux::{FrameReader, send_frame};
use airlock_sandbox::channel::{ExecEvent, ExecRequest, ExecSession, InitConn};
use airlock_store::SandboxRecord;
use airlock_wire::{Control, Frame, FrameKind, User};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::sandboxes::resolve;
use crate::audit;
use crate::auth::Caller;
use crate::authz::Allowed;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// The upgrade protocol name.
pub const PROTOCOL: &str = "airlock-stream";
/// The stream id exec frames use.
pub const EXEC_STREAM: u32 = 1;

/// `?ssh=true` marks an interactive login session (audited as `sandbox.ssh`
/// and recorded).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExecQuery {
    /// An interactive session to record.
    #[serde(default)]
    pub ssh: bool,
}

/// Runs a process in a sandbox (HTTP upgrade to `airlock-stream`).
#[utoipa::path(get, path = "/v1/sandboxes/{name}/exec", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id"), ExecQuery),
    responses(
        (status = 101, description = "Switching to airlock-wire frames"),
        (status = 400, description = "Not an upgrade request", body = crate::error::ErrorBody),
        (status = 404, description = "No such sandbox", body = crate::error::ErrorBody),
        (status = 409, description = "Sandbox ended", body = crate::error::ErrorBody),
    ))]
pub async fn exec(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<ExecQuery>,
    mut req: Request,
) -> ApiResult<Response> {
    let action = if q.ssh { "sandbox.ssh" } else { "sandbox.exec" };
    let (sb, allowed) = resolve(&state, &caller, &name, action).await?;
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(PROTOCOL.as_bytes()));
    if !wants_upgrade {
        return Err(ApiError::BadRequest(format!(
            "this endpoint streams a process: send `Upgrade: {PROTOCOL}` (use `airlock exec`)"
        )));
    }
    let conn = state.sandboxes.conn(&sb.id).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "sandbox {} is not reachable right now; retry",
            sb.name
        ))
    })?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                if let Err(e) = relay(state, caller, allowed, sb, conn, q.ssh, io).await {
                    tracing::debug!(error = %e, "exec relay ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "upgrade"), (header::UPGRADE, PROTOCOL)],
    )
        .into_response())
}

async fn send<W: AsyncWrite + Unpin>(w: &mut W, frame: Frame) -> Result<(), String> {
    send_frame(w, &frame).await.map_err(|e| e.to_string())
}

async fn send_control<W: AsyncWrite + Unpin>(w: &mut W, msg: &Control) -> Result<(), String> {
    send(w, Frame::control(EXEC_STREAM, msg)).await
}

async fn relay<T>(
    state: SharedState,
    caller: Caller,
    allowed: Allowed,
    sb: SandboxRecord,
    conn: InitConn,
    ssh: bool,
    io: T,
) -> Result<(), String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(io);
    let mut reader = FrameReader::new(rd);
    let request = match tokio::time::timeout(Duration::from_secs(10), reader.next()).await {
        Ok(Ok(Some(f))) => match f.to_control() {
            Ok(Control::Exec(req)) => req,
            _ => return send_control(&mut wr, &Control::error("expected an Exec request")).await,
        },
        _ => return Ok(()),
    };
    if request.argv.is_empty() {
        return send_control(&mut wr, &Control::error("nothing to run: give a command")).await;
    }
    let code = if ssh {
        EventCode::SandboxSsh
    } else {
        EventCode::SandboxExec
    };
    let event = allowed
        .event(&caller, code)
        .sandbox(sb.id.clone())
        .isolation(sb.backend)
        .resource(format!("sandbox:{}", sb.name))
        .detail("argv", request.argv.clone())
        .detail("tty", request.tty.is_some())
        .detail("as_root", request.user == User::Root);
    if let Err(e) = state.audit.record(event).await {
        return send_control(&mut wr, &Control::error(e.to_string())).await;
    }
    let session = match conn.exec(request.clone()).await {
        Ok(s) => s,
        Err(e) => return send_control(&mut wr, &Control::error(e.to_string())).await,
    };
    send_control(&mut wr, &Control::Started { pid: session.pid() }).await?;
    let recorder = if ssh {
        Recorder::start(&state, &request).map_err(|e| e.to_string())?
    } else {
        None
    };
    pump(&state, &caller, &sb, session, reader, wr, recorder).await
}

/// Moves bytes both ways until the process exits or the client leaves.
async fn pump<R, W>(
    state: &SharedState,
    caller: &Caller,
    sb: &SandboxRecord,
    mut session: ExecSession,
    mut reader: FrameReader<R>,
    mut wr: W,
    mut recorder: Option<Recorder>,
) -> Result<(), String>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let input = session.input();
    // Client → process, in its own task so a slow process does not stall output.
    let forward = tokio::spawn(async move {
        while let Ok(Some(frame)) = reader.next().await {
            let ok = match frame.kind {
                FrameKind::Stdin => input.write(&frame.payload).await.is_ok(),
                FrameKind::Control => match frame.to_control() {
                    Ok(Control::StdinEof) => input.close().await.is_ok(),
                    Ok(Control::Resize { rows, cols }) => input.resize(rows, cols).await.is_ok(),
                    Ok(Control::Signal { signo }) => input.signal(signo).await.is_ok(),
                    _ => true,
                },
                _ => true,
            };
            if !ok {
                break;
            }
        }
    });
    let result = loop {
        let event = tokio::select! {
            e = session.next_event() => e,
            () = wait_finished(&forward) => {
                // The client is gone: dropping the session kills the process.
                break Ok(());
            }
        };
        match event {
            Ok(Some(ExecEvent::Stdout(d))) => {
                if let Some(r) = recorder.as_mut() {
                    r.output(&d);
                }
                send(&mut wr, Frame::data(FrameKind::Stdout, EXEC_STREAM, d)).await?;
            }
            Ok(Some(ExecEvent::Stderr(d))) => {
                send(&mut wr, Frame::data(FrameKind::Stderr, EXEC_STREAM, d)).await?;
            }
            Ok(Some(ExecEvent::Exited(status))) => {
                break send_control(&mut wr, &Control::Exited { status }).await;
            }
            Ok(None) => break Ok(()),
            Err(e) => break send_control(&mut wr, &Control::error(e.to_string())).await,
        }
    };
    forward.abort();
    if let Some(r) = recorder {
        r.finish(state, caller, sb).await;
    }
    result
}

async fn wait_finished(task: &tokio::task::JoinHandle<()>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An asciicast recording of an interactive session.
struct Recorder {
    id: String,
    writer: RecordingWriter,
}

impl Recorder {
    fn start(state: &SharedState, req: &ExecRequest) -> Result<Option<Self>, String> {
        let Some(tty) = &req.tty else {
            return Ok(None);
        };
        let id = format!("rec-{}", hex::encode(rand::random::<[u8; 8]>()));
        let dir = state.data_dir.recordings();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let header = RecordingHeader::new(
            tty.cols,
            tty.rows,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        );
        let writer = RecordingWriter::create(&dir.join(format!("{id}.cast")), &header)
            .map_err(|e| e.to_string())?;
        Ok(Some(Self { id, writer }))
    }

    fn output(&mut self, data: &[u8]) {
        if let Err(e) = self.writer.output(data) {
            tracing::warn!(recording = %self.id, error = %e, "recording write failed");
        }
    }

    async fn finish(self, state: &SharedState, caller: &Caller, sb: &SandboxRecord) {
        let id = self.id;
        let summary = match tokio::task::spawn_blocking(move || self.writer.finish()).await {
            Ok(Ok(s)) => s,
            other => {
                tracing::error!(recording = %id, ?other, "recording could not be finished");
                return;
            }
        };
        let event = audit::by(caller, EventCode::RecordingFinished)
            .sandbox(sb.id.clone())
            .isolation(sb.backend)
            .resource(format!("recording:{id}"))
            .detail("recording", id.clone())
            .detail("sha256", hex::encode(summary.sha256))
            .detail("bytes", summary.bytes)
            .detail(
                "duration_ms",
                u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
            );
        if let Err(e) = state.audit.record(event).await {
            tracing::error!(recording = %id, error = %e, "recording hash not logged");
        }
    }
}
