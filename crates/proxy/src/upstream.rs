//! Connections to upstreams: a pool of HTTP/1.1 connections per trust
//! setting ([`crate::pool`]), and a connector that resolves, checks and
//! connects in one step, so the address checked is the address used.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::ProxyConfig;
use crate::error::ProxyError;
use crate::guard::{self, GuardError};
use crate::pool::Pool;
use crate::target::normalize_host;
use crate::tls;

/// Errors of bodies flowing through the proxy.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every body the proxy sends, either way.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why an upstream connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The destination is internal (and not registered).
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Connecting or the TLS handshake failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Nothing answered in time.
    #[error("timed out connecting")]
    Timeout,
    /// The URI has no host.
    #[error("no host to connect to")]
    NoHost,
}

/// Resolves, (optionally) refuses internal addresses, connects, and speaks
/// TLS for `https` URIs.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: TlsConnector,
    public_only: bool,
    timeout: Duration,
}

impl Connector {
    /// A connection to the host and port of `uri`, in TLS for `https`.
    pub async fn connect(self, uri: Uri) -> Result<TokioIo<Conn>, ConnectError> {
        let host = normalize_host(uri.host().ok_or(ConnectError::NoHost)?);
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = connect_tcp(&host, port, self.public_only, self.timeout).await?;
        if !https {
            return Ok(TokioIo::new(Conn::Plain(tcp)));
        }
        let name = ServerName::try_from(host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = tokio::time::timeout(self.timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| ConnectError::Timeout)??;
        Ok(TokioIo::new(Conn::Tls(Box::new(tls))))
    }
}

/// Resolves `host:port` (refusing internal addresses when `public_only`)
/// and connects to the first address that answers.
pub(crate) async fn connect_tcp(
    host: &str,
    port: u16,
    public_only: bool,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let attempt = async {
        let addrs = if public_only {
            guard::resolve_public(host, port).await?
        } else {
            guard::resolve(host, port).await?
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    // Proxied requests are small writes; Nagle would add 40 ms.
                    tcp.set_nodelay(true)?;
                    return Ok(tcp);
                }
                Err(e) => last = e,
            }
        }
        Err(ConnectError::Io(last))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ConnectError::Timeout)?
}

/// A plain or TLS upstream stream.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The connection pools: one for unregistered destinations (public addresses
/// only, system roots), one for registered resources (any address, system
/// roots), and one per registered CA.
pub(crate) struct Upstreams {
    egress: Arc<Pool>,
    registered: Arc<Pool>,
    timeout: Duration,
    by_ca: Mutex<HashMap<String, Arc<Pool>>>,
}

impl Upstreams {
    pub fn new(config: &ProxyConfig) -> Result<Self, ProxyError> {
        let roots = tls::system_roots(config.extra_upstream_roots_pem.as_deref())?;
        let tls = tls::client_config(roots)?;
        let timeout = config.connect_timeout;
        Ok(Self {
            egress: pool(tls.clone(), true, timeout),
            registered: pool(tls, false, timeout),
            timeout,
            by_ca: Mutex::new(HashMap::new()),
        })
    }

    /// The pool for unregistered destinations.
    pub fn egress(&self) -> Arc<Pool> {
        self.egress.clone()
    }

    /// The pool for a registered resource, trusting `ca_pem` alone if given.
    pub fn registered(&self, ca_pem: Option<&str>) -> Result<Arc<Pool>, ProxyError> {
        let Some(pem) = ca_pem else {
            return Ok(self.registered.clone());
        };
        let mut map = self.by_ca.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(pem) {
            return Ok(c.clone());
        }
        let c = pool(
            tls::client_config(tls::pem_roots(pem)?)?,
            false,
            self.timeout,
        );
        map.insert(pem.to_owned(), c.clone());
        Ok(c)
    }
}

fn pool(tls: Arc<ClientConfig>, public_only: bool, timeout: Duration) -> Arc<Pool> {
    let connector = Connector {
        tls: TlsConnector::from(tls),
        public_only,
        timeout,
    };
    Pool::new(connector)
}

/// The guard refusal buried in a client error, if that is what failed.
pub(crate) fn guard_refusal<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a GuardError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(ConnectError::Guard(g)) = e.downcast_ref::<ConnectError>() {
            return Some(g);
        }
        cur = e.source();
    }
    None
}
