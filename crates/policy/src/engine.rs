//! The engine: decides requests against the cluster policy set and, for a
//! workload, its sandbox's delegation profile.
//!
//! A user's request is one stage: the policy set with the user as principal.
//! A workload's request is two: first the same request made by its user
//! (so a workload can never do what its human cannot), then the profile
//! with the workload as principal. Both must allow; delegation only narrows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use airlock_core::Decision;

use crate::context;
use crate::decisions::Decisions;
use crate::entities::{self, Input, Translated};
use crate::evaluate::{self, Outcome, Verdict};
use crate::load::{Loaded, PolicySet, Profile};
use crate::memo::Memo;
use crate::request::{Principal, Request, WorkloadInfo};
use crate::schema::{ActionInfo, schemas};

/// Decides requests. Immutable: to change policies, build a new engine and
/// swap it in (an invalid set never replaces a working one).
#[derive(Debug, Clone)]
pub struct Engine {
    policies: PolicySet,
    profiles: BTreeMap<String, Profile>,
    /// Entities already translated, by principal, resource and action.
    memo: Arc<Memo>,
    /// Decisions already made, by request; emptied by any change.
    decisions: Arc<Decisions>,
}

/// Which stage of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The policy set, with `user` as principal; `workload` when the user
    /// stands in for a workload acting for them.
    User { user: String, workload: bool },
    /// A delegation profile, with the workload as principal.
    Profile(String),
}

/// One stage's result: what Cedar found (absent when the request could not
/// be evaluated) and the verdict.
#[derive(Debug, Clone)]
pub(crate) struct StageResult {
    pub stage: Stage,
    pub outcome: Option<Outcome>,
    pub verdict: Verdict,
}

/// Whether to consult the index (deciding) or evaluate every policy
/// (explaining: list every match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Indexed,
    Exhaustive,
}

impl Engine {
    /// An engine over `policies`, with no delegation profile yet.
    pub fn new(policies: PolicySet) -> Self {
        Self {
            policies,
            profiles: BTreeMap::new(),
            memo: Arc::default(),
            decisions: Arc::default(),
        }
    }

    /// Adds a profile, replacing any of the same name.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profiles.insert(profile.name().to_owned(), profile);
        // Another profile is another engine: what the old one decided may
        // no longer hold (the entities do not depend on profiles).
        self.decisions = Arc::default();
        self
    }

    /// The cluster policy set.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// A delegation profile by name.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// Every delegation profile, by name.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// Decides `req`. Never fails: anything that goes wrong (unknown action,
    /// context of the wrong type, a policy that errors) is a deny whose
    /// reason says what went wrong. A request equal to one this engine has
    /// decided twice before gets the same decision from a memo: a decision
    /// depends on nothing else.
    pub fn decide(&self, req: &Request) -> Decision {
        let decision = self.decisions.get_or_decide(req, || self.evaluate(req));
        tracing::debug!(
            action = %req.action,
            effect = %decision.effect,
            policies = ?decision.policies,
            "policy decision"
        );
        decision
    }

    /// Decides `req` with Cedar, never from the memo of decisions: what
    /// [`Engine::decide`] returns for a request it has not seen. For
    /// benchmarks and tests that measure or check the evaluation itself.
    pub fn evaluate(&self, req: &Request) -> Decision {
        let stages = self.run(req, Mode::Indexed);
        let mut decision = decision(req, &stages);
        if decision.is_allowed() {
            // The largest cap any allowing permit of the cluster set asks for.
            decision.record_bodies = decision
                .policies
                .iter()
                .filter_map(|id| self.policies.record_bodies(id))
                .max();
        }
        decision
    }

    /// Runs the stages a request needs. Deciding stops at the first stage
    /// that denies; explaining runs them all.
    pub(crate) fn run(&self, req: &Request, mode: Mode) -> Vec<StageResult> {
        let user = req.principal.user().name.to_string();
        let workload = match &req.principal {
            Principal::Workload(w) => Some(w),
            Principal::User(_) => None,
        };
        // The action and the context are the same in both stages: convert
        // them once.
        let prepared = prepare(req);
        let input = prepared.as_ref().map(|(action, context)| Input {
            req,
            action,
            context,
        });
        let stage = Stage::User {
            user,
            workload: workload.is_some(),
        };
        let translated = input
            .map_err(Clone::clone)
            .and_then(|i| Ok((i, entities::for_user(i, &self.memo)?)));
        let first = evaluate_stage(stage, &self.policies.0, translated, mode);
        let first_allows = matches!(first.verdict, Verdict::Allow(_));
        let mut stages = vec![first];
        if let Some(w) = workload
            && let Some(profile) = &w.profile
            && (first_allows || mode == Mode::Exhaustive)
        {
            stages.push(self.profile_stage(input, w, profile, mode));
        }
        stages
    }

    fn profile_stage(
        &self,
        input: Result<Input<'_>, &String>,
        w: &WorkloadInfo,
        name: &str,
        mode: Mode,
    ) -> StageResult {
        let stage = Stage::Profile(name.to_owned());
        let Some(profile) = self.profiles.get(name) else {
            let msg = "it is not loaded, so it allows nothing".to_owned();
            return StageResult {
                stage,
                outcome: None,
                verdict: Verdict::Invalid(msg),
            };
        };
        let translated = input
            .map_err(Clone::clone)
            .and_then(|i| Ok((i, entities::for_workload(i, w, &self.memo)?)));
        evaluate_stage(stage, &profile.policies().0, translated, mode)
    }
}

/// The request's action and its context in Cedar form.
fn prepare(req: &Request) -> Result<(&'static ActionInfo, cedar_policy::Context), String> {
    let action = schemas()
        .actions
        .get(&req.action)
        .ok_or_else(|| format!("unknown action {:?}", req.action))?;
    Ok((action, context::convert(req, &action.context)?))
}

/// Evaluates one stage, or records why its request could not be evaluated.
fn evaluate_stage(
    stage: Stage,
    set: &Loaded,
    translated: Result<(Input<'_>, Translated), String>,
    mode: Mode,
) -> StageResult {
    let (input, t) = match translated {
        Ok(ok) => ok,
        Err(msg) => {
            return StageResult {
                stage,
                outcome: None,
                verdict: Verdict::Invalid(msg),
            };
        }
    };
    let outcome = match mode {
        Mode::Indexed => evaluate::indexed(set, &t, input.action),
        Mode::Exhaustive => evaluate::exhaustive(set, &t),
    };
    let verdict = outcome.verdict();
    StageResult {
        stage,
        outcome: Some(outcome),
        verdict,
    }
}

/// The decision the stages add up to: the first stage that does not allow
/// denies, with its reason; if all allow, the permits of all stages allow.
pub(crate) fn decision(req: &Request, stages: &[StageResult]) -> Decision {
    let mut permits = BTreeSet::new();
    for s in stages {
        match &s.verdict {
            Verdict::Allow(ids) => permits.extend(ids.iter().cloned()),
            other => {
                let ids = match other {
                    Verdict::Forbid(ids) => ids.clone(),
                    Verdict::Error { policy, .. } => vec![policy.clone()],
                    _ => Vec::new(),
                };
                return Decision::deny(deny_reason(&s.stage, other, &req.summary()), ids);
            }
        }
    }
    let permits: Vec<String> = permits.into_iter().collect();
    Decision::allow(allow_reason(stages, &permits), permits)
}

fn deny_reason(stage: &Stage, verdict: &Verdict, summary: &str) -> String {
    match stage {
        Stage::User { user, workload } => {
            let reason = user_deny(verdict, summary);
            if *workload {
                format!("as user {user}: {reason}")
            } else {
                reason
            }
        }
        Stage::Profile(p) => profile_deny(p, verdict, summary),
    }
}

fn user_deny(verdict: &Verdict, summary: &str) -> String {
    match verdict {
        Verdict::Forbid(ids) => format!("{} forbids {summary}", named(ids)),
        Verdict::Error { policy, message } => {
            format!("policy {policy} failed on {summary}, and an error denies: {message}")
        }
        Verdict::Invalid(msg) => format!("denied {summary}: {msg}"),
        Verdict::NoPermit | Verdict::Allow(_) => format!("no policy allows {summary}"),
    }
}

fn profile_deny(profile: &str, verdict: &Verdict, summary: &str) -> String {
    match verdict {
        Verdict::Forbid(ids) => {
            format!(
                "delegation profile {profile} forbids {summary} ({})",
                named(ids)
            )
        }
        Verdict::Error { policy, message } => format!(
            "delegation profile {profile}: policy {policy} failed on {summary}, and an error denies: {message}"
        ),
        Verdict::Invalid(msg) => format!("delegation profile {profile} denies {summary}: {msg}"),
        Verdict::NoPermit | Verdict::Allow(_) => {
            format!("delegation profile {profile} does not allow {summary}")
        }
    }
}

fn allow_reason(stages: &[StageResult], permits: &[String]) -> String {
    let profile = stages.iter().find_map(|s| match &s.stage {
        Stage::Profile(p) => Some(p.as_str()),
        Stage::User { .. } => None,
    });
    match profile {
        Some(p) => format!(
            "allowed by {} within delegation profile {p}",
            named(permits)
        ),
        None => format!("allowed by {}", named(permits)),
    }
}

/// "policy a" or "policies a, b".
fn named(ids: &[String]) -> String {
    match ids {
        [one] => format!("policy {one}"),
        many => format!("policies {}", many.join(", ")),
    }
}
