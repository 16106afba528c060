//! The rules an event must meet before it is written. A broken event is a bug
//! in the emitter; refusing it loudly keeps the log's meaning trustworthy.

use airlock_core::Effect;

use crate::code::{ActionRule, DecisionRule, Need};
use crate::event::AuditEvent;

/// Longest action name.
const MAX_ACTION: usize = 64;
/// Longest reason, resource or policy id, in bytes.
const MAX_TEXT: usize = 2048;
/// Longest source address.
const MAX_SOURCE: usize = 256;
/// Most policy ids on one event.
const MAX_POLICIES: usize = 64;
/// Largest encoded event.
pub(crate) const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The action is empty or not a dotted lowercase name.
    #[error("invalid action {0:?}: use a dotted lowercase name such as sandbox.create")]
    BadAction(String),
    /// The action does not belong to the code.
    #[error("event {code} must have action {expected:?}, not {action:?}")]
    ActionMismatch {
        /// The event code (`A1001 user.login`).
        code: String,
        /// The action given.
        action: String,
        /// The action the code requires.
        expected: &'static str,
    },
    /// The decision is not one the code records.
    #[error("event {code} cannot record decision {decision}")]
    DecisionMismatch {
        /// The event code.
        code: String,
        /// The decision given.
        decision: Effect,
    },
    /// A deny without a reason cannot be explained later.
    #[error("event {0} is a deny and must say why (reason is empty)")]
    MissingReason(String),
    /// A field the code requires is absent.
    #[error("event {code} must name its {field}")]
    Missing {
        /// The event code.
        code: String,
        /// The missing field.
        field: &'static str,
    },
    /// A workload that names no human would let someone hide behind an agent.
    #[error("event names workload {0} but no user: every workload acts for a named human")]
    WorkloadWithoutUser(String),
    /// The workload SPIFFE ID belongs to another sandbox than the one named.
    #[error("workload {workload} does not belong to sandbox {sandbox}")]
    WorkloadSandboxMismatch {
        /// The workload SPIFFE ID.
        workload: String,
        /// The sandbox named on the event.
        sandbox: String,
    },
    /// A text field is too long or holds control characters.
    #[error("event field {field} is invalid: {rule}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What is wrong.
        rule: &'static str,
    },
    /// The bytes are not an audit event.
    #[error("not an audit event: {0}")]
    Decode(String),
}

/// Checks `ev` against the rules of its code.
pub fn validate(ev: &AuditEvent) -> Result<(), EventError> {
    let spec = ev.code.spec();
    let code = || ev.code.to_string();
    check_action(&ev.action)?;
    if let ActionRule::Exact(expected) = spec.action
        && ev.action != expected
    {
        return Err(EventError::ActionMismatch {
            code: code(),
            action: ev.action.clone(),
            expected,
        });
    }
    let decision_ok = match spec.decision {
        DecisionRule::Allow => ev.decision == Effect::Allow,
        DecisionRule::Deny => ev.decision == Effect::Deny,
        DecisionRule::Either => true,
    };
    if !decision_ok {
        return Err(EventError::DecisionMismatch {
            code: code(),
            decision: ev.decision,
        });
    }
    if ev.decision == Effect::Deny && ev.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(EventError::MissingReason(code()));
    }
    check_needs(ev)?;
    check_workload(ev)?;
    check_texts(ev)
}

fn check_action(action: &str) -> Result<(), EventError> {
    let ok = !action.is_empty()
        && action.len() <= MAX_ACTION
        && action.starts_with(|c: char| c.is_ascii_lowercase())
        && !action.ends_with('.')
        && !action.contains("..")
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(EventError::BadAction(action.chars().take(80).collect()))
    }
}

fn check_needs(ev: &AuditEvent) -> Result<(), EventError> {
    let spec = ev.code.spec();
    let required = |n: Need| match n {
        Need::No => false,
        Need::OnAllow => ev.decision == Effect::Allow,
        Need::Always => true,
    };
    let fields = [
        ("user", spec.user, ev.user.is_some()),
        ("workload", spec.workload, ev.workload.is_some()),
        ("sandbox", spec.sandbox, ev.sandbox.is_some()),
    ];
    for (field, need, present) in fields {
        if required(need) && !present {
            return Err(EventError::Missing {
                code: ev.code.to_string(),
                field,
            });
        }
    }
    Ok(())
}

fn check_workload(ev: &AuditEvent) -> Result<(), EventError> {
    let Some(workload) = &ev.workload else {
        return Ok(());
    };
    if ev.user.is_none() {
        return Err(EventError::WorkloadWithoutUser(workload.to_string()));
    }
    // Airlock workload IDs are `.../sandbox/<id>/workload`; if the event names
    // a sandbox too, they must agree.
    let mut segments = workload.path().split('/');
    let parts: [Option<&str>; 5] = std::array::from_fn(|_| segments.next());
    if let (Some(sandbox), [Some(""), Some("sandbox"), Some(id), Some("workload"), None]) =
        (&ev.sandbox, parts)
        && sandbox.as_str() != id
    {
        return Err(EventError::WorkloadSandboxMismatch {
            workload: workload.to_string(),
            sandbox: sandbox.to_string(),
        });
    }
    Ok(())
}

fn check_text(field: &'static str, value: Option<&str>, max: usize) -> Result<(), EventError> {
    let Some(v) = value else { return Ok(()) };
    if v.len() > max {
        return Err(EventError::BadField {
            field,
            rule: "too long",
        });
    }
    if v.chars().any(char::is_control) {
        return Err(EventError::BadField {
            field,
            rule: "holds control characters",
        });
    }
    Ok(())
}

fn check_texts(ev: &AuditEvent) -> Result<(), EventError> {
    check_text("reason", ev.reason.as_deref(), MAX_TEXT)?;
    check_text("resource", ev.resource.as_deref(), MAX_TEXT)?;
    check_text("source", ev.source.as_deref(), MAX_SOURCE)?;
    if ev.policies.len() > MAX_POLICIES {
        return Err(EventError::BadField {
            field: "policies",
            rule: "too many policy ids",
        });
    }
    for p in &ev.policies {
        check_text("policies", Some(p), MAX_TEXT)?;
    }
    Ok(())
}
