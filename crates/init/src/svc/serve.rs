//! Answering service requests, whichever way they came in.

use std::io;
use std::path::Path;
use std::sync::Arc;

use airlock_mux::StreamSender;
use airlock_wire::{Control, Decoder, Frame, FrameKind, SvcRequest, User};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, oneshot};

use super::{Manager, logs};
use crate::config::AgentUser;

/// Stream id used on the local socket, which carries one request.
const LOCAL_STREAM: u32 = 1;

/// Where answers go: a channel stream to the host, or a local socket.
#[derive(Debug)]
pub enum Reply {
    /// A host channel stream.
    Stream(StreamSender),
    /// A connection on the in-sandbox socket.
    Local(Mutex<OwnedWriteHalf>),
}

impl Reply {
    /// Sends a control message.
    pub async fn control(&self, msg: &Control) -> io::Result<()> {
        match self {
            Self::Stream(s) => s.send(msg).await.map_err(io::Error::other),
            Self::Local(w) => write_frame(w, &Frame::control(LOCAL_STREAM, msg)).await,
        }
    }

    /// Sends log bytes.
    pub async fn data(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Stream(s) => s
                .send_data(FrameKind::Data, bytes)
                .await
                .map_err(io::Error::other),
            Self::Local(w) => {
                for chunk in bytes.chunks(airlock_wire::MAX_DATA_CHUNK) {
                    let frame = Frame::data(FrameKind::Data, LOCAL_STREAM, chunk.to_vec());
                    write_frame(w, &frame).await?;
                }
                Ok(())
            }
        }
    }
}

async fn write_frame(w: &Mutex<OwnedWriteHalf>, frame: &Frame) -> io::Result<()> {
    w.lock().await.write_all(&frame.encode()).await
}

/// Answers one request. `inside` marks requests from the sandbox's own
/// socket: their services always run as the agent.
pub async fn handle(
    manager: &Arc<Manager>,
    req: SvcRequest,
    reply: &Reply,
    cancel: oneshot::Receiver<()>,
    inside: bool,
) {
    let result = match req {
        SvcRequest::Start {
            name,
            mut exec,
            restart_on_failure,
        } => {
            if inside {
                exec.user = User::Agent;
            }
            manager.start(&name, exec, restart_on_failure).map(one)
        }
        SvcRequest::Stop { name } => manager.stop(&name).await.map(one),
        SvcRequest::Restart { name } => manager.restart(&name).await.map(one),
        SvcRequest::Ls => Ok(Control::Services {
            services: manager.list(),
        }),
        SvcRequest::Logs { name, follow, tail } => {
            logs_reply(manager, &name, follow, tail, reply, cancel).await
        }
    };
    let msg = result.unwrap_or_else(Control::error);
    let _ = reply.control(&msg).await;
}

fn one(info: airlock_wire::ServiceInfo) -> Control {
    Control::Services {
        services: vec![info],
    }
}

async fn logs_reply(
    manager: &Arc<Manager>,
    name: &str,
    follow: bool,
    tail: Option<usize>,
    reply: &Reply,
    cancel: oneshot::Receiver<()>,
) -> Result<Control, String> {
    super::check_name(name)?;
    let path = manager.log_path(name);
    match logs::stream(&path, tail, follow, reply, cancel).await {
        Ok(bytes) => Ok(Control::Done { bytes }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!("no logs for service {name}")),
        Err(e) => Err(format!("cannot read the log of {name}: {e}")),
    }
}

/// Serves `airlock svc` from inside the sandbox on `path`, a socket only
/// the agent (and root) may use.
pub async fn serve_local_socket(
    manager: Arc<Manager>,
    path: &Path,
    agent: &AgentUser,
) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::os::unix::fs::chown(path, Some(agent.uid), Some(agent.gid))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    loop {
        let (conn, _) = listener.accept().await?;
        let manager = manager.clone();
        tokio::spawn(async move {
            if let Err(e) = local_request(manager, conn).await {
                tracing::debug!(error = %e, "svc socket request failed");
            }
        });
    }
}

async fn local_request(manager: Arc<Manager>, conn: tokio::net::UnixStream) -> io::Result<()> {
    let (mut read, write) = conn.into_split();
    let mut decoder = Decoder::new();
    let frame = airlock_mux::recv_frame(&mut read, &mut decoder)
        .await
        .map_err(io::Error::other)?;
    let reply = Reply::Local(Mutex::new(write));
    let req = match frame.to_control() {
        Ok(Control::Svc(req)) => req,
        _ => {
            let msg = Control::error("expected a service request");
            return reply.control(&msg).await;
        }
    };
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    // The client hanging up cancels a followed log.
    tokio::spawn(async move {
        let mut sink = [0u8; 64];
        while matches!(
            tokio::io::AsyncReadExt::read(&mut read, &mut sink).await,
            Ok(1..)
        ) {}
        drop(cancel_tx);
    });
    handle(&manager, req, &reply, cancel_rx, true).await;
    Ok(())
}
