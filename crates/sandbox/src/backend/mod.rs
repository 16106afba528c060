//! Isolation backends: one [`Backend`] per technology, picked at runtime.
//!
//! runc and gVisor both run an OCI bundle through a runtime CLI
//! ([`oci::OciCli`]); they differ in flags, in whether the sandbox gets a
//! user namespace, and in how strongly they isolate. The microVM backend is
//! a later issue; it is listed so `doctor` and `auto` can say why it is not
//! used.

mod gvisor;
mod microvm;
mod oci;
mod runc;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use airlock_core::IsolationClass;
use serde::Serialize;

pub use gvisor::Gvisor;
pub use microvm::Microvm;
pub use runc::Runc;

use crate::error::Result;
use crate::layout::SandboxPaths;

/// A boxed future, so [`Backend`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One row of `airlock doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStatus {
    /// The backend's name (`runc`, `gvisor`, `microvm`).
    pub name: &'static str,
    /// Its isolation class.
    pub class: IsolationClass,
    /// Whether sandboxes can be created with it on this host.
    pub usable: bool,
    /// The runtime's version when usable, otherwise why not.
    pub detail: String,
}

/// One isolation technology.
pub trait Backend: Send + Sync + fmt::Debug {
    /// The isolation class, written into identities and audit events.
    fn class(&self) -> IsolationClass;

    /// Whether it can run here, and its version or why not (probed once).
    fn status(&self) -> &BackendStatus;

    /// Whether sandboxes run in a user namespace with the ids shifted by
    /// [`crate::spec::HOST_ID_BASE`], so the image must be seen through
    /// an idmapped mount.
    fn shifts_ids(&self) -> bool;

    /// Starts the sandbox whose bundle is written, detached; returns once
    /// the runtime reports it running.
    fn start<'a>(&'a self, id: &'a str, paths: &'a SandboxPaths) -> BoxFuture<'a, Result<()>>;

    /// Kills and deletes the sandbox's container (processes, runtime state,
    /// cgroups). Succeeds if it does not exist.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The ids of the containers this backend's runtime knows about.
    fn containers(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// Finds a runtime binary: in `dir` if given, else on `PATH`, /usr/sbin,
/// /usr/bin.
pub fn find_binary(dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match dir {
        Some(d) => vec![d.join(name)],
        None => std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(["/usr/sbin".into(), "/usr/bin".into()])
            .map(|d: PathBuf| d.join(name))
            .collect(),
    };
    candidates.into_iter().find(|p| p.is_file())
}

/// Probes every backend on this host, strongest first.
pub async fn probe_all(runtime_dir: Option<&Path>, run_dir: &Path) -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(Microvm::probe()) as Box<dyn Backend>,
        Box::new(Gvisor::probe(runtime_dir, run_dir).await),
        Box::new(Runc::probe(runtime_dir, run_dir).await),
    ]
}
