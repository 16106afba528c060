//! Airlock's policy engine: Cedar policies over an Airlock schema, deciding
//! what users and the workloads acting for them may do.
//!
//! - [`PolicySet::load`] parses policy files, names every policy (its
//!   `@id("...")`, else `<file>#<n>`), validates the set against the schema
//!   in strict mode and indexes it. A problem refuses the whole set with
//!   located [`Diagnostic`]s, so the caller keeps its previous set.
//! - [`Profile::load`] does the same for a delegation profile: policies over
//!   `Workload` principals that narrow what a sandbox's workload may do.
//! - [`Engine::decide`] answers a [`Request`] with an
//!   [`airlock_core::Decision`]: default deny, forbid wins, any error denies,
//!   and a workload needs both its user's policies and its profile to allow.
//! - [`Engine::explain`] lists every policy that matched or failed.
//! - Examples files ([`PolicySet::load_with_examples`],
//!   [`Engine::check_examples`]) pin what a set must allow and deny.
//!
//! Architecture invariant: this crate is pure. It reads no files, no clock
//! and no environment; the current time is the `time` attribute of the
//! request's context. So any decision can be replayed from its audit event.
//! docs/policy.md describes the model for policy authors.
#![forbid(unsafe_code)]

mod context;
mod decisions;
mod diagnostics;
mod engine;
mod entities;
mod error;
mod evaluate;
mod examples;
mod explain;
mod index;
mod load;
mod memo;
mod request;
mod schema;
mod table;

pub use diagnostics::Diagnostic;
pub use engine::Engine;
pub use error::LoadError;
pub use explain::{Explanation, Match, PolicyEffect, PolicyError, StageExplanation};
pub use load::{PolicySet, Profile, STARTER_EXAMPLES, STARTER_POLICIES, Source};
pub use request::{Context, InferenceKind, Principal, Request, Resource, UserInfo, WorkloadInfo};
pub use schema::SCHEMA_TEXT;

/// The schema delegation profiles are validated against: [`SCHEMA_TEXT`]
/// with workload principals (for `airlock policy schema --profile`).
pub fn profile_schema_text() -> String {
    schema::profile_text()
}

/// Every action a request may name, sorted.
pub fn actions() -> Vec<&'static str> {
    let mut names: Vec<&str> = schema::schemas()
        .actions
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}
