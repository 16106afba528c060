//! How the control plane records what it does. "No audit, no action":
//! handlers record the event before they acknowledge the operation, and an
//! event that cannot be made durable turns into a refusal (503).

use std::net::SocketAddr;

use airlock_audit::{AuditError, AuditEvent, AuditLog, EventCode, NoteSigner};

use crate::auth::Caller;
use crate::datadir::DataDir;
use crate::error::ApiError;

/// The control plane's handle on the audit log.
#[derive(Debug, Clone)]
pub struct Auditor {
    log: AuditLog,
}

/// The checkpoint origin (and signer key name) for a trust domain.
pub fn origin_for(trust_domain: &str) -> String {
    format!("{trust_domain}/audit")
}

impl Auditor {
    /// Opens the data directory's audit log with its signing key.
    pub fn open(dir: &DataDir, origin: &str) -> Result<Self, AuditError> {
        let signer = NoteSigner::load(origin, &dir.audit_key())?;
        let log = AuditLog::open(&dir.audit_dir(), signer, origin)?;
        Ok(Self { log })
    }

    /// The log itself (search, verify, prove).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Records an event durably; an error means the caller must refuse.
    pub async fn record(&self, event: AuditEvent) -> Result<(), ApiError> {
        match self.log.append(event).await {
            Ok(_) => Ok(()),
            Err(AuditError::Invalid(e)) => {
                Err(ApiError::internal(format!("invalid audit event: {e}")))
            }
            Err(e) => {
                tracing::error!(error = %e, "audit append failed; refusing the operation");
                Err(ApiError::Unavailable(e.to_string()))
            }
        }
    }

    /// Signs a final checkpoint and closes the search index (on shutdown:
    /// an index left open is rebuilt if the machine restarts first).
    pub async fn shutdown(&self) {
        if let Err(e) = self.log.checkpoint_now().await {
            tracing::warn!(error = %e, "final audit checkpoint failed");
        }
        let log = self.log.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || log.close_search_index_blocking()).await
        {
            tracing::warn!(error = %e, "closing the audit search index failed");
        }
    }
}

/// An event about something `caller` did: user, session and source filled in.
pub fn by(caller: &Caller, code: EventCode) -> AuditEvent {
    let mut ev = AuditEvent::new(code)
        .user(caller.user.clone())
        .source(caller.source.to_string());
    if let Some(s) = &caller.session {
        ev = ev.session(s.clone());
    }
    ev
}

/// An event from an unauthenticated source.
pub fn from(source: SocketAddr, code: EventCode) -> AuditEvent {
    AuditEvent::new(code).source(source.to_string())
}

/// Creates the audit log and its signing key in a new data directory;
/// returns the verifier key (`name+id+key`) to publish.
pub fn create_log(dir: &DataDir, origin: &str) -> Result<String, AuditError> {
    let signer = NoteSigner::generate(origin)?;
    signer.save(&dir.audit_key())?;
    let vkey = signer.verifier().to_vkey();
    let log = AuditLog::open(&dir.audit_dir(), signer, origin)?;
    log.checkpoint_now_blocking()?;
    drop(log);
    Ok(vkey)
}
