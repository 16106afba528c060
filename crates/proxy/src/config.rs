//! Tunables of the proxy. Everything that is policy lives behind the seams;
//! this is only how the machinery behaves.

use std::time::Duration;

/// Proxy settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Authorities under which sandboxes reach the proxy itself
    /// (`127.0.0.1:3128`, `localhost:3128`). A request addressed to one of
    /// them, through HTTP_PROXY or directly, is for the proxy: today only
    /// `/inference/<endpoint>/...`.
    pub self_authorities: Vec<String>,
    /// Extra PEM roots trusted for upstreams besides the system store.
    pub extra_upstream_roots_pem: Option<String>,
    /// Upper bound for resolving and connecting to an upstream.
    pub connect_timeout: Duration,
    /// Largest inference request body (it is read whole to find `model`).
    pub max_inference_body: usize,
    /// How much of a non-streamed inference response is kept to read its
    /// `usage` (it is forwarded as it arrives either way).
    pub max_usage_scan: usize,
    /// How long a record may take before it counts as failed (a stuck disk
    /// must not hang every sandbox's requests forever).
    pub audit_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            self_authorities: vec!["127.0.0.1:3128".into(), "localhost:3128".into()],
            extra_upstream_roots_pem: None,
            connect_timeout: Duration::from_secs(10),
            max_inference_body: 32 << 20,
            max_usage_scan: 16 << 20,
            audit_timeout: Duration::from_secs(10),
        }
    }
}
