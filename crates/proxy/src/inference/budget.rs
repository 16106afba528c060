//! Per-identity budgets on inference endpoints: requests per minute (a
//! sliding 60-second window) and tokens per UTC day (spent from the usage
//! responses report). Kept in memory: a restart of the proxy starts every
//! budget afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::caller::Caller;
use crate::resource::{BudgetScope, Budgets};

const WINDOW: Duration = Duration::from_secs(60);

/// Whose budget on which endpoint a request spends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Charge {
    endpoint: String,
    identity: String,
}

impl Charge {
    /// The budget key of `caller` on `endpoint` under `scope`.
    pub fn new(endpoint: &str, caller: &Caller, scope: BudgetScope) -> Self {
        let identity = match scope {
            BudgetScope::User => format!("user:{}", caller.user),
            BudgetScope::Workload => format!("workload:{}", caller.workload),
        };
        Self {
            endpoint: endpoint.to_owned(),
            identity,
        }
    }
}

/// Why a budget refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Too many requests in the last minute; the oldest leaves the window after `retry_after`.
    Rate { limit: u32, retry_after: Duration },
    /// Today's tokens are spent.
    Tokens { limit: u64, used: u64 },
}

#[derive(Default)]
struct Counters {
    recent: VecDeque<Instant>,
    day: u64,
    tokens: u64,
}

/// Every identity's counters.
#[derive(Default)]
pub(crate) struct BudgetBook {
    counters: Mutex<HashMap<Charge, Counters>>,
}

impl BudgetBook {
    /// Admits one request under `limits` (and counts it) or says why not.
    pub fn admit(
        &self,
        charge: &Charge,
        limits: &Budgets,
        now: Instant,
        today: u64,
    ) -> Result<(), Refusal> {
        if limits.requests_per_minute.is_none() && limits.tokens_per_day.is_none() {
            return Ok(());
        }
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(charge.clone()).or_default();
        roll_day(c, today);
        if let Some(limit) = limits.tokens_per_day
            && c.tokens >= limit
        {
            return Err(Refusal::Tokens {
                limit,
                used: c.tokens,
            });
        }
        if let Some(limit) = limits.requests_per_minute {
            while c
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                c.recent.pop_front();
            }
            if c.recent.len() >= limit as usize {
                let oldest = c.recent.front().copied().unwrap_or(now);
                let retry_after = WINDOW.saturating_sub(now.duration_since(oldest));
                return Err(Refusal::Rate { limit, retry_after });
            }
            c.recent.push_back(now);
        }
        Ok(())
    }

    /// Spends `tokens` from today's budget.
    pub fn spend(&self, charge: &Charge, tokens: u64) {
        self.spend_on(charge, tokens, utc_day(SystemTime::now()));
    }

    fn spend_on(&self, charge: &Charge, tokens: u64, today: u64) {
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(charge.clone()).or_default();
        roll_day(c, today);
        c.tokens = c.tokens.saturating_add(tokens);
    }
}

fn roll_day(c: &mut Counters, today: u64) {
    if c.day != today {
        c.day = today;
        c.tokens = 0;
    }
}

/// Days since the Unix epoch, UTC.
pub(crate) fn utc_day(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge() -> Charge {
        Charge {
            endpoint: "openai".into(),
            identity: "user:alice".into(),
        }
    }

    #[test]
    fn requests_per_minute_slide() {
        let book = BudgetBook::default();
        let limits = Budgets {
            requests_per_minute: Some(2),
            ..Default::default()
        };
        let t0 = Instant::now();
        assert!(book.admit(&charge(), &limits, t0, 1).is_ok());
        assert!(
            book.admit(&charge(), &limits, t0 + Duration::from_secs(10), 1)
                .is_ok()
        );
        let refused = book.admit(&charge(), &limits, t0 + Duration::from_secs(20), 1);
        assert_eq!(
            refused,
            Err(Refusal::Rate {
                limit: 2,
                retry_after: Duration::from_secs(40)
            })
        );
        assert!(
            book.admit(&charge(), &limits, t0 + Duration::from_secs(60), 1)
                .is_ok()
        );
    }

    #[test]
    fn tokens_per_day_reset_at_midnight() {
        let book = BudgetBook::default();
        let limits = Budgets {
            tokens_per_day: Some(100),
            ..Default::default()
        };
        let now = Instant::now();
        assert!(book.admit(&charge(), &limits, now, 7).is_ok());
        book.spend_on(&charge(), 60, 7);
        assert!(book.admit(&charge(), &limits, now, 7).is_ok());
        book.spend_on(&charge(), 40, 7);
        assert_eq!(
            book.admit(&charge(), &limits, now, 7),
            Err(Refusal::Tokens {
                limit: 100,
                used: 100
            })
        );
        assert!(book.admit(&charge(), &limits, now, 8).is_ok());
    }
}
