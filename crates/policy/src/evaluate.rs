//! One evaluation stage: a request (already translated for Cedar) against
//! one loaded set, reduced to what matched and what failed, and from there
//! to a verdict with the stage's rules: an error denies, forbid wins,
//! otherwise a permit allows and nothing denies.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{AuthorizationError, Authorizer, Decision as CedarDecision};

use crate::entities::Translated;
use crate::index::Keys;
use crate::load::Loaded;
use crate::schema::ActionInfo;

/// Everything one stage found. Sorted collections: a decision must read the
/// same every time it is made (and when it is replayed from the audit log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Satisfied permits (all of them when evaluated exhaustively; when
    /// indexed, all of them unless a forbid also held).
    pub permits: BTreeSet<String>,
    /// Satisfied forbids.
    pub forbids: BTreeSet<String>,
    /// Policies that failed to evaluate, with Cedar's message.
    pub errors: BTreeMap<String, String>,
}

/// What a stage decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Some permit held and nothing forbade or failed.
    Allow(Vec<String>),
    /// A forbid held.
    Forbid(Vec<String>),
    /// A policy failed to evaluate (first by id), so the stage denies.
    Error { policy: String, message: String },
    /// No permit held.
    NoPermit,
    /// The request could not be put to Cedar.
    Invalid(String),
}

impl Outcome {
    /// Forbid wins; then any error denies; then a permit allows.
    pub fn verdict(&self) -> Verdict {
        if !self.forbids.is_empty() {
            return Verdict::Forbid(self.forbids.iter().cloned().collect());
        }
        if let Some((policy, message)) = self.errors.iter().next() {
            return Verdict::Error {
                policy: policy.clone(),
                message: message.clone(),
            };
        }
        if self.permits.is_empty() {
            Verdict::NoPermit
        } else {
            Verdict::Allow(self.permits.iter().cloned().collect())
        }
    }

    fn absorb(&mut self, response: &cedar_policy::Response) {
        let ids = response.diagnostics().reason().map(ToString::to_string);
        match response.decision() {
            CedarDecision::Allow => self.permits.extend(ids),
            CedarDecision::Deny => self.forbids.extend(ids),
        }
        for err in response.diagnostics().errors() {
            let (id, message) = error_parts(err);
            self.errors.insert(id, message);
        }
    }
}

/// Evaluates only the index buckets that can apply: the decision path.
pub(crate) fn indexed(set: &Loaded, t: &Translated, action: &ActionInfo) -> Outcome {
    let authorizer = Authorizer::new();
    let mut out = Outcome::default();
    let keys = Keys {
        action: &action.keys,
        principal: &t.parts.principal_keys,
        resource: &t.parts.resource_keys,
    };
    for bucket in set.index.select(keys) {
        out.absorb(&authorizer.is_authorized(&t.request, bucket, &t.parts.entities));
    }
    out
}

/// Evaluates every permit and every forbid: the explain path, and the
/// reference the index is tested against.
pub(crate) fn exhaustive(set: &Loaded, t: &Translated) -> Outcome {
    let authorizer = Authorizer::new();
    let mut out = Outcome::default();
    for side in [&set.permits, &set.forbids] {
        out.absorb(&authorizer.is_authorized(&t.request, side, &t.parts.entities));
    }
    out
}

fn error_parts(err: &AuthorizationError) -> (String, String) {
    match err {
        AuthorizationError::PolicyEvaluationError(e) => {
            (e.policy_id().to_string(), e.inner().to_string())
        }
    }
}
