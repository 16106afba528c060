//! Errors of the host↔init channel, one line each.

use airlock_mux::MuxError;

/// Why a channel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Setting up the socket failed.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// init is not connected (yet, or any more).
    #[error("the sandbox's init is not connected")]
    NotConnected,
    /// The connection dropped in the middle of the request.
    #[error("the connection to the sandbox's init was lost")]
    Lost,
    /// init refused or failed the request; the message is init's.
    #[error("{0}")]
    Remote(String),
    /// init answered something that makes no sense for the request.
    #[error("unexpected answer from init: {0}")]
    Protocol(String),
    /// Reading local input or writing local output failed.
    #[error("local IO: {0}")]
    Io(#[from] std::io::Error),
}

impl From<MuxError> for ChannelError {
    fn from(e: MuxError) -> Self {
        match e {
            MuxError::Closed => Self::Lost,
            other => Self::Protocol(other.to_string()),
        }
    }
}
