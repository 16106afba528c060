//! The outcome of an authorization check, with the reasons that produced it.
//! Audit events carry it verbatim, so a decision can be explained later.

use serde::{Deserialize, Serialize};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The operation may proceed.
    Allow,
    /// The operation is refused.
    Deny,
}

impl Effect {
    /// `"allow"` or `"deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Effect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            other => Err(format!("invalid decision {other:?}: use allow or deny")),
        }
    }
}

/// A decision and why it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Allow or deny.
    pub effect: Effect,
    /// One human-readable line: what decided, phrased for the person (or
    /// agent) who was refused.
    pub reason: String,
    /// Ids of the policies that produced the decision (empty for the default deny).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// On an allow: a deciding policy asks for request and response bodies
    /// to be recorded in the audit event, capped at this many bytes
    /// (`@record_bodies("N")` on a permit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_bodies: Option<usize>,
}

impl Decision {
    /// An allow decided by the given policies.
    pub fn allow(reason: impl Into<String>, policies: Vec<String>) -> Self {
        Self {
            effect: Effect::Allow,
            reason: reason.into(),
            policies,
            record_bodies: None,
        }
    }

    /// A deny decided by the given policies (empty = nothing allowed it).
    pub fn deny(reason: impl Into<String>, policies: Vec<String>) -> Self {
        Self {
            effect: Effect::Deny,
            reason: reason.into(),
            policies,
            record_bodies: None,
        }
    }

    /// Whether the operation may proceed.
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }
}
