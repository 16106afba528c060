//! Audit and policy freshness: no audit, no action; locks apply to the next
//! request on a live connection; events land in the real audit log.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use airlock_audit::{AuditLog, EventCode, NoteSigner, QueryParams};
use airlock_core::{Effect, TrustDomain};
use airlock_proxy::{AuditLogSink, ProxyCa, ProxyConfig, ProxyServer, rules};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::util::{World, caller, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_audit_no_action() {
    let w = World::start().await;
    w.sink.fail.store(true, Ordering::SeqCst);
    // Allowed, forwarded, but the record fails: a small response is read
    // whole before its head goes out, so none of it reaches the sandbox.
    let small = w
        .curl(&["-w", "%{http_code}", "https://api.test/big?n=100"])
        .await;
    assert!(
        small.stdout.contains(rules::AUDIT_UNAVAILABLE)
            && small.stdout.ends_with("503")
            && !small.stdout.contains("xxx"),
        "an unaudited response must not be delivered: {small:#?}"
    );
    // From now on nothing proceeds, allowed or not.
    for url in ["https://api.test/ok", "https://unknown.test/"] {
        let out = w
            .curl(&["-w", "%{http_code}", "-o", "/dev/null", url])
            .await;
        assert!(
            out.stdout == "503" || out.stderr.contains("503"),
            "{url}: {out:#?}"
        );
    }
    w.sink.fail.store(false, Ordering::SeqCst);
    // The first request after recovery is refused but recorded, which lifts the latch.
    let refused = w.curl(&["-w", "%{http_code}", "http://api.test/ok"]).await;
    assert!(
        refused.stdout.contains(rules::AUDIT_UNAVAILABLE) && refused.stdout.ends_with("503"),
        "{refused:#?}"
    );
    let ok = w
        .curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "https://api.test/ok",
        ])
        .await;
    assert_eq!(ok.stdout, "200");
    let events = w.events(2).await;
    assert_eq!(events[0].decision.policies, [rules::AUDIT_UNAVAILABLE]);
    assert_eq!(events[1].status, 200);
    // A large response streams; when its record fails, its end is withheld
    // and the sandbox sees it cut.
    w.sink.fail.store(true, Ordering::SeqCst);
    let cut = w
        .curl(&["-o", "/dev/null", "https://api.test/big?n=1000000"])
        .await;
    assert_ne!(
        cut.code, 0,
        "an unaudited response must not complete: {cut:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_applies_to_the_next_request_on_a_kept_alive_connection() {
    let w = World::start().await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", w.port))
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = || {
        Request::get("http://api.test/data")
            .header("host", "api.test")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let first = send.send_request(get()).await.unwrap();
    assert_eq!(first.status(), 200);
    first.into_body().collect().await.unwrap();
    w.decider.locked.store(true, Ordering::SeqCst);
    send.ready().await.unwrap();
    let second = send.send_request(get()).await.unwrap();
    assert_eq!(second.status(), 403);
    let body = second.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "airlock: denied GET http://api.test/data (policy \"lock:user:alice\"): user alice is locked\n"
    );
    let events = w.events(2).await;
    assert_eq!(
        (events[0].decision.effect, events[1].decision.effect),
        (Effect::Allow, Effect::Deny)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_in_the_audit_log_and_verify() {
    let w = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let origin = "airlock.test/audit";
    let log = Arc::new(
        AuditLog::open(dir.path(), NoteSigner::generate(origin).unwrap(), origin).unwrap(),
    );
    let ca = ProxyCa::generate(
        "test",
        TrustDomain::new("airlock.test").unwrap(),
        Duration::from_secs(3600),
    )
    .unwrap();
    let sink = Arc::new(AuditLogSink::new(log.clone()));
    let server = ProxyServer::new(
        ProxyConfig::default(),
        ca,
        w.decider.clone(),
        w.catalog.clone(),
        sink,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _serving = server.serve_tcp(caller(), listener);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, server.ca_cert_pem()).unwrap();
    let proxy = format!("http://127.0.0.1:{port}");
    let curl = |url: &'static str| {
        let (proxy, ca) = (proxy.clone(), ca_file.to_string_lossy().into_owned());
        async move {
            run(
                "curl",
                &["-sS", "-o", "/dev/null", "-x", &proxy, "--cacert", &ca, url],
                &[],
                None,
            )
            .await
        }
    };
    assert_eq!(curl("https://api.test/a").await.code, 0);
    assert_eq!(curl("https://unknown.test/").await.code, 56);
    let params = QueryParams {
        sandbox: Some("sb-0102030405060708".into()),
        ..Default::default()
    };
    let events = log
        .search(params.parse(time::OffsetDateTime::now_utc()).unwrap())
        .await
        .unwrap();
    let mut codes: Vec<EventCode> = events.iter().map(|e| e.code).collect();
    codes.sort();
    assert_eq!(codes, [EventCode::HttpRequest, EventCode::EgressConnect]);
    let http = events
        .iter()
        .find(|e| e.code == EventCode::HttpRequest)
        .unwrap();
    assert_eq!(http.details["status"], 200);
    assert_eq!(http.details["path"], "/a");
    assert_eq!(
        http.workload.as_ref().unwrap().as_str(),
        "spiffe://airlock.test/sandbox/sb-0102030405060708/workload"
    );
    assert!(log.verify().await.unwrap().is_ok(), "the log verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_audit_sink_times_out_into_a_refusal() {
    let sink = Arc::new(crate::util::MemorySink::default());
    *sink.delay.lock().unwrap() = Duration::from_secs(3600);
    let config = ProxyConfig {
        audit_timeout: Duration::from_millis(200),
        ..ProxyConfig::default()
    };
    let w = World::start_with(sink, config).await;
    let out = w
        .curl(&["-w", "%{http_code}", "http://unknown.test/"])
        .await;
    assert!(out.stdout.ends_with("503"), "{out:#?}");
}
