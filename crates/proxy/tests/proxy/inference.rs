//! Inference endpoints with the official SDKs: key swap, usage, streaming,
//! model allow-lists, budgets.

use std::time::Duration;

use airlock_core::Effect;
use airlock_proxy::{Budgets, InferenceKind, ProxyRequest, Usage, rules};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::util::{ANTHROPIC_KEY, OPENAI_KEY, World};

fn usage(input: u64, output: u64) -> Option<Usage> {
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
    })
}

fn operation(ev: &airlock_proxy::ProxyEvent) -> String {
    match &ev.request {
        ProxyRequest::Inference { operation, .. } => operation.clone(),
        other => panic!("not inference: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_chat_stream_embeddings_responses() {
    let w = World::start().await;
    let out = w.python("openai_calls.py", "ok", w.sdk_env()).await;
    assert_eq!(out["chat"], "hello from gpt");
    assert_eq!(out["stream"], "hello stream");
    assert_eq!(out["embedding"], json!([0.1, 0.2, 0.3]));
    assert_eq!(out["responses"], "hello from responses");
    assert_eq!(out["responses_stream"], "hello stream");

    let events = w.events(5).await;
    let seen: Vec<(String, Option<String>, Option<Usage>)> = events
        .iter()
        .map(|e| (operation(e), e.model.clone(), e.usage))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "/v1/chat/completions".into(),
                Some("gpt-4o-mini".into()),
                usage(11, 7)
            ),
            (
                "/v1/chat/completions".into(),
                Some("gpt-4o-mini".into()),
                usage(11, 2)
            ),
            (
                "/v1/embeddings".into(),
                Some("text-embedding-3-small".into()),
                usage(4, 0)
            ),
            ("/v1/responses".into(), Some("gpt-4o".into()), usage(6, 3)),
            // Streamed: the usage comes from the `response.completed` event.
            ("/v1/responses".into(), Some("gpt-4o".into()), usage(5, 2)),
        ]
    );
    for ev in &events {
        assert_eq!((ev.decision.effect, ev.status), (Effect::Allow, 200));
        assert_eq!(ev.decision.policies, ["allow-inference"]);
        let audit = String::from_utf8(ev.to_audit_event().canonical()).unwrap();
        assert!(
            audit.contains("\"input_tokens\"") && !audit.contains(OPENAI_KEY),
            "{audit}"
        );
        assert!(
            ev.request_body.is_none() && ev.response_body.is_none(),
            "bodies are off by default"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_through_http_proxy_to_the_proxy_itself() {
    let w = World::start().await;
    // A client that sends everything through HTTP_PROXY, its own base URL too.
    let env: Vec<_> = w
        .sdk_env()
        .into_iter()
        .filter(|(k, _)| *k != "NO_PROXY")
        .collect();
    let out = w.python("openai_calls.py", "chat", env).await;
    assert_eq!(out["chat"], "hello from gpt");
    assert_eq!(w.last_event(1).await.usage, usage(11, 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_sdk_messages_and_stream() {
    let w = World::start().await;
    let out = w.python("anthropic_calls.py", "ok", w.sdk_env()).await;
    assert_eq!(out["text"], "hello from claude");
    assert_eq!(out["tokens"], 22);
    assert_eq!(out["stream"], "hello stream");
    assert_eq!(out["stream_output_tokens"], 9);
    let events = w.events(2).await;
    assert_eq!(events[0].usage, usage(13, 9));
    assert_eq!(events[1].usage, usage(13, 9));
    assert_eq!(events[1].model.as_deref(), Some("claude-haiku-4-5"));
    assert!(!format!("{events:?}").contains(ANTHROPIC_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_not_on_the_allow_list_is_denied() {
    let w = World::start().await;
    let out = w
        .python("openai_calls.py", "denied-model", w.sdk_env())
        .await;
    assert_eq!(out["status"], 403);
    let msg = out["message"].as_str().unwrap();
    assert!(
        msg.contains("airlock: denied POST") && msg.contains(rules::MODEL_ALLOW_LIST),
        "{msg}"
    );
    let out = w
        .python("anthropic_calls.py", "denied-model", w.sdk_env())
        .await;
    assert_eq!(out["status"], 403);
    for ev in w.events(2).await {
        assert_eq!(ev.decision.policies, [rules::MODEL_ALLOW_LIST]);
        assert_eq!(ev.status, 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_budget() {
    let w = World::start().await;
    let budgets = Budgets {
        requests_per_minute: Some(2),
        ..Default::default()
    };
    let mut metered = w.endpoint("openai", InferenceKind::Openai, budgets);
    metered.models.clear();
    w.catalog.add_inference(metered);
    let out = w.python("openai_calls.py", "repeat", w.sdk_env()).await;
    assert_eq!(out["statuses"], json!([200, 200, 429]));
    let ev = w.last_event(3).await;
    assert_eq!(ev.decision.policies, [rules::REQUESTS_PER_MINUTE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_day_budget() {
    let w = World::start().await;
    let budgets = Budgets {
        tokens_per_day: Some(30),
        ..Default::default()
    };
    w.catalog
        .add_inference(w.endpoint("openai", InferenceKind::Openai, budgets));
    // 18 tokens per call: 0 → 18 → 36, then the budget is spent.
    let out = w.python("openai_calls.py", "repeat", w.sdk_env()).await;
    assert_eq!(out["statuses"], json!([200, 200, 403]));
    let ev = w.last_event(3).await;
    assert_eq!(ev.decision.policies, [rules::TOKENS_PER_DAY]);
    assert!(ev.decision.reason.contains("36 used"), "{:?}", ev.decision);
}

/// Streams pass event by event: the client holds the first chunk while the
/// upstream has not sent the second yet. The usage chunk the proxy asked for
/// is counted and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_not_buffered() {
    let w = World::start().await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", w.port))
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = json!({"model": "gpt-4o-slow", "stream": true, "messages": []}).to_string();
    let req = Request::post("/inference/openai/v1/chat/completions")
        .header("host", format!("127.0.0.1:{}", w.port))
        .header("authorization", "Bearer dummy")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("first chunk must arrive before the stream ends");
    let first = first.unwrap().unwrap().into_data().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("hello "),
        "{first:?}"
    );
    w.release.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.ends_with("data: [DONE]\n\n") && !rest.contains("\"choices\":[]"),
        "{rest}"
    );
    let ev = w.last_event(1).await;
    assert_eq!(ev.usage, usage(11, 2));
    assert_eq!(ev.bytes_out as usize, first.len() + rest.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_operations_are_refused() {
    let w = World::start().await;
    let base = w.proxy_url();
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            &format!("{base}/inference/nope/v1/models"),
        ])
        .await;
    assert!(
        out.stdout.contains(rules::UNKNOWN_ENDPOINT) && out.stdout.ends_with("404"),
        "{out:#?}"
    );
    let out = w
        .curl(&[
            "-w",
            "%{http_code}",
            "-d",
            "{}",
            &format!("{base}/inference/openai/v1/fine_tuning/jobs"),
        ])
        .await;
    assert!(
        out.stdout.contains(rules::INFERENCE_OPERATION) && out.stdout.ends_with("404"),
        "{out:#?}"
    );
    let out = w
        .curl(&["-w", "%{http_code}", &format!("{base}/somewhere")])
        .await;
    assert!(
        out.stdout.contains("this is Airlock's proxy") && out.stdout.ends_with("400"),
        "{out:#?}"
    );
    assert_eq!(w.events(3).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_recorded_only_when_turned_on_and_capped() {
    let w = World::start().await;
    // Off by default.
    w.python("openai_calls.py", "chat", w.sdk_env()).await;
    let ev = w.last_event(1).await;
    assert_eq!((&ev.request_body, &ev.response_body), (&None, &None));
    // Turned on by the allowing policy (`@record_bodies`).
    w.decider.record_bodies(Some(12));
    w.python("openai_calls.py", "chat", w.sdk_env()).await;
    let ev = w.last_event(1).await;
    let req = ev
        .request_body
        .as_deref()
        .expect("policy turned recording on");
    let resp = ev.response_body.as_deref().unwrap();
    assert_eq!((req.len(), resp.len()), (12, 12));
    w.decider.record_bodies(None);
    // Turned on by the endpoint's registration (`--log-bodies`).
    let mut logged = w.endpoint("openai", InferenceKind::Openai, Budgets::default());
    logged.log_bodies = Some(20);
    w.catalog.add_inference(logged);
    w.python("openai_calls.py", "chat", w.sdk_env()).await;
    let ev = w.last_event(1).await;
    let req = ev.request_body.as_deref().unwrap();
    let resp = ev.response_body.as_deref().unwrap();
    assert_eq!((req.len(), resp.len()), (20, 20));
    assert!(req.starts_with('{') && resp.starts_with('{'));
}

/// The `claude` CLI in print mode, configured only by a sandbox's
/// environment: ANTHROPIC_BASE_URL on the proxy, a dummy key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_cli_print_mode() {
    let w = World::start().await;
    let home = w.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut env = w.sdk_env();
    env.push(("HOME", home.to_string_lossy().into_owned()));
    env.push((
        "NODE_EXTRA_CA_CERTS",
        w.ca_file.to_string_lossy().into_owned(),
    ));
    env.push(("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()));
    env.push(("DISABLE_AUTOUPDATER", "1".into()));
    let out = crate::util::run(
        "claude",
        &["-p", "say hello", "--max-turns", "1"],
        &env,
        Some(&home),
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains("hello stream") || out.stdout.contains("hello from claude"),
        "{out:#?}"
    );
    let events = w.events(1).await;
    let calls: Vec<_> = events
        .iter()
        .filter(|e| e.to_audit_event().code == airlock_audit::EventCode::InferenceCall)
        .collect();
    assert!(
        calls.iter().any(|e| e.status == 200 && e.usage.is_some()),
        "{events:#?}"
    );
}
