//! Airlock's access proxy: the only way out of a sandbox.
//!
//! Each sandbox reaches the proxy on its own unix socket (relayed from
//! `127.0.0.1:3128` inside by its init), so the socket identifies the caller
//! ([`Caller`]); nothing the sandbox sends can change who it is. On every
//! request the proxy:
//!
//! 1. works out what is attempted ([`ProxyRequest`]): a registered HTTP
//!    service, an inference endpoint, or plain egress, using the
//!    [`Catalog`];
//! 2. asks the [`Decider`] (policy, locks) and applies its own rules
//!    ([`rules`]: domain fronting, internal addresses, model allow-lists,
//!    budgets); anything but an allow is refused with a one-line 403 naming
//!    the deciding rule;
//! 3. forwards with the sandbox's credential headers dropped and the real
//!    credential injected, so no secret ever enters the sandbox;
//! 4. records exactly one [`ProxyEvent`] through the [`AuditSink`], durably,
//!    before the response completes.
//!
//! HTTPS goes through CONNECT and is intercepted with leaves minted by the
//! [`ProxyCa`] (every sandbox trusts its certificate), so method, path and
//! credential rules apply to TLS traffic as well; HTTP/2 is served when the
//! client negotiates it. Upstreams are spoken to in HTTP/1.1 over TLS
//! verified against the system roots (or a registered resource's own CA).
//!
//! Inference routing (what the sandbox's environment says):
//! `OPENAI_BASE_URL=http://127.0.0.1:3128/inference/<endpoint>/v1`,
//! `ANTHROPIC_BASE_URL=http://127.0.0.1:3128/inference/<endpoint>`, dummy
//! keys, and `NO_PROXY=127.0.0.1,localhost` (requests through HTTP_PROXY to
//! the proxy's own address work too).
//!
//! Embedding it (the control plane's side):
//!
//! ```no_run
//! use std::sync::Arc;
//! use airlock_proxy::{AuditSink, Caller, Catalog, Decider, ProxyCa, ProxyConfig, ProxyServer};
//! # async fn demo(decider: Arc<dyn Decider>, catalog: Arc<dyn Catalog>, sink: Arc<dyn AuditSink>,
//! #               caller: Caller) -> Result<(), Box<dyn std::error::Error>> {
//! let cert = std::fs::read_to_string("data/proxy-ca.pem")?;
//! let key = std::fs::read_to_string("data/proxy-ca.key")?;
//! let proxy = ProxyServer::new(ProxyConfig::default(), ProxyCa::from_pem(&cert, &key)?, decider, catalog, sink)?;
//! // Per sandbox: bind its socket and serve it; dropping the handle stops
//! // the sandbox's accept loop, connections and tunnels.
//! let socket = tokio::net::UnixListener::bind("run/sb/sb-0102030405060708/host/proxy.sock")?;
//! let serving = proxy.serve_sandbox(caller, socket);
//! # drop(serving);
//! # Ok(()) }
//! ```
//!
//! Architecture invariants:
//! - The proxy never decides alone what policy must decide: the
//!   [`Decider`] is called for every request, and nothing is cached across
//!   requests, so locks and policy changes apply to the next request.
//! - HTTP bytes from the sandbox and upstreams are parsed only by hyper
//!   (and the TLS ClientHello by rustls); the proxy's own parsing is
//!   limited to JSON bodies (serde_json) and SSE event framing.
//! - Secrets are [`Secret`]s: redacted in every `Debug`/`Display`, written
//!   only into upstream request headers, marked sensitive there.
#![forbid(unsafe_code)]

mod audit_log;
mod body;
mod caller;
mod config;
mod connect;
mod deny;
mod dispatch;
mod error;
mod event;
mod exchange;
mod forward_http;
mod guard;
mod headers;
mod inference;
mod intercept;
mod mitm_ca;
mod pool;
mod request;
mod resource;
mod rewind;
mod route;
pub mod rules;
mod seams;
mod secret;
mod server;
mod target;
mod tls;
mod upstream;

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets in `crates/fuzz`: parsers of
    //! untrusted bytes that are otherwise private. Not an API.

    /// Runs the SSE tap of a streamed inference response over `chunks`:
    /// the bytes the sandbox gets and the usage read.
    pub fn sse_through(strip: bool, chunks: &[&[u8]]) -> (Vec<u8>, Option<crate::Usage>) {
        crate::inference::sse_through(strip, chunks)
    }

    /// Whether `model` matches the allow-list glob `pattern`.
    pub fn model_glob(pattern: &str, model: &str) -> bool {
        crate::inference::glob(pattern, model)
    }

    /// Parses a destination as the proxy does (CONNECT target, Host
    /// header): the normalized host and port, and the authority printed
    /// from them.
    pub fn destination(text: &str, default_port: u16) -> Option<(String, u16, String)> {
        let hp = crate::target::HostPort::parse(text, default_port)?;
        let printed = crate::target::authority(&hp.host, hp.port);
        Some((hp.host, hp.port, printed))
    }
}

pub use audit_log::AuditLogSink;
pub use caller::Caller;
pub use config::ProxyConfig;
pub use error::ProxyError;
pub use event::{AuditDetails, ProxyEvent, Target, Usage};
pub use guard::is_internal;
pub use headers::CREDENTIAL_HEADERS;
pub use mitm_ca::ProxyCa;
pub use request::{InferenceKind, ProxyRequest};
pub use resource::{BudgetScope, Budgets, HttpService, InferenceEndpoint, Upstream};
pub use seams::{AuditSink, Catalog, Decider, RecordFuture, SinkError};
pub use secret::Secret;
pub use server::{ProxyServer, SandboxProxy};

/// Re-exported so callers build header names for [`HttpService::inject_headers`]
/// with the same `http` version.
pub use http;
