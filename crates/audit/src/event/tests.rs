use super::*;
use crate::code::EventCode as C;
use airlock_core::{Decision, TrustDomain};
use time::macros::datetime;

fn alice() -> UserName {
    UserName::new("alice").unwrap()
}

fn sb() -> SandboxId {
    SandboxId::new("sb-1").unwrap()
}

fn workload(id: &str) -> SpiffeId {
    let td = TrustDomain::new("airlock.local").unwrap();
    SpiffeId::workload(&td, &SandboxId::new(id).unwrap())
}

fn http_event() -> AuditEvent {
    AuditEvent::new(C::HttpRequest)
        .at(datetime!(2025-03-04 05:06:07.000000123 UTC))
        .user(alice())
        .workload(workload("sb-1"))
        .sandbox(sb())
        .isolation(IsolationClass::Gvisor)
        .resource("api.github.com")
        .decision(&Decision::deny(
            "GET /admin is not allowed",
            vec!["p1".into()],
        ))
        .detail("method", "GET")
        .detail("path", "/admin")
}

#[test]
fn canonical_encoding_is_pinned() {
    let mut ev = http_event();
    ev.seq = 42;
    ev.id = event_id(42);
    let bytes = ev.canonical();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"seq":42,"id":"ev-42","time":"2025-03-04T05:06:07.000000123Z","code":"A5001","action":"http.request","decision":"deny","user":"alice","workload":"spiffe://airlock.local/sandbox/sb-1/workload","sandbox":"sb-1","isolation":"gvisor","resource":"api.github.com","reason":"GET /admin is not allowed","policies":["p1"],"details":{"method":"GET","path":"/admin"}}"#
    );
    // The writer's spliced encoding and plain serde agree byte for byte.
    assert_eq!(bytes, serde_json::to_vec(&ev).unwrap());
    assert_eq!(AuditEvent::decode(&bytes).unwrap(), ev);
    assert_eq!(body_seq(&bytes), Some(42));
}

#[test]
fn body_seq_reads_only_canonical_prefixes() {
    assert_eq!(body_seq(br#"{"seq":0,"id":"ev-0"}"#), Some(0));
    for bad in [
        &br#"{"seq":01,"#[..],
        br#"{"seq":,"#,
        br#"{ "seq":1,"#,
        b"",
        br#"{"seq":1"#,
    ] {
        assert_eq!(body_seq(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn ids_parse() {
    assert_eq!(parse_event_id("ev-17"), Some(17));
    assert_eq!(parse_event_id("17"), Some(17));
    for bad in ["", "ev-", "ev-x", "ev--1", "ev-1 "] {
        assert_eq!(parse_event_id(bad), None, "{bad:?}");
    }
}

fn refused(ev: AuditEvent, want: &str) {
    let err = ev.validate().expect_err("should be refused").to_string();
    assert!(err.contains(want), "{err:?} should contain {want:?}");
}

#[test]
fn validation_rules() {
    http_event().validate().unwrap();
    AuditEvent::new(C::UserLoginFailed)
        .deny("wrong password")
        .validate()
        .unwrap();
    AuditEvent::new(C::ApiRefused)
        .action("admin.user.add")
        .deny("not admin")
        .validate()
        .unwrap();

    refused(
        AuditEvent::new(C::ApiRefused).deny("x"),
        "invalid action \"\"",
    );
    refused(
        AuditEvent::new(C::UserLogin)
            .user(alice())
            .action("User Login"),
        "invalid action",
    );
    refused(
        AuditEvent::new(C::UserLogin)
            .user(alice())
            .action("sandbox.create"),
        "must have action \"user.login\"",
    );
    refused(
        AuditEvent::new(C::UserLogin).user(alice()).deny("x"),
        "cannot record decision deny",
    );
    refused(AuditEvent::new(C::UserLoginFailed), "must say why");
    refused(
        AuditEvent::new(C::UserLoginFailed).deny("  "),
        "must say why",
    );
    refused(AuditEvent::new(C::UserLogin), "must name its user");
    refused(
        http_event().sandbox(SandboxId::new("sb-2").unwrap()),
        "does not belong to sandbox sb-2",
    );
    let mut anonymous = http_event();
    anonymous.user = None;
    refused(anonymous, "must name its user");
    let mut hidden = AuditEvent::new(C::ApiRefused)
        .action("sandbox.exec")
        .deny("x")
        .workload(workload("sb-1"));
    refused(hidden.clone(), "no user");
    hidden = hidden.user(alice());
    hidden.validate().unwrap();
    refused(http_event().resource("a\nb"), "control characters");
    refused(http_event().source("x".repeat(300)), "too long");
    // sandbox.created may lack the sandbox id when refused, not when allowed.
    AuditEvent::new(C::SandboxCreated)
        .user(alice())
        .deny("quota")
        .validate()
        .unwrap();
    refused(
        AuditEvent::new(C::SandboxCreated).user(alice()),
        "must name its sandbox",
    );
}

/// The HTTP event at `seq`, and its canonical text.
fn canonical_http_event(seq: u64) -> (AuditEvent, String) {
    let mut ev = http_event();
    ev.seq = seq;
    ev.id = event_id(seq);
    let text = String::from_utf8(ev.canonical()).unwrap();
    (ev, text)
}

#[test]
fn decode_refuses_unknown_fields_and_codes() {
    let (_, text) = canonical_http_event(1);
    assert!(AuditEvent::decode(text.replace("A5001", "A9999").as_bytes()).is_err());
    assert!(AuditEvent::decode(text.replace("\"user\"", "\"usr\"").as_bytes()).is_err());
    assert!(AuditEvent::decode(b"not json").is_err());
}

#[test]
fn decode_refuses_an_id_that_is_not_the_seqs() {
    let (ev, text) = canonical_http_event(7);
    assert_eq!(AuditEvent::decode(text.as_bytes()).unwrap(), ev);
    let err = AuditEvent::decode(text.replace("\"ev-7\"", "\"ev-8\"").as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("is not the id of event 7"),
        "{err}"
    );
}
