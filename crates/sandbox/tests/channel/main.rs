//! The host side of the channel against the REAL static `airlock-init`,
//! run as an ordinary child process over a private temporary layout
//! (`AIRLOCK_*_DIR` overrides), with a test issuer on the real CA.
//!
//! Needs root (init switches to the agent uid) and the static init binary:
//! `scripts/build-init.sh` builds it (or set `AIRLOCK_INIT_BIN`).

mod copy;
mod exec;
mod fixture;
mod identity;
#[path = "../common/issuer.rs"]
mod issuer;
mod pid1;
mod real;
mod resilience;
mod svc;
