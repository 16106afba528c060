//! The admin registry through the binary: roles, secrets, resources and
//! delegation profiles are listed and removed, secrets never shown, and
//! what is in use is not removed from under its users.

use serde_json::Value;

use crate::util::*;

fn json(out: Out) -> Value {
    serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{e}: {out:#?}"))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect()
}

#[test]
fn roles_secrets_resources_and_profiles_are_listed_and_removed() {
    let cluster = Cluster::start();
    let a = cluster.admin();

    // Roles: the built-in three, and one an admin adds with its limits.
    a.run(&["admin", "role", "set", "ops", "--max-ttl", "2h"])
        .ok();
    let roles = json(a.run(&["admin", "role", "ls", "--json"]));
    for want in ["admin", "developer", "auditor", "ops"] {
        assert!(names(&roles).contains(&want), "{want} not in {roles:#}");
    }
    let human = a.run(&["admin", "role", "ls"]);
    assert!(human.ok().contains("ops"), "{human:#?}");

    // Secrets: listed by name, the value never leaves the server.
    a.run_stdin(
        &["admin", "secret", "set", "gh-token", "--value-stdin"],
        "very-secret-value-42\n",
    )
    .ok();
    let secrets = a.run(&["admin", "secret", "ls", "--json"]);
    assert!(!secrets.stdout.contains("very-secret-value-42"));
    assert_eq!(names(&json(secrets)), ["gh-token"]);

    // A resource that uses it keeps the secret from being removed.
    a.run(&[
        "admin",
        "resource",
        "add",
        "http",
        "github",
        "--url",
        "https://api.github.com",
        "--inject-header",
        "Authorization: Bearer ${secret:gh-token}",
    ])
    .ok();
    let resources = a.run(&["admin", "resource", "ls", "--json"]);
    assert!(!resources.stdout.contains("very-secret-value-42"));
    assert_eq!(names(&json(resources)), ["github"]);
    a.run(&["admin", "secret", "rm", "gh-token"])
        .fails(6, "used by github");
    a.run(&["admin", "resource", "rm", "github"]).ok();
    a.run(&["admin", "resource", "rm", "github"])
        .fails(5, "no resource \"github\"");
    a.run(&["admin", "secret", "rm", "gh-token"]).ok();
    assert_eq!(
        json(a.run(&["admin", "secret", "ls", "--json"])),
        serde_json::json!([])
    );

    // Delegation profiles.
    let file = cluster.tmp.path().join("ro.cedar");
    std::fs::write(
        &file,
        "@id(\"reads\")\npermit (principal, action == Airlock::Action::\"http.request\", resource)\nwhen { context.method == \"GET\" };\n",
    )
    .unwrap();
    a.run(&["admin", "profile", "set", "ro", file.to_str().unwrap()])
        .ok();
    let profiles = json(a.run(&["admin", "profile", "ls", "--json"]));
    assert_eq!(names(&profiles), ["ro"], "{profiles:#}");
    a.run(&["admin", "profile", "rm", "ro"]).ok();
    a.run(&["admin", "profile", "rm", "ro"])
        .fails(5, "no profile \"ro\"");

    // Every change is on the record.
    let evs = json(a.run(&["audit", "search", "--json", "--user", ADMIN]));
    for code in ["A2006", "A2007", "A2008", "A2009", "A2010", "A2011"] {
        assert!(
            evs.as_array().unwrap().iter().any(|e| e["code"] == code),
            "no {code} in {evs:#}"
        );
    }
}
