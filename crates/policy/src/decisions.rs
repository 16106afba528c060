//! A memo of whole decisions, per engine.
//!
//! A decision is a pure function of the engine (its policy set and
//! profiles, both immutable) and the request (principal with roles and
//! traits, action, resource, context with its `time`): the crate reads no
//! clock, no files and no state. So an engine may answer a request it has
//! answered before with the same decision, and the proxy, which asks the
//! same question for every request of a busy agent (the context's time is
//! in seconds), skips Cedar for all but the first of each second. An entry
//! is used only when the whole request equals the kept one (the hash only
//! finds the candidate), a changed policy set or profile is a new engine
//! with an empty memo, and what the engine does not decide (locks, a
//! sandbox's end) its caller checks on every request.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

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
#[derive(Debug, Default)]
pub(crate) struct Decisions(Cache<Entry>);

impl Decisions {
    /// The decision kept for a request equal to `req`, else `decide`'s,
    /// kept for next time.
    pub fn get_or_decide(&self, req: &Request, decide: impl FnOnce() -> Decision) -> Decision {
        if context_bytes(req) > MAX_CONTEXT_BYTES {
            return decide();
        }
        let hash = self.0.hash(Key(req));
        if let Some(e) = self.0.get(hash)
            && e.request == *req
        {
            return e.decision.clone();
        }
        let decision = decide();
        let entry = Entry {
            request: req.clone(),
            decision: decision.clone(),
        };
        self.0.insert(hash, Arc::new(entry));
        decision
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
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
        assert_eq!(decide(&memo, &first, &n).reason, "/a");
        assert_eq!(decide(&memo, &first.clone(), &n).reason, "/a");
        assert_eq!(n.get(), 1);

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
            let before = n.get();
            let got = decide(&memo, &other, &n);
            assert_eq!(n.get(), before + 1, "{other:?} was answered from the memo");
            assert_eq!(
                got.reason,
                other.context.get("path").unwrap().as_str().unwrap()
            );
        }
        assert_eq!(memo.len(), 6);
    }

    #[test]
    fn large_contexts_are_not_kept_and_the_memo_is_bounded() {
        let memo = Decisions::default();
        let n = Cell::new(0);
        let big = request("alice", &"/x".repeat(MAX_CONTEXT_BYTES), 100);
        decide(&memo, &big, &n);
        decide(&memo, &big, &n);
        assert_eq!((n.get(), memo.len()), (2, 0));
        for t in 0..(CAPACITY as i64 + 10) {
            decide(&memo, &request("alice", "/a", t), &n);
        }
        assert_eq!(memo.len(), CAPACITY);
    }
}
