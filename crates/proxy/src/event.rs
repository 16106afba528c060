//! The one audit event every request produces, and its mapping to the audit
//! crate's typed events.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_audit::{AuditEvent, EventCode};
use airlock_core::Decision;
use serde::Serialize;
use serde_json::Value;

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
        let (mut ev, details) = self.audit_parts();
        ev.details = match serde_json::to_value(details) {
            Ok(Value::Object(map)) => map,
            _ => unreachable!("the details are a struct of plain fields"),
        };
        ev
    }

    /// The audit event without its details, and the details, typed: what
    /// the audit log sink hands to
    /// [`airlock_audit::AuditLog::append_with`], which stores the same bytes
    /// as for [`ProxyEvent::to_audit_event`] without building a map of JSON
    /// values for every request. The caller's fields are set in place rather
    /// than through the builder, which moves the whole event at every step.
    pub fn audit_parts(&self) -> (AuditEvent, AuditDetails<'_>) {
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
        let mut ev = AuditEvent::new_at(code, time::OffsetDateTime::from(self.time))
            .decision(&self.decision);
        ev.user = Some(c.user.clone());
        ev.workload = Some(c.workload.clone());
        ev.sandbox = Some(c.sandbox.clone());
        ev.isolation = Some(c.isolation);
        ev.resource = Some(resource);
        (ev, self.details())
    }

    fn details(&self) -> AuditDetails<'_> {
        let t = &self.target;
        let mut d = AuditDetails {
            method: &t.method,
            scheme: t.scheme,
            host: &t.host,
            port: t.port,
            path: &t.path,
            status: self.status,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            latency_ms: millis(self.latency),
            service: None,
            endpoint: None,
            kind: None,
            operation: None,
            protocol: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            profile: self.caller.profile.as_deref(),
            error: self.error.as_deref(),
            request_body: self.request_body.as_deref(),
            response_body: self.response_body.as_deref(),
        };
        match &self.request {
            ProxyRequest::Http { service, .. } => d.service = Some(service.as_deref()),
            ProxyRequest::Inference {
                endpoint,
                kind,
                operation,
                ..
            } => {
                d.endpoint = Some(endpoint);
                d.kind = Some(kind.as_str());
                d.operation = Some(operation);
                d.model = Some(self.model.as_deref());
                d.input_tokens = Some(self.usage.map(|u| u.input_tokens));
                d.output_tokens = Some(self.usage.map(|u| u.output_tokens));
            }
            ProxyRequest::Egress { .. } => d.protocol = Some(t.scheme),
        }
        d
    }
}

/// The details of a request's audit event (docs/audit-events.md), borrowed
/// from its [`ProxyEvent`]. Fields in the order of their names: a map of
/// JSON values encodes its keys in that order whether serde_json sorts it
/// or keeps its insertion order (it does when a crate in the build asks,
/// as Cedar does), so the bytes stored are those of
/// [`ProxyEvent::to_audit_event`] in every build. A field that is `None` is left out; one that
/// is `Some(None)` is written as `null` (an HTTP request to an unregistered
/// host has a `service` of null; an inference call without reported usage
/// has null tokens).
#[derive(Debug, Serialize)]
pub struct AuditDetails<'a> {
    bytes_in: u64,
    bytes_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    latency_ms: f64,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<Option<u64>>,
    path: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_body: Option<&'a str>,
    scheme: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Option<&'a str>>,
    status: u16,
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
