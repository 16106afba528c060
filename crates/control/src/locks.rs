//! The in-memory view of locks that every authentication consults.
//!
//! Lock changes made through this server refresh the view before the change
//! is acknowledged, so they take effect on the very next request; a
//! background refresh every 500 ms picks up anything else that wrote the
//! store, which keeps the "refused within one second" promise.

use std::sync::{Arc, RwLock};

use airlock_core::Claims;
use airlock_store::{Lock, LockTarget, Store};
use time::OffsetDateTime;

/// Shared, cheaply cloneable lock view.
#[derive(Debug, Clone, Default)]
pub struct LockCache {
    locks: Arc<RwLock<Vec<Lock>>>,
}

impl LockCache {
    /// Reloads all locks from the store.
    pub fn refresh(&self, store: &dyn Store) -> Result<(), airlock_store::StoreError> {
        let fresh = store.locks()?;
        *self.locks.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The first active lock that covers the subject of `claims`, if any.
    pub fn find(&self, claims: &Claims, now: OffsetDateTime) -> Option<Lock> {
        let locks = self.locks.read().unwrap_or_else(|p| p.into_inner());
        locks
            .iter()
            .find(|l| l.is_active(now) && covers(&l.target, claims))
            .cloned()
    }

    /// The first active lock on exactly this target.
    pub fn find_target(&self, target: &LockTarget, now: OffsetDateTime) -> Option<Lock> {
        let locks = self.locks.read().unwrap_or_else(|p| p.into_inner());
        locks
            .iter()
            .find(|l| l.is_active(now) && &l.target == target)
            .cloned()
    }
}

/// Whether a lock on `target` refuses a subject with `claims`. A user lock
/// also covers every sandbox and workload acting for that user: no one hides
/// behind an agent.
fn covers(target: &LockTarget, claims: &Claims) -> bool {
    match target {
        LockTarget::User(u) => claims.user.as_ref() == Some(u),
        LockTarget::Session(s) => claims.session.as_ref() == Some(s),
        LockTarget::Sandbox(s) => claims.sandbox.as_ref() == Some(s),
    }
}

/// Describes a lock for an error message.
pub fn describe(lock: &Lock) -> String {
    match &lock.reason {
        Some(r) => format!("{} is locked ({r})", lock.target),
        None => format!("{} is locked", lock.target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::{IsolationClass, SandboxId, SessionId, UserName};
    use airlock_store::SqliteStore;

    fn lock(target: LockTarget, expires: Option<OffsetDateTime>) -> Lock {
        Lock {
            id: format!("lk-{}", target.name()),
            target,
            reason: None,
            created_by: "admin".into(),
            created: OffsetDateTime::UNIX_EPOCH,
            expires,
        }
    }

    #[test]
    fn user_lock_covers_their_workloads() {
        let store = SqliteStore::in_memory().unwrap();
        let alice = UserName::new("alice").unwrap();
        store
            .add_lock(&lock(LockTarget::User(alice.clone()), None))
            .unwrap();
        let cache = LockCache::default();
        cache.refresh(&store).unwrap();
        let now = OffsetDateTime::now_utc();
        let workload = Claims::workload(
            alice.clone(),
            SandboxId::new("sb-1").unwrap(),
            IsolationClass::Runc,
            None,
        );
        assert!(cache.find(&workload, now).is_some());
        let bob = Claims::user(
            UserName::new("bob").unwrap(),
            vec![],
            SessionId::from_random([1; 16]),
        );
        assert!(cache.find(&bob, now).is_none());
    }

    #[test]
    fn expired_locks_do_not_refuse() {
        let store = SqliteStore::in_memory().unwrap();
        let sess = SessionId::from_random([2; 16]);
        let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        store
            .add_lock(&lock(LockTarget::Session(sess.clone()), Some(past)))
            .unwrap();
        let cache = LockCache::default();
        cache.refresh(&store).unwrap();
        let claims = Claims::user(UserName::new("carol").unwrap(), vec![], sess);
        assert!(cache.find(&claims, OffsetDateTime::now_utc()).is_none());
    }
}
