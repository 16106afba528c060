//! Request and response bodies of the `/v1` API. The CLI uses these same
//! types, so client and server cannot drift apart; the OpenAPI document is
//! generated from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The client's public key: a PEM CSR or a PEM SubjectPublicKeyInfo
    /// (ECDSA P-256). The private key never leaves the client.
    pub public_key: String,
    /// Requested certificate lifetime (`8h`, `30m`); capped by the roles.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A successful login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The user.
    pub user: String,
    /// Their roles.
    pub roles: Vec<String>,
    /// The login session id.
    pub session: String,
    /// The user certificate (PEM).
    pub certificate: String,
    /// When it expires (RFC 3339).
    pub expires: String,
    /// The cluster's trusted CA certificates (PEM).
    pub ca_certificates: Vec<String>,
    /// The cluster name.
    pub cluster: String,
}

/// `GET /v1/whoami`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The user.
    pub user: String,
    /// Their current roles.
    pub roles: Vec<String>,
    /// The login session.
    pub session: Option<String>,
    /// Certificate expiry (RFC 3339).
    pub expires: String,
    /// The address the server saw.
    pub source: String,
    /// The cluster name.
    pub cluster: String,
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Traits.
    pub traits: BTreeMap<String, Vec<String>>,
    /// When added (RFC 3339).
    pub created: String,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUserRequest {
    /// Login name.
    pub name: String,
    /// Roles to grant (must exist).
    pub roles: Vec<String>,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// Traits for policy.
    #[serde(default)]
    pub traits: BTreeMap<String, Vec<String>>,
}

/// A lock as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LockInfo {
    /// Lock id.
    pub id: String,
    /// `user`, `sandbox` or `session`.
    pub kind: String,
    /// The locked subject.
    pub name: String,
    /// Why.
    pub reason: Option<String>,
    /// Who placed it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created: String,
    /// When it lapses (RFC 3339), if ever.
    pub expires: Option<String>,
    /// Whether it is in force now.
    pub active: bool,
}

/// `POST /v1/locks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLockRequest {
    /// `user`, `sandbox` or `session`.
    pub kind: String,
    /// The subject to lock.
    pub name: String,
    /// How long (`1h`); absent = until removed.
    #[serde(default)]
    pub ttl: Option<String>,
    /// Why (shown to the refused subject).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleInfo {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Longest login this role allows (`8h`).
    pub max_ttl: String,
    /// Longest sandbox this role allows (`8h`).
    pub max_sandbox_ttl: String,
}

/// `GET /v1/ca`: what a client pins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaInfo {
    /// Cluster name.
    pub cluster: String,
    /// SPIFFE trust domain.
    pub trust_domain: String,
    /// SHA-256 fingerprint of the current CA certificate (lowercase hex).
    pub fingerprint: String,
    /// Trusted CA certificates (PEM), current first.
    pub certificates: Vec<String>,
}

/// `POST /v1/certs/svid`: an admin (later: a node) asks for a sandbox or
/// workload X.509-SVID for a key it holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueSvidRequest {
    /// PEM CSR of the subject's key.
    pub csr: String,
    /// `sandbox` or `workload`.
    pub kind: String,
    /// Sandbox id.
    pub sandbox: String,
    /// The human: the sandbox owner, or the user the workload acts for.
    pub user: String,
    /// `microvm`, `gvisor` or `runc`.
    pub isolation: String,
    /// Delegation profile (workloads).
    #[serde(default)]
    pub delegation: Option<String>,
    /// Lifetime (at most 1h; default 1h).
    #[serde(default)]
    pub ttl: Option<String>,
}

/// An issued SVID.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SvidResponse {
    /// The SPIFFE ID.
    pub spiffe_id: String,
    /// The certificate (PEM).
    pub certificate: String,
    /// Expiry (RFC 3339).
    pub expires: String,
    /// Trust bundle (PEM).
    pub ca_certificates: Vec<String>,
}

/// `POST /v1/jwt-svid`: a workload asks for a JWT-SVID for one audience.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSvidRequest {
    /// The single audience.
    pub audience: String,
    /// Lifetime (at most 5m; default 5m).
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A JWT-SVID.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JwtSvidResponse {
    /// The SPIFFE ID (`sub`).
    pub spiffe_id: String,
    /// The compact JWS.
    pub token: String,
    /// Expiry (RFC 3339).
    pub expires: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Cluster name.
    pub cluster: String,
}

/// `POST /v1/sandboxes`. Sizes and durations are strings so that a bad
/// value gets Airlock's own one-line error.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSandboxRequest {
    /// Name, unique among your live sandboxes (default: derived from the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Time to live (`2h`); default 8h, at most your roles' maximum.
    #[serde(default)]
    pub ttl: Option<String>,
    /// `auto` (default: the strongest usable), `gvisor`, `runc` or `microvm`.
    #[serde(default)]
    pub backend: Option<String>,
    /// Image name (default `host`).
    #[serde(default)]
    pub image: Option<String>,
    /// CPUs, e.g. `2` or `0.5`.
    #[serde(default)]
    pub cpus: Option<String>,
    /// Memory, e.g. `2G`.
    #[serde(default)]
    pub memory: Option<String>,
    /// Writable-layer size, e.g. `4G`.
    #[serde(default)]
    pub disk: Option<String>,
    /// Delegation profile narrowing what the workload may do.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Limits as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LimitsInfo {
    /// CPUs.
    pub cpus: f64,
    /// Memory in bytes.
    pub memory: u64,
    /// Writable-layer size in bytes.
    pub disk: u64,
    /// Process limit.
    pub pids: u64,
}

/// A sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SandboxInfo {
    /// Cluster-unique id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// Isolation backend.
    pub backend: String,
    /// Image.
    pub image: String,
    /// `creating`, `running`, `removed`, `expired` or `failed`.
    pub state: String,
    /// Created (RFC 3339).
    pub created: String,
    /// Destroyed at the latest (RFC 3339).
    pub expires: String,
    /// When it ended, if it has.
    pub ended: Option<String>,
    /// Limits.
    pub limits: LimitsInfo,
    /// The sandbox's SPIFFE ID.
    pub spiffe_id: String,
    /// The workload's SPIFFE ID.
    pub workload_spiffe_id: String,
    /// Delegation profile.
    pub profile: Option<String>,
}

/// One isolation backend on the node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackendInfo {
    /// `microvm`, `gvisor` or `runc`.
    pub name: String,
    /// Whether sandboxes can use it here.
    pub usable: bool,
    /// Version, or why it is unusable.
    pub detail: String,
}

/// An image on the node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImageSummary {
    /// Name.
    pub name: String,
    /// Where it came from (`host`, `debootstrap bookworm`).
    pub source: String,
    /// Packages installed.
    pub packages: Vec<String>,
    /// Size in bytes, if known.
    pub size: Option<u64>,
    /// Created (RFC 3339).
    pub created: Option<String>,
}

/// `POST /v1/images`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildImageRequest {
    /// Image name.
    pub name: String,
    /// Debian packages to install.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Debian suite (default: bookworm).
    #[serde(default)]
    pub suite: Option<String>,
}

/// `PUT /v1/roles/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// One line for `role ls`.
    #[serde(default)]
    pub description: Option<String>,
    /// Longest login (`8h`).
    #[serde(default)]
    pub max_ttl: Option<String>,
    /// Longest sandbox lifetime (`8h`).
    #[serde(default)]
    pub max_sandbox_ttl: Option<String>,
}
