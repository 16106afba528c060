//! The Airlock control plane.
//!
//! It owns the cluster's CA, its state store and its audit log, and serves
//! the `/v1` HTTPS API: login (password + public key in, short-lived user
//! certificate out), users, roles, locks, and workload identity issuance.
//!
//! Architecture invariants:
//! - Every authenticated route takes an [`auth::Caller`] or
//!   [`auth::WorkloadCaller`]; a handler without one is public by
//!   construction (health, CA bundle, JWKS, OIDC discovery, login).
//! - Every admin handler calls [`authz::authorize`] first.
//! - Every state-changing operation records its audit event before it is
//!   acknowledged; an event that cannot be made durable refuses the operation.
//! - Private keys of subjects never reach this crate: it sees CSRs and public
//!   keys only.

pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod config;
pub mod datadir;
pub mod egress;
pub mod error;
pub mod init;
pub mod locks;
pub mod password;
pub mod policy;
pub mod ratelimit;
pub mod sandboxes;
pub mod secrets;
pub mod server;
pub mod state;
pub mod tls;

pub use datadir::DataDir;
pub use init::{InitError, InitOptions, InitSummary, init};
pub use server::{Server, ServerError};
