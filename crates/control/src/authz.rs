//! Authorization of control-plane actions through the Cedar policy engine.
//!
//! Every handler calls [`authorize`] (actions on the cluster or the audit
//! log) or [`authorize_on`] (actions on a sandbox) before it acts. Default
//! deny, forbid wins, errors deny: the engine's rules. A refusal is audited
//! with the deciding policies and says which action was refused and why.

use airlock_audit::EventCode;
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

/// Refuses `caller` unless policy allows `action` on the cluster (or the
/// audit log for `audit.*`).
pub async fn authorize(state: &SharedState, caller: &Caller, action: &str) -> Result<(), ApiError> {
    authorize_on(state, caller, action, default_resource(action), context())
        .await
        .map(drop)
}

/// Refuses `caller` unless policy allows `action` on `resource`; a refusal
/// is audited with the deciding policies.
pub async fn authorize_on(
    state: &SharedState,
    caller: &Caller,
    action: &str,
    resource: Resource,
    context: Context,
) -> Result<Decision, ApiError> {
    let decision = decide(state, caller, action, resource.clone(), context);
    if decision.is_allowed() {
        return Ok(decision);
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
