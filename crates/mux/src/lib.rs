//! The IO half of the host↔init channel: a tokio multiplexer that runs
//! `airlock-wire` frames over any byte stream.
//!
//! Both ends use it with opposite [`Role`]s: the host side in
//! `airlock-sandbox` (channel module) and `airlock-init` inside the sandbox.
//! It lives in its own crate because `airlock-wire` stays sans-IO (no
//! tokio), and the two ends must not drift apart.
//!
//! What it guarantees:
//! - Each side opens streams with ids of its own parity; a peer-opened stream
//!   is accepted only if its first message is one the peer may open with
//!   ([`airlock_wire::Control::opener`]), up to [`MAX_PEER_STREAMS`] at once.
//! - Data is sent only within the credit the receiver granted, and a peer
//!   that overruns its credit or floods control messages is disconnected:
//!   memory held for a peer is bounded whatever it sends.
//! - Pings on stream 0 are answered here; [`Mux::ping`] measures a round trip.
//! - When the connection ends, every stream's `recv` returns `None` and
//!   [`Mux::closed`] resolves.

mod conn;
mod error;
mod handshake;
mod stream;

pub use airlock_wire::{Control, FrameKind, Role, StreamId};
pub use conn::{Incoming, MAX_PEER_STREAMS, Mux};
pub use error::MuxError;
pub use handshake::{FrameReader, recv_frame, send_frame};
pub use stream::{Inbound, Stream, StreamSender};
