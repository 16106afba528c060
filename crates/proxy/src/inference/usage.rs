//! Reading token usage from what providers send back, whole or streamed.
//!
//! - OpenAI chat/completions, completions, embeddings: `usage.prompt_tokens`,
//!   `usage.completion_tokens` (streamed: the last chunk, when
//!   `stream_options.include_usage` is on).
//! - OpenAI responses: `usage.input_tokens`/`output_tokens`; streamed in the
//!   `response.completed` event under `response.usage`.
//! - Anthropic messages: `usage.input_tokens` (+ cache creation and cache
//!   read tokens, which are billed input too), `usage.output_tokens`;
//!   streamed: `message_start` carries `message.usage`, `message_delta`
//!   carries the cumulative `usage.output_tokens`.

use serde_json::Value;

use crate::event::Usage;

/// The usage an event or whole response reports, if any.
pub(crate) fn usage_in(v: &Value) -> Option<Usage> {
    let u = v
        .get("usage")
        .filter(|u| u.is_object())
        .or_else(|| v.pointer("/response/usage"))
        .or_else(|| v.pointer("/message/usage"))
        .filter(|u| u.is_object())?;
    let n = |key: &str| u.get(key).and_then(Value::as_u64);
    let input = n("prompt_tokens").or_else(|| {
        let base = n("input_tokens")?;
        let cache = n("cache_creation_input_tokens").unwrap_or(0)
            + n("cache_read_input_tokens").unwrap_or(0);
        Some(base + cache)
    });
    let output = n("completion_tokens").or_else(|| n("output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
    })
}

/// Combines what several stream events reported. Counts are cumulative in
/// every dialect, so the largest value seen per field is the total.
pub(crate) fn merge(seen: Option<Usage>, new: Usage) -> Usage {
    let old = seen.unwrap_or_default();
    Usage {
        input_tokens: old.input_tokens.max(new.input_tokens),
        output_tokens: old.output_tokens.max(new.output_tokens),
    }
}

/// Whether a streamed chat chunk is the usage-only chunk that
/// `include_usage` adds (`choices` empty, `usage` set).
pub(crate) fn is_usage_only_chunk(v: &Value) -> bool {
    v.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && v.get("usage").is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value, want: Option<(u64, u64)>) {
        let got = usage_in(&v).map(|u| (u.input_tokens, u.output_tokens));
        assert_eq!(got, want, "{v}");
    }

    #[test]
    fn dialects() {
        check(
            json!({"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}),
            Some((12, 5)),
        );
        check(
            json!({"usage": {"prompt_tokens": 7, "total_tokens": 7}}),
            Some((7, 0)),
        );
        check(
            json!({"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 4}}}),
            Some((3, 4)),
        );
        check(
            json!({"usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 1, "output_tokens": 2}}),
            Some((111, 2)),
        );
        check(
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}),
            Some((9, 1)),
        );
        check(
            json!({"type": "message_delta", "usage": {"output_tokens": 30}}),
            Some((0, 30)),
        );
        check(json!({"choices": [], "usage": null}), None);
        check(json!({"id": "x"}), None);
    }

    #[test]
    fn streams_merge_to_totals() {
        let start = Usage {
            input_tokens: 9,
            output_tokens: 1,
        };
        let delta = Usage {
            input_tokens: 0,
            output_tokens: 30,
        };
        assert_eq!(
            merge(Some(start), delta),
            Usage {
                input_tokens: 9,
                output_tokens: 30
            }
        );
    }
}
