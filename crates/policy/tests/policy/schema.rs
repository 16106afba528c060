//! The schema: it parses, names every action, and splits principals
//! between the policy set (users) and profiles (workloads).

use airlock_policy::{PolicySet, Profile, SCHEMA_TEXT, actions, profile_schema_text};

#[test]
fn every_action_of_the_brief_is_requestable_and_groups_are_not() {
    let all = actions();
    for a in [
        "sandbox.create",
        "sandbox.exec",
        "sandbox.ssh",
        "sandbox.cp",
        "sandbox.list",
        "sandbox.remove",
        "http.request",
        "inference.call",
        "egress.connect",
        "db.connect",
        "db.query",
        "mcp.call_tool",
        "audit.read",
        "admin.user.add",
        "admin.user.list",
        "admin.user.remove",
        "admin.lock.add",
        "admin.lock.list",
        "admin.lock.remove",
        "admin.role.list",
        "admin.role.set",
        "admin.policy.set",
        "admin.policy.get",
        "admin.secret.set",
        "admin.secret.remove",
        "admin.resource.add",
        "admin.resource.remove",
        "admin.resource.list",
        "admin.profile.set",
        "admin.profile.remove",
        "admin.cert.issue",
        "admin.sandbox.list",
        "admin.sandbox.access",
        "admin.image.build",
        "admin.image.remove",
    ] {
        assert!(all.contains(&a), "{a} missing from {all:?}");
    }
    assert_eq!(all.len(), 35, "{all:?}");
    assert!(!all.contains(&"sandbox.*"), "groups cannot be requested");
}

#[test]
fn profile_schema_is_the_same_text_with_workload_principals() {
    let profile = profile_schema_text();
    assert!(!profile.contains("principal: User,"));
    assert_eq!(
        profile.matches("principal: Workload,").count(),
        SCHEMA_TEXT.matches("principal: User,").count()
    );
}

#[test]
fn policy_set_principals_are_users_and_profile_principals_workloads() {
    let workload_policy = r#"permit(principal is Airlock::Workload, action, resource);"#;
    let err = PolicySet::load(&[("x.cedar", workload_policy)]).unwrap_err();
    assert!(!err.diagnostics().is_empty(), "{err}");
    Profile::load("p", &[("p.cedar", workload_policy)]).unwrap();

    // A user attribute does not exist on a workload.
    let user_attr = r#"permit(principal, action, resource) when { principal.name == "alice" };"#;
    crate::util::set(user_attr);
    assert!(Profile::load("p", &[("p.cedar", user_attr)]).is_err());
}
