//! Airlock's sandbox runtime on one host.
//!
//! The control plane drives a [`Node`]: it asks which backends work here
//! ([`Node::doctor`]), picks one ([`Node::resolve_backend`]), creates
//! sandboxes ([`Node::create`]) and removes them ([`Node::destroy`],
//! [`Node::cleanup_orphans`]).
//!
//! A sandbox is an OCI bundle written by this crate and run by a [`Backend`]
//! (runc or gVisor): its root is an overlay of a read-only [`image`] and a
//! fresh writable layer on a tmpfs sized to the disk limit; its network
//! namespace has loopback only; its only ways out are two unix sockets in a
//! directory bind-mounted at `/run/airlock-host` (the init channel and the
//! proxy endpoint). Which socket a connection arrives on tells the host which
//! sandbox it is, something the sandbox cannot forge.
//!
//! Architecture invariants:
//! - This crate never reads policy or identities; it runs what it is told.
//! - All unsafe code (mounts, namespaces) lives in `airlock-sys`.
//! - Every host object a sandbox gets (directory, mounts, cgroups, runtime
//!   state) is named by its id under one parent, so removal and orphan
//!   detection are exhaustive ([`inventory`]).
#![forbid(unsafe_code)]

pub mod backend;
pub mod cgroup;
pub mod channel;
pub mod config;
pub mod elf;
pub mod error;
pub mod image;
pub mod inventory;
pub mod layout;
mod node;
pub mod rootfs;
pub mod spec;
pub mod token;
mod validate;

pub use backend::{Backend, BackendStatus};
pub use config::{BackendChoice, Limits, NodeConfig, SandboxSpec};
pub use error::{Result, SandboxError};
pub use image::{BuildProgress, BuildRequest, HOST_IMAGE, Image, ImageInfo, ImageStore};
pub use inventory::SandboxEntry;
pub use layout::SandboxPaths;
pub use node::{Node, SandboxHandle};
pub use token::InitToken;
