//! Workload identity through the API: X.509-SVIDs issued for a CSR, refused
//! where a user certificate is needed, locks on sandboxes, and JWT-SVIDs
//! verified by a standard JWT library with only the published JWKS.

use std::process::Command;

use crate::util::*;

/// Issues an SVID of `kind` for a fresh openssl key; returns (cert, key) paths.
fn issue_svid(
    cluster: &Cluster,
    admin: &Client,
    kind: &str,
    sandbox: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (key, csr) = openssl_csr(cluster.tmp.path(), &format!("{kind}-{sandbox}"));
    let body = serde_json::json!({
        "csr": csr, "kind": kind, "sandbox": sandbox, "user": "admin", "isolation": "gvisor",
    });
    let (code, v) = admin.curl("POST", "/v1/certs/svid", Some(&body.to_string()));
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["spiffe_id"],
        if kind == "workload" {
            format!("spiffe://airlock.local/sandbox/{sandbox}/workload")
        } else {
            format!("spiffe://airlock.local/sandbox/{sandbox}")
        }
    );
    let cert = cluster.tmp.path().join(format!("{kind}-{sandbox}.crt"));
    std::fs::write(&cert, v["certificate"].as_str().unwrap()).unwrap();
    // The CA that signed it verifies it, with openssl.
    let ok = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(admin.home.join("ca.pem"))
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    (cert, key)
}

#[test]
fn workload_and_sandbox_certificates_are_refused_where_a_user_is_needed() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    for kind in ["workload", "sandbox"] {
        let (cert, key) = issue_svid(&cluster, &admin, kind, "sb-1");
        let (code, v) = admin.curl_as(&cert, &key, "GET", "/v1/whoami", None);
        assert_eq!(code, 401, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("a {kind} certificate cannot be used here")),
            "{msg}"
        );
        let (code, _) = admin.curl_as(&cert, &key, "GET", "/v1/users", None);
        assert_eq!(code, 401);
    }
}

#[test]
fn svid_requests_are_validated() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    let (_, csr) = openssl_csr(cluster.tmp.path(), "v");
    let cases = [
        (
            serde_json::json!({"csr": csr, "kind": "pet", "sandbox": "sb-1", "user": "admin", "isolation": "runc"}),
            "unknown SVID kind",
        ),
        (
            serde_json::json!({"csr": csr, "kind": "workload", "sandbox": "SB 1", "user": "admin", "isolation": "runc"}),
            "invalid sandbox id",
        ),
        (
            serde_json::json!({"csr": csr, "kind": "workload", "sandbox": "sb-1", "user": "admin", "isolation": "chroot"}),
            "unknown isolation class",
        ),
        (
            serde_json::json!({"csr": csr, "kind": "workload", "sandbox": "sb-1", "user": "admin", "isolation": "runc", "ttl": "2h"}),
            "too long",
        ),
        (
            serde_json::json!({"csr": "garbage", "kind": "workload", "sandbox": "sb-1", "user": "admin", "isolation": "runc"}),
            "",
        ),
    ];
    for (body, needle) in cases {
        let (code, v) = admin.curl("POST", "/v1/certs/svid", Some(&body.to_string()));
        assert_eq!(code, 400, "{body} -> {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
}

#[test]
fn a_sandbox_lock_refuses_its_workload() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    let (cert, key) = issue_svid(&cluster, &admin, "workload", "sb-7");
    let body = r#"{"audience":"https://api.example.com"}"#;
    let (code, v) = admin.curl_as(&cert, &key, "POST", "/v1/jwt-svid", Some(body));
    assert_eq!(code, 200, "{v}");
    admin
        .run(&[
            "admin",
            "lock",
            "add",
            "--sandbox",
            "sb-7",
            "--reason",
            "runaway",
        ])
        .ok();
    let (code, v) = admin.curl_as(&cert, &key, "POST", "/v1/jwt-svid", Some(body));
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sandbox sb-7 is locked")
    );
}

#[test]
fn a_jwt_svid_verifies_with_a_standard_library_and_only_the_jwks() {
    let cluster = Cluster::start();
    let admin = cluster.admin();
    let (cert, key) = issue_svid(&cluster, &admin, "workload", "sb-9");

    let body = r#"{"audience":"https://api.example.com","ttl":"2m"}"#;
    let (code, v) = admin.curl_as(&cert, &key, "POST", "/v1/jwt-svid", Some(body));
    assert_eq!(code, 200, "{v}");
    let token = v["token"].as_str().unwrap();

    // An outside verifier knows only the discovery document and the JWKS.
    let anon = cluster.client("outsider");
    let (code, oidc) = anon.curl_anon("GET", "/.well-known/openid-configuration", None);
    assert_eq!(code, 200);
    let jwks_path = oidc["jwks_uri"].as_str().unwrap().replace(&cluster.url, "");
    let (code, jwks) = anon.curl_anon("GET", &jwks_path, None);
    assert_eq!(code, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["https://api.example.com"]);
    validation.set_issuer(&[oidc["issuer"].as_str().unwrap()]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).unwrap();
    let claims = data.claims;
    assert_eq!(
        claims["sub"],
        "spiffe://airlock.local/sandbox/sb-9/workload"
    );
    assert!(
        claims["act"]["sub"].as_str().unwrap().contains("admin"),
        "names the human: {claims}"
    );
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(ttl <= 300, "{ttl}");

    // The wrong audience is refused by the same library.
    let mut wrong = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    wrong.set_audience(&["https://other.example.com"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(token, &key, &wrong).is_err());

    // More than five minutes, or no audience, is refused.
    let (code, _) = admin.curl_as(
        &cert,
        &key_path(&cluster, "workload-sb-9"),
        "POST",
        "/v1/jwt-svid",
        Some(r#"{"audience":"x","ttl":"10m"}"#),
    );
    assert_eq!(code, 400);
    let (code, _) = admin.curl_as(
        &cert,
        &key_path(&cluster, "workload-sb-9"),
        "POST",
        "/v1/jwt-svid",
        Some(r#"{"audience":" "}"#),
    );
    assert_eq!(code, 400);
    // A user certificate cannot mint one.
    let (code, _) = admin.curl("POST", "/v1/jwt-svid", Some(r#"{"audience":"x"}"#));
    assert_eq!(code, 401);
}

fn key_path(cluster: &Cluster, name: &str) -> std::path::PathBuf {
    cluster.tmp.path().join(format!("{name}.key"))
}
