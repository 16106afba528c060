//! docs/audit-events.md must list exactly the codes of the code table.

use std::path::PathBuf;

const BEGIN: &str =
    "<!-- BEGIN GENERATED: event codes (cargo test -p airlock-audit; UPDATE_DOCS=1 rewrites) -->\n";
const END: &str = "<!-- END GENERATED -->";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit-events.md")
}

#[test]
fn event_code_doc_matches_the_table() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/audit-events.md exists");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let table = airlock_audit::code::markdown_table();
    if doc[start..end] != table {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "docs/audit-events.md is out of date with src/code.rs; run UPDATE_DOCS=1 cargo test -p airlock-audit"
        );
    }
}

#[test]
fn code_ids_and_names_are_unique_and_well_formed() {
    use airlock_audit::EventCode;
    let mut ids = std::collections::HashSet::new();
    let mut names = std::collections::HashSet::new();
    for c in EventCode::ALL {
        assert!(
            ids.insert(c.id()) && names.insert(c.name()),
            "{c} is duplicated"
        );
        assert!(c.id().len() == 5 && c.id().starts_with('A'), "{c}");
        assert_eq!(EventCode::lookup(c.id()), Some(*c));
        assert_eq!(EventCode::lookup(c.name()), Some(*c));
    }
}
