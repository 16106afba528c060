//! Init, start, login, whoami, logout, and the files a login leaves behind.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

#[test]
fn init_start_login_whoami_logout() {
    let cluster = Cluster::start();
    let admin = cluster.client("admin");
    let out = admin.login(ADMIN, ADMIN_PW);
    out.ok();
    assert!(
        out.stdout
            .contains("Logged in to airlock as admin (roles: admin)"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("verified and pinned"), "{out:#?}");

    for f in ["key.pem", "cert.pem", "profile.json", "ca.pem"] {
        let mode = std::fs::metadata(admin.home.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f} mode {mode:o}");
    }
    let key = std::fs::read_to_string(admin.home.join("key.pem")).unwrap();
    assert!(key.contains("BEGIN PRIVATE KEY"));

    let who = admin.run(&["whoami", "--json"]);
    let v: serde_json::Value = serde_json::from_str(who.ok()).unwrap();
    assert_eq!(v["user"], "admin");
    assert_eq!(v["roles"], serde_json::json!(["admin"]));
    let expires = time::OffsetDateTime::parse(
        v["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::hours(8) && left > time::Duration::hours(7),
        "{left}"
    );

    let human = admin.run(&["whoami"]);
    assert!(human.ok().contains("user:     admin"));

    admin.run(&["logout"]).ok();
    assert!(!admin.home.join("key.pem").exists());
    admin.run(&["whoami"]).fails(3, "not logged in");
}

/// How long the client's login certificate has left, as `whoami` says.
fn login_time_left(client: &Client) -> time::Duration {
    let v: serde_json::Value =
        serde_json::from_str(client.run(&["whoami", "--json"]).ok()).unwrap();
    let expires = time::OffsetDateTime::parse(
        v["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    expires - time::OffsetDateTime::now_utc()
}

#[test]
fn ttl_is_capped_by_the_role_maximum() {
    let cluster = Cluster::start();
    let admin = cluster.client("admin");
    admin.login_with(ADMIN, ADMIN_PW, &["--ttl", "48h"]).ok();
    let left = login_time_left(&admin);
    assert!(
        left <= time::Duration::hours(8),
        "capped at the role's 8h: {left}"
    );

    admin.login_with(ADMIN, ADMIN_PW, &["--ttl", "30m"]).ok();
    let left = login_time_left(&admin);
    assert!(
        left <= time::Duration::minutes(30) && left > time::Duration::minutes(28),
        "{left}"
    );
}

#[test]
fn users_are_added_listed_and_removed_and_removal_revokes() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "bob", "developer", "bob-password");
    let ls = admin.run(&["admin", "user", "ls", "--json"]);
    let users: serde_json::Value = serde_json::from_str(ls.ok()).unwrap();
    let names: Vec<_> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, vec!["admin", "bob"]);
    assert!(
        ls.stdout.find("password").is_none(),
        "hashes never leave the server"
    );

    let bob = cluster.client("bob");
    bob.login("bob", "bob-password").ok();
    bob.run(&["whoami"]).ok();

    admin.run(&["admin", "user", "rm", "bob"]).ok();
    bob.run(&["whoami"]).fails(3, "user bob no longer exists");
    admin
        .run(&["admin", "user", "rm", "bob"])
        .fails(5, "does not exist");
    admin
        .run(&["admin", "user", "rm", ADMIN])
        .fails(6, "cannot remove yourself");
}

#[test]
fn plain_users_are_refused_admin_actions_with_the_action_named() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "dev", "developer", "dev-password");
    let dev = cluster.client("dev");
    dev.login("dev", "dev-password").ok();
    dev.run_stdin(
        &[
            "admin",
            "user",
            "add",
            "eve",
            "--roles",
            "admin",
            "--password-stdin",
        ],
        "eve-password\n",
    )
    .fails(4, "not allowed: admin.user.add");
    dev.run(&["admin", "user", "ls"])
        .fails(4, "not allowed: admin.user.list");
    dev.run(&["admin", "lock", "add", "--user", "admin"])
        .fails(4, "not allowed: admin.lock.add");
    // Nothing changed.
    let users: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "user", "ls", "--json"]).ok()).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
}

#[test]
fn a_later_login_to_a_different_ca_at_the_same_address_is_refused() {
    let port = free_port();
    let mut first = Cluster::start_on(port);
    let client = first.client("roamer");
    client.login(ADMIN, ADMIN_PW).ok();
    first.stop();

    let second = Cluster::start_on(port);
    assert_ne!(first.fingerprint, second.fingerprint);
    let roamer = Client {
        home: client.home.clone(),
        url: second.url.clone(),
        fingerprint: second.fingerprint.clone(),
    };
    // Even with the new cluster's fingerprint given, the pin wins.
    roamer.login(ADMIN, ADMIN_PW).fails(3, "you pinned");
    // Without --ca-fingerprint too.
    roamer
        .login_unverified(ADMIN, ADMIN_PW, &[])
        .fails(3, "this may be an attack");
    // After an explicit forget, the new cluster can be pinned.
    roamer.run(&["logout", "--forget"]).ok();
    roamer.login(ADMIN, ADMIN_PW).ok();
}

#[test]
fn a_wrong_ca_fingerprint_on_first_contact_is_refused() {
    let cluster = Cluster::start();
    let c = cluster.client("careful");
    let wrong = "00".repeat(32);
    c.login_unverified(ADMIN, ADMIN_PW, &["--ca-fingerprint", &wrong])
        .fails(3, "not the --ca-fingerprint you gave");
    assert!(!c.home.join("key.pem").exists());
    assert!(
        !c.home.join("known_clusters.json").exists(),
        "nothing pinned"
    );
}

#[test]
fn server_survives_restart_and_logins_still_work() {
    let mut cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "carol", "developer", "carol-password");
    cluster.stop();
    cluster.spawn_server();
    admin.run(&["whoami"]).ok();
    let carol = cluster.client("carol");
    carol.login("carol", "carol-password").ok();
}

#[test]
fn openapi_document_is_served_and_lists_the_routes() {
    let cluster = Cluster::start();
    let c = cluster.client("anon");
    let (code, doc) = c.curl_anon("GET", "/v1/openapi.json", None);
    assert_eq!(code, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/login",
        "/v1/users",
        "/v1/locks",
        "/v1/jwks",
        "/.well-known/openid-configuration",
        "/v1/whoami",
        "/v1/certs/svid",
        "/v1/jwt-svid",
        "/v1/audit/events",
        "/v1/audit/verify",
        "/v1/sandboxes",
        "/v1/sandboxes/{name}/exec",
        "/v1/policy/check",
        "/v1/resources",
        "/v1/secrets",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    // Every operation the document lists is one the server answers: not
    // the "no such route" fallback, not 405.
    for (path, item) in paths {
        let concrete = path.replace('{', "x-").replace('}', "");
        for method in item.as_object().unwrap().keys() {
            let (code, body) = c.curl_anon(&method.to_uppercase(), &concrete, Some("{}"));
            let message = body["error"]["message"].as_str().unwrap_or("");
            assert!(
                code != 405 && !message.contains("no such API route"),
                "{method} {path}: {code} {body}"
            );
        }
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn init_keeps_private_keys_private_and_login_pins_the_printed_fingerprint() {
    let cluster = Cluster::start();
    // Every private key init made (CA, JWT, audit, proxy CA, secrets) is
    // readable by the server's user alone.
    let ca_dir = cluster.data.join("ca");
    let keys: Vec<_> = std::fs::read_dir(&ca_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    assert!(
        keys.iter().any(|k| k.ends_with("ca.key")) && keys.len() >= 3,
        "{keys:?}"
    );
    for k in &keys {
        assert_eq!(mode(k), 0o600, "{}", k.display());
    }

    // First contact without a fingerprint: trust on first use, and the
    // fingerprint shown is the cluster's, so the user can compare it.
    let c = cluster.client("tofu");
    let out = c.login_unverified(ADMIN, ADMIN_PW, &[]);
    out.ok();
    assert!(
        out.stderr.contains("pinned (trust on first use)")
            && out.stderr.replace(':', "").contains(&cluster.fingerprint),
        "{out:#?} should show {}",
        cluster.fingerprint
    );
    let known = c.home.join("known_clusters.json");
    assert_eq!(mode(&known), 0o600);
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .contains(&cluster.fingerprint)
    );
    assert_eq!(mode(&c.home), 0o700, "$AIRLOCK_HOME itself is private");
}

#[test]
fn a_failed_first_login_pins_nothing() {
    let cluster = Cluster::start();
    let c = cluster.client("typo");
    c.login_unverified(ADMIN, "not-the-password", &[])
        .fails(3, "wrong user name or password");
    for f in ["known_clusters.json", "ca.pem", "key.pem", "cert.pem"] {
        assert!(!c.home.join(f).exists(), "{f} left behind");
    }
}

#[test]
fn a_call_without_a_client_certificate_is_refused_and_recorded() {
    let cluster = Cluster::start();
    let anon = cluster.client("anon");
    let (code, body) = anon.curl_anon("GET", "/v1/users", None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run `airlock login` first"),
        "{body}"
    );
    let admin = cluster.admin();
    let out = admin.run(&["audit", "search", "--json", "--decision", "deny"]);
    let evs: Vec<serde_json::Value> = serde_json::from_str(out.ok()).unwrap();
    let refused = evs
        .iter()
        .find(|e| e["code"] == "A3001" && e["details"]["path"] == "/v1/users")
        .unwrap_or_else(|| panic!("no refusal recorded: {evs:#?}"));
    assert_eq!(refused["details"]["status"], 401);
    assert!(
        refused["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(refused["user"].is_null(), "{refused}");
}

#[test]
fn a_role_with_a_shorter_maximum_caps_the_login_and_traits_ride_in_the_certificate() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    admin
        .run(&["admin", "role", "set", "contractor", "--max-ttl", "1h"])
        .ok();
    admin
        .run_stdin(
            &[
                "admin",
                "user",
                "add",
                "cat",
                "--roles",
                "contractor",
                "--trait",
                "team=payments",
                "--password-stdin",
            ],
            "cat-password-long\n",
        )
        .ok();
    let cat = cluster.client("cat");
    // No --ttl: the 8h default, cut to the role's hour.
    cat.login("cat", "cat-password-long").ok();
    let left = login_time_left(&cat);
    assert!(
        left <= time::Duration::hours(1) && left > time::Duration::minutes(58),
        "{left}"
    );
    // The certificate carries user, roles and traits in the private
    // extension, as openssl (not our code) reads it.
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cat.home.join("cert.pem"))
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Subject: CN = cat"), "{text}");
    let ext = text
        .split(airlock_core::oid::IDENTITY_EXT_OID)
        .nth(1)
        .unwrap_or_else(|| panic!("no identity extension: {text}"));
    for want in [
        r#""roles":["contractor"]"#,
        r#""traits":{"team":["payments"]}"#,
    ] {
        assert!(ext.contains(want), "{want} not in {ext}");
    }
}

#[test]
fn login_prompts_for_the_password_on_a_terminal_without_echoing_it() {
    let cluster = Cluster::start();
    let c = cluster.client("typist");
    // Type once the prompt is up and the terminal's echo is off, as a
    // person would see it: then nothing typed may appear.
    let steps = serde_json::json!([
        ["wait", "Password for"],
        ["echo_off"],
        ["type", format!("{ADMIN_PW}\n")],
    ]);
    let out = pty_session(
        &c.home,
        steps,
        &[
            airlock_bin(),
            "login",
            "--server",
            &cluster.url,
            "--user",
            ADMIN,
            "--ca-fingerprint",
            &cluster.fingerprint,
        ],
    );
    assert!(out.stdout.contains("Password for admin:"), "{out:#?}");
    assert!(
        out.stdout.contains("Logged in to airlock as admin"),
        "{out:#?}"
    );
    assert!(
        !out.stdout.contains(ADMIN_PW),
        "the password was echoed: {out:#?}"
    );
    c.run(&["whoami"]).ok();
}
