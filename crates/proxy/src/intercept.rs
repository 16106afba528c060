//! TLS interception inside a CONNECT tunnel: read the ClientHello, present a
//! leaf minted for its SNI by the proxy CA, and serve the decrypted HTTP.

use std::sync::Arc;
use std::time::Duration;

use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;

use crate::server::{ConnCtx, Tunnel, serve_http};
use crate::target::{HostPort, normalize_host};

/// Upper bound for the sandbox's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Terminates the sandbox's TLS and serves HTTP/2 or HTTP/1.1 inside.
///
/// The leaf is minted for the SNI (or the CONNECT host when the client sent
/// none, as clients do for IP literals), so a fronting client completes its
/// handshake and then reads a 403 naming the mismatch on every request,
/// instead of a handshake error that explains nothing.
pub(crate) async fn serve<IO>(ctx: Arc<ConnCtx>, connect: HostPort, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        let sni = start.client_hello().server_name().map(normalize_host);
        let cert_host = sni.clone().unwrap_or_else(|| connect.host.clone());
        let config = ctx
            .shared
            .ca
            .server_config(&cert_host)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tls = start.into_stream(config).await?;
        Ok::<_, std::io::Error>((tls, sni))
    };
    let (tls, sni) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return tracing::debug!(sandbox = %ctx.caller.sandbox, error = %e, "TLS handshake failed");
        }
        Err(_) => return tracing::debug!(sandbox = %ctx.caller.sandbox, "TLS handshake timed out"),
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let inner = ConnCtx::inside(
        &ctx,
        Tunnel {
            connect,
            sni,
            tls: true,
        },
    );
    serve_http(Arc::new(inner), tls, h2).await;
}
