//! Single-frame reads and writes for the hello/welcome exchange that happens
//! before a [`crate::Mux`] takes over the connection.

use airlock_wire::{Decoder, Frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::MuxError;

/// Reads until `decoder` yields one frame. Bytes after it stay in the
/// decoder: pass it on to [`crate::Mux::start`].
pub async fn recv_frame<R: AsyncRead + Unpin>(
    io: &mut R,
    decoder: &mut Decoder,
) -> Result<Frame, MuxError> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(MuxError::Closed);
        }
        decoder.feed(&buf[..n]);
    }
}

/// Writes one frame and flushes it.
pub async fn send_frame<W: AsyncWrite + Unpin>(io: &mut W, frame: &Frame) -> Result<(), MuxError> {
    io.write_all(&frame.encode()).await?;
    io.flush().await?;
    Ok(())
}
