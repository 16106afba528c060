//! Bad input gets one clear line, a meaningful exit code or a 4xx JSON
//! error, and changes nothing.

use std::path::Path;

use crate::util::*;

fn sha256_of(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let cluster = Cluster::start();
    let before = sha256_of(&cluster.data.join("ca/ca.key"));
    let state_before = sha256_of(&cluster.data.join("state.db"));
    let out = run(
        airlock(
            cluster.tmp.path(),
            &[
                "server",
                "init",
                "--data-dir",
                cluster.data.to_str().unwrap(),
                "--admin",
                "x",
                "--password-stdin",
            ],
        ),
        "another-password\n",
    );
    out.fails(6, "already initialized");
    assert_eq!(sha256_of(&cluster.data.join("ca/ca.key")), before);
    assert_eq!(sha256_of(&cluster.data.join("state.db")), state_before);
}

#[test]
fn start_on_an_uninitialized_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    let out = run(
        airlock(
            tmp.path(),
            &["server", "start", "--data-dir", dir.to_str().unwrap()],
        ),
        "",
    );
    out.fails(2, "is not an Airlock data directory");
    assert!(!dir.exists(), "start must not create anything");
}

#[test]
fn init_refuses_bad_names_and_weak_passwords_without_creating_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    run(
        airlock(
            tmp.path(),
            &[
                "server",
                "init",
                "--data-dir",
                d,
                "--admin",
                "Bad/Name",
                "--password-stdin",
            ],
        ),
        "long-enough\n",
    )
    .fails(2, "invalid user name");
    run(
        airlock(
            tmp.path(),
            &[
                "server",
                "init",
                "--data-dir",
                d,
                "--admin",
                "ok",
                "--password-stdin",
            ],
        ),
        "short\n",
    )
    .fails(2, "password too short");
    run(
        airlock(
            tmp.path(),
            &[
                "server",
                "init",
                "--data-dir",
                d,
                "--admin",
                "ok",
                "--password-stdin",
                "--trust-domain",
                "Not A Domain",
            ],
        ),
        "long-enough\n",
    )
    .fails(2, "invalid trust domain");
    assert!(!dir.join("state.db").exists());
    assert!(!dir.join("ca").exists());
}

#[test]
fn duplicate_user_unknown_role_and_weak_password_change_nothing() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    cluster.add_user(&admin, "bob", "developer", "bob-password");
    let add = |name: &str, roles: &str, pw: &str| {
        admin.run_stdin(
            &[
                "admin",
                "user",
                "add",
                name,
                "--roles",
                roles,
                "--password-stdin",
            ],
            &format!("{pw}\n"),
        )
    };
    add("bob", "admin", "other-password").fails(6, "user \"bob\" already exists");
    add("carol", "wizard", "carol-password").fails(2, "unknown role \"wizard\"");
    add("carol", "developer", "short").fails(2, "password too short");
    add("Carol!", "developer", "carol-password").fails(2, "invalid user name");
    let users: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "user", "ls", "--json"]).ok()).unwrap();
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .unwrap();
    assert_eq!(
        bob["roles"],
        serde_json::json!(["developer"]),
        "bob unchanged"
    );
    assert_eq!(users.as_array().unwrap().len(), 2);
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_answer() {
    let cluster = Cluster::start();
    let c = cluster.client("guesser");
    c.login(ADMIN, "wrong-password")
        .fails(3, "wrong user name or password");
    c.login("nobody", "whatever-pass")
        .fails(3, "wrong user name or password");
    assert!(!c.home.join("key.pem").exists());
}

#[test]
fn failed_logins_are_rate_limited_per_user() {
    let cluster = Cluster::start();
    let c = cluster.client("attacker");
    for _ in 0..5 {
        c.login(ADMIN, "wrong-password")
            .fails(3, "wrong user name or password");
    }
    // Blocked now, even with the right password.
    c.login(ADMIN, ADMIN_PW).fails(7, "too many failed logins");
    // The block is per user name, whichever client home it comes from.
    let admin = cluster.client("admin2");
    admin
        .login(ADMIN, "wrong-password")
        .fails(7, "too many failed logins");
}

#[test]
fn failed_logins_are_rate_limited_per_source() {
    let cluster = Cluster::start();
    let c = cluster.client("sprayer");
    // 20 failures across different names from one address.
    for i in 0..20 {
        c.login(&format!("user{i}"), "wrong-password")
            .fails(3, "wrong user name or password");
    }
    c.login(ADMIN, ADMIN_PW).fails(7, "too many failed logins");
}

#[test]
fn an_expired_certificate_is_refused_with_a_clear_line() {
    let cluster = Cluster::start();
    let c = cluster.client("short");
    c.login_with(ADMIN, ADMIN_PW, &["--ttl", "1s"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = c.run(&["whoami"]);
    out.fails(3, "expired");
    assert!(
        out.stderr.contains("airlock login"),
        "says what to do: {out:#?}"
    );
    let (code, body) = c.curl("GET", "/v1/whoami", None);
    assert_eq!(code, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[test]
fn a_certificate_from_another_cluster_is_refused() {
    let a = Cluster::start();
    let b = Cluster::start();
    let in_a = a.client("a");
    in_a.login(ADMIN, ADMIN_PW).ok();
    let in_b = b.client("b");
    in_b.login(ADMIN, ADMIN_PW).ok();
    // Present B's certificate (and key) to A, trusting A's CA for the server.
    let (code, body) = in_a.curl_as(
        &in_b.home.join("cert.pem"),
        &in_b.home.join("key.pem"),
        "GET",
        "/v1/whoami",
        None,
    );
    assert_eq!(code, 401, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("not this cluster's CA"), "{msg}");
}

#[test]
fn a_tampered_certificate_is_refused() {
    let cluster = Cluster::start();
    let c = cluster.client("tamper");
    c.login(ADMIN, ADMIN_PW).ok();
    let pem = std::fs::read_to_string(c.home.join("cert.pem")).unwrap();
    let mut der = airlock_ca::pem::decode("CERTIFICATE", &pem).unwrap();
    // Flip a byte of the serial number (offset 20: past the outer and TBS
    // headers and the version), so the key (and the TLS proof of possession)
    // is unchanged but the CA signature no longer matches.
    der[20] ^= 0x01;
    let tampered = c.home.join("tampered.pem");
    std::fs::write(&tampered, airlock_ca::pem::encode("CERTIFICATE", &der)).unwrap();
    let (code, body) = c.curl_as(
        &tampered,
        &c.home.join("key.pem"),
        "GET",
        "/v1/whoami",
        None,
    );
    assert!(code == 401, "{code} {body}");
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[test]
fn malformed_login_requests_get_4xx_json() {
    let cluster = Cluster::start();
    let c = cluster.client("raw");
    let body = format!(
        r#"{{"user":"{ADMIN}","password":"{ADMIN_PW}","public_key":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}}"#
    );
    let (code, v) = c.curl_anon("POST", "/v1/login", Some(&body));
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("certificate request is malformed"),
        "{v}"
    );

    let (code, v) = c.curl_anon("POST", "/v1/login", Some("{not json"));
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "bad_request");

    let (code, v) = c.curl_anon("POST", "/v1/login", Some(r#"{"user":"a"}"#));
    assert_eq!(code, 400, "{v}");

    // A CSR whose signature does not match its key.
    let (_, csr) = openssl_csr(cluster.tmp.path(), "forged");
    let mut der = airlock_ca::pem::decode("CERTIFICATE REQUEST", &csr).unwrap();
    let n = der.len();
    der[n - 5] ^= 0x40;
    let forged = airlock_ca::pem::encode("CERTIFICATE REQUEST", &der);
    let body = serde_json::json!({"user": ADMIN, "password": ADMIN_PW, "public_key": forged});
    let (code, v) = c.curl_anon("POST", "/v1/login", Some(&body.to_string()));
    assert_eq!(code, 400, "{v}");
}

#[test]
fn bad_ttls_and_lock_targets_are_refused() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    admin
        .login_with(ADMIN, ADMIN_PW, &["--ttl", "soon"])
        .fails(2, "invalid duration");
    admin
        .run(&["admin", "lock", "add", "--user", "x", "--ttl", "forever"])
        .fails(2, "invalid duration");
    admin
        .run(&["admin", "lock", "add", "--session", "not-hex!"])
        .fails(2, "invalid session id");
    let out = admin.run(&["admin", "lock", "add"]);
    assert_eq!(out.code, 2, "clap usage error: {out:#?}");
    let locks: serde_json::Value =
        serde_json::from_str(admin.run(&["admin", "lock", "ls", "--all", "--json"]).ok()).unwrap();
    assert_eq!(locks, serde_json::json!([]));
}

#[test]
fn http_and_unreachable_servers_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("h");
    let port = free_port();
    run(
        airlock(
            &home,
            &[
                "login",
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "--user",
                "a",
                "--password-stdin",
            ],
        ),
        "pw\n",
    )
    .fails(2, "HTTPS only");
    run(
        airlock(
            &home,
            &[
                "login",
                "--server",
                &format!("127.0.0.1:{port}"),
                "--user",
                "a",
                "--password-stdin",
            ],
        ),
        "pw\n",
    )
    .fails(7, "cannot reach the Airlock server");
}
