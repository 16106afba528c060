//! `explain`: the decision plus everything behind it, for `airlock policy
//! check`. Unlike `decide`, it evaluates every policy (not just the index's
//! candidates) and runs the profile stage even when the user stage denied,
//! so an admin sees the whole picture. The decision it reports is the one
//! `decide` makes.

use std::fmt;

use airlock_core::Decision;
use serde::Serialize;

use crate::engine::{self, Engine, Mode, Stage, StageResult};
use crate::evaluate::Verdict;
use crate::load::Source;
use crate::request::Request;

/// A decision and every policy behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// What `decide` answers for the same request.
    pub decision: Decision,
    /// Each stage evaluated, in order.
    pub stages: Vec<StageExplanation>,
}

/// One stage: the policy set (as the user) or a delegation profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageExplanation {
    /// `policy set (as user alice)` or `delegation profile read-only`.
    pub stage: String,
    /// Whether this stage alone allows.
    pub allows: bool,
    /// Every policy whose scope and conditions held.
    pub matched: Vec<Match>,
    /// Every policy that failed to evaluate.
    pub errors: Vec<PolicyError>,
    /// Why the request could not be evaluated at all, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// A policy that held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Its id.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: PolicyEffect,
    /// Where it was loaded from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A policy's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEffect {
    /// Allows what it matches (unless something forbids it).
    Permit,
    /// Denies what it matches, whatever permits it.
    Forbid,
}

/// A policy that failed to evaluate (and so denied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyError {
    /// Its id.
    pub id: String,
    /// Cedar's message.
    pub message: String,
}

impl Engine {
    /// Decides `req` and lists every policy that matched or failed, per stage.
    pub fn explain(&self, req: &Request) -> Explanation {
        let stages = self.run(req, Mode::Exhaustive);
        // The decision only looks at stages `decide` would have run: it stops
        // at the first stage that does not allow.
        let deciding = match stages
            .iter()
            .position(|s| !matches!(s.verdict, Verdict::Allow(_)))
        {
            Some(i) => &stages[..=i],
            None => &stages[..],
        };
        Explanation {
            decision: engine::decision(req, deciding),
            stages: stages.iter().map(|s| self.explain_stage(s)).collect(),
        }
    }

    fn explain_stage(&self, s: &StageResult) -> StageExplanation {
        let set = match &s.stage {
            Stage::User { .. } => Some(self.policies()),
            Stage::Profile(p) => self.profile(p).map(|p| p.policies()),
        };
        let source = |id: &str| set.and_then(|set| set.source(id)).cloned();
        let mut matched = Vec::new();
        let mut errors = Vec::new();
        if let Some(o) = &s.outcome {
            let permits = o.permits.iter().map(|id| (id, PolicyEffect::Permit));
            let forbids = o.forbids.iter().map(|id| (id, PolicyEffect::Forbid));
            matched = permits
                .chain(forbids)
                .map(|(id, effect)| Match {
                    id: id.clone(),
                    effect,
                    source: source(id),
                })
                .collect();
            errors = o
                .errors
                .iter()
                .map(|(id, message)| PolicyError {
                    id: id.clone(),
                    message: message.clone(),
                })
                .collect();
        }
        StageExplanation {
            stage: stage_name(&s.stage),
            allows: matches!(s.verdict, Verdict::Allow(_)),
            matched,
            errors,
            invalid: match &s.verdict {
                Verdict::Invalid(msg) => Some(msg.clone()),
                _ => None,
            },
        }
    }
}

fn stage_name(stage: &Stage) -> String {
    match stage {
        Stage::User { user, .. } => format!("policy set (as user {user})"),
        Stage::Profile(p) => format!("delegation profile {p}"),
    }
}

impl fmt::Display for Explanation {
    /// The text `airlock policy check` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.decision.effect, self.decision.reason)?;
        for s in &self.stages {
            let verdict = if s.allows { "allows" } else { "denies" };
            writeln!(f, "  {}: {verdict}", s.stage)?;
            if let Some(msg) = &s.invalid {
                writeln!(f, "    invalid request: {msg}")?;
            }
            for m in &s.matched {
                let effect = match m.effect {
                    PolicyEffect::Permit => "permit",
                    PolicyEffect::Forbid => "forbid",
                };
                write!(f, "    {effect} {}", m.id)?;
                if let Some(src) = &m.source {
                    write!(f, " ({}:{})", src.file, src.line)?;
                }
                writeln!(f)?;
            }
            for e in &s.errors {
                writeln!(f, "    error in {}: {}", e.id, e.message)?;
            }
        }
        Ok(())
    }
}
