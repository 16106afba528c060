//! Inference endpoints: the key is swapped for the real one, the model is
//! checked against the allow-list, budgets are enforced, and the usage the
//! response reports is recorded and spent.
//!
//! Routing: the sandbox's SDKs get `OPENAI_BASE_URL=http://127.0.0.1:3128/inference/<name>/v1`
//! and `ANTHROPIC_BASE_URL=http://127.0.0.1:3128/inference/<name>` (the
//! SDKs append `/v1/...` themselves) and a dummy key. Such a request reaches
//! the proxy directly (origin-form) or through HTTP_PROXY (absolute-form to
//! the proxy's own address); both route here. A client that insists on the
//! provider's real host reaches it through HTTPS_PROXY when the catalog maps
//! that host to the endpoint ([`crate::Catalog::inference_for_host`]).

pub(crate) mod budget;
mod model;
mod ops;
mod tap;
mod usage;

pub(crate) use model::glob;
pub(crate) use tap::sse_through;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::body::{Tap, TapFactory};
use crate::deny::full;
use crate::event::ProxyEvent;
use crate::exchange::{Attempt, Forward, forward};
use crate::forward_http::host_header;
use crate::headers;
use crate::request::{InferenceKind, ProxyRequest};
use crate::resource::InferenceEndpoint;
use crate::rules;
use crate::upstream::ProxyBody;
use budget::{Charge, Refusal, utc_day};
use ops::Op;

/// Handles one call to `endpoint`'s `operation`.
pub(crate) async fn handle(
    attempt: Attempt,
    endpoint: Arc<InferenceEndpoint>,
    operation: String,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let max = attempt.shared.config.max_inference_body;
    let bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let request = call(&endpoint, "", &operation);
            let why = format!("request body unreadable or over {max} bytes: {e}");
            return attempt
                .refuse_rule(
                    request,
                    rules::MALFORMED,
                    why,
                    StatusCode::PAYLOAD_TOO_LARGE,
                )
                .await;
        }
    };
    let mut json: Option<Value> = serde_json::from_slice(&bytes).ok();
    let model = json
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let request = call(&endpoint, &model, &operation);
    let mut event = attempt.event(request.clone(), attempt.decide(&request));
    event.model = (!model.is_empty()).then(|| model.clone());
    event.request_body = body_cap(&event, &endpoint).map(|cap| capped_text(&bytes, cap));
    let op = match check(
        &attempt,
        &endpoint,
        &parts.method,
        &operation,
        &model,
        &mut event,
    ) {
        Ok(op) => op,
        Err(status) => return refuse(&attempt, event, status).await,
    };
    let strip = op == Op::Metered
        && json
            .as_mut()
            .is_some_and(|v| ops::ask_stream_usage(endpoint.kind, &operation, v));
    let body = match (strip, &json) {
        (true, Some(v)) => Bytes::from(v.to_string()),
        _ => bytes,
    };
    let charge = (op == Op::Metered)
        .then(|| Charge::new(&endpoint.name, &attempt.caller, endpoint.budgets.scope));
    let call = Call {
        parts,
        operation,
        body,
        event,
        charge,
        strip,
    };
    send(&attempt, &endpoint, call).await
}

/// An admitted call, ready to go upstream.
struct Call {
    parts: http::request::Parts,
    operation: String,
    body: Bytes,
    event: ProxyEvent,
    charge: Option<Charge>,
    /// The proxy turned `include_usage` on and removes the extra chunk.
    strip: bool,
}

/// Operation, policy, allow-list and budgets, in that order. On refusal the
/// event's decision names the rule and the status to answer is returned.
fn check(
    attempt: &Attempt,
    endpoint: &InferenceEndpoint,
    method: &http::Method,
    operation: &str,
    model: &str,
    event: &mut ProxyEvent,
) -> Result<Op, StatusCode> {
    let Some(op) = ops::classify(endpoint.kind, method, operation) else {
        let why = format!("{method} {operation} is not an inference operation the proxy serves");
        event.decision = rules::deny(rules::INFERENCE_OPERATION, why);
        return Err(StatusCode::NOT_FOUND);
    };
    if !event.decision.is_allowed() {
        return Err(StatusCode::FORBIDDEN);
    }
    if op != Op::ListModels && !model::model_allowed(&endpoint.models, model) {
        let why = format!(
            "model {model:?} is not allowed on endpoint {:?} (allowed: {})",
            endpoint.name,
            endpoint.models.join(", ")
        );
        event.decision = rules::deny(rules::MODEL_ALLOW_LIST, why);
        return Err(StatusCode::FORBIDDEN);
    }
    if op == Op::Metered {
        spend_request(attempt, endpoint, event)?;
    }
    Ok(op)
}

fn spend_request(
    attempt: &Attempt,
    endpoint: &InferenceEndpoint,
    event: &mut ProxyEvent,
) -> Result<(), StatusCode> {
    let charge = Charge::new(&endpoint.name, &attempt.caller, endpoint.budgets.scope);
    let today = utc_day(SystemTime::now());
    match attempt
        .shared
        .budgets
        .admit(&charge, &endpoint.budgets, Instant::now(), today)
    {
        Ok(()) => Ok(()),
        Err(Refusal::Rate { limit, retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let why = format!("request budget of {limit} per minute is spent; retry in {secs} s");
            event.decision = rules::deny(rules::REQUESTS_PER_MINUTE, why);
            Err(StatusCode::TOO_MANY_REQUESTS)
        }
        Err(Refusal::Tokens { limit, used }) => {
            let why = format!("token budget of {limit} per day is spent ({used} used)");
            event.decision = rules::deny(rules::TOKENS_PER_DAY, why);
            Err(StatusCode::FORBIDDEN)
        }
    }
}

async fn refuse(attempt: &Attempt, event: ProxyEvent, status: StatusCode) -> Response<ProxyBody> {
    let mut resp = attempt.refuse(event, status).await;
    if resp.status() == StatusCode::TOO_MANY_REQUESTS {
        // SDKs back off on 429 by Retry-After; a minute window frees a slot within 60 s.
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    resp
}

/// Builds the upstream request with the real key and forwards it.
async fn send(attempt: &Attempt, endpoint: &InferenceEndpoint, call: Call) -> Response<ProxyBody> {
    let Call {
        mut parts,
        operation,
        body,
        mut event,
        charge,
        strip,
    } = call;
    let up = &endpoint.upstream;
    let query = parts.uri.query().map_or(String::new(), |q| format!("?{q}"));
    let client = attempt
        .shared
        .upstreams
        .registered(endpoint.upstream_ca_pem.as_deref());
    let (client, uri) = match (client, up.uri_for(&format!("{operation}{query}"))) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => {
            event.error = Some(e.to_string());
            return attempt.refuse(event, StatusCode::BAD_GATEWAY).await;
        }
    };
    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h);
    headers::drop_credentials(h);
    headers::inject(h, &[key_header(endpoint)]);
    headers::set_host(
        h,
        &host_header(if up.tls { "https" } else { "http" }, &up.host, up.port),
    );
    // The usage scan reads the response: it must not arrive compressed.
    h.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    let bytes_in = Arc::new(AtomicU64::new(body.len() as u64));
    let request = Request::from_parts(parts, full(body));
    let tap = tap_factory(
        attempt.shared.config.max_usage_scan,
        body_cap(&event, endpoint),
        strip,
    );
    let fwd = Forward {
        client,
        request,
        event,
        bytes_in,
        tap: Some(tap),
        charge,
        strip_set_cookie: true,
    };
    forward(attempt, fwd).await
}

/// The key, as the dialect sends it.
fn key_header(endpoint: &InferenceEndpoint) -> (header::HeaderName, crate::Secret) {
    match endpoint.kind {
        InferenceKind::Openai => (
            header::AUTHORIZATION,
            crate::Secret::new(format!("Bearer {}", endpoint.api_key.expose())),
        ),
        InferenceKind::Anthropic => (
            header::HeaderName::from_static("x-api-key"),
            endpoint.api_key.clone(),
        ),
    }
}

/// Whether (and up to how many bytes) this call's bodies go into its audit
/// event: when an allowing policy asks for it (`@record_bodies`), or the
/// endpoint was registered with `--log-bodies`; the larger cap wins.
fn body_cap(event: &ProxyEvent, endpoint: &InferenceEndpoint) -> Option<usize> {
    let by_policy = event
        .decision
        .is_allowed()
        .then_some(event.decision.record_bodies)
        .flatten();
    by_policy.max(endpoint.log_bodies)
}

fn tap_factory(scan_cap: usize, log_cap: Option<usize>, strip: bool) -> TapFactory {
    Box::new(move |headers: &http::HeaderMap| -> Box<dyn Tap> {
        let sse = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if sse {
            Box::new(tap::SseTap::new(strip, log_cap))
        } else {
            Box::new(tap::JsonTap::new(scan_cap, log_cap))
        }
    })
}

fn call(endpoint: &InferenceEndpoint, model: &str, operation: &str) -> ProxyRequest {
    ProxyRequest::Inference {
        endpoint: endpoint.name.clone(),
        kind: endpoint.kind,
        model: model.to_owned(),
        operation: operation.to_owned(),
    }
}

fn capped_text(bytes: &[u8], cap: usize) -> String {
    String::from_utf8_lossy(&bytes[..cap.min(bytes.len())]).into_owned()
}
