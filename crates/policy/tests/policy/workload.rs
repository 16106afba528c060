//! A workload may do what its user may do AND what its sandbox's
//! delegation profile allows: delegation narrows, never widens.

use airlock_core::IsolationClass;
use airlock_policy::{Context, Engine, Principal, Request};

use crate::util::*;

const ALICE_GITHUB: &str = r#"
@id("alice-github")
permit(principal == Airlock::User::"alice", action == Airlock::Action::"http.request",
       resource == Airlock::HttpService::"github");
"#;

const READ_ONLY: &str = r#"
@id("get-only")
permit(principal, action == Airlock::Action::"http.request", resource)
when { context.method == "GET" || context.method == "HEAD" };
"#;

fn engine_with(policies: &str, profiles: &[(&str, &str)]) -> Engine {
    profiles.iter().fold(engine(policies), |e, (name, text)| {
        e.with_profile(profile(name, text))
    })
}

#[test]
fn without_a_profile_a_workload_has_its_users_rights() {
    let e = engine(ALICE_GITHUB);
    allowed(&e, &post(workload("alice", &[], None), "github", "/"));
    denied(&e, &post(workload("bob", &[], None), "github", "/"));
}

#[test]
fn a_profile_narrows() {
    let e = engine_with(ALICE_GITHUB, &[("read-only", READ_ONLY)]);
    let w = || workload("alice", &[], Some("read-only"));
    let d = allowed(&e, &get(w(), "github", "/repos"));
    assert_eq!(
        d.policies,
        ["alice-github", "profile:read-only/get-only"],
        "both stages decide"
    );
    assert_eq!(
        d.reason,
        "allowed by policies alice-github, profile:read-only/get-only within delegation profile read-only"
    );
    let d = denied(&e, &post(w(), "github", "/repos"));
    assert_eq!(
        d.reason,
        r#"delegation profile read-only does not allow http.request POST /repos on HttpService "github""#
    );
    // The user, acting directly, is not narrowed.
    allowed(&e, &post(user("alice", &[]), "github", "/repos"));
}

#[test]
fn a_profile_never_widens() {
    let everything = "@id(\"all\")\npermit(principal, action, resource);";
    let e = engine_with(ALICE_GITHUB, &[("wide", everything)]);
    let d = denied(
        &e,
        &get(workload("alice", &[], Some("wide")), "gitlab", "/"),
    );
    assert_eq!(
        d.reason,
        r#"as user alice: no policy allows http.request GET / on HttpService "gitlab""#
    );
    assert!(d.policies.is_empty());
    denied(&e, &get(workload("bob", &[], Some("wide")), "github", "/"));
}

#[test]
fn a_profile_forbid_is_reported_with_its_id() {
    let e = engine_with(
        ALICE_GITHUB,
        &[(
            "no-admin",
            r#"permit(principal, action, resource);
@id("no-admin-paths")
forbid(principal, action == Airlock::Action::"http.request", resource)
when { context.path like "/admin*" };"#,
        )],
    );
    let d = denied(
        &e,
        &get(workload("alice", &[], Some("no-admin")), "github", "/admin"),
    );
    assert_eq!(d.policies, ["profile:no-admin/no-admin-paths"]);
    assert!(
        d.reason
            .starts_with("delegation profile no-admin forbids http.request GET /admin"),
        "{}",
        d.reason
    );
}

#[test]
fn an_unknown_profile_allows_nothing() {
    let e = engine(ALICE_GITHUB);
    let d = denied(
        &e,
        &get(workload("alice", &[], Some("missing")), "github", "/"),
    );
    assert!(
        d.reason.contains("delegation profile missing"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("not loaded"), "{}", d.reason);
}

#[test]
fn profiles_see_the_workload_its_sandbox_and_its_user() {
    let strong_only = r#"
permit(principal, action, resource)
when { principal.isolation == "microvm" && principal.sandbox.owner == principal.user &&
       principal.user.name == "alice" };
"#;
    let e = engine_with(ALICE_GITHUB, &[("strong", strong_only)]);
    let mut w = workload("alice", &[], Some("strong"));
    denied(&e, &get(w.clone(), "github", "/"));
    if let Principal::Workload(info) = &mut w {
        info.isolation = IsolationClass::Microvm;
    }
    allowed(&e, &get(w, "github", "/"));
}

#[test]
fn a_workload_acting_on_its_own_sandbox() {
    // The workload's sandbox and the resource are then one entity, which
    // must be described the same way both times.
    let all = "permit(principal, action, resource);";
    let e = engine_with(all, &[("all", all)]);
    let w = workload("alice", &[], Some("all"));
    let own = Request::new(
        w.clone(),
        "sandbox.exec",
        sandbox("sb-alice", "alice"),
        Context::at(NOW),
    );
    allowed(&e, &own);
    let lying = Request::new(
        w,
        "sandbox.exec",
        sandbox("sb-alice", "bob"),
        Context::at(NOW),
    );
    let d = denied(&e, &lying);
    assert!(
        d.reason.contains("described in two different ways"),
        "{}",
        d.reason
    );
}

#[test]
fn the_starter_set_lets_a_developers_workload_use_its_sandbox() {
    let e = Engine::new(airlock_policy::PolicySet::starter());
    let w = workload("alice", &["developer"], None);
    allowed(
        &e,
        &Request::new(
            w.clone(),
            "sandbox.exec",
            sandbox("sb-alice", "alice"),
            Context::at(NOW),
        ),
    );
    denied(&e, &get(w, "github", "/"));
}

/// An engine remembers its decisions; a changed profile makes another
/// engine, which must not answer from the old one's memory.
#[test]
fn a_replaced_profile_is_not_answered_from_the_old_engines_decisions() {
    let narrow = engine_with(ALICE_GITHUB, &[("p", READ_ONLY)]);
    let w = || workload("alice", &[], Some("p"));
    denied(&narrow, &post(w(), "github", "/"));
    denied(&narrow, &post(w(), "github", "/"));
    let everything = "@id(\"all\")\npermit(principal, action, resource);";
    let wide = narrow.clone().with_profile(profile("p", everything));
    allowed(&wide, &post(w(), "github", "/"));
    denied(&narrow, &post(w(), "github", "/"));
}
