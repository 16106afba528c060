//! A memo of translated entities: the part of a stage's Cedar input that
//! depends only on who asks, which resource and which action.
//!
//! Building the entity store (the principal with its roles and traits, the
//! resource, the action) was a quarter of a decision's time, and the proxy
//! asks about the same few principals and services over and over. What is
//! kept is a pure function of its key, and an entry is used only when its
//! whole key equals the request's (the hash only finds the candidate), so
//! a hit returns exactly what building would have: nothing here can go
//! stale. Decisions themselves are never kept; the context, the policies
//! and the locks are consulted on every request.

use std::sync::Arc;

use crate::entities::Parts;
use crate::request::{Resource, UserInfo, WorkloadInfo};
use crate::table::Cache;

/// The principal of a stage, borrowed from the request.
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) enum Who<'a> {
    /// The user stage: the human.
    User(&'a UserInfo),
    /// The profile stage: the workload.
    Workload(&'a WorkloadInfo),
}

/// [`Who`], owned by an entry.
#[derive(Debug)]
enum OwnedWho {
    User(UserInfo),
    Workload(WorkloadInfo),
}

impl OwnedWho {
    fn of(who: Who<'_>) -> Self {
        match who {
            Who::User(u) => Self::User(u.clone()),
            Who::Workload(w) => Self::Workload(w.clone()),
        }
    }

    fn is(&self, who: Who<'_>) -> bool {
        match (self, who) {
            (Self::User(mine), Who::User(theirs)) => mine == theirs,
            (Self::Workload(mine), Who::Workload(theirs)) => mine == theirs,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Entry {
    who: OwnedWho,
    resource: Resource,
    action: String,
    parts: Arc<Parts>,
}

/// The memo, shared by every clone of an engine.
#[derive(Debug, Default)]
pub(crate) struct Memo(Cache<Entry>);

impl Memo {
    /// The parts for (`who`, `resource`, `action`): the kept ones when the
    /// whole key matches, else `build`'s, kept for next time. Failures are
    /// not kept.
    pub fn get_or_build(
        &self,
        who: Who<'_>,
        resource: &Resource,
        action: &str,
        build: impl FnOnce() -> Result<Parts, String>,
    ) -> Result<Arc<Parts>, String> {
        let hash = self.0.hash((who, resource, action));
        if let Some(e) = self.0.get(hash)
            && e.who.is(who)
            && e.resource == *resource
            && e.action == action
        {
            return Ok(e.parts.clone());
        }
        let parts = Arc::new(build()?);
        let entry = Arc::new(Entry {
            who: OwnedWho::of(who),
            resource: resource.clone(),
            action: action.to_owned(),
            parts: parts.clone(),
        });
        self.0.insert(hash, entry);
        Ok(parts)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::CAPACITY;
    use airlock_core::UserName;

    fn user(name: &str, role: &str) -> UserInfo {
        UserInfo::new(UserName::new(name).unwrap(), vec![role.parse().unwrap()])
    }

    fn service(name: &str) -> Resource {
        Resource::HttpService {
            name: name.into(),
            host: "h".into(),
        }
    }

    /// Builds parts whose principal names the user, so a test can tell
    /// which build it got.
    fn build(u: &UserInfo) -> Result<Parts, String> {
        let principal = crate::schema::uid("User", u.name.as_str());
        Ok(Parts {
            entities: cedar_policy::Entities::empty(),
            principal: principal.clone(),
            resource: principal.clone(),
            principal_keys: vec![principal],
            resource_keys: Vec::new(),
        })
    }

    #[test]
    fn a_hit_needs_the_whole_key_and_a_changed_user_is_rebuilt() {
        let memo = Memo::default();
        let alice = user("alice", "dev");
        let first = memo
            .get_or_build(Who::User(&alice), &service("a"), "http.request", || {
                build(&alice)
            })
            .unwrap();
        let again = memo
            .get_or_build(Who::User(&alice), &service("a"), "http.request", || {
                panic!("built twice")
            })
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));

        // Another role, resource or action is another key.
        let promoted = user("alice", "admin");
        let mut builds = 0;
        for (who, res, action) in [
            (&promoted, service("a"), "http.request"),
            (&alice, service("b"), "http.request"),
            (&alice, service("a"), "inference.call"),
        ] {
            memo.get_or_build(Who::User(who), &res, action, || {
                builds += 1;
                build(who)
            })
            .unwrap();
        }
        assert_eq!(builds, 3);
        assert_eq!(memo.len(), 4);
    }

    #[test]
    fn failures_are_not_kept_and_the_memo_is_bounded() {
        let memo = Memo::default();
        let alice = user("alice", "dev");
        let err = memo.get_or_build(Who::User(&alice), &service("a"), "x", || Err("no".into()));
        assert_eq!(err.unwrap_err(), "no");
        assert_eq!(memo.len(), 0);
        for i in 0..CAPACITY + 10 {
            let name = format!("u{i}");
            let u = user(&name, "dev");
            memo.get_or_build(Who::User(&u), &service("a"), "x", || build(&u))
                .unwrap();
        }
        assert!(memo.len() <= CAPACITY);
    }

    /// A full memo keeps serving its working set while one-off keys pour
    /// through it: each of those evicts one entry at random, not the same
    /// few slots.
    #[test]
    fn a_working_set_survives_a_flood_of_one_off_keys() {
        let memo = Memo::default();
        let junk = |i: usize| user(&format!("junk{i}"), "dev");
        for i in 0..CAPACITY {
            let u = junk(i);
            memo.get_or_build(Who::User(&u), &service("a"), "x", || build(&u))
                .unwrap();
        }
        let hot: Vec<UserInfo> = (0..100).map(|i| user(&format!("hot{i}"), "dev")).collect();
        let mut builds = 0;
        for round in 0..20 {
            for (i, u) in hot.iter().enumerate() {
                memo.get_or_build(Who::User(u), &service("a"), "x", || {
                    builds += 1;
                    build(u)
                })
                .unwrap();
                let j = junk(CAPACITY + round * 100 + i);
                memo.get_or_build(Who::User(&j), &service("a"), "x", || build(&j))
                    .unwrap();
            }
        }
        // 100 first builds; then each of the 2,000 one-off inserts evicts a
        // given hot entry with probability 1/4,096: ~50 rebuilds expected.
        assert!(builds < 100 + 150, "{builds} builds");
        assert_eq!(memo.len(), CAPACITY);
    }
}
