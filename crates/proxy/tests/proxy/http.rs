//! HTTP(S) through the proxy with curl: registered services, credentials,
//! denials, domain fronting, internal addresses, HTTP/2.

use airlock_core::Effect;
use airlock_proxy::{ProxyRequest, rules};
use serde_json::Value;

use crate::util::{API_TOKEN, World};

fn forbid_api_writes(w: &World) {
    w.decider.forbid("forbid-api-writes", |r| {
        matches!(r, ProxyRequest::Http { service: Some(s), method, .. }
            if s == "api" && !matches!(method.as_str(), "GET" | "HEAD"))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_service_over_https_sees_only_the_injected_credential() {
    let w = World::start().await;
    let out = w
        .curl(&[
            "-D",
            "/dev/stderr",
            "-H",
            "Authorization: Bearer stolen-by-the-agent",
            "-H",
            "X-Api-Key: agent-key",
            "-H",
            "Cookie: session=agent",
            "https://api.test/repos/acme?page=2",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let echo: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(echo["path"], "/repos/acme");
    assert_eq!(echo["query"], "page=2");
    assert_eq!(echo["headers"]["authorization"], API_TOKEN);
    assert_eq!(echo["headers"]["host"], format!("localhost:{}", w.api_port));
    for dropped in ["x-api-key", "cookie", "proxy-authorization"] {
        assert!(
            echo["headers"].get(dropped).is_none(),
            "{dropped} reached the upstream: {echo}"
        );
    }
    assert!(
        !out.stderr.to_ascii_lowercase().contains("set-cookie"),
        "Set-Cookie reached the sandbox: {}",
        out.stderr
    );

    let ev = w.last_event(1).await;
    assert_eq!(ev.decision.effect, Effect::Allow);
    assert_eq!(ev.decision.policies, ["allow-api-reads"]);
    assert_eq!(
        (ev.status, ev.target.scheme, ev.target.path.as_str()),
        (200, "https", "/repos/acme")
    );
    assert_eq!(ev.bytes_out, out.stdout.len() as u64);
    assert!(
        matches!(&ev.request, ProxyRequest::Http { service: Some(s), method, host, port: 443, path }
        if s == "api" && method == "GET" && host == "api.test" && path == "/repos/acme")
    );
    let audit = ev.to_audit_event();
    assert_eq!(audit.user.as_ref().unwrap().as_str(), "alice");
    assert_eq!(audit.resource.as_deref(), Some("http:api"));
    assert!(
        !format!("{ev:?}{}", String::from_utf8_lossy(&audit.canonical()))
            .contains("real-api-token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_registered_service() {
    let w = World::start().await;
    let out = w.curl(&["http://api.test/plain"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let echo: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(echo["headers"]["authorization"], API_TOKEN);
    let ev = w.last_event(1).await;
    assert_eq!(
        (ev.target.scheme, ev.target.port, ev.status),
        ("http", 80, 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_denied_naming_the_policy() {
    let w = World::start().await;
    forbid_api_writes(&w);
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-d",
            "x=1",
            "https://api.test/repos",
        ])
        .await;
    assert_eq!(
        out.stdout,
        "airlock: denied POST https://api.test/repos (policy \"forbid-api-writes\"): forbidden by policy\n403"
    );
    let ev = w.last_event(1).await;
    assert_eq!((ev.decision.effect, ev.status), (Effect::Deny, 403));
    assert_eq!(ev.decision.policies, ["forbid-api-writes"]);
}

/// Regression: over HTTP/2 (curl's choice inside a tunnel) a refusal could
/// end the stream while the request's body was still on its way, and the
/// RST_STREAM that followed made curl 7.88 (Debian 12's) fail with "Stream
/// error in the HTTP/2 framing layer" instead of showing the 403: about 3
/// times in 100 here. Now the proxy reads the body before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_posts_over_http2_always_read_the_denial() {
    let w = World::start().await;
    forbid_api_writes(&w);
    for i in 0..200 {
        let out = w
            .curl(&[
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                "-d",
                "x=1",
                "https://api.test/repos",
            ])
            .await;
        assert!(
            out.code == 0 && out.stdout.ends_with("403"),
            "attempt {i}: {out:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_path_is_denied_naming_the_policy() {
    let w = World::start().await;
    let out = w
        .curl(&["-w", "%{http_code}", "https://api.test/admin/users"])
        .await;
    assert!(
        out.stdout.starts_with(
            "airlock: denied GET https://api.test/admin/users (policy \"forbid-api-admin\")"
        ),
        "{out:#?}"
    );
    assert!(out.stdout.ends_with("403"));
    let ev = w.last_event(1).await;
    assert_eq!(ev.decision.policies, ["forbid-api-admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_are_denied_by_default() {
    let w = World::start().await;
    let https = w.curl(&["https://unknown.test/"]).await;
    assert_eq!(https.code, 56, "CONNECT must be refused: {https:#?}");
    assert!(https.stderr.contains("403"), "{https:#?}");
    let http = w
        .curl(&["-w", "%{http_code}", "http://unknown.test/x"])
        .await;
    assert_eq!(
        http.stdout,
        "airlock: denied GET http://unknown.test/x (no policy allowed it): no policy permits this\n403"
    );
    let events = w.events(2).await;
    for ev in &events {
        assert_eq!((ev.decision.effect, ev.status), (Effect::Deny, 403));
        assert!(matches!(&ev.request, ProxyRequest::Egress { host, .. } if host == "unknown.test"));
        assert_eq!(
            ev.to_audit_event().code,
            airlock_audit::EventCode::EgressConnect
        );
    }
    assert_eq!(events[0].target.method, "CONNECT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_different_from_sni_is_domain_fronting() {
    let w = World::start().await;
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            "-H",
            "Host: other.test",
            "https://api.test/x",
        ])
        .await;
    assert!(out.stdout.contains(rules::DOMAIN_FRONTING), "{out:#?}");
    assert!(out.stdout.ends_with("403"), "{out:#?}");
    let ev = w.last_event(1).await;
    assert_eq!(ev.decision.policies, [rules::DOMAIN_FRONTING]);
    assert_eq!(
        w.decider.calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was forwarded or decided"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_different_from_the_connect_host_is_domain_fronting() {
    let w = World::start().await;
    // curl tunnels to other.test (allowed) but says api.test in SNI and Host.
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            "--connect-to",
            "api.test:443:other.test:443",
            "https://api.test/x",
        ])
        .await;
    assert!(
        out.stdout
            .contains("TLS SNI \"api.test\" does not match CONNECT host \"other.test\""),
        "{out:#?}"
    );
    assert!(out.stdout.ends_with("403"));
    assert_eq!(
        w.last_event(1).await.decision.policies,
        [rules::DOMAIN_FRONTING]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_unless_registered() {
    let w = World::start().await;
    // Policy allows egress to "localhost", but it is not a registered
    // service and resolves to loopback.
    let by_name = w
        .curl(&[
            "-w",
            "%{http_code}",
            &format!("http://localhost:{}/", w.api_port),
        ])
        .await;
    assert!(
        by_name.stdout.contains(rules::INTERNAL_ADDRESS),
        "{by_name:#?}"
    );
    assert!(by_name.stdout.ends_with("403"));
    let by_ip = w
        .curl(&[&format!("https://127.0.0.1:{}/", w.api_port)])
        .await;
    assert_eq!(by_ip.code, 56, "{by_ip:#?}");
    let events = w.events(2).await;
    for ev in &events {
        assert_eq!(ev.decision.policies, [rules::INTERNAL_ADDRESS], "{ev:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_ip_connect_needs_a_policy_naming_it() {
    let w = World::start().await;
    let out = w.curl(&["https://203.0.113.7/"]).await;
    assert_eq!(out.code, 56, "{out:#?}");
    let ev = w.last_event(1).await;
    assert!(ev.decision.policies.is_empty(), "default deny: {ev:?}");
    assert!(
        matches!(&ev.request, ProxyRequest::Egress { host, port: 443 } if host == "203.0.113.7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tunnel_to_an_internal_name_is_refused_and_audited() {
    let w = World::start().await;
    // -p tunnels plain HTTP through CONNECT: not TLS, so a raw relay, whose
    // destination resolves to loopback.
    let out = w
        .curl(&["-p", &format!("http://localhost:{}/", w.api_port)])
        .await;
    assert_ne!(out.code, 0, "{out:#?}");
    let ev = w.last_event(1).await;
    assert_eq!(ev.decision.policies, [rules::INTERNAL_ADDRESS]);
    assert_eq!(ev.target.scheme, "tcp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_served_inside_the_tunnel() {
    let w = World::start().await;
    let out = w
        .curl(&["--http2", "-w", "\n%{http_version}", "https://api.test/h2"])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let (body, version) = out.stdout.rsplit_once('\n').unwrap();
    assert_eq!(version, "2");
    let echo: Value = serde_json::from_str(body).unwrap();
    assert_eq!(echo["headers"]["authorization"], API_TOKEN);
    assert_eq!(w.last_event(1).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_are_refused_before_policy() {
    let w = World::start().await;
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            "--path-as-is",
            "https://api.test/public/../admin/users",
        ])
        .await;
    assert!(
        out.stdout.contains(rules::MALFORMED) && out.stdout.ends_with("400"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_responses_stream_and_are_counted() {
    let w = World::start().await;
    let out = w
        .curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "https://api.test/big?n=5000000",
        ])
        .await;
    assert_eq!(out.stdout, "5000000", "{out:#?}");
    let ev = w.last_event(1).await;
    assert_eq!(ev.bytes_out, 5_000_000);
    assert_eq!(ev.target.path, "/big", "the query is not recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_requests_are_each_decided_and_audited() {
    let w = World::start().await;
    let url = "https://api.test/one";
    let out = w
        .curl(&[
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            url,
            url,
            url,
            "-w",
            "%{num_connects} ",
        ])
        .await;
    assert_eq!(out.stdout.trim(), "1 0 0", "one tunnel, reused: {out:#?}");
    assert_eq!(w.events(3).await.len(), 3);
    assert_eq!(w.decider.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_whose_certificate_does_not_verify_gets_nothing() {
    // The same echo server, registered as a service whose trusted CA is
    // another one (as if someone intercepted the proxy's way out): the
    // proxy refuses to talk to it, so the credential is never sent.
    let w = World::start().await;
    let mut impostor = w.api_service("impostor");
    impostor.upstream_ca_pem = Some(crate::util::upstream::TestCa::new().cert_pem());
    w.catalog.add_service("impostor.test", 443, impostor);
    w.decider.permit(
        "allow-impostor",
        |r| matches!(r, ProxyRequest::Http { service: Some(s), .. } if s == "impostor"),
    );
    let out = w
        .curl(&["-w", "\n%{http_code}", "https://impostor.test/x"])
        .await;
    let (body, status) = out.stdout.rsplit_once('\n').unwrap();
    assert_eq!(status, "502", "{out:#?}");
    assert!(
        body.starts_with("airlock: upstream of https://impostor.test/x failed")
            && body.to_ascii_lowercase().contains("certificate"),
        "{body}"
    );
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    let ev = w.last_event(1).await;
    assert_eq!(ev.status, 502);
    assert!(
        ev.error
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("certificate"),
        "{ev:?}"
    );
}
