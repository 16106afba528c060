//! The proxy's own rules: refusals that do not come from policy. Each has a
//! stable id that appears in the decision's policy ids, in the 403 body and
//! in the audit event, exactly like a Cedar policy id would.

use airlock_core::Decision;

/// SNI, CONNECT authority and Host header disagree.
pub const DOMAIN_FRONTING: &str = "airlock/domain-fronting";
/// An unregistered destination is (or resolves to) an internal address.
pub const INTERNAL_ADDRESS: &str = "airlock/internal-address";
/// The model is not in the endpoint's allow-list.
pub const MODEL_ALLOW_LIST: &str = "airlock/model-allow-list";
/// The identity's requests-per-minute budget is spent.
pub const REQUESTS_PER_MINUTE: &str = "airlock/budget-requests-per-minute";
/// The identity's tokens-per-day budget is spent.
pub const TOKENS_PER_DAY: &str = "airlock/budget-tokens-per-day";
/// The audit sink failed recently: nothing proceeds until it records again.
pub const AUDIT_UNAVAILABLE: &str = "airlock/audit-unavailable";
/// The request cannot be decided safely (no target, dot segments, too big).
pub const MALFORMED: &str = "airlock/malformed-request";
/// The inference operation is not one the proxy knows how to meter.
pub const INFERENCE_OPERATION: &str = "airlock/inference-operation";
/// No inference endpoint has that name.
pub const UNKNOWN_ENDPOINT: &str = "airlock/unknown-inference-endpoint";

/// A deny decided by one of the proxy's rules.
pub(crate) fn deny(rule: &str, reason: impl Into<String>) -> Decision {
    Decision::deny(reason, vec![rule.to_owned()])
}
