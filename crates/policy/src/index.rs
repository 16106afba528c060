//! An index over a policy set's scopes, so a decision evaluates only the
//! policies that could apply to it.
//!
//! Cedar's authorizer evaluates every policy of the set it is given. With a
//! thousand per-user and per-role policies that costs far more than the
//! 50 µs budget, although almost all of them fail on their scope. So the
//! loader files each policy under the three parts of its scope: its action
//! constraint (an action, an action group, or "any"), its principal
//! constraint (a user, a role, or "any") and its resource constraint (a
//! resource, an MCP server, or "any"); a decision evaluates the buckets its
//! keys select: the action and its groups, the principal and its roles, the
//! resource and its parents.
//!
//! Why this is exact: a policy's scope is part of its condition, and Cedar
//! checks the scope before the body, so a policy whose scope cannot match is
//! never satisfied and never errors. A policy lands in no selected bucket
//! only if one of its constraints names an entity that is neither the
//! request's nor one of its ancestors; that constraint is then false. (`is`
//! constraints are filed under "any": they are checked by evaluation.)
//! Combining buckets is exact too: Cedar denies if any forbid holds and
//! allows if any permit holds, both unions over policies. A property test
//! compares this with evaluating the whole set.

use std::collections::HashMap;

use cedar_policy::{
    ActionConstraint, EntityUid, Policy, PolicySet, PrincipalConstraint, ResourceConstraint,
};

/// Buckets keyed by action, then principal, then resource.
#[derive(Debug, Default)]
pub(crate) struct Index(Slots<Slots<Slots<PolicySet>>>);

/// One level of the index: what an unconstrained scope part files under,
/// and what a constraint naming an entity files under.
#[derive(Debug)]
struct Slots<T> {
    any: Option<T>,
    by: HashMap<EntityUid, T>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            any: None,
            by: HashMap::new(),
        }
    }
}

impl<T: Default> Slots<T> {
    fn entry(&mut self, key: Option<EntityUid>) -> &mut T {
        match key {
            None => self.any.get_or_insert_with(T::default),
            Some(uid) => self.by.entry(uid).or_default(),
        }
    }
}

impl<T> Slots<T> {
    /// The unconstrained bucket and the buckets of `keys`.
    fn matching<'a>(&'a self, keys: &'a [EntityUid]) -> impl Iterator<Item = &'a T> + 'a {
        self.any
            .iter()
            .chain(keys.iter().filter_map(|k| self.by.get(k)))
    }
}

/// The keys of one request: each entity and its ancestors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'a> {
    pub action: &'a [EntityUid],
    pub principal: &'a [EntityUid],
    pub resource: &'a [EntityUid],
}

impl Index {
    /// Files every policy of `set`.
    pub fn build(set: &PolicySet) -> Self {
        let mut index = Self::default();
        for policy in set.policies() {
            let (principal, resource) = (principal_key(policy), resource_key(policy));
            for action in action_keys(policy) {
                let bucket = index
                    .0
                    .entry(action)
                    .entry(principal.clone())
                    .entry(resource.clone());
                // Ids are unique in the source set and action keys are
                // de-duplicated, so adding cannot collide.
                bucket.add(policy.clone()).expect("policy ids are unique");
            }
        }
        index
    }

    /// The buckets a request may be decided by. A policy filed under
    /// several action keys can appear in several buckets; callers
    /// de-duplicate ids.
    pub fn select<'a>(&'a self, keys: Keys<'a>) -> impl Iterator<Item = &'a PolicySet> + 'a {
        self.0
            .matching(keys.action)
            .flat_map(move |by_principal| by_principal.matching(keys.principal))
            .flat_map(move |by_resource| by_resource.matching(keys.resource))
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

/// The entity a resource constraint names, if any.
fn resource_key(policy: &Policy) -> Option<EntityUid> {
    match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
        ResourceConstraint::Eq(uid)
        | ResourceConstraint::In(uid)
        | ResourceConstraint::IsIn(_, uid) => Some(uid),
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
