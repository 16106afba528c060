//! An index over a policy set's scopes, so a decision evaluates only the
//! policies that could apply to it.
//!
//! Cedar's authorizer evaluates every policy of the set it is given. With a
//! thousand per-user and per-role policies that costs far more than the
//! 50 µs budget, although almost all of them fail on their scope. So the
//! loader files each policy under its action constraint (an action, an
//! action group, or "any") and its principal constraint (a user, a role, or
//! "any"), and a decision evaluates the buckets its action keys and
//! principal keys select.
//!
//! Why this is exact: a policy's scope is part of its condition, and Cedar
//! checks the scope before the body, so a policy whose scope cannot match is
//! never satisfied and never errors. A policy lands in no bucket only if its
//! action constraint names neither the action nor one of its groups, or its
//! principal constraint names neither the principal nor one of its roles;
//! such a scope is false for the request. Combining buckets is exact too:
//! Cedar denies if any forbid holds and allows if any permit holds, both
//! unions over policies. A property test compares this with evaluating the
//! whole set.

use std::collections::HashMap;

use cedar_policy::{ActionConstraint, EntityUid, Policy, PolicySet, PrincipalConstraint};

/// Buckets of policies by action key, then principal key.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Policies whose action constraint is `action` (any action).
    any_action: ByPrincipal,
    /// Policies filed under an action or an action group.
    by_action: HashMap<EntityUid, ByPrincipal>,
}

/// Buckets of one action key, by principal key.
#[derive(Debug, Default)]
struct ByPrincipal {
    any_principal: Option<PolicySet>,
    by_principal: HashMap<EntityUid, PolicySet>,
}

impl ByPrincipal {
    fn add(&mut self, key: Option<EntityUid>, policy: &Policy) {
        let set = match key {
            None => self.any_principal.get_or_insert_with(PolicySet::new),
            Some(uid) => self.by_principal.entry(uid).or_default(),
        };
        // Ids are unique in the source set, so adding cannot collide.
        set.add(policy.clone()).expect("policy ids are unique");
    }

    fn select<'a>(&'a self, principal_keys: &[EntityUid], out: &mut Vec<&'a PolicySet>) {
        out.extend(self.any_principal.as_ref());
        for key in principal_keys {
            out.extend(self.by_principal.get(key));
        }
    }
}

impl Index {
    /// Files every policy of `set`.
    pub fn build(set: &PolicySet) -> Self {
        let mut index = Self::default();
        for policy in set.policies() {
            let principal = principal_key(policy);
            for action in action_keys(policy) {
                let bucket = match action {
                    None => &mut index.any_action,
                    Some(uid) => index.by_action.entry(uid).or_default(),
                };
                bucket.add(principal.clone(), policy);
            }
        }
        index
    }

    /// The buckets a request may be decided by. `action_keys` are the action
    /// and its groups; `principal_keys` the principal and its roles. A policy
    /// filed under several keys can appear in several buckets; callers
    /// de-duplicate ids.
    pub fn select(
        &self,
        action_keys: &[EntityUid],
        principal_keys: &[EntityUid],
    ) -> Vec<&PolicySet> {
        let mut out = Vec::new();
        self.any_action.select(principal_keys, &mut out);
        for key in action_keys {
            if let Some(bucket) = self.by_action.get(key) {
                bucket.select(principal_keys, &mut out);
            }
        }
        out
    }
}

/// The entity a principal constraint names, if any. `is User` alone names
/// no entity and goes with the unconstrained policies.
fn principal_key(policy: &Policy) -> Option<EntityUid> {
    match policy.principal_constraint() {
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) => None,
        PrincipalConstraint::Eq(uid)
        | PrincipalConstraint::In(uid)
        | PrincipalConstraint::IsIn(_, uid) => Some(uid),
    }
}

/// The actions or groups an action constraint names (`None`: any action).
fn action_keys(policy: &Policy) -> Vec<Option<EntityUid>> {
    match policy.action_constraint() {
        ActionConstraint::Any => vec![None],
        ActionConstraint::Eq(uid) => vec![Some(uid)],
        ActionConstraint::In(mut uids) => {
            // `action in [A, A]` is legal Cedar; file the policy once.
            uids.sort();
            uids.dedup();
            uids.into_iter().map(Some).collect()
        }
    }
}
