//! The inference operations the proxy serves, per dialect.

use http::Method;
use serde_json::{Value, json};

use crate::request::InferenceKind;

/// What kind of operation a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Generates tokens (or embeds): model-checked, budgeted, usage counted.
    Metered,
    /// Anthropic `count_tokens`: model-checked, not budgeted.
    CountTokens,
    /// `GET /v1/models[/id]`: no model, nothing spent.
    ListModels,
}

/// The operation `method path` is, or `None` if the proxy does not serve it
/// (an unknown operation could generate tokens the proxy cannot meter).
pub(crate) fn classify(kind: InferenceKind, method: &Method, path: &str) -> Option<Op> {
    if *method == Method::GET && (path == "/v1/models" || is_model_path(path)) {
        return Some(Op::ListModels);
    }
    if *method != Method::POST {
        return None;
    }
    match (kind, path) {
        (
            InferenceKind::Openai,
            "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/responses",
        ) => Some(Op::Metered),
        (InferenceKind::Anthropic, "/v1/messages") => Some(Op::Metered),
        (InferenceKind::Anthropic, "/v1/messages/count_tokens") => Some(Op::CountTokens),
        _ => None,
    }
}

fn is_model_path(path: &str) -> bool {
    path.strip_prefix("/v1/models/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// OpenAI chat and completions stream usage only when asked
/// (`stream_options.include_usage`); without it a stream could spend tokens
/// no budget sees. Turns it on for a streamed call that did not, and says
/// whether it did (the proxy then removes the extra chunk on the way back).
pub(crate) fn ask_stream_usage(kind: InferenceKind, operation: &str, body: &mut Value) -> bool {
    let applies = kind == InferenceKind::Openai
        && matches!(operation, "/v1/chat/completions" | "/v1/completions")
        && body.get("stream").and_then(Value::as_bool) == Some(true);
    let already = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    if !applies || already {
        return false;
    }
    let Some(obj) = body.as_object_mut() else {
        return false;
    };
    match obj.get_mut("stream_options").and_then(Value::as_object_mut) {
        Some(opts) => {
            opts.insert("include_usage".into(), json!(true));
        }
        None => {
            obj.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations() {
        use InferenceKind::{Anthropic, Openai};
        let post = Method::POST;
        assert_eq!(
            classify(Openai, &post, "/v1/chat/completions"),
            Some(Op::Metered)
        );
        assert_eq!(classify(Openai, &post, "/v1/messages"), None);
        assert_eq!(
            classify(Anthropic, &post, "/v1/messages"),
            Some(Op::Metered)
        );
        assert_eq!(
            classify(Anthropic, &post, "/v1/messages/count_tokens"),
            Some(Op::CountTokens)
        );
        assert_eq!(
            classify(Openai, &Method::GET, "/v1/models/gpt-4o"),
            Some(Op::ListModels)
        );
        assert_eq!(classify(Openai, &Method::GET, "/v1/chat/completions"), None);
        assert_eq!(classify(Openai, &post, "/v1/fine_tuning/jobs"), None);
    }

    #[test]
    fn stream_usage_is_requested_once() {
        let mut body = json!({"model": "m", "stream": true});
        assert!(ask_stream_usage(
            InferenceKind::Openai,
            "/v1/chat/completions",
            &mut body
        ));
        assert_eq!(body["stream_options"]["include_usage"], json!(true));
        assert!(!ask_stream_usage(
            InferenceKind::Openai,
            "/v1/chat/completions",
            &mut body
        ));
        let mut plain = json!({"model": "m"});
        assert!(!ask_stream_usage(
            InferenceKind::Openai,
            "/v1/chat/completions",
            &mut plain
        ));
        let mut responses = json!({"model": "m", "stream": true});
        assert!(!ask_stream_usage(
            InferenceKind::Openai,
            "/v1/responses",
            &mut responses
        ));
    }
}
