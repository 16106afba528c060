//! Listening: one accept loop per sandbox socket, one task per connection,
//! HTTP/1.1 (with CONNECT upgrades) or HTTP/2 on each.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::SandboxId;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::{JoinHandle, JoinSet};

use crate::caller::Caller;
use crate::config::ProxyConfig;
use crate::dispatch::dispatch;
use crate::error::ProxyError;
use crate::exchange::Shared;
use crate::mitm_ca::ProxyCa;
use crate::seams::{AuditSink, Catalog, Decider};
use crate::target::HostPort;

/// The proxy: shared state for every sandbox it serves.
#[derive(Clone)]
pub struct ProxyServer {
    shared: Arc<Shared>,
}

impl ProxyServer {
    /// Builds the proxy. Loads the system trust store for upstreams once.
    pub fn new(
        config: ProxyConfig,
        ca: ProxyCa,
        decider: Arc<dyn Decider>,
        catalog: Arc<dyn Catalog>,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Self, ProxyError> {
        let shared = Shared::new(config, ca, decider, catalog, audit)?;
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The interception CA certificate every sandbox must trust.
    pub fn ca_cert_pem(&self) -> String {
        self.shared.ca.cert_pem()
    }

    /// Re-spends the token usage that `events` (an earlier run's
    /// `inference.call` audit events) recorded today, so that restarting the
    /// server does not refill daily token budgets. Returns how many calls
    /// counted.
    pub fn restore_token_budgets<'a>(
        &self,
        events: impl IntoIterator<Item = &'a airlock_audit::AuditEvent>,
    ) -> usize {
        let now = std::time::SystemTime::now();
        events
            .into_iter()
            .filter(|e| self.shared.budgets.restore(e, now))
            .count()
    }

    /// Serves one sandbox on its unix socket: every connection accepted there
    /// is `caller`. Must be called inside a tokio runtime; the returned
    /// handle stops the loop and every open connection and tunnel of this
    /// sandbox when shut down or dropped.
    pub fn serve_sandbox(&self, caller: Caller, listener: UnixListener) -> SandboxProxy {
        let sandbox = caller.sandbox.clone();
        let listener = Arc::new(listener);
        let task = tokio::spawn(accept_loop(
            self.shared.clone(),
            Arc::new(caller),
            move || {
                let l = listener.clone();
                async move { l.accept().await.map(|(s, _)| s) }
            },
        ));
        SandboxProxy { sandbox, task }
    }

    /// Like [`Self::serve_sandbox`] on a TCP listener (tests and benchmarks;
    /// in production the socket, not an address, identifies the sandbox).
    pub fn serve_tcp(&self, caller: Caller, listener: TcpListener) -> SandboxProxy {
        let sandbox = caller.sandbox.clone();
        let listener = Arc::new(listener);
        let task = tokio::spawn(accept_loop(
            self.shared.clone(),
            Arc::new(caller),
            move || {
                let l = listener.clone();
                async move {
                    let (s, _) = l.accept().await?;
                    s.set_nodelay(true)?;
                    Ok(s)
                }
            },
        ));
        SandboxProxy { sandbox, task }
    }

    /// Serves one already accepted connection from `caller` to its end.
    pub async fn serve_connection<IO>(&self, caller: Arc<Caller>, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ctx = Arc::new(ConnCtx::new(self.shared.clone(), caller));
        serve_http(ctx, io, false).await;
    }
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("ca", &self.shared.ca)
            .finish_non_exhaustive()
    }
}

/// A sandbox being served. Dropping it stops the accept loop and every
/// connection of the sandbox (they live in the loop's task set).
#[derive(Debug)]
pub struct SandboxProxy {
    sandbox: SandboxId,
    task: JoinHandle<()>,
}

impl SandboxProxy {
    /// The sandbox served.
    pub fn sandbox(&self) -> &SandboxId {
        &self.sandbox
    }

    /// Stops serving the sandbox now.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for SandboxProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop<F, Fut, IO>(shared: Arc<Shared>, caller: Arc<Caller>, mut accept: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Connections are owned by this set: aborting the loop drops the set,
    // which aborts them all, so a removed sandbox keeps no tunnel open.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept() => match accepted {
                Ok(io) => {
                    let ctx = Arc::new(ConnCtx::new(shared.clone(), caller.clone()));
                    conns.spawn(serve_http(ctx, io, false));
                }
                Err(e) => {
                    // EMFILE and friends pass; back off instead of spinning.
                    tracing::warn!(sandbox = %caller.sandbox, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

type TunnelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One connection from a sandbox, or one TLS/plain stream inside a tunnel.
pub(crate) struct ConnCtx {
    pub shared: Arc<Shared>,
    pub caller: Arc<Caller>,
    /// Set inside a CONNECT tunnel.
    pub tunnel: Option<Tunnel>,
    /// The tunnel a CONNECT on this connection opened, run on this
    /// connection's task once hyper hands the socket over.
    upgrade: Mutex<Option<TunnelFuture>>,
}

impl ConnCtx {
    fn new(shared: Arc<Shared>, caller: Arc<Caller>) -> Self {
        Self {
            shared,
            caller,
            tunnel: None,
            upgrade: Mutex::new(None),
        }
    }

    /// The context of a stream inside a tunnel opened from `outer`.
    pub fn inside(outer: &ConnCtx, tunnel: Tunnel) -> Self {
        Self {
            shared: outer.shared.clone(),
            caller: outer.caller.clone(),
            tunnel: Some(tunnel),
            upgrade: Mutex::new(None),
        }
    }

    /// `https` inside an intercepted TLS tunnel, `http` otherwise.
    pub fn scheme(&self) -> &'static str {
        match &self.tunnel {
            Some(t) if t.tls => "https",
            _ => "http",
        }
    }

    /// Whether `hp` is the proxy's own address.
    pub fn is_self(&self, hp: &HostPort) -> bool {
        let me = crate::target::authority(&hp.host, hp.port);
        self.shared
            .config
            .self_authorities
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&me))
    }

    /// Hands the tunnel of an accepted CONNECT to this connection's task.
    pub fn set_upgrade(&self, tunnel: TunnelFuture) {
        *self.upgrade.lock().unwrap_or_else(|p| p.into_inner()) = Some(tunnel);
    }

    fn take_upgrade(&self) -> Option<TunnelFuture> {
        self.upgrade
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// A CONNECT tunnel's destination and what the TLS client said.
pub(crate) struct Tunnel {
    /// The CONNECT authority.
    pub connect: HostPort,
    /// The TLS ClientHello's SNI, normalized.
    pub sni: Option<String>,
    /// Whether the proxy terminated TLS.
    pub tls: bool,
}

impl Tunnel {
    /// Domain fronting: the name inside must be the name outside. The SNI
    /// must equal the CONNECT host, and `hp` (Host header or :authority)
    /// must equal both (host and port).
    pub fn check_fronting(&self, hp: &HostPort) -> Result<(), String> {
        if let Some(sni) = &self.sni
            && *sni != self.connect.host
        {
            return Err(format!(
                "TLS SNI {sni:?} does not match CONNECT host {:?}",
                self.connect.host
            ));
        }
        if *hp != self.connect {
            let inside = crate::target::authority(&hp.host, hp.port);
            let outside = crate::target::authority(&self.connect.host, self.connect.port);
            return Err(format!(
                "Host {inside:?} does not match the tunnel's destination {outside:?}"
            ));
        }
        Ok(())
    }
}

/// Serves HTTP on `io` (HTTP/2 when ALPN chose it), then runs the tunnel a
/// CONNECT on it opened, if any. Boxed: tunnels serve HTTP inside, and the
/// recursion needs a named future type.
pub(crate) fn serve_http<IO>(ctx: Arc<ConnCtx>, io: IO, h2: bool) -> TunnelFuture
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let svc_ctx = ctx.clone();
        let svc = service_fn(move |req| {
            let ctx = svc_ctx.clone();
            async move { Ok::<_, Infallible>(dispatch(ctx, req).await) }
        });
        let io = TokioIo::new(io);
        let result = if h2 {
            http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, svc)
                .await
        } else {
            http1::Builder::new()
                .serve_connection(io, svc)
                .with_upgrades()
                .await
        };
        if let Err(e) = result {
            tracing::debug!(sandbox = %ctx.caller.sandbox, error = %e, "connection ended with an error");
        }
        if let Some(tunnel) = ctx.take_upgrade() {
            tunnel.await;
        }
    })
}
