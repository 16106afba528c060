//! The hand-written context check agrees with Cedar's validation.

use cedar_policy::{EntityUid, RestrictedExpression};
use serde_json::{Value, json};

use super::*;
use crate::request::{Context as Ctx, Principal, Resource, UserInfo};
use crate::schema::{Kind, schemas};

fn request(action: &str, context: Value) -> Request {
    let user = UserInfo::new("alice".parse().unwrap(), vec![]);
    let Value::Object(map) = context else {
        panic!()
    };
    Request::new(
        Principal::User(user),
        action,
        Resource::Cluster,
        Ctx::from(map),
    )
}

/// Cedar's verdict on a context (with the derived attributes added, as the
/// engine adds them): does it fit the action's context type?
fn cedar_accepts(action: &str, context: &Value) -> bool {
    let info = &schemas().actions[action];
    let mut map = context.as_object().unwrap().clone();
    let time = map.get("time").and_then(Value::as_i64);
    for (k, v) in derived(time) {
        map.entry(k).or_insert(v.into());
    }
    let schema = schemas().schema(Kind::User);
    let Ok(ctx) = Context::from_json_value(map.into(), Some((schema, &info.uid))) else {
        return false;
    };
    let principal: EntityUid = r#"Airlock::User::"alice""#.parse().unwrap();
    // Enumerated types accept only their one id.
    let id = match info.resource_type.basename() {
        "Cluster" => "cluster",
        "AuditLog" => "audit",
        _ => "x",
    };
    let resource =
        EntityUid::from_type_name_and_id(info.resource_type.clone(), id.parse().unwrap());
    cedar_policy::Request::new(principal, info.uid.clone(), resource, ctx, Some(schema)).is_ok()
}

#[test]
fn agrees_with_cedar() {
    let cases = [
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": 443}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": "443"}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h"}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": 1, "verb": "x"}),
        ),
        (
            "http.request",
            json!({"method": "GET", "path": "/", "host": "h", "port": 1}),
        ),
        (
            "http.request",
            json!({"time": "1", "method": "GET", "path": "/", "host": "h", "port": 1}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": ["GET"], "path": "/", "host": "h", "port": 1}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": 1, "source_ip": "10.0.0.1"}),
        ),
        (
            "http.request",
            json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": 1, "source_ip": 7}),
        ),
        (
            "egress.connect",
            json!({"time": 1, "host": "h", "port": 443, "ip": "::1"}),
        ),
        (
            "egress.connect",
            json!({"time": 1, "host": "h", "port": 443.5}),
        ),
        ("audit.read", json!({"time": 1})),
        ("audit.read", json!({"time": 1, "target": "x"})),
        ("admin.user.add", json!({"time": 1, "target": "x"})),
        ("admin.user.add", json!({"time": 1, "target": true})),
        ("sandbox.create", json!({"time": 1, "ttl_secs": 3600})),
        ("sandbox.exec", json!({"time": 1, "command": null})),
        (
            "db.query",
            json!({"time": 1, "db_user": "u", "db_name": "d", "statement": "SELECT"}),
        ),
        (
            "mcp.call_tool",
            json!({"time": 1, "tool": "t", "server": "s"}),
        ),
        (
            "inference.call",
            json!({"time": 1, "method": "POST", "path": "/", "model": ""}),
        ),
    ];
    for (action, ctx) in cases {
        let ours = convert(
            &request(action, ctx.clone()),
            &schemas().actions[action].context,
        );
        assert_eq!(
            ours.is_ok(),
            cedar_accepts(action, &ctx),
            "{action} {ctx}: {ours:?}"
        );
    }
}

#[test]
fn every_action_has_a_context_type_with_time() {
    for (name, info) in &schemas().actions {
        let time = info
            .context
            .0
            .get("time")
            .unwrap_or_else(|| panic!("{name}"));
        assert!(time.required && time.ty == Primitive::Long, "{name}");
    }
}

#[test]
fn messages_name_the_attribute() {
    let ty = &schemas().actions["http.request"].context;
    let err = |ctx: Value| convert(&request("http.request", ctx), ty).unwrap_err();
    let base = json!({"time": 1, "method": "GET", "path": "/", "host": "h", "port": 443});
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    assert_eq!(
        err(with("port", json!("443"))),
        r#"invalid context for http.request: attribute `port` must be an integer (Long), not "443""#
    );
    assert!(err(with("verb", json!("x"))).contains("`verb` is not part of this action's context"));
    assert!(err(with("time_of_day", json!(3))).contains("set only `time`"));
    let mut no_time = base.clone();
    no_time.as_object_mut().unwrap().remove("time");
    assert!(err(no_time).contains("`time` is required (unix seconds"));
}

#[test]
fn derived_time_values() {
    // 2023-11-14T22:13:20Z was a Tuesday.
    assert_eq!(
        derived(Some(1_700_000_000)),
        [("time_of_day", 80_000), ("day_of_week", 2)]
    );
    assert_eq!(derived(Some(0)), [("time_of_day", 0), ("day_of_week", 4)]);
    assert_eq!(
        derived(Some(-1)),
        [("time_of_day", 86_399), ("day_of_week", 3)]
    );
    let _ = RestrictedExpression::new_long(0);
}

/// Every `name?: ipaddr` or `name: ipaddr` in the schema is read as an IP.
#[test]
fn ip_attributes_are_read_from_the_schema() {
    let ty = &schemas().actions["egress.connect"].context;
    assert_eq!(ty.0["ip"].ty, Primitive::Ip);
    assert_eq!(ty.0["source_ip"].ty, Primitive::Ip);
    assert!(!ty.0["ip"].required);
}

/// The context built from values directly (and, with an IP address, from
/// expressions) is the one Cedar builds by evaluating every attribute.
#[test]
fn built_contexts_equal_cedars() {
    let cases = [
        (
            "http.request",
            json!({"time": 1_700_000_000, "method": "GET", "path": "/a", "host": "h", "port": 443}),
        ),
        (
            "egress.connect",
            json!({"time": 5, "host": "h", "port": 22, "ip": "10.0.0.0/8", "source_ip": "::1"}),
        ),
    ];
    for (action, ctx) in cases {
        let ours = convert(
            &request(action, ctx.clone()),
            &schemas().actions[action].context,
        )
        .unwrap();
        let mut pairs: Vec<(String, RestrictedExpression)> = ctx
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let e = match v {
                    Value::String(s) if k.ends_with("ip") => RestrictedExpression::new_ip(s),
                    Value::String(s) => RestrictedExpression::new_string(s.clone()),
                    v => RestrictedExpression::new_long(v.as_i64().unwrap()),
                };
                (k.clone(), e)
            })
            .collect();
        for (k, v) in derived(ctx["time"].as_i64()) {
            pairs.push((k.to_owned(), RestrictedExpression::new_long(v)));
        }
        let cedars = Context::from_pairs(pairs).unwrap();
        assert_eq!(ours.as_ref(), cedars.as_ref(), "{action}");
    }
}
