//! The proxy bridge: the sandbox has no route anywhere, so init listens on
//! 127.0.0.1:3128 inside and relays each TCP connection, byte for byte, to
//! the host's per-sandbox proxy socket. The host side speaks HTTP and knows
//! which sandbox is calling by the socket it arrived on.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::{TcpListener, UnixStream};

/// Accepts and relays connections forever.
pub async fn serve(listen: SocketAddr, upstream: PathBuf) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    tracing::info!(%listen, "proxy bridge listening");
    loop {
        let (mut tcp, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            match UnixStream::connect(&upstream).await {
                Ok(mut unix) => {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
                Err(e) => tracing::debug!(error = %e, "proxy endpoint unreachable"),
            }
        });
    }
}
