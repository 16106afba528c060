//! What every request handler can reach.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use airlock_ca::{CertificateAuthority, JwtSigner};
use airlock_core::TrustDomain;
use airlock_store::Store;

use crate::audit::Auditor;
use crate::config::Config;
use crate::error::ApiError;
use crate::locks::LockCache;
use crate::ratelimit::FailureLimiter;

/// Shared server state.
#[derive(Debug)]
pub struct AppState {
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// The cluster CA.
    pub ca: Arc<CertificateAuthority>,
    /// JWT-SVID signer.
    pub jwt: Arc<JwtSigner>,
    /// Active locks.
    pub locks: LockCache,
    /// Failed-login throttles.
    pub login_limits: Mutex<LoginLimiters>,
    /// The audit log.
    pub audit: Auditor,
    /// Configuration.
    pub config: Config,
    /// The URL clients reach this server at.
    pub public_url: String,
    /// SPIFFE trust domain.
    pub trust_domain: TrustDomain,
    /// Human name of the cluster.
    pub cluster_name: String,
    /// When the server started (for uptime in health).
    pub started: Instant,
    /// The data directory.
    pub data_dir: crate::DataDir,
    /// Sandboxes: the node, their channels, the reaper.
    pub sandboxes: crate::sandboxes::Sandboxes,
    /// The policy engine in force.
    pub policy: Arc<crate::policy::PolicyState>,
    /// Encrypts secrets at rest.
    pub secrets: crate::secrets::SecretBox,
    /// Registered resources as the proxy sees them.
    pub catalog: Arc<crate::egress::catalog::LiveCatalog>,
}

/// Failed-login throttles, per user and per source address.
#[derive(Debug)]
pub struct LoginLimiters {
    /// Keyed by user name.
    pub per_user: FailureLimiter,
    /// Keyed by source IP.
    pub per_source: FailureLimiter,
}

/// The handle handlers receive.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Runs a store operation on a blocking thread.
    pub async fn store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, airlock_store::StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
    }

    /// Rebuilds the proxy's catalog after a resource or secret change; the
    /// next proxied request sees it.
    pub async fn refresh_catalog(&self) -> Result<Vec<String>, ApiError> {
        let records = self.store(|s| s.resources()).await?;
        let secrets = self.store(|s| s.secrets()).await?;
        let lookup = |name: &str| {
            secrets
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| self.secrets.open(&s.name, &s.nonce, &s.ciphertext).ok())
        };
        let (snap, problems) = crate::egress::catalog::build(&records, &lookup);
        for p in &problems {
            tracing::warn!(problem = %p, "resource left out of the proxy catalog");
        }
        self.catalog.replace(snap);
        Ok(problems)
    }

    /// The most restrictive of `roles`' limits (`field` picks which, in
    /// seconds); `None` if no role has one.
    pub async fn role_limit(
        &self,
        roles: &[airlock_core::RoleName],
        field: fn(&airlock_store::RoleRecord) -> u64,
    ) -> Result<Option<std::time::Duration>, ApiError> {
        let roles = roles.to_vec();
        let records = self
            .store(move |s| {
                roles
                    .iter()
                    .map(|r| s.role(r))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(records
            .iter()
            .flatten()
            .map(|r| std::time::Duration::from_secs(field(r)))
            .min())
    }

    /// Reloads the lock view after a change.
    pub async fn refresh_locks(&self) -> Result<(), ApiError> {
        let store = Arc::clone(&self.store);
        let locks = self.locks.clone();
        tokio::task::spawn_blocking(move || locks.refresh(&*store))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
    }
}
