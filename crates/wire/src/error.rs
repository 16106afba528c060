//! Why a byte stream or a message was refused.

/// A protocol violation by the peer (or a bug on our side).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The frame announced more payload than we accept.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Announced payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The kind byte names no frame kind this version knows.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    /// A control payload that is not a message we understand.
    #[error("malformed control message: {0}")]
    BadMessage(String),
    /// A credit frame whose payload is not a 4-byte count.
    #[error("malformed credit frame ({0} payload bytes, expected 4)")]
    BadCredit(usize),
    /// The peer sent more data than the credit it was given.
    #[error("stream {stream}: peer sent {outstanding} bytes beyond its {window}-byte window")]
    FlowViolation {
        /// The stream.
        stream: u32,
        /// Bytes received but not yet credited back.
        outstanding: u64,
        /// The window.
        window: u32,
    },
}
