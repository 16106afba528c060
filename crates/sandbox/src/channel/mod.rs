//! The host side of the private channel to `airlock-init` (PID 1 of each
//! sandbox).
//!
//! [`listen`] binds the sandbox's `ctl.sock` and keeps accepting: init
//! connects, proves itself with the per-sandbox token it was started with,
//! and from then on an [`InitConn`] handle runs processes
//! ([`InitConn::exec`]), copies files ([`InitConn::copy_in`],
//! [`InitConn::copy_out`]) and manages services ([`InitConn::svc`]) in the
//! sandbox. Requests init makes (the workload's SVID, JWT-SVIDs, the JWKS)
//! are answered by the [`Issuer`] the control plane plugs in.
//!
//! After a host restart, call [`listen`] again for each live sandbox: init
//! reconnects by itself (with backoff) and the sandbox never noticed.
//!
//! Trust: everything init sends is untrusted input (root in the sandbox
//! may control it). Framing and flow control are enforced by
//! `airlock-wire`/`airlock-mux` (bounded frames, bounded buffering); this
//! module only accepts a peer that presents the token (compared in constant
//! time) and answers only the identity requests of that sandbox.

mod conn;
mod error;
mod exec;
mod issuer;
mod listener;
mod transfer;

pub use airlock_wire::{
    CopyFormat, ExecRequest, ExitStatus, ServiceInfo, ServiceState, SvcRequest, Tty, User,
};
pub use conn::InitConn;
pub use error::ChannelError;
pub use exec::{ExecEvent, ExecInput, ExecOutput, ExecSession};
pub use issuer::{IssuedJwt, IssuedSvid, Issuer, JwtBundle};
pub use listener::{ChannelConfig, ChannelSocket, listen, listen_on};
