//! Registered resources as the proxy sees them: where to forward, what to
//! inject, what to enforce. The control plane builds these from its store
//! and resolves every secret before handing them over.

use http::HeaderName;
use http::uri::{Scheme, Uri};

use crate::error::ProxyError;
use crate::request::InferenceKind;
use crate::secret::Secret;

/// Where a registered resource really lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Whether to speak TLS to it.
    pub tls: bool,
    /// Host name or IP literal (no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path prefix put before every forwarded path ("" or "/api", no
    /// trailing slash).
    pub base_path: String,
}

impl Upstream {
    /// Parses `http://host[:port][/prefix]` or `https://...`.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let bad = |why: &str| ProxyError::BadUpstream(format!("{url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(bad("use http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not allowed; inject a header",
            ));
        }
        let host = authority
            .host()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            tls,
            host,
            port,
            base_path,
        })
    }

    /// `host:port` as written in a URI authority (IPv6 bracketed).
    pub fn authority(&self) -> String {
        crate::target::authority(&self.host, self.port)
    }

    /// The absolute URI of `path_and_query` on this upstream.
    pub(crate) fn uri_for(&self, path_and_query: &str) -> Result<Uri, ProxyError> {
        let scheme = if self.tls { "https" } else { "http" };
        let path = join_path(&self.base_path, path_and_query);
        format!("{scheme}://{}{path}", self.authority())
            .parse()
            .map_err(|_| ProxyError::BadUpstream(format!("cannot forward to path {path:?}")))
    }
}

/// Prefix + path, without doubling a version segment: a base URL written the
/// OpenAI way (`https://api.openai.com/v1`) and one written without it both
/// forward `/v1/chat/completions` to `https://api.openai.com/v1/chat/completions`.
fn join_path(base: &str, path: &str) -> String {
    if let Some((_, version)) = base.rsplit_once('/')
        && !version.is_empty()
        && path.starts_with(&format!("/{version}/"))
    {
        let trimmed = &base[..base.len() - version.len() - 1];
        return format!("{trimmed}{path}");
    }
    format!("{base}{path}")
}

/// A registered HTTP API.
#[derive(Debug, Clone)]
pub struct HttpService {
    /// The resource name policy refers to.
    pub name: String,
    /// Where requests are forwarded.
    pub upstream: Upstream,
    /// Headers set on every forwarded request (secrets already resolved),
    /// e.g. `("authorization", "Bearer ghp_...")`.
    pub inject_headers: Vec<(HeaderName, Secret)>,
    /// PEM of the only CA trusted for this upstream (instead of the system
    /// roots); for private services and tests.
    pub upstream_ca_pem: Option<String>,
}

/// A registered LLM endpoint.
#[derive(Debug, Clone)]
pub struct InferenceEndpoint {
    /// The resource name policy refers to; also the path segment in
    /// `/inference/<name>/...`.
    pub name: String,
    /// API dialect: decides how the key is sent and where usage is read.
    pub kind: InferenceKind,
    /// Base URL, e.g. `https://api.openai.com` or `https://api.openai.com/v1`.
    pub upstream: Upstream,
    /// The real API key.
    pub api_key: Secret,
    /// Glob patterns (`*`, `?`) of the models that may be called; empty
    /// means any model (policy can still decide on `model`).
    pub models: Vec<String>,
    /// Per-identity budgets.
    pub budgets: Budgets,
    /// When `Some(cap)`, request and response bodies go into the audit event,
    /// each cut at `cap` bytes. `None` (the default): bodies are never recorded.
    pub log_bodies: Option<usize>,
    /// PEM of the only CA trusted for this upstream, as for [`HttpService`].
    pub upstream_ca_pem: Option<String>,
}

/// Limits per identity on one inference endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Requests in any 60-second window.
    pub requests_per_minute: Option<u32>,
    /// Input + output tokens per UTC day, as reported by the upstream's `usage`.
    pub tokens_per_day: Option<u64>,
    /// Whose budget a request spends.
    pub scope: BudgetScope,
}

/// The identity a budget is counted for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BudgetScope {
    /// The human: all their sandboxes share one budget (the default: cost
    /// control follows the person).
    #[default]
    User,
    /// Each sandbox's workload separately.
    Workload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let u = Upstream::parse("https://API.example.com/v1/").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port),
            (true, "api.example.com", 443)
        );
        assert_eq!(u.base_path, "/v1");
        let u = Upstream::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "::1", 8080));
        assert_eq!(u.authority(), "[::1]:8080");
        for bad in [
            "ftp://x",
            "x.com",
            "https://u:p@x.com",
            "https://x.com/?a=1",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_paths_without_doubling_the_version() {
        let check = |base: &str, path: &str, want: &str| {
            assert_eq!(join_path(base, path), want, "{base} + {path}");
        };
        check("", "/v1/messages", "/v1/messages");
        check(
            "/v1",
            "/v1/chat/completions?x=1",
            "/v1/chat/completions?x=1",
        );
        check("/openai/v1", "/v1/models", "/openai/v1/models");
        check("/api", "/repos/x", "/api/repos/x");
        check("/v1", "/v10/x", "/v1/v10/x");
    }
}
