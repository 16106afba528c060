//! The starter set: today's built-in roles, safe by default.

use airlock_policy::{
    Context, Engine, PolicySet, Request, Resource, STARTER_EXAMPLES, STARTER_POLICIES,
};

use crate::util::*;

fn starter() -> Engine {
    Engine::new(PolicySet::starter())
}

#[test]
fn starter_set_passes_its_examples() {
    let set = PolicySet::load_with_examples(
        &[("starter.cedar", STARTER_POLICIES)],
        &[("starter.examples.toml", STARTER_EXAMPLES)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let n = Engine::new(set)
        .check_examples("starter.examples.toml", STARTER_EXAMPLES)
        .unwrap();
    assert!(n >= 10, "only {n} examples");
}

#[test]
fn admin_runs_the_control_plane() {
    let e = starter();
    let root = || user("root", &["admin"]);
    for action in [
        "admin.user.add",
        "admin.policy.set",
        "admin.sandbox.list",
        "sandbox.list",
    ] {
        allowed(
            &e,
            &Request::new(root(), action, Resource::Cluster, Context::at(NOW)),
        );
    }
    allowed(
        &e,
        &Request::new(
            root(),
            "sandbox.exec",
            sandbox("sb-9", "bob"),
            Context::at(NOW),
        ),
    );
    allowed(
        &e,
        &Request::new(
            root(),
            "admin.sandbox.access",
            sandbox("sb-9", "bob"),
            Context::at(NOW),
        ),
    );
    allowed(
        &e,
        &Request::new(root(), "audit.read", Resource::AuditLog, Context::at(NOW)),
    );
}

#[test]
fn developer_uses_own_sandboxes_only() {
    let e = starter();
    let alice = || user("alice", &["developer"]);
    for action in [
        "sandbox.create",
        "sandbox.exec",
        "sandbox.ssh",
        "sandbox.cp",
        "sandbox.remove",
    ] {
        let d = allowed(
            &e,
            &Request::new(alice(), action, sandbox("sb-1", "alice"), Context::at(NOW)),
        );
        assert_eq!(d.policies, ["developer-own-sandboxes"]);
        denied(
            &e,
            &Request::new(alice(), action, sandbox("sb-2", "bob"), Context::at(NOW)),
        );
    }
    denied(
        &e,
        &Request::new(
            alice(),
            "admin.sandbox.access",
            sandbox("sb-2", "bob"),
            Context::at(NOW),
        ),
    );
    denied(
        &e,
        &Request::new(alice(), "audit.read", Resource::AuditLog, Context::at(NOW)),
    );
}

#[test]
fn nothing_outside_is_granted_by_default() {
    let e = starter();
    for who in [user("root", &["admin"]), user("alice", &["developer"])] {
        denied(&e, &get(who.clone(), "github", "/"));
        denied(
            &e,
            &Request::new(
                who.clone(),
                "inference.call",
                llm("openai"),
                llm_ctx("gpt-4o"),
            ),
        );
        denied(
            &e,
            &Request::new(
                who,
                "egress.connect",
                egress("pypi.org", 443),
                egress_ctx("pypi.org", 443),
            ),
        );
    }
}

#[test]
fn auditor_reads_the_audit_log_and_nothing_else() {
    let e = starter();
    let carol = || user("carol", &["auditor"]);
    allowed(
        &e,
        &Request::new(carol(), "audit.read", Resource::AuditLog, Context::at(NOW)),
    );
    denied(
        &e,
        &Request::new(carol(), "sandbox.list", Resource::Cluster, Context::at(NOW)),
    );
    denied(
        &e,
        &Request::new(
            carol(),
            "admin.user.list",
            Resource::Cluster,
            Context::at(NOW),
        ),
    );
}
