//! Sans-IO codecs for Airlock's own protocols.
//!
//! Today this is the host↔init channel ([`frame`], [`msg`], [`flow`]): the
//! private, multiplexed connection between `airlock-init` (PID 1 inside every
//! sandbox) and the host-side channel in `airlock-sandbox`.
//!
//! Architecture invariants:
//! - No IO, no clock, no async runtime: callers feed bytes in and take bytes
//!   out, so every parser is tested with plain data and fuzzed
//!   (`wire_frames` in `crates/fuzz`).
//! - Bytes from the peer are untrusted on both sides (a compromised sandbox
//!   controls init): decoding never panics, never allocates more than
//!   [`MAX_PAYLOAD`] per frame, and returns a typed [`WireError`].
//!
//! # The channel in one paragraph
//!
//! One byte stream (a unix socket today, a virtio-serial port for microVMs
//! later) carries [`frame::Frame`]s: `u32 length | u8 kind | u32 stream |
//! payload`. Stream 0 carries the connection's own control messages (hello,
//! ping). Every request opens a new stream (the host uses even ids, init odd
//! ones, so neither side needs to ask) and the stream ends with a terminal
//! message ([`msg::Control::is_terminal`]). Control payloads are JSON (small
//! and evolvable: unknown fields are ignored); bulk data (stdio, file
//! contents) travels raw in data frames, metered by per-stream credit
//! ([`flow`]) so a fast producer cannot make the other side buffer without
//! bound.
#![forbid(unsafe_code)]

pub mod b64;
pub mod error;
pub mod flow;
pub mod frame;
pub mod msg;

pub use error::WireError;
pub use flow::{FRAME_COST, INITIAL_WINDOW, RecvWindow};
pub use frame::{
    Decoder, Frame, FrameKind, HEADER_LEN, MAX_DATA_CHUNK, MAX_PAYLOAD, Role, StreamId, StreamIds,
};
pub use msg::{
    Control, CopyFormat, ExecRequest, ExitStatus, ServiceInfo, ServiceState, SvcRequest, Tty, User,
};

/// Protocol version spoken by this build; sent in `Hello` and `Welcome`.
/// A peer with another major version is refused with a clear message.
pub const PROTOCOL_VERSION: u32 = 1;
