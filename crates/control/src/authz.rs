//! Authorization of control-plane actions.
//!
//! This is the one function every admin handler calls. Today it matches the
//! action against the `allow` patterns of the caller's roles; the Cedar
//! policy layer replaces its body, not its callers.

use airlock_core::RoleName;

use airlock_audit::EventCode;

use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::SharedState;

/// Refuses `caller` unless one of their roles allows `action`. A refusal is
/// audited and says which action was refused.
pub async fn authorize(state: &SharedState, caller: &Caller, action: &str) -> Result<(), ApiError> {
    if is_allowed(state, caller, action).await? {
        return Ok(());
    }
    let err = ApiError::NotAllowed(format!(
        "not allowed: {action} needs a role that allows it (your roles: {})",
        role_list(&caller.roles)
    ));
    let event = audit::by(caller, EventCode::ApiRefused)
        .action(action)
        .deny(err.to_string())
        .resource(action)
        .detail("status", 403);
    state.audit.record(event).await?;
    Err(err)
}

/// Whether one of `caller`'s roles allows `action` (no audit: for checks
/// that widen what a caller sees, like an admin viewing others' sandboxes).
pub async fn is_allowed(
    state: &SharedState,
    caller: &Caller,
    action: &str,
) -> Result<bool, ApiError> {
    let roles = caller.roles.clone();
    let records = state
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
        .any(|role| role.allow.iter().any(|p| pattern_matches(p, action))))
}

/// `*` matches everything, `prefix.*` matches `prefix.` and below, anything
/// else matches exactly.
pub fn pattern_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => prefix.ends_with('.') && action.starts_with(prefix),
        None => pattern == action,
    }
}

fn role_list(roles: &[RoleName]) -> String {
    if roles.is_empty() {
        return "none".into();
    }
    roles
        .iter()
        .map(RoleName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "admin.user.add"));
        assert!(pattern_matches("admin.*", "admin.user.add"));
        assert!(pattern_matches("admin.user.add", "admin.user.add"));
        assert!(!pattern_matches("admin.user.add", "admin.user.rm"));
        assert!(!pattern_matches("admin.*", "administrator"));
        assert!(
            !pattern_matches("adm*", "admin.user.add"),
            "only dot-prefix wildcards"
        );
        assert!(!pattern_matches("audit.*", "admin.user.add"));
    }
}
