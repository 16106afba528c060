//! Airlock's syscall layer: the only crate allowed `unsafe`.
//!
//! Each module wraps one area in safe functions with typed inputs; every
//! `unsafe` block says why it is sound in a `// SAFETY:` comment (enforced by
//! clippy's `undocumented_unsafe_blocks`). Callers above this crate stay
//! `#![forbid(unsafe_code)]`.

pub mod child;
pub mod fd;
pub mod malloc;
pub mod mount;
pub mod netif;
pub mod process;
pub mod pty;
pub mod sched;
pub mod seccomp;
pub mod selfproc;
pub mod userns;
