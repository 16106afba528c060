//! `airlock server init`: create the CA, the keys, the state database and
//! the first admin in a new data directory.
//!
//! Everything is built in a staging directory inside DIR and moved into
//! place at the end, `state.db` last (it is the "initialized" marker), so an
//! interrupted init never leaves something that looks like a cluster.

use std::path::Path;
use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, KeyPair, write_key_file};
use airlock_core::{RoleName, TrustDomain, UserName};
use airlock_store::{RoleRecord, SqliteStore, Store, UserRecord};
use time::OffsetDateTime;

use crate::datadir::DataDir;
use crate::password;

/// How long the cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86400);

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The first admin.
    pub admin: UserName,
    /// Their password.
    pub password: String,
    /// SPIFFE trust domain.
    pub trust_domain: TrustDomain,
    /// Human name of the cluster.
    pub cluster_name: String,
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct InitSummary {
    /// SHA-256 fingerprint of the CA certificate (hex).
    pub ca_fingerprint: String,
    /// Public key of the audit checkpoint signer (note verifier key).
    pub audit_key: String,
}

/// Why `init` refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The directory already holds a cluster.
    #[error(
        "{0} is already initialized; use `airlock server start --data-dir {0}`, or choose an empty directory"
    )]
    AlreadyInitialized(String),
    /// The admin password is too weak.
    #[error("{0}")]
    WeakPassword(String),
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("cannot create the cluster CA: {0}")]
    Ca(#[from] airlock_ca::CaError),
    /// The state database could not be created.
    #[error("cannot create the state database: {0}")]
    Store(#[from] airlock_store::StoreError),
    /// The audit log could not be created.
    #[error("cannot create the audit log: {0}")]
    Audit(#[from] airlock_audit::AuditError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InitError + 'a {
    move |source| InitError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The roles every new cluster starts with.
pub fn default_roles() -> Vec<RoleRecord> {
    let role = |name: &str, description: &str| RoleRecord {
        name: RoleName::new(name).expect("built-in role names are valid"),
        description: description.into(),
        max_ttl_secs: 8 * 3600,
        max_sandbox_ttl_secs: 8 * 3600,
    };
    vec![
        role("admin", "Full control of the cluster"),
        role("developer", "Create and use their own sandboxes"),
        role("auditor", "Read, search and verify the audit log"),
    ]
}

/// Initializes `dir`.
pub fn init(dir: &DataDir, opts: &InitOptions) -> Result<InitSummary, InitError> {
    if dir.has_cluster_files() {
        return Err(InitError::AlreadyInitialized(
            dir.root().display().to_string(),
        ));
    }
    password::check_strength(&opts.password).map_err(InitError::WeakPassword)?;
    create_private_dir(dir.root())?;

    let staging = DataDir::new(
        dir.root()
            .join(format!(".init-{}", hex::encode(rand::random::<[u8; 4]>()))),
    );
    create_private_dir(staging.root())?;
    let result = build(&staging, opts).and_then(|summary| {
        promote(&staging, dir)?;
        Ok(summary)
    });
    let _ = std::fs::remove_dir_all(staging.root());
    result
}

fn create_private_dir(path: &Path) -> Result<(), InitError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io("cannot create", path))
}

fn build(staging: &DataDir, opts: &InitOptions) -> Result<InitSummary, InitError> {
    let now = SystemTime::now();
    create_private_dir(&staging.ca_dir())?;
    let ca = CertificateAuthority::generate(
        &opts.cluster_name,
        opts.trust_domain.clone(),
        CA_VALIDITY,
        now,
    )?;
    std::fs::write(staging.ca_cert(), ca.cert_pem())
        .map_err(io("cannot write", &staging.ca_cert()))?;
    write_key_file(&staging.ca_key(), &ca.key_pkcs8_pem())?;
    let jwt_key = KeyPair::generate()?;
    write_key_file(&staging.jwt_key(), &jwt_key.to_pkcs8_pem())?;
    let audit_key = crate::audit::create_log(
        staging,
        &crate::audit::origin_for(opts.trust_domain.as_str()),
    )?;

    let hash = password::hash(&opts.password).map_err(InitError::WeakPassword)?;
    let store = SqliteStore::create(&staging.state_db())?;
    store.set_meta("cluster_name", &opts.cluster_name)?;
    store.set_meta("trust_domain", opts.trust_domain.as_str())?;
    for role in default_roles() {
        store.put_role(&role)?;
    }
    store.add_user(&UserRecord {
        name: opts.admin.clone(),
        roles: vec![RoleName::new("admin").expect("valid")],
        traits: Default::default(),
        password_hash: hash,
        created: OffsetDateTime::now_utc(),
    })?;
    drop(store);
    Ok(InitSummary {
        ca_fingerprint: ca.fingerprint().to_owned(),
        audit_key,
    })
}

/// Moves the staged files into `dir`, the marker last. If a move fails, the
/// ones already made are undone, so `dir` is left as it was found.
fn promote(staging: &DataDir, dir: &DataDir) -> Result<(), InitError> {
    let moves = [
        (staging.ca_dir(), dir.ca_dir()),
        (staging.audit_dir(), dir.audit_dir()),
        (staging.state_db(), dir.state_db()),
    ];
    for (i, (from, to)) in moves.iter().enumerate() {
        if let Err(e) = std::fs::rename(from, to) {
            for (back_from, back_to) in moves[..i].iter().rev() {
                let _ = std::fs::rename(back_to, back_from);
            }
            return Err(io("cannot move into place", to)(e));
        }
    }
    Ok(())
}
