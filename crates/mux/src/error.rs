//! Errors of the multiplexer.

use airlock_wire::WireError;

/// Why a channel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The connection is gone (peer closed, IO error, or protocol error).
    #[error("the channel is closed")]
    Closed,
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] WireError),
    /// Reading or writing the connection failed.
    #[error("channel IO: {0}")]
    Io(#[from] std::io::Error),
    /// A bounded wait ran out.
    #[error("timed out waiting for the peer")]
    Timeout,
}
