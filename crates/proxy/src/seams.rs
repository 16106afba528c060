//! The three seams the control plane implements: policy, the resource
//! catalog, and the audit sink. The proxy holds them as trait objects and
//! calls them on every request, so a policy change, a lock or a newly
//! registered resource applies to the very next request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use airlock_core::Decision;

use crate::caller::Caller;
use crate::event::ProxyEvent;
use crate::request::ProxyRequest;
use crate::resource::{HttpService, InferenceEndpoint};

/// Policy: decides one attempted operation.
///
/// Called for every request (and every CONNECT to an unregistered host)
/// before anything is forwarded; decisions are never cached across requests.
/// It runs on the request path, so it must not block on IO: a Cedar
/// evaluation over in-memory policies and a lock table is what it is for.
/// Anything but an explicit allow is a deny.
pub trait Decider: Send + Sync {
    /// The decision for `caller` attempting `request`, with the ids of the
    /// policies that decided it.
    fn decide(&self, caller: &Caller, request: &ProxyRequest) -> Decision;
}

/// The registered resources, looked up by what the sandbox addressed.
///
/// Lookups run on every request; keep them to a map read.
pub trait Catalog: Send + Sync {
    /// The HTTP service registered for `host:port` (host lower case, no
    /// brackets), if any.
    fn http_service_for(&self, host: &str, port: u16) -> Option<Arc<HttpService>>;

    /// The inference endpoint named `name` (from `/inference/<name>/...`).
    fn inference_named(&self, name: &str) -> Option<Arc<InferenceEndpoint>>;

    /// The inference endpoint that answers for `host:port`, for clients that
    /// talk to the provider's real host through HTTPS_PROXY
    /// (e.g. `api.openai.com:443`). None by default.
    fn inference_for_host(&self, _host: &str, _port: u16) -> Option<Arc<InferenceEndpoint>> {
        None
    }
}

/// Why an audit record could not be made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record failed: {0}")]
pub struct SinkError(pub String);

/// The future [`AuditSink::record`] returns. `'static` because a record may
/// outlive the request that caused it (a client that hung up mid-response).
pub type RecordFuture = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'static>>;

/// Where every request's audit event goes.
///
/// The future resolves once the event is durable. "No audit, no action": a
/// denial whose record fails is answered 503 instead of 403, an allowed
/// response is not completed until its record is durable (the last frame is
/// held back), and after any failed record the proxy refuses new requests
/// with 503 until a record succeeds again.
pub trait AuditSink: Send + Sync {
    /// Records one event durably.
    fn record(&self, event: ProxyEvent) -> RecordFuture;
}
