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

/// Reads frames one by one from a plain byte stream (no multiplexing): the
/// exec stream between `airlock exec` and the control plane uses it on both
/// ends.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    decoder: Decoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from `io`.
    pub fn new(io: R) -> Self {
        Self {
            io,
            decoder: Decoder::new(),
        }
    }

    /// The next frame; `None` when the peer closed the stream cleanly.
    pub async fn next(&mut self) -> Result<Option<Frame>, MuxError> {
        match recv_frame(&mut self.io, &mut self.decoder).await {
            Ok(f) => Ok(Some(f)),
            Err(MuxError::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
