//! Sandboxes as the control plane runs them: the node (started lazily, so a
//! server without sandbox support still serves everything else), the init
//! channel of each live sandbox, the TTL reaper and recovery after a
//! restart.
//!
//! Invariant: the store is the source of truth for which sandboxes should
//! exist; the node is reconciled to it (orphans removed) at start.

pub mod issuer;
pub mod reaper;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::{SandboxId, UserName};
use airlock_sandbox::channel::{ChannelConfig, InitConn, listen};
use airlock_sandbox::{Node, NodeConfig, SandboxHandle, SandboxSpec};
use tokio::sync::{Notify, OnceCell};

use crate::error::ApiError;
use issuer::CaIssuer;

/// How long init has to connect after the runtime started it.
const INIT_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The control plane's sandbox machinery.
#[derive(Debug)]
pub struct Sandboxes {
    config: NodeConfig,
    node: OnceCell<Arc<Node>>,
    conns: Mutex<HashMap<SandboxId, InitConn>>,
    /// Each live sandbox's own SVID and key, held in memory only (the node
    /// acts as the sandbox with it; it is never written to disk).
    identities: Mutex<HashMap<SandboxId, issuer::SandboxIdentity>>,
    issuer: Arc<CaIssuer>,
    /// Wakes the reaper when a sandbox with an earlier expiry appears.
    pub reaper: Notify,
}

impl Sandboxes {
    /// Machinery for `config`; the node itself starts on first use.
    pub fn new(config: NodeConfig, issuer: CaIssuer) -> Self {
        Self {
            config,
            node: OnceCell::new(),
            conns: Mutex::new(HashMap::new()),
            identities: Mutex::new(HashMap::new()),
            issuer: Arc::new(issuer),
            reaper: Notify::new(),
        }
    }

    /// The node, started on first use.
    pub async fn node(&self) -> Result<Arc<Node>, ApiError> {
        self.node
            .get_or_try_init(|| async {
                Node::new(self.config.clone()).await.map(Arc::new).map_err(|e| {
                    ApiError::Unavailable(format!(
                        "sandboxes are unavailable on this server: {e}; `airlock doctor` on the server host shows why"
                    ))
                })
            })
            .await
            .cloned()
    }

    /// Starts a sandbox for `owner`: issues the sandbox's own SVID, creates
    /// it on the node and waits for its init to connect (init then asks for
    /// the workload SVID with a key made inside). On failure, nothing of it
    /// remains on the node.
    pub async fn start(&self, spec: SandboxSpec, owner: &UserName) -> Result<InitConn, ApiError> {
        let node = self.node().await?;
        let id = spec.id.clone();
        let (issuer, who, sid, class) =
            (self.issuer.clone(), owner.clone(), id.clone(), spec.backend);
        // Issuance audits synchronously (an fsync): keep it off the runtime.
        let identity =
            tokio::task::spawn_blocking(move || issuer.sandbox_identity(&who, &sid, class))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::Unavailable)?;
        self.lock_identities().insert(id.clone(), identity);
        let handle = node.create(spec).await.map_err(sandbox_error)?;
        let config = channel_config(&handle);
        let started = async {
            let conn = listen(config, self.issuer.clone()).map_err(ApiError::internal)?;
            match tokio::time::timeout(INIT_READY_TIMEOUT, conn.ready()).await {
                Ok(Ok(())) => Ok(conn),
                Ok(Err(e)) => Err(ApiError::internal(format!("init did not start: {e}"))),
                Err(_) => Err(ApiError::internal(format!(
                    "init did not connect within {}s; see {}",
                    INIT_READY_TIMEOUT.as_secs(),
                    handle.paths.init_log().display()
                ))),
            }
        }
        .await;
        match started {
            Ok(conn) => {
                self.lock_conns().insert(id, conn.clone());
                Ok(conn)
            }
            Err(e) => {
                self.lock_identities().remove(&id);
                if let Err(cleanup) = node.destroy(&id).await {
                    tracing::error!(sandbox = %id, error = %cleanup, "cleanup after a failed create failed");
                }
                Err(e)
            }
        }
    }

    /// Reattaches the channel of a sandbox that survived a server restart.
    pub async fn reattach(&self, id: &SandboxId) -> Result<(), ApiError> {
        let node = self.node().await?;
        let handle = node.reattach(id).map_err(sandbox_error)?;
        let conn =
            listen(channel_config(&handle), self.issuer.clone()).map_err(ApiError::internal)?;
        self.lock_conns().insert(id.clone(), conn);
        Ok(())
    }

    /// Destroys a sandbox on the node (idempotent) and forgets its channel
    /// and identity.
    pub async fn stop(&self, id: &SandboxId) -> Result<(), ApiError> {
        self.lock_identities().remove(id);
        if let Some(conn) = self.lock_conns().remove(id) {
            conn.close();
        }
        let node = self.node().await?;
        node.destroy(id).await.map_err(sandbox_error)
    }

    /// Whether this server ever ran a node (its state directory exists), so
    /// a restart has leftovers to look for.
    pub fn was_used(&self) -> bool {
        self.config.state_dir.exists()
    }

    /// The channel of a live sandbox.
    pub fn conn(&self, id: &SandboxId) -> Option<InitConn> {
        self.lock_conns().get(id).cloned()
    }

    /// The SPIFFE ID of the sandbox's current SVID, if it holds one.
    pub fn sandbox_svid(&self, id: &SandboxId) -> Option<String> {
        self.lock_identities().get(id).map(|i| i.spiffe_id.clone())
    }

    fn lock_identities(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SandboxId, issuer::SandboxIdentity>> {
        self.identities.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<SandboxId, InitConn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn channel_config(h: &SandboxHandle) -> ChannelConfig {
    ChannelConfig {
        sandbox_id: h.id.clone(),
        token: h.token.clone(),
        socket: h.paths.ctl_sock(),
        owner: h.socket_owner,
    }
}

/// A node error as the API reports it: the user's mistakes are 400s.
pub fn sandbox_error(e: airlock_sandbox::SandboxError) -> ApiError {
    use airlock_sandbox::SandboxError as E;
    match e {
        E::UnknownBackend(_)
        | E::BackendUnusable { .. }
        | E::NoBackend
        | E::UnknownImage(_)
        | E::BadImageName(_)
        | E::BadLimit(_)
        | E::BadEnv(_)
        | E::BadHostname(_) => ApiError::BadRequest(e.to_string()),
        E::AlreadyExists(_) | E::ImageInUse { .. } => ApiError::Conflict(e.to_string()),
        E::NotFound(_) => ApiError::NotFound(e.to_string()),
        other => ApiError::internal(other),
    }
}

/// Where the static in-sandbox init binary is: `AIRLOCK_INIT_BINARY`, the
/// config, where `scripts/build-init.sh` puts it (in a source tree, where a
/// plain `cargo build` also leaves a dynamic debug `airlock-init` next to
/// `airlock` that must not win), or next to this executable (installed).
pub fn find_init_binary(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = std::env::var_os("AIRLOCK_INIT_BINARY") {
        return PathBuf::from(p);
    }
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let candidates = [
        exe_dir.join("../x86_64-unknown-linux-gnu/release/airlock-init"),
        exe_dir.join("airlock-init"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone())
}
