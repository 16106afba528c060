//! Plain HTTP flows: a registered service (policy on method and path,
//! credentials swapped) and unregistered egress (policy on destination).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::body::{CountingBody, drain_refused};
use crate::exchange::{Attempt, Forward, forward};
use crate::headers;
use crate::request::ProxyRequest;
use crate::resource::HttpService;
use crate::target::{HostPort, bracket};
use crate::upstream::ProxyBody;

/// An unregistered destination: decided as `egress.connect` to host:port,
/// forwarded as is (the sandbox's own headers stay: nothing was injected, so
/// there is nothing to protect), only to public addresses.
pub(crate) async fn egress(
    attempt: Attempt,
    hp: HostPort,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let request = ProxyRequest::Egress {
        host: hp.host.clone(),
        port: hp.port,
    };
    let decision = attempt.decide(&request);
    if !decision.is_allowed() {
        drain_refused(req).await;
        return attempt
            .refuse(attempt.event(request, decision), StatusCode::FORBIDDEN)
            .await;
    }
    let scheme = attempt.target.scheme;
    let host_header = host_header(scheme, &hp.host, hp.port);
    let uri = format!("{scheme}://{host_header}{}", path_and_query(req.uri()));
    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::set_host(&mut parts.headers, &host_header);
    let event = attempt.event(request, decision);
    let Ok(uri) = uri.parse::<Uri>() else {
        return attempt.refuse(event, StatusCode::BAD_REQUEST).await;
    };
    let bytes_in = Arc::new(AtomicU64::new(0));
    let request = upstream_request(parts, uri, body, &bytes_in);
    let client = attempt.shared.upstreams.egress();
    forward(
        &attempt,
        Forward {
            client,
            request,
            event,
            bytes_in,
            tap: None,
            charge: None,
            strip_set_cookie: false,
        },
    )
    .await
}

/// A registered HTTP service: decided as `http.request` on method and path;
/// the sandbox's credential headers are dropped and the service's injected.
pub(crate) async fn service(
    attempt: Attempt,
    service: Arc<HttpService>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let t = &attempt.target;
    let request = ProxyRequest::Http {
        service: Some(service.name.clone()),
        method: t.method.clone(),
        host: t.host.clone(),
        port: t.port,
        path: t.path.clone(),
    };
    let decision = attempt.decide(&request);
    let mut event = attempt.event(request, decision);
    if !event.decision.is_allowed() {
        drain_refused(req).await;
        return attempt.refuse(event, StatusCode::FORBIDDEN).await;
    }
    let up = &service.upstream;
    let (client, uri) = match (
        attempt
            .shared
            .upstreams
            .registered(service.upstream_ca_pem.as_deref()),
        up.uri_for(path_and_query(req.uri())),
    ) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => {
            event.error = Some(e.to_string());
            return attempt.refuse(event, StatusCode::BAD_GATEWAY).await;
        }
    };
    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::drop_credentials(&mut parts.headers);
    headers::inject(&mut parts.headers, &service.inject_headers);
    headers::set_host(
        &mut parts.headers,
        &host_header(if up.tls { "https" } else { "http" }, &up.host, up.port),
    );
    let bytes_in = Arc::new(AtomicU64::new(0));
    let request = upstream_request(parts, uri, body, &bytes_in);
    forward(
        &attempt,
        Forward {
            client,
            request,
            event,
            bytes_in,
            tap: None,
            charge: None,
            strip_set_cookie: true,
        },
    )
    .await
}

/// The request as sent upstream: HTTP/1.1, absolute URI, counted body.
fn upstream_request(
    mut parts: http::request::Parts,
    uri: Uri,
    body: Incoming,
    bytes_in: &Arc<AtomicU64>,
) -> Request<ProxyBody> {
    parts.uri = uri;
    // Upstreams are spoken to in HTTP/1.1 whatever the sandbox negotiated.
    parts.version = Version::HTTP_11;
    let body = ProxyBody::new(CountingBody::new(body, bytes_in.clone()));
    Request::from_parts(parts, body)
}

/// `/path?query` of a request URI.
pub(crate) fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// The Host header for a destination: the port only when not the default.
pub(crate) fn host_header(scheme: &str, host: &str, port: u16) -> String {
    match (scheme, port) {
        ("http", 80) | ("https", 443) => bracket(host),
        _ => crate::target::authority(host, port),
    }
}
