//! Accepting init: bind `ctl.sock`, check the hello, hand the connection to
//! the [`InitConn`] and serve init's identity requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airlock_core::SandboxId;
use airlock_mux::{Incoming, Mux, Stream, recv_frame, send_frame};
use airlock_wire::{Control, Decoder, Frame, PROTOCOL_VERSION, Role};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{InitConn, Inner};
use super::error::ChannelError;
use super::issuer::Issuer;
use crate::token::InitToken;

/// How long a connecting peer has to say hello. init sends it right after
/// connecting on a local socket; a short bound keeps squatters brief.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections that have not said hello yet, per sandbox. Only root in the
/// sandbox can connect (the socket is 0600, owned by the sandbox's root),
/// and it could stop init anyway; the bound keeps the host's memory safe
/// from a flood of silent connections.
const MAX_PENDING_HELLOS: usize = 8;

/// What [`listen`] needs to know about one sandbox.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// The sandbox; init must name it in its hello.
    pub sandbox_id: SandboxId,
    /// The token put into init's environment.
    pub token: InitToken,
    /// Where to listen: `<run_dir>/sb/<id>/host/ctl.sock`.
    pub socket: PathBuf,
    /// Host uid/gid to own the socket: the uid init runs as seen from the
    /// host (container root under runc's user namespace, e.g. 100000).
    /// `None` leaves it to root (gVisor's gofer connects as root).
    pub owner: Option<(u32, u32)>,
}

/// Listens for the sandbox's init on `config.socket` (replacing a stale
/// socket file) for as long as the returned handle (or a clone) lives.
/// Must be called inside a tokio runtime.
pub fn listen(config: ChannelConfig, issuer: Arc<dyn Issuer>) -> Result<InitConn, ChannelError> {
    let socket =
        ChannelSocket::bind(&config.socket, config.owner).map_err(listen_error(&config.socket))?;
    listen_on(socket, config, issuer)
}

/// [`listen`] on a socket bound earlier: a node binds `ctl.sock` before it
/// starts the runtime, so init's first connect succeeds (it waits in the
/// backlog) instead of retrying until the host listens.
pub fn listen_on(
    socket: ChannelSocket,
    config: ChannelConfig,
    issuer: Arc<dyn Issuer>,
) -> Result<InitConn, ChannelError> {
    let listener = socket.into_tokio().map_err(listen_error(&config.socket))?;
    let inner = Inner::new(config.sandbox_id.clone(), config.socket.clone());
    let weak = Arc::downgrade(&inner);
    let task = tokio::spawn(async move {
        let config = Arc::new(config);
        let pending = Arc::new(Semaphore::new(MAX_PENDING_HELLOS));
        loop {
            let sock = match listener.accept().await {
                Ok((sock, _)) => sock,
                Err(e) => {
                    tracing::warn!(error = %e, "accept on ctl.sock failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(inner) = weak.upgrade() else { return };
            let Ok(permit) = pending.clone().try_acquire_owned() else {
                tracing::warn!(sandbox = %config.sandbox_id, "too many connections without hello; dropping one");
                continue;
            };
            tokio::spawn(handshake(
                sock,
                config.clone(),
                issuer.clone(),
                inner,
                permit,
            ));
        }
    });
    inner.set_accept_task(task.abort_handle());
    Ok(InitConn::from_inner(inner))
}

fn listen_error(path: &Path) -> impl FnOnce(std::io::Error) -> ChannelError + '_ {
    move |source| ChannelError::Listen {
        path: path.display().to_string(),
        source,
    }
}

/// `ctl.sock`, bound and listening, not yet accepting.
#[derive(Debug)]
pub struct ChannelSocket(std::os::unix::net::UnixListener);

impl ChannelSocket {
    /// Binds `path` (replacing a stale socket file), mode 0600, owned by
    /// `owner` when given (see [`ChannelConfig::owner`]).
    pub fn bind(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type())
        {
            std::fs::remove_file(path)?;
        }
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(path, mode)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(Self(listener))
    }

    /// Hands the socket to the tokio runtime (must be called inside one),
    /// for [`listen_on`] or a caller that accepts on it itself.
    pub fn into_tokio(self) -> std::io::Result<UnixListener> {
        self.0.set_nonblocking(true)?;
        UnixListener::from_std(self.0)
    }
}

/// Checks the hello; on success the connection becomes the sandbox's
/// current channel.
async fn handshake(
    mut sock: UnixStream,
    config: Arc<ChannelConfig>,
    issuer: Arc<dyn Issuer>,
    inner: Arc<Inner>,
    pending: OwnedSemaphorePermit,
) {
    let mut decoder = Decoder::new();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, recv_frame(&mut sock, &mut decoder)).await;
    drop(pending);
    let Ok(Ok(frame)) = hello else {
        tracing::debug!("channel peer said no hello");
        return;
    };
    if let Err(refusal) = check_hello(frame.to_control().ok(), &config) {
        tracing::warn!(sandbox = %config.sandbox_id, reason = refusal, "refused a channel connection");
        let _ = send_frame(&mut sock, &Frame::control(0, &Control::error(refusal))).await;
        return;
    }
    let welcome = Control::Welcome {
        version: PROTOCOL_VERSION,
    };
    if send_frame(&mut sock, &Frame::control(0, &welcome))
        .await
        .is_err()
    {
        return;
    }
    let (mux, incoming) = Mux::start(sock, Role::Host, decoder);
    tracing::info!(sandbox = %config.sandbox_id, "init connected");
    inner.install(mux);
    // Only InitConn handles keep the sandbox's channel alive.
    drop(inner);
    serve_identity(incoming, issuer, config.sandbox_id.clone()).await;
}

/// Why a hello is refused, in words safe to send back to the sandbox.
fn check_hello(msg: Option<Control>, config: &ChannelConfig) -> Result<(), &'static str> {
    let Some(Control::Hello {
        version,
        token,
        sandbox_id,
    }) = msg
    else {
        return Err("expected hello");
    };
    if version != PROTOCOL_VERSION {
        return Err("unsupported protocol version: init and host must come from the same release");
    }
    // Both checks always run, so timing says nothing about which failed.
    let token_ok = config.token.matches(&token);
    let id_ok = sandbox_id == config.sandbox_id.as_str();
    if token_ok && id_ok {
        Ok(())
    } else {
        Err("refused")
    }
}

/// Answers init's identity requests for as long as the connection lasts.
async fn serve_identity(mut incoming: Incoming, issuer: Arc<dyn Issuer>, sandbox: SandboxId) {
    while let Some((msg, stream)) = incoming.accept().await {
        let (issuer, sandbox) = (issuer.clone(), sandbox.clone());
        tokio::spawn(async move {
            let reply = tokio::task::spawn_blocking(move || answer(&*issuer, &sandbox, msg))
                .await
                .unwrap_or_else(|_| Control::error("identity issuance failed"));
            reply_and_finish(stream, reply).await;
        });
    }
}

async fn reply_and_finish(stream: Stream, reply: Control) {
    let _ = stream.send(&reply).await;
}

fn answer(issuer: &dyn Issuer, sandbox: &SandboxId, msg: Control) -> Control {
    let result = match msg {
        Control::SvidRequest { csr_der } => {
            issuer
                .issue_svid(sandbox, &csr_der)
                .map(|s| Control::SvidResponse {
                    spiffe_id: s.spiffe_id,
                    cert_chain_der: s.cert_chain_der,
                    bundle_der: s.bundle_der,
                    expires_unix: s.expires_unix,
                })
        }
        Control::JwtRequest { audience, ttl_secs } => {
            let ttl = ttl_secs.map(|s| Duration::from_secs(u64::from(s)));
            issuer
                .mint_jwt(sandbox, &audience, ttl)
                .map(|j| Control::JwtResponse {
                    spiffe_id: j.spiffe_id,
                    token: j.token,
                })
        }
        Control::JwtBundleRequest => {
            issuer
                .jwt_bundle(sandbox)
                .map(|b| Control::JwtBundleResponse {
                    trust_domain: b.trust_domain,
                    jwks: b.jwks,
                })
        }
        other => Err(format!("the host does not serve {other:?}")),
    };
    result.unwrap_or_else(Control::error)
}
