//! A memo of whole decisions, per engine.
//!
//! A decision is a pure function of the engine (its policy set and
//! profiles, both immutable) and the request (principal with roles and
//! traits, action, resource, context with its `time`): the crate reads no
//! clock, no files and no state. So an engine may answer a request it has
//! answered before with the same decision, and the proxy, which asks the
//! same question for every request of a busy agent (the context's time is
//! in seconds), skips Cedar for all but the first two of each second. An entry
//! is used only when the whole request equals the kept one (the hash only
//! finds the candidate), a changed policy set or profile is a new engine
//! with an empty memo, and what the engine does not decide (locks, a
//! sandbox's end) its caller checks on every request.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use airlock_core::Decision;
use serde_json::Value;

use crate::request::Request;
use crate::table::Cache;

/// Requests whose context strings add up to more than this are decided
/// without the memo: a table of 4,096 SQL statements or commands could
/// hold gigabytes, and such requests rarely repeat anyway.
const MAX_CONTEXT_BYTES: usize = 1024;

struct Entry {
    request: Request,
    decision: Decision,
}

/// The decisions of one engine.
#[derive(Debug)]
pub(crate) struct Decisions {
    kept: Cache<Entry>,
    /// The requests seen lately, as a Bloom filter of their hashes: a
    /// decision is kept only when its request comes a second time, so
    /// requests that never repeat (each with a path of its own, say) cost
    /// two bits, not a copy of the request and an eviction. (A table of one
    /// hash per slot was tried first: two requests sharing a slot pushed
    /// each other out forever, and neither was ever kept.)
    seen: Box<[AtomicU64]>,
    /// Requests noted since the filter was last cleared.
    noted: AtomicUsize,
}

/// Bits of [`Decisions::seen`] (8 KiB).
const SEEN_BITS: usize = 1 << 16;
/// Requests noted before the filter is cleared: it then has about a fifth
/// of its bits set, so about one request in twenty seen once is kept as
/// if seen twice (which only costs its copy).
const SEEN_RESET: usize = SEEN_BITS / 8;

impl Default for Decisions {
    fn default() -> Self {
        Self {
            kept: Cache::default(),
            seen: (0..SEEN_BITS / 64).map(|_| AtomicU64::new(0)).collect(),
            noted: AtomicUsize::new(0),
        }
    }
}

impl Decisions {
    /// The decision kept for a request equal to `req`, else `decide`'s,
    /// kept for next time when the request has come before.
    pub fn get_or_decide(&self, req: &Request, decide: impl FnOnce() -> Decision) -> Decision {
        if context_bytes(req) > MAX_CONTEXT_BYTES {
            return decide();
        }
        let hash = self.kept.hash(Key(req));
        if let Some(e) = self.kept.get(hash)
            && e.request == *req
        {
            return e.decision.clone();
        }
        let decision = decide();
        if self.seen_before(hash) {
            let entry = Entry {
                request: req.clone(),
                decision: decision.clone(),
            };
            self.kept.insert(hash, Arc::new(entry));
        }
        decision
    }

    /// Whether a request with this hash came recently; notes it if not.
    /// Racy by design: a lost or stray bit only changes which decisions
    /// are kept, never what is decided.
    fn seen_before(&self, hash: u64) -> bool {
        let bits = [hash as usize % SEEN_BITS, (hash >> 32) as usize % SEEN_BITS];
        let word = |b: usize| (&self.seen[b / 64], 1u64 << (b % 64));
        let seen = bits.iter().all(|&b| {
            let (w, mask) = word(b);
            w.load(Ordering::Relaxed) & mask != 0
        });
        if !seen {
            for b in bits {
                let (w, mask) = word(b);
                w.fetch_or(mask, Ordering::Relaxed);
            }
            if self.noted.fetch_add(1, Ordering::Relaxed) + 1 >= SEEN_RESET {
                self.noted.store(0, Ordering::Relaxed);
                for w in self.seen.iter() {
                    w.store(0, Ordering::Relaxed);
                }
            }
        }
        seen
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.kept.len()
    }
}

/// Hashes a whole request. The context's attributes go in the map's order:
/// equal contexts built in another order hash apart and only miss.
struct Key<'a>(&'a Request);

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let r = self.0;
        r.principal.hash(state);
        r.action.hash(state);
        r.resource.hash(state);
        for (k, v) in r.context.as_map() {
            k.hash(state);
            v.hash(state);
        }
    }
}

/// The bytes of the context's strings (keys and values).
fn context_bytes(req: &Request) -> usize {
    req.context
        .as_map()
        .iter()
        .map(|(k, v)| k.len() + value_bytes(v))
        .sum()
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(value_bytes).sum(),
        Value::Object(o) => o.iter().map(|(k, v)| k.len() + value_bytes(v)).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use airlock_core::UserName;

    use super::*;
    use crate::request::{Context, Principal, Resource, UserInfo};
    use crate::table::CAPACITY;

    fn request(user: &str, path: &str, time: i64) -> Request {
        let user = UserInfo::new(UserName::new(user).unwrap(), vec!["dev".parse().unwrap()]);
        Request::new(
            Principal::User(user),
            "http.request",
            Resource::HttpService {
                name: "git".into(),
                host: "git.example".into(),
            },
            Context::at(time).with("method", "GET").with("path", path),
        )
    }

    /// Decides through the memo, counting evaluations; the decision names
    /// the request's path so a test can tell whose decision it got.
    fn decide(memo: &Decisions, req: &Request, evaluations: &Cell<usize>) -> Decision {
        memo.get_or_decide(req, || {
            evaluations.set(evaluations.get() + 1);
            let path = req.context.get("path").unwrap().as_str().unwrap();
            Decision::allow(path, vec!["p".into()])
        })
    }

    #[test]
    fn only_an_equal_request_is_answered_from_the_memo() {
        let memo = Decisions::default();
        let n = Cell::new(0);
        let first = request("alice", "/a", 100);
        // Kept from its second sighting on.
        for _ in 0..4 {
            assert_eq!(decide(&memo, &first.clone(), &n).reason, "/a");
        }
        assert_eq!(n.get(), 2);

        // Another second, path, user, role or resource is another request.
        let mut promoted = first.clone();
        if let Principal::User(u) = &mut promoted.principal {
            u.roles.push("admin".parse().unwrap());
        }
        let mut elsewhere = first.clone();
        elsewhere.resource = Resource::HttpService {
            name: "git".into(),
            host: "other.example".into(),
        };
        for other in [
            request("alice", "/a", 101),
            request("alice", "/b", 100),
            request("bob", "/a", 100),
            promoted,
            elsewhere,
        ] {
            // Evaluated on its first and second sighting, then kept.
            for _ in 0..2 {
                let before = n.get();
                let got = decide(&memo, &other, &n);
                assert_eq!(n.get(), before + 1, "{other:?} was answered from the memo");
                assert_eq!(
                    got.reason,
                    other.context.get("path").unwrap().as_str().unwrap()
                );
            }
        }
        assert_eq!(memo.len(), 6);
        // A request seen once is not kept.
        decide(&memo, &request("carol", "/a", 100), &n);
        assert_eq!(memo.len(), 6);
    }

    /// Requests taking turns are all kept from their second round on, and
    /// answered from the memo after that (a one-hash-per-slot filter lost
    /// the pairs that shared a slot: about 30 of 512).
    #[test]
    fn a_working_set_taking_turns_is_kept_whole() {
        let memo = Decisions::default();
        let n = Cell::new(0);
        let set: Vec<Request> = (0..512).map(|t| request("alice", "/a", t)).collect();
        let round = || {
            for r in &set {
                decide(&memo, r, &n);
            }
        };
        round();
        round();
        // Each evaluated twice, or once when the filter (falsely, rarely)
        // took it for seen.
        let evaluated = n.get();
        assert!((1000..=1024).contains(&evaluated), "{evaluated}");
        assert_eq!(memo.len(), 512);
        round();
        round();
        assert_eq!(n.get(), evaluated);
    }

    #[test]
    fn large_contexts_are_not_kept_and_the_memo_is_bounded() {
        // (Each request is decided twice below: a decision is kept from
        // its request's second sighting.)
        let memo = Decisions::default();
        let n = Cell::new(0);
        let big = request("alice", &"/x".repeat(MAX_CONTEXT_BYTES), 100);
        decide(&memo, &big, &n);
        decide(&memo, &big, &n);
        assert_eq!((n.get(), memo.len()), (2, 0));
        for t in 0..(CAPACITY as i64 + 10) {
            decide(&memo, &request("alice", "/a", t), &n);
            decide(&memo, &request("alice", "/a", t), &n);
        }
        assert_eq!(memo.len(), CAPACITY);
    }
}
