//! Per-identity budgets on inference endpoints: requests per minute (a
//! sliding 60-second window) and tokens per UTC day (spent from the usage
//! responses report). Kept in memory; the day's spending survives a restart
//! because the control plane re-spends it from the audit log, where every
//! inference call's usage is recorded ([`BudgetBook::restore`]). The minute
//! window starts afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use airlock_audit::{AuditEvent, EventCode};

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
            BudgetScope::User => user_identity(&caller.user),
            BudgetScope::Workload => workload_identity(&caller.workload),
        };
        Self {
            endpoint: endpoint.to_owned(),
            identity,
        }
    }
}

/// The budget key of a user, whichever workload acts for them.
fn user_identity(user: &impl std::fmt::Display) -> String {
    format!("user:{user}")
}

/// The budget key of one workload.
fn workload_identity(workload: &impl std::fmt::Display) -> String {
    format!("workload:{workload}")
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

    /// Re-spends the tokens an earlier run recorded for an inference call
    /// (an `inference.call` audit event) if it was made today, under both
    /// identities it could have been charged to (which one counts is the
    /// endpoint's scope). Returns whether anything was spent.
    pub fn restore(&self, event: &AuditEvent, now: SystemTime) -> bool {
        let Some(spent) = Spent::from_event(event) else {
            return false;
        };
        let today = utc_day(now);
        if spent.day != today || spent.tokens == 0 {
            return false;
        }
        for identity in spent.identities {
            let charge = Charge {
                endpoint: spent.endpoint.clone(),
                identity,
            };
            self.spend_on(&charge, spent.tokens, today);
        }
        true
    }

    fn spend_on(&self, charge: &Charge, tokens: u64, today: u64) {
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(charge.clone()).or_default();
        roll_day(c, today);
        c.tokens = c.tokens.saturating_add(tokens);
    }
}

/// What one recorded inference call spent.
struct Spent {
    endpoint: String,
    identities: Vec<String>,
    tokens: u64,
    day: u64,
}

impl Spent {
    fn from_event(ev: &AuditEvent) -> Option<Self> {
        if ev.code != EventCode::InferenceCall {
            return None;
        }
        let detail = |k: &str| ev.details.get(k).and_then(serde_json::Value::as_u64);
        let tokens = detail("input_tokens")
            .unwrap_or(0)
            .saturating_add(detail("output_tokens").unwrap_or(0));
        let endpoint = ev.details.get("endpoint")?.as_str()?.to_owned();
        let identities = [
            ev.user.as_ref().map(user_identity),
            ev.workload.as_ref().map(workload_identity),
        ];
        Some(Self {
            endpoint,
            identities: identities.into_iter().flatten().collect(),
            tokens,
            day: utc_day(SystemTime::from(ev.time)),
        })
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

    fn recorded_call(at: SystemTime, tokens: (u64, u64)) -> AuditEvent {
        AuditEvent::new(EventCode::InferenceCall)
            .at(time::OffsetDateTime::from(at))
            .user(airlock_core::UserName::new("alice").unwrap())
            .detail("endpoint", "openai")
            .detail("input_tokens", tokens.0)
            .detail("output_tokens", tokens.1)
    }

    #[test]
    fn todays_recorded_usage_is_spent_again_and_older_usage_is_not() {
        let book = BudgetBook::default();
        let limits = Budgets {
            tokens_per_day: Some(100),
            ..Default::default()
        };
        let now = SystemTime::now();
        let today = utc_day(now);
        let yesterday = now - Duration::from_secs(86_400);
        assert!(!book.restore(&recorded_call(yesterday, (500, 500)), now));
        assert!(book.restore(&recorded_call(now, (70, 30)), now));
        assert_eq!(
            book.admit(&charge(), &limits, Instant::now(), today),
            Err(Refusal::Tokens {
                limit: 100,
                used: 100
            })
        );
        // Other events spend nothing.
        let other = AuditEvent::new(EventCode::HttpRequest).detail("endpoint", "openai");
        assert!(!book.restore(&other, now));
    }
}
