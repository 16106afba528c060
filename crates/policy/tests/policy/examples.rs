//! Examples files: checked at load, a failing example refuses the set.

use airlock_policy::{LoadError, PolicySet};

use crate::util::*;

const POLICY: &str = r#"
@id("github-get")
permit(principal == Airlock::User::"alice", action == Airlock::Action::"http.request",
       resource == Airlock::HttpService::"github")
when { context.method == "GET" };
"#;

const GET_OK: &str = r#"
[[tests]]
name = "alice reads github"
expect = "allow"
policies = ["github-get"]
[tests.request]
action = "http.request"
principal = { type = "user", name = "alice" }
resource = { type = "http_service", name = "github", host = "api.github.com" }
context = { time = 1700000000, method = "GET", path = "/", host = "api.github.com", port = 443 }

[[tests]]
name = "alice does not write github"
expect = "deny"
[tests.request]
action = "http.request"
principal = { type = "user", name = "alice" }
resource = { type = "http_service", name = "github", host = "api.github.com" }
context = { time = 1700000000, method = "POST", path = "/", host = "api.github.com", port = 443 }
"#;

fn load(examples: &str) -> Result<PolicySet, LoadError> {
    PolicySet::load_with_examples(&[("p.cedar", POLICY)], &[("p.examples.toml", examples)])
}

#[test]
fn passing_examples_load() {
    load(GET_OK).unwrap();
}

#[test]
fn a_failing_example_refuses_the_set() {
    let wrong = GET_OK.replacen("expect = \"deny\"", "expect = \"allow\"", 1);
    let err = load(&wrong).unwrap_err();
    assert!(matches!(err, LoadError::ExampleFailed { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("\"alice does not write github\""), "{msg}");
    assert!(
        msg.contains("expects allow but the policies decide deny"),
        "{msg}"
    );
}

#[test]
fn expected_policy_ids_are_checked() {
    let wrong = GET_OK.replacen("[\"github-get\"]", "[\"other\"]", 1);
    let msg = load(&wrong).unwrap_err().to_string();
    assert!(msg.contains("allow by [other]"), "{msg}");
}

#[test]
fn malformed_examples_are_refused() {
    let err = load("[[tests]]\nexpect = \"maybe\"\n").unwrap_err();
    assert!(matches!(err, LoadError::ExamplesFile { .. }), "{err}");
    let err = load("[[tests]]\nexpect = \"allow\"\nrequest = { action = \"x\" }\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("examples file p.examples.toml:"),
        "{err}"
    );
}

#[test]
fn json_examples_work_too() {
    let json = r#"{"tests": [{"expect": "deny", "request": {
        "action": "http.request",
        "principal": {"type": "user", "name": "bob"},
        "resource": {"type": "http_service", "name": "github", "host": "h"},
        "context": {"time": 1, "method": "GET", "path": "/", "host": "h", "port": 443}}}]}"#;
    PolicySet::load_with_examples(&[("p.cedar", POLICY)], &[("x.json", json)]).unwrap();
}

#[test]
fn workload_examples_run_against_an_engine_with_profiles() {
    let e = engine(POLICY).with_profile(profile("none", "forbid(principal, action, resource);"));
    let examples = r#"
[[tests]]
expect = "deny"
policies = ["profile:none/profile.cedar#1"]
[tests.request]
action = "http.request"
principal = { type = "workload", sandbox = "sb-1", isolation = "gvisor", image = "debian", profile = "none", user = { name = "alice" } }
resource = { type = "http_service", name = "github", host = "h" }
context = { time = 1, method = "GET", path = "/", host = "h", port = 443 }
"#;
    assert_eq!(e.check_examples("w.toml", examples).unwrap(), 1);
}
