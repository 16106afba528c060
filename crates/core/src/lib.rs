//! Airlock's shared vocabulary.
//!
//! Every other crate speaks in these types: validated names ([`UserName`],
//! [`SandboxId`], ...), SPIFFE IDs, the identity claims carried in certificates,
//! human durations and sizes, and policy decisions.
//!
//! Architecture invariant: this crate does no IO, reads no clock and holds no
//! secrets. Anything that needs "now" takes it as an argument.
#![forbid(unsafe_code)]

pub mod claims;
pub mod decision;
pub mod duration;
pub mod names;
pub mod oid;
pub mod size;
pub mod spiffe;

pub use claims::{Claims, IsolationClass, SubjectKind};
pub use decision::{Decision, Effect};
pub use duration::{format_duration, parse_duration};
pub use names::{NameError, RoleName, SandboxId, SandboxName, SessionId, UserName};
pub use size::parse_size;
pub use spiffe::{SpiffeId, TrustDomain};
