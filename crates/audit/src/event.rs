//! The audit event and its canonical encoding.
//!
//! The canonical encoding is compact JSON with the fields in declaration order
//! and absent fields omitted: `{"seq":…,"id":…,"time":…,…}`. Those exact bytes
//! are stored, hashed into the Merkle tree and exported as a JSON line, so a
//! SIEM can hash an exported line and check it against an inclusion proof.
//! Verification never re-encodes: it hashes the stored bytes.

use airlock_core::{Decision, Effect, IsolationClass, SandboxId, SessionId, SpiffeId, UserName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::code::EventCode;
pub use crate::validate::EventError;

/// One audit event. `seq` and `id` are assigned by the log at append; a
/// caller builds the rest with [`AuditEvent::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Index in the log (0-based), assigned at append.
    pub seq: u64,
    /// Stable id, `ev-<seq>`; what `airlock audit prove` takes.
    pub id: String,
    /// When the operation happened (UTC, nanoseconds).
    #[serde(with = "crate::timefmt")]
    pub time: OffsetDateTime,
    /// The kind of event.
    pub code: EventCode,
    /// What was attempted, e.g. `sandbox.create`, `http.request`.
    pub action: String,
    /// Whether it was allowed.
    pub decision: Effect,
    /// The human behind the operation (the user, the sandbox owner, or the user
    /// a workload acts for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
    /// The workload that acted, where one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<SpiffeId>,
    /// The sandbox involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxId>,
    /// The sandbox's isolation class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationClass>,
    /// The login session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// Source address of the request (`ip` or `ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What was acted on (a user name, `sandbox/<id>`, a URL host, a database...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Why the decision was made; required for deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Ids of the policies that decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Code-specific fields (see docs/audit-events.md).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

/// The fields after `seq` and `id`, borrowed, in the same order: the caller's
/// thread encodes these, and the writer only prepends `{"seq":N,"id":"ev-N",`
/// once it knows N. A unit test pins that both encodings agree.
#[derive(Serialize)]
struct Tail<'a, D: ?Sized> {
    #[serde(with = "crate::timefmt")]
    time: &'a OffsetDateTime,
    code: EventCode,
    action: &'a str,
    decision: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: &'a Option<UserName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload: &'a Option<SpiffeId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox: &'a Option<SandboxId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation: &'a Option<IsolationClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: &'a Option<SessionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: &'a Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: &'a Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a D>,
}

/// The id of the event at `seq`.
pub fn event_id(seq: u64) -> String {
    format!("ev-{seq}")
}

/// Parses an event id (`ev-42`, or a bare `42`) back to its seq.
pub fn parse_event_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("ev-").unwrap_or(id);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl AuditEvent {
    /// A new event of `code` at the current time, with the code's own action
    /// (if it has exactly one) and decision `allow`.
    pub fn new(code: EventCode) -> Self {
        Self::new_at(code, OffsetDateTime::now_utc())
    }

    /// [`AuditEvent::new`] at `time`: for an operation timed elsewhere,
    /// without reading the clock.
    pub fn new_at(code: EventCode, time: OffsetDateTime) -> Self {
        let decision = match code.spec().decision {
            crate::code::DecisionRule::Deny => Effect::Deny,
            _ => Effect::Allow,
        };
        Self {
            seq: 0,
            id: String::new(),
            time,
            code,
            action: code.default_action().unwrap_or_default().to_owned(),
            decision,
            user: None,
            workload: None,
            sandbox: None,
            isolation: None,
            session: None,
            source: None,
            resource: None,
            reason: None,
            policies: Vec::new(),
            details: Map::new(),
        }
    }

    /// Sets the time (tests, replays, or an operation timed elsewhere).
    pub fn at(mut self, time: OffsetDateTime) -> Self {
        self.time = time;
        self
    }

    /// Sets the action.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = action.into();
        self
    }

    /// Sets the human user.
    pub fn user(mut self, user: UserName) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the workload SPIFFE ID.
    pub fn workload(mut self, workload: SpiffeId) -> Self {
        self.workload = Some(workload);
        self
    }

    /// Sets the sandbox.
    pub fn sandbox(mut self, sandbox: SandboxId) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Sets the isolation class.
    pub fn isolation(mut self, isolation: IsolationClass) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Sets the login session.
    pub fn session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }

    /// Sets the source address.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the resource.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Records an allow with no particular reason.
    pub fn allow(mut self) -> Self {
        self.decision = Effect::Allow;
        self
    }

    /// Records a deny and why.
    pub fn deny(mut self, reason: impl Into<String>) -> Self {
        self.decision = Effect::Deny;
        self.reason = Some(reason.into());
        self
    }

    /// Records a policy decision verbatim: effect, reason and policy ids.
    pub fn decision(mut self, d: &Decision) -> Self {
        self.decision = d.effect;
        self.reason = (!d.reason.is_empty()).then(|| d.reason.clone());
        self.policies = d.policies.clone();
        self
    }

    /// Adds one code-specific detail.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Checks the event against its code's rules (see [`crate::validate`]).
    pub fn validate(&self) -> Result<(), EventError> {
        crate::validate::validate(self)
    }

    /// The canonical bytes with `seq` and `id` as they are now.
    pub fn canonical(&self) -> Vec<u8> {
        splice(self.seq, &self.encode_tail())
    }

    /// Encodes everything after `seq`/`id`: the part a writer can prepare
    /// before the event's position is known. Starts with `{`.
    pub(crate) fn encode_tail(&self) -> Vec<u8> {
        let details = (!self.details.is_empty()).then_some(&self.details);
        self.tail_with(details)
    }

    /// The canonical bytes with `details` in place of the event's own (which
    /// must be empty): what [`crate::AuditLog::append_with`] stores. The
    /// same as [`AuditEvent::canonical`] of the event holding those details
    /// as a map, when `details` serializes its fields in the same order.
    pub fn canonical_with<D: Serialize + ?Sized>(
        &self,
        details: &D,
    ) -> Result<Vec<u8>, EventError> {
        Ok(splice(self.seq, &self.encode_tail_with(details)?))
    }

    /// [`AuditEvent::encode_tail`] with `details` given apart, typed: an
    /// emitter of many events serializes its own struct instead of building
    /// a map of JSON values for each. Refused unless `details` is a JSON
    /// object and the event holds no details of its own.
    pub(crate) fn encode_tail_with<D: Serialize + ?Sized>(
        &self,
        details: &D,
    ) -> Result<Vec<u8>, EventError> {
        if !self.details.is_empty() {
            return Err(EventError::BadField {
                field: "details",
                rule: "given both on the event and apart",
            });
        }
        let out = self.tail_with(Some(details));
        // The details are the last field, so an object ends the tail with
        // `}}`; a string, number, array or null cannot. An empty one
        // (`:{}}`) is refused too: the event with an empty map has no
        // details field at all.
        if !out.ends_with(b"}}") || out.ends_with(b":{}}") {
            return Err(EventError::BadField {
                field: "details",
                rule: "must be a JSON object with at least one field",
            });
        }
        Ok(out)
    }

    fn tail_with<D: Serialize + ?Sized>(&self, details: Option<&D>) -> Vec<u8> {
        let tail = Tail {
            time: &self.time,
            code: self.code,
            action: &self.action,
            decision: self.decision,
            user: &self.user,
            workload: &self.workload,
            sandbox: &self.sandbox,
            isolation: &self.isolation,
            session: &self.session,
            source: &self.source,
            resource: &self.resource,
            reason: &self.reason,
            policies: &self.policies,
            details,
        };
        // Room for a typical event, so the buffer is not regrown on the way.
        let mut out = Vec::with_capacity(640);
        serde_json::to_writer(&mut out, &tail).expect("events always serialize");
        out
    }

    /// Decodes canonical bytes (a stored body or an exported line). The id
    /// is derived from the seq, so a body whose id names another event is
    /// refused rather than shown under a name it does not have.
    pub fn decode(body: &[u8]) -> Result<Self, EventError> {
        let ev: Self =
            serde_json::from_slice(body).map_err(|e| EventError::Decode(e.to_string()))?;
        if ev.id != event_id(ev.seq) {
            return Err(EventError::Decode(format!(
                "id {:?} is not the id of event {} ({})",
                ev.id,
                ev.seq,
                event_id(ev.seq)
            )));
        }
        Ok(ev)
    }
}

/// `{"seq":N,"id":"ev-N",` followed by the tail without its opening brace.
/// What a search index keeps of an event (user, sandbox, action, decision,
/// time, code), taken from the event when it is appended, so that the
/// indexer need not parse the stored body back. Private: only the log builds
/// it, always from the event whose body is stored with it.
#[derive(Debug, Clone)]
pub struct Searchable {
    time: OffsetDateTime,
    code: EventCode,
    action: String,
    decision: Effect,
    user: Option<UserName>,
    sandbox: Option<SandboxId>,
}

impl Searchable {
    pub(crate) fn of(ev: &AuditEvent) -> Self {
        Self {
            time: ev.time,
            code: ev.code,
            action: ev.action.clone(),
            decision: ev.decision,
            user: ev.user.clone(),
            sandbox: ev.sandbox.clone(),
        }
    }

    /// user, sandbox, action, decision, time, code: each as the body holds
    /// it (what parsing the body would give).
    pub(crate) fn fields(&self) -> [Option<Box<str>>; 6] {
        [
            self.user.as_ref().map(|u| u.as_str().into()),
            self.sandbox.as_ref().map(|s| s.as_str().into()),
            Some(self.action.as_str().into()),
            Some(self.decision.as_str().into()),
            Some(crate::timefmt::format(&self.time).into()),
            Some(self.code.id().into()),
        ]
    }
}

pub(crate) fn splice(seq: u64, tail: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(tail.len() + 48);
    write!(out, "{{\"seq\":{seq},\"id\":\"ev-{seq}\",").expect("writing to a Vec");
    out.extend_from_slice(&tail[1..]);
    out
}

/// Reads the `seq` a canonical body starts with, without parsing the rest:
/// verification runs this on every entry and must stay fast.
pub fn body_seq(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    if end == 0 || end > 20 || (end > 1 && rest[0] == b'0') {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
