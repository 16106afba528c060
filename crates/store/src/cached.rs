//! A read-through cache, over any store, of the two lookups that every
//! authenticated API call and every proxied request makes: a user by name
//! and a sandbox by id. Without it each proxied request takes the store's
//! lock twice.
//!
//! Every write through the cache drops what it changes before returning, so
//! a removed user or an ended sandbox is never answered from memory. A
//! reader that raced with such a write does not put its (possibly older)
//! row back: each map has a generation that writes bump, and a row read
//! under an older generation is not kept. The data directory has a single
//! writer (its server), so nothing changes the rows behind the cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

use airlock_core::{RoleName, SandboxId, SandboxName, UserName};
use time::OffsetDateTime;

use crate::{
    Lock, PolicyFile, ResourceRecord, Result, RoleRecord, SandboxRecord, SandboxState,
    SecretRecord, SessionRecord, Store, UserRecord,
};

/// Entries kept per map before it is emptied (sandboxes accumulate).
const MAX_ENTRIES: usize = 50_000;

/// One cached lookup: key -> row (or the row's absence).
struct Lookup<K, V> {
    map: RwLock<(u64, HashMap<K, Option<V>>)>,
}

impl<K: Eq + Hash + Clone, V: Clone> Lookup<K, V> {
    fn new() -> Self {
        Self {
            map: RwLock::new((0, HashMap::new())),
        }
    }

    fn get(&self, key: &K, read: impl FnOnce() -> Result<Option<V>>) -> Result<Option<V>> {
        let generation = {
            let m = self.map.read().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = m.1.get(key) {
                return Ok(hit.clone());
            }
            m.0
        };
        let row = read()?;
        let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
        if m.0 == generation {
            if m.1.len() >= MAX_ENTRIES {
                m.1.clear();
            }
            m.1.insert(key.clone(), row.clone());
        }
        Ok(row)
    }

    /// Called after the store changed `key`.
    fn forget(&self, key: &K) {
        let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
        m.0 = m.0.wrapping_add(1);
        m.1.remove(key);
    }
}

/// `inner` with user and sandbox lookups answered from memory.
pub struct CachedStore<S> {
    inner: S,
    users: Lookup<UserName, UserRecord>,
    sandboxes: Lookup<SandboxId, SandboxRecord>,
}

impl<S> std::fmt::Debug for CachedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedStore")
    }
}

impl<S: Store> CachedStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            users: Lookup::new(),
            sandboxes: Lookup::new(),
        }
    }
}

impl<S: Store> Store for CachedStore<S> {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.inner.meta(key)
    }
    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.inner.set_meta(key, value)
    }

    fn add_user(&self, user: &UserRecord) -> Result<()> {
        let done = self.inner.add_user(user);
        self.users.forget(&user.name);
        done
    }
    fn user(&self, name: &UserName) -> Result<Option<UserRecord>> {
        self.users.get(name, || self.inner.user(name))
    }
    fn users(&self) -> Result<Vec<UserRecord>> {
        self.inner.users()
    }
    fn remove_user(&self, name: &UserName) -> Result<()> {
        let done = self.inner.remove_user(name);
        self.users.forget(name);
        done
    }

    fn put_role(&self, role: &RoleRecord) -> Result<()> {
        self.inner.put_role(role)
    }
    fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>> {
        self.inner.role(name)
    }
    fn roles(&self) -> Result<Vec<RoleRecord>> {
        self.inner.roles()
    }

    fn add_lock(&self, lock: &Lock) -> Result<()> {
        self.inner.add_lock(lock)
    }
    fn locks(&self) -> Result<Vec<Lock>> {
        self.inner.locks()
    }
    fn remove_lock(&self, id: &str) -> Result<()> {
        self.inner.remove_lock(id)
    }

    fn add_session(&self, session: &SessionRecord) -> Result<()> {
        self.inner.add_session(session)
    }
    fn sessions(&self, user: &UserName) -> Result<Vec<SessionRecord>> {
        self.inner.sessions(user)
    }

    fn add_sandbox(&self, sandbox: &SandboxRecord) -> Result<()> {
        let done = self.inner.add_sandbox(sandbox);
        self.sandboxes.forget(&sandbox.id);
        done
    }
    fn sandbox(&self, id: &SandboxId) -> Result<Option<SandboxRecord>> {
        self.sandboxes.get(id, || self.inner.sandbox(id))
    }
    fn live_sandbox_named(
        &self,
        owner: &UserName,
        name: &SandboxName,
    ) -> Result<Option<SandboxRecord>> {
        self.inner.live_sandbox_named(owner, name)
    }
    fn sandboxes(&self, owner: Option<&UserName>, live_only: bool) -> Result<Vec<SandboxRecord>> {
        self.inner.sandboxes(owner, live_only)
    }
    fn set_sandbox_state(
        &self,
        id: &SandboxId,
        state: SandboxState,
        at: OffsetDateTime,
    ) -> Result<()> {
        let done = self.inner.set_sandbox_state(id, state, at);
        self.sandboxes.forget(id);
        done
    }
    fn next_expiry(&self) -> Result<Option<OffsetDateTime>> {
        self.inner.next_expiry()
    }

    fn policy_files(&self) -> Result<Vec<PolicyFile>> {
        self.inner.policy_files()
    }
    fn replace_policy_files(&self, files: &[PolicyFile]) -> Result<()> {
        self.inner.replace_policy_files(files)
    }
    fn profiles(&self) -> Result<Vec<(String, String)>> {
        self.inner.profiles()
    }
    fn put_profile(&self, name: &str, text: &str) -> Result<()> {
        self.inner.put_profile(name, text)
    }
    fn remove_profile(&self, name: &str) -> Result<()> {
        self.inner.remove_profile(name)
    }
    fn put_secret(&self, secret: &SecretRecord) -> Result<()> {
        self.inner.put_secret(secret)
    }
    fn secrets(&self) -> Result<Vec<SecretRecord>> {
        self.inner.secrets()
    }
    fn remove_secret(&self, name: &str) -> Result<()> {
        self.inner.remove_secret(name)
    }
    fn add_resource(&self, resource: &ResourceRecord) -> Result<()> {
        self.inner.add_resource(resource)
    }
    fn resources(&self) -> Result<Vec<ResourceRecord>> {
        self.inner.resources()
    }
    fn remove_resource(&self, name: &str) -> Result<()> {
        self.inner.remove_resource(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_read_while_a_write_changed_it_is_not_kept() {
        let l: Lookup<u32, &str> = Lookup::new();
        // The write lands between the reader's miss and its insert.
        let got = l
            .get(&1, || {
                l.forget(&1);
                Ok(Some("old"))
            })
            .unwrap();
        assert_eq!(got, Some("old"), "the caller gets what it read");
        let again = l.get(&1, || Ok(Some("new"))).unwrap();
        assert_eq!(again, Some("new"), "but the old row was not kept");
        assert_eq!(l.get(&1, || Ok(None)).unwrap(), Some("new"), "a hit");
    }
}
