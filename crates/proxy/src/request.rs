//! What a sandbox attempts, in the terms policy decides on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The API dialect of an inference endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InferenceKind {
    /// OpenAI-compatible (`/v1/chat/completions`, `/v1/responses`,
    /// `/v1/completions`, `/v1/embeddings`); key sent as `Authorization: Bearer`.
    Openai,
    /// Anthropic-compatible (`/v1/messages`); key sent as `x-api-key`.
    Anthropic,
}

impl InferenceKind {
    /// `"openai"` or `"anthropic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for InferenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempted operation, as handed to [`crate::Decider::decide`].
///
/// Which variant a request becomes depends on the [`crate::Catalog`]: a
/// host:port registered as an HTTP service gives [`ProxyRequest::Http`] with
/// `service: Some`, an inference endpoint gives [`ProxyRequest::Inference`],
/// and anything else is [`ProxyRequest::Egress`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ProxyRequest {
    /// An HTTP request to a registered service (action `http.request`).
    Http {
        /// The registered service's name. Always `Some` today; `None` is
        /// reserved for L7 rules on unregistered hosts.
        service: Option<String>,
        /// Request method, upper case.
        method: String,
        /// Host the sandbox addressed (lower case, no port).
        host: String,
        /// Port the sandbox addressed.
        port: u16,
        /// Request path, without the query string.
        path: String,
    },
    /// A call to an inference endpoint (action `inference.call`).
    Inference {
        /// The registered endpoint's name.
        endpoint: String,
        /// Its API dialect.
        kind: InferenceKind,
        /// The `model` named in the request body (empty when the operation
        /// names none, e.g. `GET /v1/models`).
        model: String,
        /// The API operation, e.g. `/v1/chat/completions`.
        operation: String,
    },
    /// Anything else leaving the sandbox, decided by destination (action
    /// `egress.connect`): a CONNECT tunnel, a plain-HTTP request, or each
    /// request inside an intercepted TLS tunnel to an unregistered host.
    Egress {
        /// Destination host name or IP literal (lower case, no brackets).
        host: String,
        /// Destination port.
        port: u16,
    },
}

impl ProxyRequest {
    /// The Cedar action this request is decided as.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Http { .. } => "http.request",
            Self::Inference { .. } => "inference.call",
            Self::Egress { .. } => "egress.connect",
        }
    }
}
