//! The way out of a sandbox, end to end: real clients (curl, git, the
//! OpenAI and Anthropic Python SDKs, the claude CLI) inside real sandboxes
//! created through the binary, reaching a local upstream only through
//! Airlock's access proxy, which decides each request by Cedar policy,
//! injects the real credential and audits it. Then: the real keys are
//! nowhere in the sandbox; every kind of denial names what decided it; and
//! policy, locks, expiry and delegation profiles apply to the next request.

mod keys;
mod llm;
mod world;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sandbox::{BACKENDS, host_leftovers};
use world::*;

#[test]
fn curl_reaches_a_registered_service_with_the_injected_credential_and_policy_decides() {
    let w = World::new();
    for backend in BACKENDS {
        let name = format!("curl-{backend}");
        let id = w.sandbox(&name, backend, &[]);

        // http through HTTP_PROXY, https through HTTPS_PROXY (intercepted):
        // the upstream sees the real credential, not the one the agent sent.
        for scheme in ["https", "http"] {
            let c = w.curl(
                &name,
                &[
                    "-H",
                    "Authorization: Bearer made-up-by-the-agent",
                    "-H",
                    "X-Api-Key: also-the-agent",
                    &w.api_url(scheme, "/echo?page=2"),
                ],
            );
            assert_eq!((c.exit, c.status), (0, 200), "{scheme}: {c:#?}");
            let echo: Value = serde_json::from_str(&c.body).unwrap();
            assert_eq!(
                (&echo["path"], &echo["query"]),
                (&json!("/echo"), &json!("page=2"))
            );
            assert_eq!(echo["headers"]["authorization"], "<real key>", "{echo}");
            assert!(echo["headers"].get("x-api-key").is_none(), "{echo}");
            assert!(!c.body.contains("made-up-by-the-agent"), "{echo}");
        }
        let seen = w.up.requests("api");
        assert!(seen.iter().all(|r| r["credential_ok"] == true), "{seen:#?}");
        // Clients that ignore the CA variables trust the proxy through the
        // sandbox's system store.
        let system_store = w.env.exec(
            &name,
            &[
                "env",
                "-u",
                "CURL_CA_BUNDLE",
                "-u",
                "SSL_CERT_FILE",
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &w.api_url("https", "/echo"),
            ],
        );
        assert_eq!(system_store.ok(), "200", "{system_store:#?}");

        // Policy on method and path: each refusal is one line naming the policy.
        let echo = w.api_url("https", "/echo");
        let post = w.curl(&name, &["-X", "POST", "-d", "x=1", &echo]);
        assert_denied(&post, "POST", &echo, "api-read-only");
        let admin = w.api_url("https", "/admin/users");
        assert_denied(&w.curl(&name, &[&admin]), "GET", &admin, "api-no-admin");

        // An unknown host: default deny, for a tunnel and for plain http.
        let tunnel = w.curl(&name, &["https://unknown.example/"]);
        assert_eq!((tunnel.exit, tunnel.connect), (56, 403), "{tunnel:#?}");
        assert!(
            tunnel
                .stderr
                .contains("CONNECT tunnel failed, response 403"),
            "{tunnel:#?}"
        );
        let plain = w.curl(&name, &["http://unknown.example/x"]);
        assert_eq!(plain.status, 403, "{plain:#?}");
        assert!(
            plain.body.starts_with(
                "airlock: denied GET http://unknown.example/x (no policy allowed it): "
            ),
            "{plain:#?}"
        );

        // Domain fronting: a Host header, or a TLS SNI, other than the tunnel's.
        let fronted = w.curl(&name, &["-H", "Host: evil.example", &echo]);
        assert_denied(&fronted, "GET", &echo, "airlock/domain-fronting");
        assert!(
            fronted.body.contains("\"evil.example:443\""),
            "{fronted:#?}"
        );
        let connect_to = format!("api.example.com:443:{UPSTREAM_IP}:{}", w.up.api);
        let sni = w.curl(
            &name,
            &["--connect-to", &connect_to, "https://api.example.com/echo"],
        );
        assert_denied(&sni, "GET", &echo, "airlock/domain-fronting");
        assert!(
            sni.body
                .contains("TLS SNI \"api.example.com\" does not match"),
            "{sni:#?}"
        );

        // One audit event per request, denials with what decided them.
        let allowed = w.audit(&[
            "--sandbox",
            &id,
            "--action",
            "http.request",
            "--decision",
            "allow",
        ]);
        assert_eq!(allowed.len(), 3, "{allowed:#?}");
        for ev in &allowed {
            assert_eq!(ev["policies"], json!(["dev-api"]), "{ev:#}");
            assert_eq!(
                (&ev["user"], &ev["isolation"]),
                (&json!("dev"), &json!(backend))
            );
            assert_eq!(ev["resource"], "http:api");
            assert_eq!(ev["details"]["status"], 200);
        }
        let denied = w.audit(&[
            "--sandbox",
            &id,
            "--action",
            "http.request",
            "--decision",
            "deny",
        ]);
        audited_denial(&denied, "/echo", &["api-read-only"]);
        audited_denial(&denied, "/admin/users", &["api-no-admin"]);
        let egress = w.audit(&[
            "--sandbox",
            &id,
            "--action",
            "egress.connect",
            "--decision",
            "deny",
        ]);
        let unknown: Vec<&Value> = egress
            .iter()
            .filter(|e| e["details"]["host"] == "unknown.example")
            .collect();
        assert_eq!(unknown.len(), 2, "{egress:#?}");
        for ev in unknown {
            let none = ev["policies"].as_array().is_none_or(Vec::is_empty);
            assert!(none, "default deny names no policy: {ev:#}");
            assert!(
                ev["reason"]
                    .as_str()
                    .unwrap()
                    .contains("no policy allows egress.connect"),
                "{ev:#}"
            );
        }
        let fronting = egress
            .iter()
            .filter(|e| e["policies"] == json!(["airlock/domain-fronting"]))
            .count();
        assert_eq!(fronting, 2, "{egress:#?}");
        w.env.dev.run(&["sandbox", "rm", &name]).ok();
    }

    // `policy check` explains the same decision, naming the deciding policy.
    let check = w.env.admin.run(&[
        "policy",
        "check",
        "--user",
        "dev",
        "--action",
        "http.request",
        "--resource",
        "http:api",
        "--context",
        r#"{"method":"POST","path":"/echo"}"#,
    ]);
    let text = check.ok();
    assert!(text.starts_with("deny: "), "{check:#?}");
    assert!(text.contains("forbid api-read-only"), "{check:#?}");
    assert!(text.contains("permit dev-api"), "{check:#?}");
}
#[test]
fn git_clones_over_https_from_a_registered_git_server() {
    let w = World::new();
    // Debian's git speaks HTTPS through libcurl-gnutls: the proxy's
    // certificates must satisfy GnuTLS too.
    let ldd = Command::new("ldd")
        .arg("/usr/lib/git-core/git-remote-https")
        .output()
        .expect("ldd");
    assert!(String::from_utf8_lossy(&ldd.stdout).contains("gnutls"));
    let id = w.sandbox("git", "runc", &[]);
    w.env
        .exec(
            "git",
            &["git", "clone", "-q", &w.git_url(), "/workspace/demo"],
        )
        .ok();
    let readme = w.env.exec("git", &["cat", "/workspace/demo/README"]);
    assert_eq!(readme.ok(), "through the airlock\n");
    let allowed = w.audit(&["--sandbox", &id, "--action", "http.request"]);
    let fetch = allowed
        .iter()
        .find(|e| e["details"]["path"] == "/demo.git/git-upload-pack")
        .unwrap_or_else(|| panic!("{allowed:#?}"));
    assert_eq!(fetch["details"]["method"], "POST");
    assert_eq!(fetch["policies"], json!(["dev-git"]));
    assert_eq!(fetch["details"]["status"], 200);
}
#[test]
fn policy_and_lock_changes_apply_to_the_next_request() {
    let w = World::new();
    let id = w.sandbox("live", "runc", &[]);
    let echo = w.api_url("https", "/echo");
    assert_eq!(w.curl("live", &[&echo]).status, 200);

    // A stricter set: the same request from the same running sandbox is refused.
    let frozen = "@id(\"api-frozen\")\nforbid (principal, action == Airlock::Action::\"http.request\", resource == Airlock::HttpService::\"api\");\n";
    w.set_policies(&[("outbound.cedar", OUTBOUND), ("frozen.cedar", frozen)])
        .ok();
    assert_denied(&w.curl("live", &[&echo]), "GET", &echo, "api-frozen");
    w.set_policies(&[("outbound.cedar", OUTBOUND)]).ok();
    assert_eq!(w.curl("live", &[&echo]).status, 200);

    // A set without the admin's own policy would leave nobody able to fix
    // it: refused, and the previous set stays in force.
    let dir = w.env.cluster.tmp.path().join("no-admin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("outbound.cedar"), OUTBOUND).unwrap();
    w.env
        .admin
        .run(&["admin", "policy", "set", dir.to_str().unwrap()])
        .fails(6, "could not set policy again");
    assert_eq!(w.curl("live", &[&echo]).status, 200);

    // A set that does not validate against the schema (a misspelt action,
    // the kind of error that would otherwise silently never match): refused
    // with Cedar's diagnostics, nothing stored, the running set unchanged.
    let before = w.env.admin.run(&["admin", "policy", "get"]).ok().to_owned();
    let typo = "@id(\"typo\")\nforbid (principal, action == Airlock::Action::\"http.reqest\", resource);\n";
    let refused = w.set_policies(&[("outbound.cedar", OUTBOUND), ("typo.cedar", typo)]);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(
        refused.stderr.contains("http.reqest") && refused.stderr.lines().count() >= 1,
        "{refused:#?}"
    );
    assert_eq!(w.env.admin.run(&["admin", "policy", "get"]).ok(), before);
    assert_eq!(w.curl("live", &[&echo]).status, 200);

    // A lock on the user: their running sandbox is refused at once (exec'd
    // by the admin, since the user's own commands are refused too).
    let a = &w.env.admin;
    a.run(&[
        "admin",
        "lock",
        "add",
        "--user",
        "dev",
        "--reason",
        "key leaked",
    ])
    .ok();
    let locked = w.curl_as(a, &id, &[&echo]);
    assert_denied(&locked, "GET", &echo, "airlock/lock");
    assert!(
        locked.body.contains("user dev is locked (key leaked)"),
        "{locked:#?}"
    );
    let locks: Value =
        serde_json::from_str(a.run(&["admin", "lock", "ls", "--json"]).ok()).unwrap();
    a.run(&["admin", "lock", "rm", locks[0]["id"].as_str().unwrap()])
        .ok();
    assert_eq!(w.curl("live", &[&echo]).status, 200);

    let denied = w.audit(&[
        "--sandbox",
        &id,
        "--action",
        "http.request",
        "--decision",
        "deny",
    ]);
    audited_denial(&denied, "/echo", &["api-frozen"]);
    let lock = audited_denial(&denied, "/echo", &["airlock/lock"]);
    assert!(
        lock["reason"].as_str().unwrap().contains("key leaked"),
        "{lock:#}"
    );
}

#[test]
fn the_way_out_comes_back_with_the_server_after_a_restart() {
    let mut w = World::new();
    let id = w.sandbox("survivor", "runc", &[]);
    let echo = w.api_url("https", "/echo");
    assert_eq!(w.curl("survivor", &[&echo]).status, 200);
    w.env.cluster.stop();
    // With the server down the sandbox has no way out at all.
    let down = w.curl("survivor", &[&echo]);
    assert_ne!(down.exit, 0, "{down:#?}");
    w.env.cluster.spawn_server();
    // Back: the same sandbox, its proxy socket served again, the catalog
    // rebuilt with its secrets, policy decided.
    let start = Instant::now();
    let back = loop {
        let c = w.curl("survivor", &[&echo]);
        if c.status == 200 || start.elapsed() > Duration::from_secs(10) {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(back.status, 200, "{back:#?}");
    assert_denied(
        &w.curl("survivor", &["-X", "POST", "-d", "x", &echo]),
        "POST",
        &echo,
        "api-read-only",
    );
    let allowed = w.audit(&[
        "--sandbox",
        &id,
        "--action",
        "http.request",
        "--decision",
        "allow",
    ]);
    assert_eq!(allowed.len(), 2, "{allowed:#?}");
}

#[test]
fn an_expired_sandbox_gets_nothing_more_through() {
    let w = World::new();
    // Whether a request reaches the proxy between the expiry and the
    // sandbox's end (which comes within milliseconds) depends on the
    // machine's load; every attempt checks that nothing got through, and
    // an attempt where no request fell on either side of the expiry is
    // run again.
    let caught = ["brief", "brief2", "brief3"]
        .into_iter()
        .any(|name| expire_under_fire(&w, name));
    assert!(
        caught,
        "in three attempts no request reached the proxy both before and after the expiry"
    );
}

/// Requests on kept-alive connections across the expiry of sandbox `name`:
/// asserts that policy decided only before the expiry, the sandbox's end
/// after it, and that the sandbox left nothing behind. True when requests
/// were decided on both sides of the expiry.
fn expire_under_fire(w: &World, name: &str) -> bool {
    let sb = w.create(name, "runc", &["--ttl", "5s"]);
    let id = sb["id"].as_str().unwrap().to_owned();
    // The API shows the expiry to the second; the store holds it to the
    // millisecond, and the hammer aims at that instant.
    let db = w.env.cluster.data.join("state.db");
    let query = format!("SELECT expires_ms FROM sandboxes WHERE id = '{id}'");
    let ms = Command::new("sqlite3")
        .args(["-readonly", db.to_str().unwrap(), &query])
        .output()
        .expect("sqlite3");
    let ms: i64 = String::from_utf8_lossy(&ms.stdout).trim().parse().unwrap();
    let expires =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    // POSTs (refused by policy, so cheap) on kept-alive connections from
    // just before the expiry until the sandbox's end stops them.
    let out = w.env.exec(
        name,
        &[
            "python3",
            "/workspace/hammer.py",
            &w.api_url("http", "/echo"),
            &format!("{:.3}", ms as f64 / 1000.0),
        ],
    );
    assert_ne!(out.code, 0, "the sandbox's end ends the command: {out:#?}");
    assert!(!out.stdout.contains("survived"), "{out:#?}");
    assert!(
        out.stdout.lines().next().unwrap_or("").contains(" 200 "),
        "{out:#?}"
    );

    // Until the expiry, policy decided; from it on, the sandbox's end did.
    // Four connections decide concurrently, so the log's order (seq) may put
    // a request that arrived first after one that arrived later: order by
    // arrival, which is what the expiry is measured against.
    let parse = |e: &Value| {
        let t = e["time"].as_str().unwrap();
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let mut events = w.audit(&["--sandbox", &id, "--action", "http.request"]);
    events.sort_by_key(|e| parse(e));
    // Requests in flight at the expiry may finish in either order; what must
    // hold is that each was decided by the right thing for its arrival time.
    let ended = json!(["airlock/sandbox-ended"]);
    assert_eq!(events[0]["policies"], json!(["dev-api"]), "{events:#?}");
    let both_sides = [json!(["api-read-only"]), ended.clone()]
        .iter()
        .all(|decider| events.iter().any(|e| &e["policies"] == decider));
    for e in &events {
        // A request arrives (its event's time) before it is decided.
        if e["policies"] == ended {
            let early = time::Duration::milliseconds(100);
            assert!(parse(e) > expires - early, "ended before its expiry: {e:#}");
        } else {
            assert!(parse(e) < expires, "policy decided after the expiry: {e:#}");
        }
    }
    let expired = w.audit(&["--sandbox", &id, "--action", "sandbox.expire"]);
    assert_eq!(expired.len(), 1);
    // The sandbox and its proxy socket are gone from the host.
    let start = Instant::now();
    while !host_leftovers(&id).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            host_leftovers(&id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    w.env.exec(name, &["true"]).fails(5, "expired");
    both_sides
}

#[test]
fn a_delegation_profile_narrows_what_the_user_may_do() {
    let w = World::new();
    w.sandbox("plain", "runc", &[]);
    let ro = w.sandbox("ro", "runc", &["--profile", "read-only"]);
    // The user may POST to git (a clone does); an agent under the
    // read-only profile may not, though it acts for the same user.
    let clone = ["git", "clone", "-q", &w.git_url(), "/workspace/demo"];
    w.env.exec("plain", &clone).ok();
    let refused = w.env.exec("ro", &clone);
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(refused.stderr.contains("403"), "{refused:#?}");
    let pack = format!("{}/git-upload-pack", w.git_url());
    let post = ["-X", "POST", "--data-binary", "0000", pack.as_str()];
    assert_denied(
        &w.curl("ro", &post),
        "POST",
        &pack,
        "profile:read-only/no-writes",
    );
    let user = w.curl("plain", &post);
    assert!(!user.body.starts_with("airlock: denied"), "{user:#?}");
    // Reading still works under the profile.
    let refs = format!("{}/info/refs?service=git-upload-pack", w.git_url());
    assert_eq!(w.curl("ro", &[&refs]).status, 200);

    let denied = w.audit(&[
        "--sandbox",
        &ro,
        "--action",
        "http.request",
        "--decision",
        "deny",
    ]);
    let ev = audited_denial(
        &denied,
        "/demo.git/git-upload-pack",
        &["profile:read-only/no-writes"],
    );
    assert_eq!(ev["details"]["profile"], "read-only");

    // policy check shows both stages: the user's set allows, the profile forbids.
    let check = w.env.admin.run(&[
        "policy",
        "check",
        "--user",
        "dev",
        "--sandbox",
        &ro,
        "--action",
        "http.request",
        "--resource",
        "http:git",
        "--context",
        r#"{"method":"POST","path":"/demo.git/git-upload-pack"}"#,
    ]);
    let text = check.ok();
    assert!(text.starts_with("deny: "), "{check:#?}");
    assert!(text.contains("permit dev-git"), "{check:#?}");
    assert!(
        text.contains("delegation profile read-only: denies"),
        "{check:#?}"
    );
    assert!(text.contains("no-writes"), "{check:#?}");
}
