//! Authorization of control-plane actions through the Cedar policy engine.
//!
//! Every handler calls [`authorize`] (actions on the cluster or the audit
//! log) or [`authorize_on`] (actions on a sandbox) before it acts. Default
//! deny, forbid wins, errors deny: the engine's rules. A refusal is audited
//! with the deciding policies and says which action was refused and why.

use airlock_audit::{AuditEvent, EventCode};
use airlock_core::Decision;
use airlock_policy::{Context, Principal, Request, Resource, UserInfo};
use time::OffsetDateTime;

use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::SharedState;

/// The caller as a Cedar principal.
pub fn principal(caller: &Caller) -> Principal {
    Principal::User(UserInfo {
        name: caller.user.clone(),
        roles: caller.roles.clone(),
        traits: caller.traits.clone(),
    })
}

/// The resource an action without a more specific target applies to.
fn default_resource(action: &str) -> Resource {
    if action.starts_with("audit.") {
        Resource::AuditLog
    } else {
        Resource::Cluster
    }
}

/// Decides `action` by `caller` on `resource` without side effects.
pub fn decide(
    state: &SharedState,
    caller: &Caller,
    action: &str,
    resource: Resource,
    context: Context,
) -> Decision {
    let request = Request::new(principal(caller), action, resource, context);
    state.policy.engine().decide(&request)
}

/// The standard context: now, and where the request came from.
pub fn context() -> Context {
    Context::at(OffsetDateTime::now_utc().unix_timestamp())
}

/// What policy allowed. The operation's own audit event is made from it,
/// so the record names the policies that let the operation happen.
#[derive(Debug, Clone)]
pub struct Allowed(Decision);

impl Allowed {
    /// An event about the allowed operation by `caller`: user, session,
    /// source, and the deciding policies with their reason.
    pub fn event(&self, caller: &Caller, code: EventCode) -> AuditEvent {
        audit::by(caller, code).decision(&self.0)
    }
}

/// Refuses `caller` unless policy allows `action` on the cluster (or the
/// audit log for `audit.*`).
pub async fn authorize(
    state: &SharedState,
    caller: &Caller,
    action: &str,
) -> Result<Allowed, ApiError> {
    authorize_on(state, caller, action, default_resource(action), context()).await
}

/// Refuses `caller` unless policy allows `action` on `resource`; a refusal
/// is audited with the deciding policies.
pub async fn authorize_on(
    state: &SharedState,
    caller: &Caller,
    action: &str,
    resource: Resource,
    context: Context,
) -> Result<Allowed, ApiError> {
    let decision = decide(state, caller, action, resource.clone(), context);
    if decision.is_allowed() {
        return Ok(Allowed(decision));
    }
    let err = ApiError::NotAllowed(format!(
        "not allowed: {action} on {resource}: {}",
        decision.reason
    ));
    let event = audit::by(caller, EventCode::ApiRefused)
        .action(action)
        .decision(&decision)
        .resource(resource.to_string())
        .detail("status", 403);
    state.audit.record(event).await?;
    Err(err)
}

/// Whether policy allows `action` (no audit: for checks that only widen
/// what a caller sees, like an admin listing everyone's sandboxes).
pub fn is_allowed(state: &SharedState, caller: &Caller, action: &str, resource: Resource) -> bool {
    decide(state, caller, action, resource, context()).is_allowed()
}
