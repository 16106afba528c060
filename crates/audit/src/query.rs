//! Audit search parameters: parsed once from the strings a CLI flag or an
//! HTTP query carries, with errors that say what to type instead.

use airlock_core::{Effect, SandboxId, UserName, parse_duration};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::event::AuditEvent;

/// Results returned when no limit is given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest limit accepted (use export for more).
pub const MAX_LIMIT: u32 = 10_000;

/// Why search parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter has a value of the wrong shape.
    #[error("invalid --{param} {value:?}: {hint}")]
    Invalid {
        /// The parameter name (`user`, `since`, ...).
        param: &'static str,
        /// The value given, shortened.
        value: String,
        /// What a valid value looks like.
        hint: String,
    },
    /// `since` is not before `until`.
    #[error("--since must be earlier than --until")]
    EmptyRange,
}

fn invalid(param: &'static str, value: &str, hint: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        param,
        value: value.chars().take(80).collect(),
        hint: hint.into(),
    }
}

/// How `action` matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// The action equals this.
    Exact(String),
    /// The action starts with this (written `sandbox.` or `sandbox.*`).
    Prefix(String),
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Highest seq first (search).
    #[default]
    NewestFirst,
    /// Lowest seq first (tail, export).
    OldestFirst,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Only events of this user.
    pub user: Option<UserName>,
    /// Only events of this sandbox.
    pub sandbox: Option<SandboxId>,
    /// Only these actions.
    pub action: Option<ActionFilter>,
    /// Only this decision.
    pub decision: Option<Effect>,
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only events before this time.
    pub until: Option<OffsetDateTime>,
    /// Only events with a greater seq (tail polling, paging oldest-first).
    pub after_seq: Option<u64>,
    /// Only events with a smaller seq (paging newest-first).
    pub before_seq: Option<u64>,
    /// At most this many results (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// Result order.
    pub order: Order,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            user: None,
            sandbox: None,
            action: None,
            decision: None,
            since: None,
            until: None,
            after_seq: None,
            before_seq: None,
            limit: DEFAULT_LIMIT,
            order: Order::NewestFirst,
        }
    }
}

impl Query {
    /// Events after `seq`, oldest first: what `audit tail -f` polls.
    pub fn tail(after_seq: Option<u64>, limit: u32) -> Self {
        Self {
            after_seq,
            limit,
            order: Order::OldestFirst,
            ..Self::default()
        }
    }

    /// Whether `ev` satisfies every filter (not the limit or the order).
    /// Search results from an index are checked with this against the log.
    pub fn matches(&self, ev: &AuditEvent) -> bool {
        let action = match &self.action {
            None => true,
            Some(ActionFilter::Exact(a)) => ev.action == *a,
            Some(ActionFilter::Prefix(p)) => ev.action.starts_with(p.as_str()),
        };
        action
            && self
                .user
                .as_ref()
                .is_none_or(|u| ev.user.as_ref() == Some(u))
            && self
                .sandbox
                .as_ref()
                .is_none_or(|s| ev.sandbox.as_ref() == Some(s))
            && self.decision.is_none_or(|d| ev.decision == d)
            && self.since.is_none_or(|t| ev.time >= t)
            && self.until.is_none_or(|t| ev.time < t)
            && self.after_seq.is_none_or(|s| ev.seq > s)
            && self.before_seq.is_none_or(|s| ev.seq < s)
    }

    /// Checks the cross-field rules (limit range, time range).
    pub fn validate(&self) -> Result<(), QueryError> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            let hint = format!("use 1 to {MAX_LIMIT} (export for more)");
            return Err(invalid("limit", &self.limit.to_string(), hint));
        }
        if let (Some(s), Some(u)) = (self.since, self.until)
            && s >= u
        {
            return Err(QueryError::EmptyRange);
        }
        Ok(())
    }
}

/// Search parameters as strings, straight from CLI flags or an HTTP query
/// string (every field is a string so the caller's framework never rejects a
/// value with its own, vaguer message).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryParams {
    /// `--user alice`
    pub user: Option<String>,
    /// `--sandbox sb-…`
    pub sandbox: Option<String>,
    /// `--action sandbox.create`, or a prefix `sandbox.` / `sandbox.*`
    pub action: Option<String>,
    /// `--decision allow|deny`
    pub decision: Option<String>,
    /// `--since 1h` (ago) or an RFC 3339 time
    pub since: Option<String>,
    /// `--until` likewise
    pub until: Option<String>,
    /// `--limit N`
    pub limit: Option<String>,
    /// Only events after this seq or id (`ev-41`)
    pub after: Option<String>,
    /// Only events before this seq or id
    pub before: Option<String>,
    /// `newest` (default) or `oldest`
    pub order: Option<String>,
}

impl QueryParams {
    /// Parses and validates; `now` anchors relative times such as `1h`.
    pub fn parse(&self, now: OffsetDateTime) -> Result<Query, QueryError> {
        let q = Query {
            user: opt(&self.user, |v| {
                UserName::new(v).map_err(|e| invalid("user", v, e.rule))
            })?,
            sandbox: opt(&self.sandbox, |v| {
                SandboxId::new(v).map_err(|e| invalid("sandbox", v, e.rule))
            })?,
            action: opt(&self.action, parse_action)?,
            decision: opt(&self.decision, |v| {
                v.parse()
                    .map_err(|_| invalid("decision", v, "use allow or deny"))
            })?,
            since: opt(&self.since, |v| parse_time("since", v, now))?,
            until: opt(&self.until, |v| parse_time("until", v, now))?,
            after_seq: opt(&self.after, |v| parse_seq("after", v))?,
            before_seq: opt(&self.before, |v| parse_seq("before", v))?,
            limit: opt(&self.limit, parse_limit)?.unwrap_or(DEFAULT_LIMIT),
            order: opt(&self.order, parse_order)?.unwrap_or_default(),
        };
        q.validate()?;
        Ok(q)
    }
}

/// Applies `f` to a present, non-blank value.
fn opt<T>(
    v: &Option<String>,
    f: impl FnOnce(&str) -> Result<T, QueryError>,
) -> Result<Option<T>, QueryError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => f(s).map(Some),
    }
}

fn parse_action(v: &str) -> Result<ActionFilter, QueryError> {
    let (name, prefix) = match v.strip_suffix('*') {
        Some(p) => (p, true),
        None => (v, v.ends_with('.')),
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !ok {
        let hint = "use an action such as sandbox.create, or a prefix such as sandbox.*";
        return Err(invalid("action", v, hint));
    }
    Ok(if prefix {
        ActionFilter::Prefix(name.to_owned())
    } else {
        ActionFilter::Exact(name.to_owned())
    })
}

fn parse_time(
    param: &'static str,
    v: &str,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, QueryError> {
    if let Ok(t) = crate::timefmt::parse(v) {
        return Ok(t);
    }
    let hint = "use a duration ago (30m, 1h, 7d) or an RFC 3339 time (2025-01-31T12:00:00Z)";
    let d = parse_duration(v).map_err(|_| invalid(param, v, hint))?;
    let d = time::Duration::try_from(d).map_err(|_| invalid(param, v, hint))?;
    now.checked_sub(d).ok_or_else(|| invalid(param, v, hint))
}

fn parse_seq(param: &'static str, v: &str) -> Result<u64, QueryError> {
    crate::event::parse_event_id(v)
        .ok_or_else(|| invalid(param, v, "use an event id (ev-42) or seq (42)"))
}

fn parse_limit(v: &str) -> Result<u32, QueryError> {
    let hint = format!("use a number from 1 to {MAX_LIMIT}");
    let n: u32 = v.parse().map_err(|_| invalid("limit", v, hint.clone()))?;
    if n == 0 || n > MAX_LIMIT {
        return Err(invalid("limit", v, hint));
    }
    Ok(n)
}

fn parse_order(v: &str) -> Result<Order, QueryError> {
    match v {
        "newest" => Ok(Order::NewestFirst),
        "oldest" => Ok(Order::OldestFirst),
        _ => Err(invalid("order", v, "use newest or oldest")),
    }
}
