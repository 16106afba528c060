//! Errors of setting up or running the proxy (per-request failures become
//! HTTP responses and audit events, not these).

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The interception CA could not be created, loaded or used.
    #[error("proxy CA: {0}")]
    Ca(#[from] airlock_ca::CaError),
    /// A TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A registered upstream is unusable.
    #[error("bad upstream {0}")]
    BadUpstream(String),
    /// Socket IO failed (accepting connections).
    #[error("proxy socket: {0}")]
    Io(#[from] std::io::Error),
}
