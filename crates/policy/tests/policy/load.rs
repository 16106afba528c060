//! Loading: ids, sources, and refusals with located diagnostics.

use airlock_policy::{LoadError, PolicySet, Profile};

use crate::util::set;

fn refused(files: &[(&str, &str)]) -> LoadError {
    PolicySet::load(files).expect_err("the set should be refused")
}

#[test]
fn syntax_error_names_file_and_line() {
    let text = "permit(principal, action, resource);\n\npermit(principal action, resource);\n";
    let err = refused(&[("team.cedar", text)]);
    let d = &err.diagnostics()[0];
    assert_eq!((d.file.as_str(), d.line), ("team.cedar", 3), "{err}");
    assert!(
        err.to_string()
            .starts_with("policy set refused: team.cedar:3:"),
        "{err}"
    );
}

#[test]
fn schema_violation_names_line_policy_and_problem() {
    let text = r#"
@id("ok")
permit(principal, action == Airlock::Action::"audit.read", resource);

@id("typo")
permit(principal, action == Airlock::Action::"http.request", resource)
when { context.methd == "GET" };
"#;
    let err = refused(&[("a.cedar", "// nothing here\n"), ("b.cedar", text)]);
    let d = &err.diagnostics()[0];
    assert_eq!(d.file, "b.cedar");
    assert_eq!(d.line, 7, "the line of the bad attribute: {err}");
    assert_eq!(d.policy.as_deref(), Some("typo"));
    assert!(d.message.contains("methd"), "{err}");
}

#[test]
fn unknown_action_and_entity_type_are_refused() {
    let err = refused(&[(
        "x.cedar",
        r#"permit(principal, action == Airlock::Action::"http.get", resource);
permit(principal is Airlock::Admin, action, resource);"#,
    )]);
    let all = err.to_string();
    assert_eq!(err.diagnostics().len(), 2, "{all}");
    assert!(all.contains("http.get"), "{all}");
    assert!(all.contains("x.cedar:2:"), "{all}");
}

#[test]
fn strict_mode_refuses_unguarded_optional_attribute() {
    // `source_ip` is optional: strict validation insists on `has`.
    let bad = r#"permit(principal, action == Airlock::Action::"audit.read", resource)
when { context.source_ip.isInRange(ip("10.0.0.0/8")) };"#;
    assert!(PolicySet::load(&[("x.cedar", bad)]).is_err());
    let good = r#"permit(principal, action == Airlock::Action::"audit.read", resource)
when { context has source_ip && context.source_ip.isInRange(ip("10.0.0.0/8")) };"#;
    set(good);
}

#[test]
fn ids_come_from_annotation_or_file_and_position() {
    let s = PolicySet::load(&[
        (
            "one.cedar",
            "permit(principal, action, resource);\n@id(\"named\")\npermit(principal, action, resource);",
        ),
        ("two.cedar", "\n\nforbid(principal, action, resource);"),
    ])
    .unwrap();
    assert_eq!(s.ids(), ["named", "one.cedar#1", "two.cedar#1"]);
    assert_eq!(s.len(), 3);
    let src = s.source("named").unwrap();
    assert_eq!((src.file.as_str(), src.line), ("one.cedar", 2));
    assert_eq!(s.source("two.cedar#1").unwrap().line, 3);
    let files: Vec<&str> = s.files().map(|(name, _)| name).collect();
    assert_eq!(files, ["one.cedar", "two.cedar"]);
}

#[test]
fn duplicate_ids_are_refused_with_both_places() {
    let err = refused(&[
        (
            "a.cedar",
            "@id(\"x\")\npermit(principal, action, resource);",
        ),
        (
            "b.cedar",
            "\n@id(\"x\")\nforbid(principal, action, resource);",
        ),
    ]);
    let msg = err.to_string();
    assert!(msg.contains("b.cedar:2:"), "{msg}");
    assert!(msg.contains("first used at a.cedar:1"), "{msg}");
}

#[test]
fn bad_ids_are_refused() {
    for id in ["", "two words", "profile:spoof/x"] {
        let text = format!("@id({id:?})\npermit(principal, action, resource);");
        let err = refused(&[("x.cedar", &text)]);
        assert!(err.to_string().contains("invalid @id"), "{id:?}: {err}");
    }
}

#[test]
fn templates_are_refused() {
    let err = refused(&[(
        "t.cedar",
        "permit(principal == ?principal, action, resource);",
    )]);
    assert!(err.to_string().contains("templates"), "{err}");
}

#[test]
fn empty_set_loads_and_denies_everything() {
    let s = PolicySet::empty();
    assert!(s.is_empty());
    let comments_only = set("// nothing yet\n");
    assert!(comments_only.is_empty());
}

#[test]
fn profile_names_are_checked_and_prefix_ids() {
    let err = Profile::load(
        "Read Only",
        &[("p.cedar", "permit(principal, action, resource);")],
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::ProfileName(_)), "{err}");
    let p = Profile::load(
        "read-only",
        &[("p.cedar", "permit(principal, action, resource);")],
    )
    .unwrap();
    assert_eq!(p.name(), "read-only");
    assert_eq!(p.policies().ids(), ["profile:read-only/p.cedar#1"]);
}

#[test]
fn a_policy_that_can_never_apply_is_refused() {
    // A forbid that matches nothing is a hole nobody sees: refuse it.
    for never in [
        "permit(principal, action, resource) when { false };",
        "forbid(principal, action == Airlock::Action::\"http.request\", resource is Airlock::Sandbox);",
        "forbid(principal is Airlock::Workload, action, resource);",
    ] {
        let err = refused(&[("x.cedar", never)]);
        assert!(err.to_string().contains("x.cedar:1:"), "{never}: {err}");
    }
}

#[test]
fn warnings_do_not_refuse() {
    // Mixed scripts (a Cyrillic "а" in "аlice") are suspicious, not wrong.
    let s = set(
        r#"permit(principal, action == Airlock::Action::"audit.read", resource)
when { principal.name == "аlice" };"#,
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
    assert_eq!(s.warnings()[0].line, 2);
}

#[test]
fn record_bodies_takes_a_byte_cap_on_a_permit_only() {
    for (annotation, effect, says) in [
        ("lots", "permit", "invalid @record_bodies(\"lots\")"),
        ("0", "permit", "give the byte cap, 1 to 1048576"),
        ("2000000", "permit", "give the byte cap"),
        ("100", "forbid", "belongs on a permit"),
    ] {
        let text = format!(
            "@id(\"p\")\n@record_bodies(\"{annotation}\")\n{effect}(principal, action == Airlock::Action::\"audit.read\", resource);\n"
        );
        let err = refused(&[("r.cedar", &text)]);
        assert!(err.to_string().contains(says), "{annotation}: {err}");
        assert_eq!(err.diagnostics()[0].line, 1, "{err}");
    }
}
