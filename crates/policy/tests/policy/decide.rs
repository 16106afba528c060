//! The rules of a decision: default deny, forbid wins, errors deny, and
//! every decision names the policies that made it.

use airlock_core::Effect;
use airlock_policy::{Context, Request, Resource};

use crate::util::*;

const GITHUB_GET: &str = r#"
@id("github-get")
permit(principal == Airlock::User::"alice", action == Airlock::Action::"http.request",
       resource == Airlock::HttpService::"github")
when { context.method == "GET" };
"#;

#[test]
fn default_deny_says_nothing_allowed_it() {
    let e = engine(GITHUB_GET);
    let d = denied(&e, &post(user("alice", &[]), "github", "/repos"));
    assert_eq!(
        d.reason,
        r#"no policy allows http.request POST /repos on HttpService "github""#
    );
    assert!(d.policies.is_empty());
    denied(&e, &get(user("bob", &[]), "github", "/"));
    denied(&e, &get(user("alice", &[]), "gitlab", "/"));
}

#[test]
fn a_permit_allows_and_is_named() {
    let d = allowed(&engine(GITHUB_GET), &get(user("alice", &[]), "github", "/"));
    assert_eq!(d.policies, ["github-get"]);
    assert_eq!(d.reason, "allowed by policy github-get");
}

#[test]
fn forbid_beats_permit() {
    let text = format!(
        "{GITHUB_GET}\n@id(\"no-admin-paths\")\nforbid(principal, action == Airlock::Action::\"http.request\", resource)\nwhen {{ context.path like \"/admin*\" }};"
    );
    let e = engine(&text);
    allowed(&e, &get(user("alice", &[]), "github", "/repos"));
    let d = denied(&e, &get(user("alice", &[]), "github", "/admin/users"));
    assert_eq!(d.policies, ["no-admin-paths"]);
    assert!(
        d.reason
            .starts_with("policy no-admin-paths forbids http.request GET /admin/users"),
        "{}",
        d.reason
    );
}

#[test]
fn a_policy_reading_a_missing_entity_denies() {
    // The owner of someone else's sandbox is a reference only: reading an
    // attribute of it is an evaluation error, and an error denies.
    let e = engine(
        r#"@id("owner-name")
permit(principal, action == Airlock::Action::"sandbox.exec", resource)
when { resource.owner.name == "bob" };"#,
    );
    let d = denied(
        &e,
        &Request::new(
            user("alice", &[]),
            "sandbox.exec",
            sandbox("sb-1", "bob"),
            Context::at(NOW),
        ),
    );
    assert_eq!(d.policies, ["owner-name"]);
    assert!(
        d.reason.contains("policy owner-name failed"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("an error denies"), "{}", d.reason);
}

#[test]
fn an_erroring_forbid_denies_even_though_a_permit_holds() {
    // Cedar alone would skip the broken forbid and allow; Airlock denies.
    let e = engine(&format!(
        "{GITHUB_GET}\n@id(\"overflow\")\nforbid(principal, action, resource) when {{ context.time * 9223372036854775807 == 0 }};"
    ));
    let d = denied(&e, &get(user("alice", &[]), "github", "/"));
    assert_eq!(d.policies, ["overflow"]);
    assert!(d.reason.contains("overflow"), "{}", d.reason);
}

#[test]
fn context_of_the_wrong_type_denies() {
    let e = engine(GITHUB_GET);
    let req = |ctx: Context| {
        Request::new(
            user("alice", &[]),
            "http.request",
            http_service("github"),
            ctx,
        )
    };
    let wrong_port = http_ctx("GET", "/").with("port", "443");
    let d = denied(&e, &req(wrong_port));
    assert!(
        d.reason.ends_with(
            r#"invalid context for http.request: attribute `port` must be an integer (Long), not "443""#
        ),
        "{}",
        d.reason
    );
    let missing_time = Context::default()
        .with("method", "GET")
        .with("path", "/")
        .with("host", "h")
        .with("port", 443);
    let d = denied(&e, &req(missing_time));
    assert!(d.reason.contains("`time`"), "{}", d.reason);
    let unknown_attribute = http_ctx("GET", "/").with("verb", "GET");
    let d = denied(&e, &req(unknown_attribute));
    assert!(d.reason.contains("`verb` is not part of"), "{}", d.reason);
    let d = denied(&e, &req(http_ctx("GET", "/").with("time_of_day", 3600)));
    assert!(d.reason.contains("set only `time`"), "{}", d.reason);
}

#[test]
fn unknown_action_and_wrong_resource_type_deny() {
    let e = engine("permit(principal, action, resource);");
    let d = denied(
        &e,
        &Request::new(
            user("alice", &[]),
            "http.get",
            http_service("github"),
            http_ctx("GET", "/"),
        ),
    );
    assert!(
        d.reason.contains(r#"unknown action "http.get""#),
        "{}",
        d.reason
    );
    // audit.read applies to the audit log, not to an HTTP service.
    let d = denied(
        &e,
        &Request::new(
            user("alice", &[]),
            "audit.read",
            http_service("github"),
            Context::at(NOW),
        ),
    );
    assert!(
        d.reason
            .contains("audit.read applies to AuditLog, not to HttpService"),
        "{}",
        d.reason
    );
    allowed(
        &e,
        &Request::new(
            user("alice", &[]),
            "audit.read",
            Resource::AuditLog,
            Context::at(NOW),
        ),
    );
}

#[test]
fn same_request_same_decision() {
    let text = format!(
        "{GITHUB_GET}\nforbid(principal, action, resource) when {{ context has path && context.path == \"/x\" }};"
    );
    let (a, b) = (engine(&text), engine(&text));
    for req in [
        get(user("alice", &[]), "github", "/"),
        get(user("alice", &[]), "github", "/x"),
        post(user("bob", &["dev"]), "github", "/"),
    ] {
        let first = a.decide(&req);
        assert_eq!(first, a.decide(&req));
        assert_eq!(first, b.decide(&req), "a fresh engine decides the same");
    }
}

#[test]
fn roles_traits_time_and_source_address_reach_policies() {
    let e = engine(
        r#"
@id("ml-team-models")
permit(principal in Airlock::Role::"developer", action == Airlock::Action::"inference.call", resource)
when {
  principal.hasTag("team") && principal.getTag("team").contains("ml") &&
  ["gpt-4o", "gpt-4o-mini"].contains(context.model)
};

@id("office-hours")
forbid(principal, action, resource)
when { context.time_of_day < 6 * 3600 };

@id("internal-only")
forbid(principal, action == Airlock::Action::"inference.call", resource)
unless { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) };
"#,
    );
    let mut ml = user_info("alice", &["developer"]);
    ml.traits
        .insert("team".into(), vec!["ml".into(), "infra".into()]);
    let ml = airlock_policy::Principal::User(ml);
    let at = |model: &str, time: i64, ip: &str| {
        let ctx = llm_ctx(model).with("time", time).with("source_ip", ip);
        Request::new(ml.clone(), "inference.call", llm("openai"), ctx)
    };
    let noon = NOW - NOW % 86400 + 12 * 3600;
    allowed(&e, &at("gpt-4o", noon, "10.1.2.3"));
    denied(&e, &at("o1", noon, "10.1.2.3"));
    let d = denied(&e, &at("gpt-4o", noon - 9 * 3600, "10.1.2.3"));
    assert_eq!(d.policies, ["office-hours"]);
    let d = denied(&e, &at("gpt-4o", noon, "192.0.2.1"));
    assert_eq!(d.policies, ["internal-only"]);
    let no_team = Request::new(
        user("bob", &["developer"]),
        "inference.call",
        llm("openai"),
        llm_ctx("gpt-4o").with("source_ip", "10.0.0.1"),
    );
    expect(&e, &no_team, Effect::Deny);
}

#[test]
fn egress_and_mcp_entities_are_addressable() {
    let e = engine(
        r#"
permit(principal, action == Airlock::Action::"egress.connect", resource == Airlock::Egress::"pypi.org:443");
permit(principal, action == Airlock::Action::"egress.connect", resource)
when { resource.host like "*.githubusercontent.com" && resource.port == 443 };
permit(principal, action == Airlock::Action::"mcp.call_tool", resource in Airlock::McpServer::"github")
when { context.tool != "delete_repo" };
"#,
    );
    let alice = || user("alice", &[]);
    let connect =
        |h: &str, p: u16| Request::new(alice(), "egress.connect", egress(h, p), egress_ctx(h, p));
    allowed(&e, &connect("pypi.org", 443));
    denied(&e, &connect("pypi.org", 80));
    allowed(&e, &connect("raw.githubusercontent.com", 443));
    denied(&e, &connect("evil.com", 443));
    let tool = |server: &str, tool: &str| {
        let res = Resource::McpTool {
            server: server.into(),
            tool: tool.into(),
        };
        let ctx = Context::at(NOW).with("tool", tool).with("server", server);
        Request::new(alice(), "mcp.call_tool", res, ctx)
    };
    allowed(&e, &tool("github", "create_issue"));
    denied(&e, &tool("github", "delete_repo"));
    denied(&e, &tool("jira", "create_issue"));
}

#[test]
fn a_request_replays_from_its_json() {
    // Audit events carry the request; deciding it again gives the same answer.
    let e = engine(GITHUB_GET);
    let req = get(user("alice", &["dev"]), "github", "/x");
    let json = serde_json::to_string(&req).unwrap();
    let back: Request = serde_json::from_str(&json).unwrap();
    assert_eq!(back, req);
    assert_eq!(e.decide(&back), e.decide(&req));
}

#[test]
fn engines_are_shared_across_threads() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<airlock_policy::Engine>();
    shared::<airlock_policy::PolicySet>();
    shared::<airlock_policy::Profile>();
}

#[test]
fn a_permit_can_ask_for_bodies_to_be_recorded() {
    let text = format!(
        "{GITHUB_GET}\n@id(\"record-posts\")\n@record_bodies(\"4096\")\npermit(principal == Airlock::User::\"alice\", action == Airlock::Action::\"http.request\", resource == Airlock::HttpService::\"github\")\nwhen {{ context.method == \"POST\" }};"
    );
    let e = engine(&text);
    // Only the calls the annotated permit allows carry the cap.
    let plain = allowed(&e, &get(user("alice", &[]), "github", "/"));
    assert_eq!(plain.record_bodies, None);
    let recorded = allowed(&e, &post(user("alice", &[]), "github", "/repos"));
    assert_eq!(recorded.policies, ["record-posts"]);
    assert_eq!(recorded.record_bodies, Some(4096));
    // A deny records nothing.
    assert_eq!(
        denied(&e, &post(user("bob", &[]), "github", "/")).record_bodies,
        None
    );
}

/// One engine serves every request, and it keeps the entities it built; a
/// user whose roles or traits changed since is decided as they are now.
#[test]
fn a_changed_user_is_decided_as_they_are_now() {
    let e = engine(
        r#"@id("dev-get")
permit(principal in Airlock::Role::"developer", action == Airlock::Action::"http.request",
       resource == Airlock::HttpService::"github");
@id("not-contractors")
forbid(principal, action, resource)
when { principal.hasTag("employment") && principal.getTag("employment").contains("contractor") };"#,
    );
    let dev = || user_info("alice", &["developer"]);
    let req = |u| get(airlock_policy::Principal::User(u), "github", "/");
    allowed(&e, &req(dev()));
    denied(&e, &req(user_info("alice", &[])));
    allowed(&e, &req(dev()));
    let mut contractor = dev();
    contractor
        .traits
        .insert("employment".into(), vec!["contractor".into()]);
    assert_eq!(denied(&e, &req(contractor)).policies, ["not-contractors"]);
    allowed(&e, &req(dev()));
    denied(&e, &get(user("alice", &["developer"]), "gitlab", "/"));
}
