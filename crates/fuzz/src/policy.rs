//! Policy decisions on requests built from untrusted parts: the proxy puts
//! a sandbox's method, path, host and model into the context, and `airlock
//! policy check` takes a whole request as JSON. The policies are the
//! starter set and every example of docs/policy.md's cookbook (its
//! read-only profile as a delegation profile), so the docs' examples are
//! exercised too.

use std::sync::OnceLock;

use airlock_core::Effect;
use airlock_policy::{Engine, PolicySet, Profile, Request, STARTER_POLICIES};

const POLICY_GUIDE: &str = include_str!("../../../docs/policy.md");

/// The Cedar blocks of the policy guide's cookbook: (cluster policies, the
/// read-only profile).
fn cookbook() -> (String, String) {
    let cookbook = POLICY_GUIDE
        .split_once("## Cookbook")
        .map_or("", |(_, rest)| rest);
    let (mut cluster, mut profile) = (String::new(), String::new());
    for block in cookbook.split("```cedar").skip(1) {
        let code = block.split_once("```").map_or(block, |(code, _)| code);
        let to = if code.contains("@id(\"read-only-") {
            &mut profile
        } else {
            &mut cluster
        };
        to.push_str(code);
    }
    (cluster, profile)
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let (cluster, profile) = cookbook();
        let set = PolicySet::load(&[
            ("starter.cedar", STARTER_POLICIES),
            ("cookbook.cedar", cluster.as_str()),
        ])
        .expect("the starter set and the cookbook load");
        let profile = Profile::load("read-only", &[("read-only.cedar", profile.as_str())])
            .expect("the cookbook's profile loads");
        Engine::new(set).with_profile(profile)
    })
}

/// A request as JSON. Whatever it holds, the indexed decision equals the
/// exhaustive one `explain` computes (the index may skip policies, never
/// change an answer), is the same when asked twice, and an allow names the
/// policies that allowed it.
pub fn decide(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<Request>(data) else {
        return;
    };
    let engine = engine();
    let decision = engine.decide(&req);
    let explained = engine.explain(&req).decision;
    assert_eq!(decision.effect, explained.effect, "index changed {req:?}");
    assert_eq!(
        decision.policies, explained.policies,
        "index changed {req:?}"
    );
    assert_eq!(engine.decide(&req), decision, "not deterministic: {req:?}");
    if decision.effect == Effect::Allow {
        assert!(!decision.policies.is_empty(), "allowed by nothing: {req:?}");
    }
}

/// Requests the cookbook's policies answer both ways.
pub fn seeds() -> Vec<Vec<u8>> {
    let fields = |name: &str, roles: &str| format!(r#""name":"{name}","roles":[{roles}]"#);
    let user = |name: &str, roles: &str| format!(r#"{{"type":"user",{}}}"#, fields(name, roles));
    let workload = format!(
        r#"{{"type":"workload","user":{{{}}},"sandbox":"sb-1","isolation":"gvisor","image":"debian","profile":"read-only"}}"#,
        fields("alice", r#""developer""#)
    );
    let github = r#"{"type":"http_service","name":"github","host":"api.github.com"}"#;
    let time = r#""time":1700000000"#;
    [
        (
            user("alice", r#""developer""#),
            "http.request",
            github.to_owned(),
            format!(r#"{{{time},"method":"GET","path":"/repos/acme/x","host":"api.github.com"}}"#),
        ),
        (
            workload.clone(),
            "http.request",
            github.to_owned(),
            format!(r#"{{{time},"method":"POST","path":"/repos/acme/x"}}"#),
        ),
        (
            user("carol", r#""contractor","ml""#),
            "inference.call",
            r#"{"type":"inference","name":"openai","kind":"openai"}"#.to_owned(),
            format!(r#"{{{time},"model":"gpt-4o","time_of_day":36000,"day_of_week":2}}"#),
        ),
        (
            user("alice", r#""developer""#),
            "egress.connect",
            r#"{"type":"egress","host":"pypi.org","port":443}"#.to_owned(),
            format!("{{{time}}}"),
        ),
        (
            user("root", r#""admin""#),
            "admin.user.add",
            r#"{"type":"cluster"}"#.to_owned(),
            format!(r#"{{{time},"target":"bob","source_ip":"10.1.2.3"}}"#),
        ),
        (
            user("alice", r#""developer""#),
            "sandbox.exec",
            r#"{"type":"sandbox","id":"sb-1","owner":"alice","isolation":"gvisor","image":"debian"}"#
                .to_owned(),
            format!(r#"{{{time},"command":"bash"}}"#),
        ),
    ]
    .into_iter()
    .map(|(principal, action, resource, context)| {
        format!(
            r#"{{"principal":{principal},"action":"{action}","resource":{resource},"context":{context}}}"#
        )
        .into_bytes()
    })
    .collect()
}

/// How many seeds are allowed and denied (the smoke test wants both).
pub fn seed_effects() -> (usize, usize) {
    let engine = engine();
    seeds().iter().fold((0, 0), |(allow, deny), s| {
        let req: Request = serde_json::from_slice(s).expect("seed parses");
        match engine.decide(&req).effect {
            Effect::Allow => (allow + 1, deny),
            Effect::Deny => (allow, deny + 1),
        }
    })
}
