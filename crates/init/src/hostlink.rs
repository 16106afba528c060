//! The channel to the host: connect to `ctl.sock`, prove who we are with the
//! token, serve the host's requests, and reconnect with backoff whenever
//! the host goes away (it may restart; the sandbox keeps running).

use std::sync::Arc;
use std::time::Duration;

use airlock_mux::{Inbound, Incoming, Mux, Stream, recv_frame, send_frame};
use airlock_wire::{Control, Decoder, Frame, PROTOCOL_VERSION, Role};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::init::Ctx;
use crate::{copy, exec, svc};

/// First retry delay. Small: at start, init often runs before the host has
/// begun listening (it listens once the runtime reports the sandbox
/// started), and a 50 ms first wait was most of a sandbox's start time.
/// Doubling reaches the 1 s ceiling within ten attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long the host may take to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request to the host waits for a connection to exist.
const REQUEST_WAIT: Duration = Duration::from_secs(30);

/// The current connection to the host, if any.
#[derive(Debug)]
pub struct HostLink {
    mux: watch::Sender<Option<Mux>>,
}

impl HostLink {
    /// Not connected yet.
    pub fn new() -> Self {
        Self {
            mux: watch::channel(None).0,
        }
    }

    /// Sends a request that init opens (identity) and returns the host's
    /// answer, waiting for a connection if there is none right now.
    pub async fn request(&self, msg: &Control) -> Result<Control, String> {
        let mut rx = self.mux.subscribe();
        let connected = rx.wait_for(|m| m.as_ref().is_some_and(|m| !m.is_closed()));
        let mux = match tokio::time::timeout(REQUEST_WAIT, connected).await {
            Ok(Ok(m)) => m.clone().ok_or("not connected")?,
            _ => return Err("the host is not connected".into()),
        };
        let mut stream = mux.open(msg).await.map_err(|e| e.to_string())?;
        loop {
            match stream.recv().await {
                Some(Inbound::Control(Control::Error { message })) => return Err(message),
                Some(Inbound::Control(reply)) => return Ok(reply),
                Some(Inbound::Data(..)) => {}
                None => return Err("the host went away".into()),
            }
        }
    }
}

/// Keeps a connection to the host for as long as init runs.
pub async fn run(ctx: Arc<Ctx>, token: String) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match connect(&ctx.config, &token).await {
            Ok((mux, incoming)) => {
                backoff = BACKOFF_MIN;
                tracing::info!("connected to the host");
                ctx.link.mux.send_replace(Some(mux.clone()));
                serve(ctx.clone(), incoming).await;
                ctx.link.mux.send_replace(None);
                tracing::warn!("lost the host channel; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot reach the host yet"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect(config: &Config, token: &str) -> Result<(Mux, Incoming), String> {
    let mut sock = UnixStream::connect(config.ctl_sock())
        .await
        .map_err(|e| format!("{}: {e}", config.ctl_sock().display()))?;
    let hello = Control::Hello {
        version: PROTOCOL_VERSION,
        token: token.to_owned(),
        sandbox_id: config.sandbox_id.clone(),
    };
    send_frame(&mut sock, &Frame::control(0, &hello))
        .await
        .map_err(|e| e.to_string())?;
    let mut decoder = Decoder::new();
    let reply = tokio::time::timeout(HELLO_TIMEOUT, recv_frame(&mut sock, &mut decoder))
        .await
        .map_err(|_| "no answer to hello".to_string())?
        .map_err(|e| format!("hello refused: {e}"))?;
    match reply.to_control().map_err(|e| e.to_string())? {
        Control::Welcome { .. } => Ok(Mux::start(sock, Role::Init, decoder)),
        Control::Error { message } => Err(format!("hello refused: {message}")),
        other => Err(format!("unexpected answer to hello: {other:?}")),
    }
}

async fn serve(ctx: Arc<Ctx>, mut incoming: Incoming) {
    while let Some((msg, stream)) = incoming.accept().await {
        tokio::spawn(dispatch(ctx.clone(), msg, stream));
    }
}

async fn dispatch(ctx: Arc<Ctx>, msg: Control, stream: Stream) {
    match msg {
        Control::Exec(req) => exec::serve(ctx, req, stream).await,
        Control::CopyIn {
            path,
            format,
            mode,
            user,
        } => copy::copy_in(ctx, path, format, mode, user, stream).await,
        Control::CopyOut { path, format, user } => {
            copy::copy_out(ctx, path, format, user, stream).await
        }
        Control::Svc(req) => {
            let reply = svc::Reply::Stream(stream.sender());
            let cancel = cancel_on_end(stream);
            svc::handle(&ctx.services, req, &reply, cancel, false).await;
        }
        other => {
            let msg = Control::error(format!("init cannot serve {other:?}"));
            let _ = stream.send(&msg).await;
        }
    }
}

/// A receiver that fires when the host cancels the stream or goes away.
fn cancel_on_end(mut stream: Stream) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        while let Some(msg) = stream.recv().await {
            if msg == Inbound::Control(Control::Cancel) {
                break;
            }
        }
        drop(tx);
    });
    rx
}
