//! The bounded table behind the engine's memos ([`crate::memo`],
//! [`crate::decisions`]): entries found by a 64-bit hash of their key, to be
//! compared with the whole key by the caller before use.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Entries kept per table: enough for every (principal, resource) pair, or
/// every distinct request of a second, that a busy node sees; few enough
/// that egress to many hosts cannot grow it without bound.
pub(crate) const CAPACITY: usize = 4096;

/// A table shared by every clone of an engine.
pub(crate) struct Cache<E> {
    table: Mutex<Table<E>>,
    hasher: std::hash::RandomState,
}

impl<E> Default for Cache<E> {
    fn default() -> Self {
        Self {
            table: Mutex::new(Table::default()),
            hasher: std::hash::RandomState::new(),
        }
    }
}

impl<E> std::fmt::Debug for Cache<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.len())
            .finish()
    }
}

impl<E> Cache<E> {
    /// The hash an entry for `key` is stored under.
    pub fn hash(&self, key: impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry stored under `hash`, if any: a candidate, whose key the
    /// caller must compare.
    pub fn get(&self, hash: u64) -> Option<Arc<E>> {
        self.lock().get(hash)
    }

    /// Stores `entry` under `hash`, replacing what was there or, when the
    /// table is full, an entry picked at random.
    pub fn insert(&self, hash: u64, entry: Arc<E>) {
        let evicted = self.lock().insert(hash, entry);
        // Freed after the lock is released.
        drop(evicted);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// The table; nothing in it panics while holding the lock (no
    /// allocation failure aside), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Table<E>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The entries, in slots that a full table replaces at random: a hot entry
/// is evicted by one insert in [`CAPACITY`], so a working set survives a
/// flood of one-off keys (evicting "the first in the table" instead let
/// new entries in its low buckets be evicted by the very next insert).
struct Table<E> {
    index: HashMap<u64, usize>,
    slots: Vec<(u64, Arc<E>)>,
    /// State of the generator that picks the slot to replace.
    seed: u64,
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            seed: 0,
        }
    }
}

impl<E> Table<E> {
    fn get(&self, hash: u64) -> Option<Arc<E>> {
        self.index.get(&hash).map(|&i| self.slots[i].1.clone())
    }

    /// Stores `entry` under `hash`; returns the entry it displaced, if any.
    fn insert(&mut self, hash: u64, entry: Arc<E>) -> Option<Arc<E>> {
        if let Some(&i) = self.index.get(&hash) {
            return Some(std::mem::replace(&mut self.slots[i].1, entry));
        }
        if self.slots.len() < CAPACITY {
            self.index.insert(hash, self.slots.len());
            self.slots.push((hash, entry));
            return None;
        }
        let victim = self.next_victim();
        let (old_hash, old) = std::mem::replace(&mut self.slots[victim], (hash, entry));
        self.index.remove(&old_hash);
        self.index.insert(hash, victim);
        Some(old)
    }

    /// A slot index, uniformly at random (a 64-bit LCG's high bits; this
    /// only spreads evictions, nothing relies on it being unpredictable).
    fn next_victim(&mut self) -> usize {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.seed >> 32) as usize) % self.slots.len()
    }
}
