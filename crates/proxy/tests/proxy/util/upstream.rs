//! Local upstreams standing in for the internet: an HTTPS echo API and an
//! HTTPS server speaking the OpenAI and Anthropic API shapes, both with
//! certificates from a test CA that only the registered services trust.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, ClientKey, KeyPair};
use airlock_core::{Claims, TrustDomain};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use super::world::{ANTHROPIC_KEY, OPENAI_KEY};

pub type TestBody = UnsyncBoxBody<Bytes, Infallible>;
pub type Handler = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>
        + Send
        + Sync,
>;

/// A CA for the upstreams' certificates.
pub struct TestCa {
    ca: CertificateAuthority,
}

impl TestCa {
    pub fn new() -> Self {
        let td = TrustDomain::new("upstream.test").unwrap();
        let ca = CertificateAuthority::generate(
            "upstreams",
            td,
            Duration::from_secs(86400),
            SystemTime::now(),
        )
        .unwrap();
        Self { ca }
    }

    pub fn cert_pem(&self) -> String {
        self.ca.cert_pem()
    }

    /// A server config for `localhost` / 127.0.0.1.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let cert = self
            .ca
            .issue_server(
                &key.public_key(),
                &["localhost".into()],
                &[ip],
                &Claims::server(),
                Duration::from_secs(3600),
                SystemTime::now(),
            )
            .unwrap();
        let ck = ClientKey::from_pem(&cert.pem, &key.to_pkcs8_pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(ck.cert_chain, ck.key)
            .unwrap();
        Arc::new(config)
    }
}

/// Serves `handler` over HTTPS on a fresh loopback port.
pub async fn serve_https(ca: &TestCa, handler: Handler) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(ca.server_config());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, handler) = (acceptor.clone(), handler.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                serve_io(TokioIo::new(tls), handler).await;
            });
        }
    });
    port
}

async fn serve_io<IO>(io: IO, handler: Handler)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, Infallible>(handler(Request::from_parts(parts, bytes)).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}

pub fn full(body: impl Into<Bytes>) -> TestBody {
    Full::new(body.into()).boxed_unsync()
}

fn json_response(status: StatusCode, v: Value) -> Response<TestBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(v.to_string()))
        .unwrap()
}

/// Echoes what arrived: method, path, query, headers; sets a cookie (which
/// the proxy must strip); `/big?n=N` answers N bytes.
pub fn echo_handler() -> Handler {
    Arc::new(|req: Request<Bytes>| {
        Box::pin(async move {
            if req.uri().path() == "/big" {
                let n: usize = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("n="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return Response::new(full(vec![b'x'; n]));
            }
            let headers: BTreeMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
                .collect();
            let v = json!({
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "query": req.uri().query(),
                "headers": headers,
                "body_len": req.body().len(),
            });
            let mut resp = json_response(StatusCode::OK, v);
            resp.headers_mut().insert(
                "set-cookie",
                "session=minted-from-the-real-token".parse().unwrap(),
            );
            resp
        })
    })
}

/// OpenAI- and Anthropic-shaped answers. Refuses (401) unless the real key
/// arrived in the dialect's header and no other credential did. Model
/// `gpt-4o-slow` streams one chunk, then waits for `release`.
pub fn llm_handler(release: Arc<Notify>) -> Handler {
    Arc::new(move |req: Request<Bytes>| {
        let release = release.clone();
        Box::pin(async move { llm(req, release).await })
    })
}

async fn llm(req: Request<Bytes>, release: Arc<Notify>) -> Response<TestBody> {
    let path = req.uri().path().to_owned();
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key_ok = if path.starts_with("/v1/messages") {
        h("x-api-key").as_deref() == Some(ANTHROPIC_KEY) && h("authorization").is_none()
    } else {
        h("authorization") == Some(format!("Bearer {OPENAI_KEY}")) && h("x-api-key").is_none()
    };
    if !key_ok {
        let msg = format!(
            "wrong credentials arrived: authorization={:?} x-api-key={:?}",
            h("authorization"),
            h("x-api-key")
        );
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": msg, "type": "auth"}}),
        );
    }
    let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let stream = body["stream"].as_bool() == Some(true);
    match path.as_str() {
        "/v1/chat/completions" if stream => {
            let usage = body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true);
            sse(
                chat_events(&model, usage),
                (model == "gpt-4o-slow").then_some(release),
            )
        }
        "/v1/chat/completions" => json_response(StatusCode::OK, chat_completion(&model)),
        "/v1/embeddings" => json_response(
            StatusCode::OK,
            json!({
                "object": "list", "model": model,
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "usage": {"prompt_tokens": 4, "total_tokens": 4}
            }),
        ),
        "/v1/responses" if stream => sse(responses_events(&model), None),
        "/v1/responses" => json_response(
            StatusCode::OK,
            json!({
                "id": "resp_1", "object": "response", "created_at": 1, "model": model, "status": "completed",
                "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": "hello from responses", "annotations": []}]}],
                "usage": {"input_tokens": 6, "output_tokens": 3, "total_tokens": 9}
            }),
        ),
        "/v1/messages" if stream => sse(anthropic_events(&model), None),
        "/v1/messages" => json_response(
            StatusCode::OK,
            json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "hello from claude"}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 13, "output_tokens": 9}
            }),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": format!("no route {path}")}}),
        ),
    }
}

fn chat_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello from gpt"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    })
}

fn chat_events(model: &str, usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut events = vec![
        chunk(
            json!({"role": "assistant", "content": "hello "}),
            Value::Null,
        ),
        chunk(json!({"content": "stream"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    if usage {
        events.push(json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
                           "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}));
    }
    let mut out: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    out.push("data: [DONE]\n\n".into());
    out
}

/// A streamed `/v1/responses`: text deltas, then `response.completed`
/// carrying the usage.
fn responses_events(model: &str) -> Vec<String> {
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_2", "object": "response", "created_at": 1, "model": model,
               "status": status, "output": output, "usage": usage})
    };
    let message = json!([{"type": "message", "id": "msg_2", "status": "completed", "role": "assistant",
                          "content": [{"type": "output_text", "text": "hello stream", "annotations": []}]}]);
    let delta = |seq: u64, text: &str| {
        json!({"type": "response.output_text.delta", "item_id": "msg_2", "output_index": 0,
               "content_index": 0, "delta": text, "sequence_number": seq})
    };
    let events = [
        json!({"type": "response.created", "sequence_number": 0,
               "response": response("in_progress", json!([]), Value::Null)}),
        delta(1, "hello "),
        delta(2, "stream"),
        json!({"type": "response.completed", "sequence_number": 3,
               "response": response("completed", message,
                                    json!({"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}))}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect()
}

fn anthropic_events(model: &str) -> Vec<String> {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_2", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 13, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "stream"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// An SSE response sent event by event; with `hold`, after the first event
/// the stream waits until the test releases it.
fn sse(events: Vec<String>, hold: Option<Arc<Notify>>) -> Response<TestBody> {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
    tokio::spawn(async move {
        for (i, e) in events.into_iter().enumerate() {
            if tx.send_data(Bytes::from(e)).await.is_err() {
                return;
            }
            if i == 0
                && let Some(n) = &hold
            {
                n.notified().await;
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body.boxed_unsync())
        .unwrap()
}
