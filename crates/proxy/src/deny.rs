//! What a refused sandbox reads: one line saying what was denied and which
//! rule decided, shaped so that agents and SDKs surface it.

use airlock_core::Decision;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::json;

use crate::event::{Target, describe_policies};
use crate::request::InferenceKind;
use crate::upstream::ProxyBody;

/// How to shape an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// `text/plain`, one line.
    Text,
    /// The provider's JSON error shape, so the SDK shows the line as its message.
    Inference(InferenceKind),
}

/// `airlock: denied POST https://api.github.com/repos (policy "x"): reason`.
pub(crate) fn denial_line(target: &Target, decision: &Decision) -> String {
    let reason = one_line(&decision.reason);
    format!(
        "airlock: denied {} {} ({}): {reason}",
        target.method,
        target.url(),
        describe_policies(decision)
    )
}

/// A response with a one-line message in the given style.
pub(crate) fn message(status: StatusCode, line: &str, style: ErrorStyle) -> Response<ProxyBody> {
    let (content_type, body) = match style {
        ErrorStyle::Text => ("text/plain; charset=utf-8", format!("{line}\n")),
        ErrorStyle::Inference(kind) => ("application/json", inference_error(kind, status, line)),
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-airlock-denied", HeaderValue::from_static("1"));
    resp
}

/// A whole body from a string.
pub(crate) fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn inference_error(kind: InferenceKind, status: StatusCode, line: &str) -> String {
    let err_type = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY => "api_error",
        _ => "invalid_request_error",
    };
    match kind {
        InferenceKind::Openai => {
            json!({"error": {"message": line, "type": err_type, "code": "airlock_denied"}})
        }
        InferenceKind::Anthropic => {
            json!({"type": "error", "error": {"type": err_type, "message": line}})
        }
    }
    .to_string()
}

/// Control characters (a newline in a reason would split the agent's one
/// line and could forge a second) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_lines_read_as_one_sentence() {
        let target = Target {
            scheme: "https",
            method: "POST".into(),
            host: "api.github.com".into(),
            port: 443,
            path: "/repos".into(),
        };
        let d = Decision::deny(
            "writes to GitHub are forbidden\nfake: line",
            vec!["forbid-github-writes".into()],
        );
        assert_eq!(
            denial_line(&target, &d),
            "airlock: denied POST https://api.github.com/repos (policy \"forbid-github-writes\"): \
             writes to GitHub are forbidden fake: line"
        );
        let d = Decision::deny("default deny", vec![]);
        assert!(denial_line(&target, &d).contains("(no policy allowed it)"));
    }
}
