//! Failed-login throttling: a sliding window of failures per key (a user
//! name, or a source address). Sans-IO: the caller passes `now`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Counts recent failures per key and refuses keys with too many.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: usize,
    window: Duration,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl FailureLimiter {
    /// Allows at most `max_failures` failures per key within `window`.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: HashMap::new(),
        }
    }

    /// `Err(wait)` if `key` has used up its failures; `wait` is how long until
    /// the oldest one leaves the window.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(q) = self.failures.get_mut(key) else {
            return Ok(());
        };
        prune(q, now, self.window);
        if q.len() < self.max_failures {
            return Ok(());
        }
        let oldest = q.front().copied().unwrap_or(now);
        Err(self.window.saturating_sub(now.duration_since(oldest)))
    }

    /// Records one failure for `key`.
    pub fn record_failure(&mut self, key: &str, now: Instant) {
        let q = self.failures.entry(key.to_owned()).or_default();
        prune(q, now, self.window);
        q.push_back(now);
        // Bound memory against a flood of distinct keys: forget keys whose
        // failures all left the window.
        if self.failures.len() > 10_000 {
            let window = self.window;
            self.failures.retain(|_, q| {
                prune(q, now, window);
                !q.is_empty()
            });
        }
    }

    /// Forgets `key`'s failures (after a successful login).
    pub fn reset(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_recovers_after_window() {
        let t0 = Instant::now();
        let mut l = FailureLimiter::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert!(l.check("alice", t0).is_ok(), "attempt {i}");
            l.record_failure("alice", t0 + Duration::from_secs(i));
        }
        let wait = l.check("alice", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(l.check("bob", t0).is_ok(), "other keys unaffected");
        assert!(l.check("alice", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn reset_clears() {
        let t0 = Instant::now();
        let mut l = FailureLimiter::new(1, Duration::from_secs(60));
        l.record_failure("k", t0);
        assert!(l.check("k", t0).is_err());
        l.reset("k");
        assert!(l.check("k", t0).is_ok());
    }
}
