//! The audit event of a request: what the audit log sink stores (typed
//! details, `audit_parts`) is byte for byte the canonical form of
//! `to_audit_event`, and each kind of request names what it did.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_audit::AuditEvent;
use airlock_core::Decision;
use airlock_proxy::{InferenceKind, ProxyEvent, ProxyRequest, Target, Usage};

use crate::util::caller;

fn event(request: ProxyRequest, scheme: &'static str, path: &str) -> ProxyEvent {
    ProxyEvent {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        caller: Arc::new(caller()),
        target: Target {
            scheme,
            method: "POST".into(),
            host: "api.test".into(),
            port: 443,
            path: path.into(),
        },
        request,
        decision: Decision::allow("allowed by policy p", vec!["p".into()]),
        status: 200,
        bytes_in: 12,
        bytes_out: 345,
        latency: Duration::from_micros(1_250),
        model: None,
        usage: None,
        error: None,
        request_body: None,
        response_body: None,
    }
}

fn http(service: Option<&str>) -> ProxyEvent {
    let request = ProxyRequest::Http {
        service: service.map(Into::into),
        method: "POST".into(),
        host: "api.test".into(),
        port: 443,
        path: "/v1/x".into(),
    };
    event(request, "https", "/v1/x")
}

fn inference(usage: Option<Usage>) -> ProxyEvent {
    let request = ProxyRequest::Inference {
        endpoint: "openai".into(),
        kind: InferenceKind::Openai,
        model: "gpt-4o".into(),
        operation: "/v1/chat/completions".into(),
    };
    let mut ev = event(request, "https", "/v1/chat/completions");
    ev.model = Some("gpt-4o".into());
    ev.usage = usage;
    ev
}

fn egress() -> ProxyEvent {
    let request = ProxyRequest::Egress {
        host: "example.org".into(),
        port: 443,
    };
    let mut ev = event(request, "tcp", "");
    ev.decision = Decision::deny("no policy allows egress.connect", vec![]);
    ev.status = 403;
    ev
}

fn samples() -> Vec<ProxyEvent> {
    let mut failed = http(Some("git"));
    failed.error = Some("upstream reset \"the\" connection\n".into());
    failed.request_body = Some("{\"q\":1}".into());
    failed.response_body = Some("ünïcode".into());
    let mut unprofiled = inference(None);
    let mut c = caller();
    c.profile = None;
    unprofiled.caller = Arc::new(c);
    vec![
        http(None),
        http(Some("git")),
        failed,
        inference(Some(Usage {
            input_tokens: 7,
            output_tokens: 11,
        })),
        inference(None),
        unprofiled,
        egress(),
    ]
}

#[test]
fn the_stored_bytes_are_the_canonical_form_of_the_event() {
    for ev in samples() {
        let mut whole = ev.to_audit_event();
        whole.validate().unwrap();
        let (mut header, details) = ev.audit_parts();
        assert!(header.details.is_empty());
        for seq in [0, 42] {
            whole.seq = seq;
            header.seq = seq;
            let typed = header.canonical_with(&details).unwrap();
            assert_eq!(
                String::from_utf8(typed.clone()).unwrap(),
                String::from_utf8(whole.canonical()).unwrap()
            );
            assert_eq!(AuditEvent::decode(&typed).unwrap().details, whole.details);
        }
    }
}

/// The keys each kind of event carries (docs/audit-events.md), in the
/// canonical form's order: sorted.
#[test]
fn details_name_what_each_kind_of_request_did() {
    let keys = |ev: ProxyEvent| -> String {
        let keys: Vec<String> = ev.to_audit_event().details.keys().cloned().collect();
        keys.join(" ")
    };
    assert_eq!(
        keys(http(None)),
        "bytes_in bytes_out host latency_ms method path port profile scheme service status"
    );
    assert_eq!(
        keys(inference(None)),
        "bytes_in bytes_out endpoint host input_tokens kind latency_ms method model \
         operation output_tokens path port profile scheme status"
    );
    assert_eq!(
        keys(egress()),
        "bytes_in bytes_out host latency_ms method path port profile protocol scheme status"
    );
    let http = http(None).to_audit_event();
    assert_eq!(http.details["service"], serde_json::Value::Null);
    assert_eq!(http.details["latency_ms"], serde_json::json!(1.25));
    let tokens = inference(None).to_audit_event();
    assert_eq!(tokens.details["input_tokens"], serde_json::Value::Null);
}
