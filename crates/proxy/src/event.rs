//! The one audit event every request produces, and its mapping to the audit
//! crate's typed events.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_audit::{AuditEvent, EventCode};
use airlock_core::Decision;
use serde_json::{Value, json};

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
        let mut ev = AuditEvent::new(code)
            .at(time::OffsetDateTime::from(self.time))
            .user(c.user.clone())
            .workload(c.workload.clone())
            .sandbox(c.sandbox.clone())
            .isolation(c.isolation)
            .resource(resource)
            .decision(&self.decision);
        let details = self.details();
        ev.details = serde_json::Map::with_capacity(details.len());
        for (key, value) in details {
            ev = ev.detail(key, value);
        }
        ev
    }

    /// The code-specific details: the request, its outcome, and (for
    /// inference) model and tokens.
    fn details(&self) -> Vec<(&'static str, Value)> {
        let t = &self.target;
        let mut d = vec![
            ("method", json!(t.method)),
            ("scheme", json!(t.scheme)),
            ("host", json!(t.host)),
            ("port", json!(t.port)),
            ("path", json!(t.path)),
            ("status", json!(self.status)),
            ("bytes_in", json!(self.bytes_in)),
            ("bytes_out", json!(self.bytes_out)),
            ("latency_ms", json!(millis(self.latency))),
        ];
        match &self.request {
            ProxyRequest::Http { service, .. } => d.push(("service", json!(service))),
            ProxyRequest::Inference {
                endpoint,
                kind,
                operation,
                ..
            } => {
                d.push(("endpoint", json!(endpoint)));
                d.push(("kind", json!(kind.as_str())));
                d.push(("operation", json!(operation)));
            }
            ProxyRequest::Egress { .. } => d.push(("protocol", json!(t.scheme))),
        }
        self.inference_details(&mut d);
        if let Some(profile) = &self.caller.profile {
            d.push(("profile", json!(profile)));
        }
        push_opt(&mut d, "error", &self.error);
        push_opt(&mut d, "request_body", &self.request_body);
        push_opt(&mut d, "response_body", &self.response_body);
        d
    }

    fn inference_details(&self, d: &mut Vec<(&'static str, Value)>) {
        if !matches!(self.request, ProxyRequest::Inference { .. }) {
            return;
        }
        d.push(("model", json!(self.model)));
        d.push(("input_tokens", json!(self.usage.map(|u| u.input_tokens))));
        d.push(("output_tokens", json!(self.usage.map(|u| u.output_tokens))));
    }
}

fn push_opt(d: &mut Vec<(&'static str, Value)>, key: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        d.push((key, json!(v)));
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
