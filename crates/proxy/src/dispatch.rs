//! The per-request entry point: CONNECT opens a tunnel, everything else is
//! routed and handed to the flow for its kind of destination.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::body::drain_refused;
use crate::event::Target;
use crate::exchange::Attempt;
use crate::request::ProxyRequest;
use crate::route::{Route, route};
use crate::server::ConnCtx;
use crate::upstream::ProxyBody;
use crate::{connect, forward_http, inference};

/// Handles one request from a sandbox.
///
/// Each flow's future is boxed: an async fn's state holds the largest of
/// the futures it awaits, so the request's future was 9.7 KiB (the flow's
/// state, the upstream exchange's inside it), and each layer that created
/// or handed it on (this function, hyper's service call, its in-flight
/// slot) copied all of it. Boxed, a flow's state is copied once, into its
/// box (a registered service's: 2.9 KiB, and the exchange's 5.3 KiB).
pub(crate) async fn dispatch(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<ProxyBody> {
    let started = Instant::now();
    if req.method() == Method::CONNECT {
        return Box::pin(connect::handle(ctx, req, started)).await;
    }
    let routed = route(&ctx, &req);
    let attempt = Attempt {
        shared: ctx.shared.clone(),
        caller: ctx.caller.clone(),
        target: routed.target,
        started,
        time: SystemTime::now(),
        style: routed.style,
    };
    match routed.route {
        Route::Refuse {
            rule,
            reason,
            status,
        } => {
            let request = egress_of(&attempt.target);
            drain_refused(req).await;
            attempt.refuse_rule(request, rule, reason, status).await
        }
        Route::Egress(hp) => Box::pin(forward_http::egress(attempt, hp, req)).await,
        Route::Service(service) => Box::pin(forward_http::service(attempt, service, req)).await,
        Route::Inference {
            endpoint,
            operation,
        } => Box::pin(inference::handle(attempt, endpoint, operation, req)).await,
    }
}

/// A refusal before policy was asked is recorded as an attempted egress to
/// whatever the request addressed.
pub(crate) fn egress_of(target: &Target) -> ProxyRequest {
    ProxyRequest::Egress {
        host: target.host.clone(),
        port: target.port,
    }
}
