//! The one audit event every request produces, and its mapping to the audit
//! crate's typed events.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_audit::{AuditEvent, EventCode};
use airlock_core::Decision;
use serde_json::{Map, Value};

use crate::caller::Caller;
use crate::request::ProxyRequest;

/// What the sandbox addressed, as the proxy saw it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http`, `https` (decrypted inside a CONNECT tunnel) or `tcp` (a raw tunnel).
    pub scheme: &'static str,
    /// Request method (`CONNECT` for a tunnel).
    pub method: String,
    /// Host (lower case, no brackets, no port).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path without the query string (empty for a tunnel). The query is
    /// left out on purpose: it often carries tokens.
    pub path: String,
}

impl Target {
    /// `https://host/path`, the port shown only when not the scheme's default.
    pub fn url(&self) -> String {
        let default_port = matches!((self.scheme, self.port), ("http", 80) | ("https", 443));
        let authority = if default_port {
            crate::target::bracket(&self.host)
        } else {
            crate::target::authority(&self.host, self.port)
        };
        format!("{}://{authority}{}", self.scheme, self.path)
    }
}

/// Token counts read from an inference response's `usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt / input tokens (Anthropic: including cache reads and writes).
    pub input_tokens: u64,
    /// Completion / output tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Input plus output: what a tokens-per-day budget spends.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One request (or tunnel), allowed or denied, as handed to [`crate::AuditSink`].
#[derive(Debug, Clone)]
pub struct ProxyEvent {
    /// When the request arrived.
    pub time: SystemTime,
    /// Who sent it.
    pub caller: Arc<Caller>,
    /// What it addressed.
    pub target: Target,
    /// What policy was asked to decide.
    pub request: ProxyRequest,
    /// The decision, including the proxy's own rules (`airlock/...` ids)
    /// when one of them refused what policy allowed.
    pub decision: Decision,
    /// HTTP status returned to the sandbox (0 for a raw tunnel).
    pub status: u16,
    /// Body bytes from the sandbox towards the upstream.
    pub bytes_in: u64,
    /// Body bytes from the upstream back to the sandbox.
    pub bytes_out: u64,
    /// From the request's arrival to its response's last byte (or the refusal).
    pub latency: Duration,
    /// Inference: the model named in the request.
    pub model: Option<String>,
    /// Inference: token usage, when the response reported it.
    pub usage: Option<Usage>,
    /// What went wrong after the decision (upstream unreachable, stream cut).
    pub error: Option<String>,
    /// Request body, only when the endpoint turns body logging on (capped).
    pub request_body: Option<String>,
    /// Response body, likewise.
    pub response_body: Option<String>,
}

impl ProxyEvent {
    /// The audit crate's event for this request: `http.request` (A5001),
    /// `inference.call` (A5002) or `egress.connect` (A5003), naming the user,
    /// workload, sandbox and isolation, with the decision verbatim and the
    /// code's details.
    pub fn to_audit_event(&self) -> AuditEvent {
        self.clone().into_audit_event()
    }

    /// [`ProxyEvent::to_audit_event`], taking the strings it already holds
    /// instead of copying them: the sink converts one event per request.
    /// Fields are set in place rather than through the builder, which moves
    /// the whole event at every step.
    pub fn into_audit_event(self) -> AuditEvent {
        let (code, resource) = match &self.request {
            ProxyRequest::Http { service, .. } => (
                EventCode::HttpRequest,
                format!("http:{}", service.as_deref().unwrap_or(&self.target.host)),
            ),
            ProxyRequest::Inference { endpoint, .. } => {
                (EventCode::InferenceCall, format!("inference:{endpoint}"))
            }
            ProxyRequest::Egress { host, port, .. } => (
                EventCode::EgressConnect,
                format!("egress:{}", crate::target::authority(host, *port)),
            ),
        };
        let c = &self.caller;
        let mut ev = AuditEvent::new_at(code, time::OffsetDateTime::from(self.time));
        ev.user = Some(c.user.clone());
        ev.workload = Some(c.workload.clone());
        ev.sandbox = Some(c.sandbox.clone());
        ev.isolation = Some(c.isolation);
        ev.resource = Some(resource);
        ev.decision = self.decision.effect;
        ev.details = self.details();
        let Decision {
            reason, policies, ..
        } = self.decision;
        ev.reason = (!reason.is_empty()).then_some(reason);
        ev.policies = policies;
        ev
    }

    /// The code-specific details: the request, its outcome, and (for
    /// inference) model and tokens.
    fn details(&self) -> Map<String, Value> {
        let t = &self.target;
        let mut d = Details(Map::with_capacity(16));
        d.put("method", t.method.as_str());
        d.put("scheme", t.scheme);
        d.put("host", t.host.as_str());
        d.put("port", t.port);
        d.put("path", t.path.as_str());
        d.put("status", self.status);
        d.put("bytes_in", self.bytes_in);
        d.put("bytes_out", self.bytes_out);
        d.put("latency_ms", millis(self.latency));
        match &self.request {
            ProxyRequest::Http { service, .. } => d.put("service", service.as_deref()),
            ProxyRequest::Inference {
                endpoint,
                kind,
                operation,
                ..
            } => {
                d.put("endpoint", endpoint.as_str());
                d.put("kind", kind.as_str());
                d.put("operation", operation.as_str());
            }
            ProxyRequest::Egress { .. } => d.put("protocol", t.scheme),
        }
        if matches!(self.request, ProxyRequest::Inference { .. }) {
            d.put("model", self.model.as_deref());
            d.put("input_tokens", self.usage.map(|u| u.input_tokens));
            d.put("output_tokens", self.usage.map(|u| u.output_tokens));
        }
        if let Some(profile) = &self.caller.profile {
            d.put("profile", profile.as_str());
        }
        for (key, value) in [
            ("error", &self.error),
            ("request_body", &self.request_body),
            ("response_body", &self.response_body),
        ] {
            if let Some(v) = value {
                d.put(key, v.as_str());
            }
        }
        d.0
    }
}

/// An event's details, filled in order.
struct Details(Map<String, Value>);

impl Details {
    fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_owned(), value.into());
    }
}

/// Milliseconds with microsecond resolution: proxy latencies are sub-ms.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Policies of a decision, for messages: `policy "a", "b"` or `no policy allowed it`.
pub(crate) fn describe_policies(decision: &Decision) -> String {
    if decision.policies.is_empty() {
        return "no policy allowed it".to_owned();
    }
    let ids: Vec<String> = decision.policies.iter().map(|p| format!("{p:?}")).collect();
    let noun = if ids.len() == 1 { "policy" } else { "policies" };
    format!("{noun} {}", ids.join(", "))
}
