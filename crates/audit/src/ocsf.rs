//! Mapping of audit events to OCSF (Open Cybersecurity Schema Framework) 1.x.
//!
//! Every event becomes an object of its code's OCSF class with the common
//! base fields. Actors: the human is `actor.user`; where a workload acted, it
//! appears as the application acting for that user (`actor.app_uid` = its
//! SPIFFE ID, `actor.app_name` = `airlock-workload`), and the deciding
//! policies as `actor.authorizations`. Airlock fields without an OCSF home go
//! to `unmapped`, so nothing is lost.

use std::net::{IpAddr, SocketAddr};

use airlock_core::Effect;
use serde_json::{Map, Value, json};

use crate::code::{HTTP, NETWORK, OcsfClass};
use crate::event::AuditEvent;

/// The OCSF schema version the output follows.
pub const OCSF_VERSION: &str = "1.3.0";

/// OCSF `severity_id` for allowed (Informational) and denied (Medium) events.
fn severity(d: Effect) -> (u8, &'static str) {
    match d {
        Effect::Allow => (1, "Informational"),
        Effect::Deny => (3, "Medium"),
    }
}

/// OCSF `status_id`: Success or Failure.
fn status(d: Effect) -> (u8, &'static str) {
    match d {
        Effect::Allow => (1, "Success"),
        Effect::Deny => (2, "Failure"),
    }
}

/// HTTP Activity refines the activity by method.
fn http_activity(ev: &AuditEvent, default: (u32, &'static str)) -> (u32, &'static str) {
    let method = ev
        .details
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("");
    match method.to_ascii_uppercase().as_str() {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        _ => default,
    }
}

/// Converts one event.
pub fn to_ocsf(ev: &AuditEvent) -> Value {
    let spec = ev.code.spec();
    let class: OcsfClass = spec.ocsf;
    let activity = if class == HTTP {
        http_activity(ev, spec.activity)
    } else {
        spec.activity
    };
    let (sev_id, sev) = severity(ev.decision);
    let (status_id, status_name) = status(ev.decision);
    let mut out = json!({
        "class_uid": class.uid,
        "class_name": class.name,
        "category_uid": class.category_uid(),
        "category_name": class.category_name(),
        "activity_id": activity.0,
        "activity_name": activity.1,
        "type_uid": u64::from(class.uid) * 100 + u64::from(activity.0),
        "time": ev.time.unix_timestamp_nanos() / 1_000_000,
        "severity_id": sev_id,
        "severity": sev,
        "status_id": status_id,
        "status": status_name,
        "message": message(ev),
        "actor": actor(ev),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": ev.id,
            "sequence": ev.seq,
            "event_code": spec.id,
            "log_name": "airlock-audit",
            "product": {"name": "Airlock", "vendor_name": "Airlock", "version": env!("CARGO_PKG_VERSION")},
        },
        "unmapped": unmapped(ev),
    });
    let obj = out.as_object_mut().expect("built as an object");
    if let Some(src) = ev.source.as_deref() {
        obj.insert("src_endpoint".into(), endpoint(src));
    }
    if let Some(r) = &ev.reason {
        obj.insert("status_detail".into(), Value::String(r.clone()));
    }
    add_class_fields(obj, ev, class);
    out
}

fn message(ev: &AuditEvent) -> String {
    let who = ev.user.as_ref().map_or("unknown user", |u| u.as_str());
    let what = ev
        .resource
        .as_deref()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default();
    format!("{} {}{what}: {}", who, ev.action, ev.decision)
}

fn actor(ev: &AuditEvent) -> Value {
    let mut actor = Map::new();
    if let Some(u) = &ev.user {
        actor.insert(
            "user".into(),
            json!({"name": u.as_str(), "type": "User", "type_id": 1}),
        );
    }
    if let Some(w) = &ev.workload {
        actor.insert("app_name".into(), json!("airlock-workload"));
        actor.insert("app_uid".into(), json!(w.as_str()));
    }
    if let Some(s) = &ev.session {
        actor.insert("session".into(), json!({"uid": s.as_str()}));
    }
    if !ev.policies.is_empty() || ev.reason.is_some() {
        let decision = ev.decision.as_str();
        let auths: Vec<Value> = if ev.policies.is_empty() {
            vec![json!({"decision": decision})]
        } else {
            ev.policies
                .iter()
                .map(|p| json!({"decision": decision, "policy": {"uid": p, "name": p}}))
                .collect()
        };
        actor.insert("authorizations".into(), Value::Array(auths));
    }
    Value::Object(actor)
}

fn endpoint(src: &str) -> Value {
    if let Ok(sa) = src.parse::<SocketAddr>() {
        return json!({"ip": sa.ip().to_string(), "port": sa.port()});
    }
    if let Ok(ip) = src.parse::<IpAddr>() {
        return json!({"ip": ip.to_string()});
    }
    json!({"name": src})
}

fn unmapped(ev: &AuditEvent) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), json!(ev.code.id()));
    m.insert("code_name".into(), json!(ev.code.name()));
    m.insert("action".into(), json!(ev.action));
    m.insert("decision".into(), json!(ev.decision.as_str()));
    let opt = |v: Option<&str>| v.map(|s| Value::String(s.to_owned()));
    let fields = [
        ("sandbox", opt(ev.sandbox.as_ref().map(|s| s.as_str()))),
        ("workload", opt(ev.workload.as_ref().map(|w| w.as_str()))),
        ("isolation", opt(ev.isolation.map(|i| i.as_str()))),
        ("resource", opt(ev.resource.as_deref())),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    if !ev.details.is_empty() {
        m.insert("details".into(), Value::Object(ev.details.clone()));
    }
    Value::Object(m)
}

fn detail<'a>(ev: &'a AuditEvent, key: &str) -> Option<&'a Value> {
    ev.details.get(key)
}

/// The class-specific objects the details allow.
fn add_class_fields(obj: &mut Map<String, Value>, ev: &AuditEvent, class: OcsfClass) {
    if class == HTTP {
        let mut url = Map::new();
        if let Some(h) = detail(ev, "host").or(detail(ev, "endpoint")) {
            url.insert("hostname".into(), h.clone());
        }
        if let Some(p) = detail(ev, "path") {
            url.insert("path".into(), p.clone());
        }
        let mut req = json!({"url": url});
        if let Some(m) = detail(ev, "method") {
            req["http_method"] = m.clone();
        }
        obj.insert("http_request".into(), req);
        if let Some(s) = detail(ev, "status") {
            obj.insert("http_response".into(), json!({"code": s}));
        }
    } else if class == NETWORK {
        let mut dst = Map::new();
        if let Some(h) = detail(ev, "host") {
            dst.insert("hostname".into(), h.clone());
        }
        if let Some(p) = detail(ev, "port") {
            dst.insert("port".into(), p.clone());
        }
        obj.insert("dst_endpoint".into(), Value::Object(dst));
    } else {
        if let Some(r) = &ev.resource {
            obj.insert("resources".into(), json!([{"name": r}]));
        }
        if class == crate::code::API {
            let api = json!({"operation": ev.action, "service": {"name": "airlock"}});
            obj.insert("api".into(), api);
        }
    }
}
