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
use airlock_sandbox::channel::InitConn;
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
    /// The access proxy, and each live sandbox's serving handle on its
    /// `proxy.sock` (dropping the handle closes the sandbox's way out).
    proxy: airlock_proxy::ProxyServer,
    proxies: Mutex<HashMap<SandboxId, airlock_proxy::SandboxProxy>>,
    /// Wakes the reaper when a sandbox with an earlier expiry appears.
    pub reaper: Notify,
}

impl Sandboxes {
    /// Machinery for `config`; the node itself starts on first use.
    pub fn new(config: NodeConfig, proxy: airlock_proxy::ProxyServer, issuer: CaIssuer) -> Self {
        Self {
            config,
            proxy,
            proxies: Mutex::new(HashMap::new()),
            node: OnceCell::new(),
            conns: Mutex::new(HashMap::new()),
            identities: Mutex::new(HashMap::new()),
            issuer: Arc::new(issuer),
            reaper: Notify::new(),
        }
    }

    /// The node, if something has started it.
    pub fn started_node(&self) -> Option<Arc<Node>> {
        self.node.get().cloned()
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
    pub async fn start(
        &self,
        spec: SandboxSpec,
        owner: &UserName,
        profile: Option<String>,
    ) -> Result<InitConn, ApiError> {
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
        let class = spec.backend;
        let mut handle = node.create(spec).await.map_err(sandbox_error)?;
        let started = async {
            self.open_way_out(&handle, owner, class, profile)?;
            let conn = handle
                .listen(self.issuer.clone())
                .map_err(ApiError::internal)?;
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
                self.trust_proxy_inside(&conn).await;
                self.lock_conns().insert(id, conn.clone());
                Ok(conn)
            }
            Err(e) => {
                self.lock_identities().remove(&id);
                self.lock_proxies().remove(&id);
                if let Err(cleanup) = node.destroy(&id).await {
                    tracing::error!(sandbox = %id, error = %cleanup, "cleanup after a failed create failed");
                }
                Err(e)
            }
        }
    }

    /// Reattaches the channel and the proxy of a sandbox that survived a
    /// server restart.
    pub async fn reattach(&self, sb: &airlock_store::SandboxRecord) -> Result<(), ApiError> {
        let id = &sb.id;
        let node = self.node().await?;
        let mut handle = node.reattach(id).map_err(sandbox_error)?;
        self.open_way_out(&handle, &sb.owner, sb.backend, sb.profile.clone())?;
        let conn = handle
            .listen(self.issuer.clone())
            .map_err(ApiError::internal)?;
        self.lock_conns().insert(id.clone(), conn);
        Ok(())
    }

    /// Destroys a sandbox on the node (idempotent) and forgets its channel
    /// and identity.
    pub async fn stop(&self, id: &SandboxId) -> Result<(), ApiError> {
        self.lock_identities().remove(id);
        if let Some(proxy) = self.lock_proxies().remove(id) {
            proxy.shutdown();
        }
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

    fn lock_proxies(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SandboxId, airlock_proxy::SandboxProxy>> {
        self.proxies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds the sandbox's `proxy.sock` (owned by the uid root inside maps
    /// to, so init can connect) and serves the access proxy on it, as this
    /// sandbox's workload; writes the trust bundle next to it.
    fn open_way_out(
        &self,
        handle: &SandboxHandle,
        owner: &UserName,
        class: airlock_core::IsolationClass,
        profile: Option<String>,
    ) -> Result<(), ApiError> {
        let socket = handle.paths.proxy_sock();
        let listener = bind_owned(&socket, handle.socket_owner)
            .map_err(|e| ApiError::internal(format!("cannot bind {}: {e}", socket.display())))?;
        let caller = airlock_proxy::Caller {
            sandbox: handle.id.clone(),
            workload: airlock_core::SpiffeId::workload(&self.issuer.trust_domain, &handle.id),
            user: owner.clone(),
            isolation: class,
            profile,
        };
        let bundle = handle.paths.host().join(TRUST_BUNDLE_FILE);
        std::fs::write(
            &bundle,
            crate::egress::trust_bundle(&self.proxy.ca_cert_pem()),
        )
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", bundle.display())))?;
        let serving = self.proxy.serve_sandbox(caller, listener);
        self.lock_proxies().insert(handle.id.clone(), serving);
        Ok(())
    }

    /// Puts the proxy CA into the sandbox's system trust store too, for
    /// clients that ignore `SSL_CERT_FILE` and friends.
    async fn trust_proxy_inside(&self, conn: &InitConn) {
        let bundle = crate::egress::trust_bundle(&self.proxy.ca_cert_pem());
        let copied = conn
            .copy_in(
                "/etc/ssl/certs/ca-certificates.crt",
                airlock_sandbox::channel::CopyFormat::File,
                Some(0o644),
                airlock_sandbox::channel::User::Root,
                bundle.as_bytes(),
            )
            .await;
        if let Err(e) = copied {
            tracing::warn!(sandbox = %conn.sandbox_id(), error = %e, "could not install the proxy CA in the system store");
        }
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<SandboxId, InitConn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The trust bundle's file name in the host directory (seen inside as
/// `/run/airlock-host/ca-bundle.pem`).
pub const TRUST_BUNDLE_FILE: &str = "ca-bundle.pem";

/// Where sandboxes find the trust bundle.
pub const TRUST_BUNDLE_INSIDE: &str = "/run/airlock-host/ca-bundle.pem";

/// Binds a unix socket readable and writable only by `owner` (or root).
fn bind_owned(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
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
        exe_dir.join("../x86_64-unknown-linux-gnu/init/airlock-init"),
        exe_dir.join("airlock-init"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone())
}
