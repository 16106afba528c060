//! Explain: every matching permit and forbid, errors, and both stages.

use airlock_core::Effect;
use airlock_policy::{PolicyEffect, Request};

use crate::util::*;

const SET: &str = r#"
@id("github-any")
permit(principal, action == Airlock::Action::"http.request", resource == Airlock::HttpService::"github");

@id("github-get")
permit(principal, action == Airlock::Action::"http.request", resource)
when { context.method == "GET" };

@id("no-delete")
forbid(principal, action, resource) when { context has path && context.path like "*/delete" };

@id("broken")
permit(principal, action, resource) when { context.time * 9223372036854775807 == 1 };

@id("unrelated")
permit(principal, action == Airlock::Action::"audit.read", resource);
"#;

#[test]
fn lists_every_match_with_its_source() {
    let e = engine(SET);
    let req = get(user("alice", &[]), "github", "/x/delete");
    let ex = e.explain(&req);
    assert_eq!(ex.decision, e.decide(&req));
    assert_eq!(ex.decision.effect, Effect::Deny);
    let stage = &ex.stages[0];
    let matched: Vec<(&str, PolicyEffect)> = stage
        .matched
        .iter()
        .map(|m| (m.id.as_str(), m.effect))
        .collect();
    assert_eq!(
        matched,
        [
            ("github-any", PolicyEffect::Permit),
            ("github-get", PolicyEffect::Permit),
            ("no-delete", PolicyEffect::Forbid),
        ]
    );
    assert_eq!(stage.matched[2].source.as_ref().unwrap().line, 9);
    assert_eq!(stage.errors.len(), 1);
    assert_eq!(stage.errors[0].id, "broken");
    let text = ex.to_string();
    assert!(text.starts_with("deny: policy no-delete forbids"), "{text}");
    assert!(text.contains("forbid no-delete (test.cedar:9)"), "{text}");
    assert!(text.contains("error in broken:"), "{text}");
}

#[test]
fn runs_the_profile_stage_even_when_the_user_stage_denies() {
    let e = engine("permit(principal == Airlock::User::\"alice\", action, resource);")
        .with_profile(profile("ro", "@id(\"get\")\npermit(principal, action, resource) when { context has method && context.method == \"GET\" };"));
    let req: Request = get(workload("bob", &[], Some("ro")), "github", "/");
    let ex = e.explain(&req);
    assert_eq!(ex.decision, e.decide(&req));
    assert_eq!(ex.stages.len(), 2);
    assert!(!ex.stages[0].allows);
    assert!(ex.stages[1].allows);
    assert_eq!(ex.stages[1].stage, "delegation profile ro");
    assert_eq!(ex.stages[1].matched[0].id, "profile:ro/get");
}

#[test]
fn invalid_requests_are_explained() {
    let e = engine(SET);
    let req = Request::new(
        user("alice", &[]),
        "http.request",
        http_service("x"),
        http_ctx("GET", "/").with("port", true),
    );
    let ex = e.explain(&req);
    assert!(
        ex.stages[0]
            .invalid
            .as_ref()
            .unwrap()
            .contains("invalid context")
    );
    assert_eq!(ex.decision, e.decide(&req));
    let json = serde_json::to_value(&ex).unwrap();
    assert_eq!(json["decision"]["effect"], "deny");
}
