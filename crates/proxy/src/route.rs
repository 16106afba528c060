//! Where a request goes: which destination the sandbox addressed, whether
//! that is a registered resource, the proxy itself, or plain egress, and
//! whether the request is too ambiguous to decide.

use std::sync::Arc;

use http::{Request, StatusCode, header};

use crate::deny::ErrorStyle;
use crate::event::Target;
use crate::resource::{HttpService, InferenceEndpoint};
use crate::rules;
use crate::server::ConnCtx;
use crate::target::HostPort;

/// What to do with a request.
pub(crate) enum Route {
    /// An inference call; `operation` is the API path (`/v1/messages`).
    Inference {
        endpoint: Arc<InferenceEndpoint>,
        operation: String,
    },
    /// A registered HTTP service.
    Service(Arc<HttpService>),
    /// Anything else: decided as egress to this destination.
    Egress(HostPort),
    /// Refused before policy is asked, by one of the proxy's rules.
    Refuse {
        rule: &'static str,
        reason: String,
        status: StatusCode,
    },
}

/// A routed request.
pub(crate) struct Routed {
    pub target: Target,
    pub route: Route,
    pub style: ErrorStyle,
}

/// Routes `req` arriving on `ctx`'s connection.
pub(crate) fn route<B>(ctx: &ConnCtx, req: &Request<B>) -> Routed {
    let addressed = match addressed(ctx, req) {
        Ok(a) => a,
        Err((reason, rule, hp)) => return refused(req, hp, ctx.scheme(), rule, reason),
    };
    let Addressed {
        hp,
        scheme,
        to_proxy,
    } = addressed;
    let target = Target {
        scheme,
        method: req.method().as_str().to_owned(),
        host: hp.host.clone(),
        port: hp.port,
        path: req.uri().path().to_owned(),
    };
    let route = if has_dot_segments(&target.path) {
        Route::Refuse {
            rule: rules::MALFORMED,
            reason: "paths with dot segments or encoded separators are refused: they can mean \
                     different resources to policy and to the upstream"
                .into(),
            status: StatusCode::BAD_REQUEST,
        }
    } else if to_proxy {
        route_to_proxy(ctx, &target.path)
    } else {
        route_to_destination(ctx, hp, &target.path)
    };
    let style = match &route {
        Route::Inference { endpoint, .. } => ErrorStyle::Inference(endpoint.kind),
        _ => ErrorStyle::Text,
    };
    Routed {
        target,
        route,
        style,
    }
}

struct Addressed {
    hp: HostPort,
    scheme: &'static str,
    /// Addressed to the proxy itself (origin-form, or its own authority).
    to_proxy: bool,
}

type RouteError = (String, &'static str, Option<HostPort>);

/// The destination a request addressed, with the tunnel's consistency checks.
fn addressed<B>(ctx: &ConnCtx, req: &Request<B>) -> Result<Addressed, RouteError> {
    let uri = req.uri();
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let scheme = ctx.scheme();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let named = match (uri.authority(), host_header) {
        (Some(a), _) => HostPort::from_authority(a, default_port),
        (None, Some(h)) => HostPort::parse(h, default_port),
        (None, None) => None,
    };
    if let Some(tunnel) = &ctx.tunnel {
        // Both the URI authority (HTTP/2, absolute-form) and the Host header
        // must name the tunnel's destination.
        let fronting = |why| (why, rules::DOMAIN_FRONTING, Some(tunnel.connect.clone()));
        let from_host = host_header.map(|h| HostPort::parse(h, default_port));
        if let Some(None) = from_host {
            return Err(fronting("the Host header does not parse".into()));
        }
        for hp in [&named, &from_host.flatten()].into_iter().flatten() {
            tunnel.check_fronting(hp).map_err(fronting)?;
        }
        let hp = named.unwrap_or_else(|| tunnel.connect.clone());
        return Ok(Addressed {
            hp,
            scheme,
            to_proxy: false,
        });
    }
    if uri.scheme_str().is_some_and(|s| s != "http") {
        let why = "absolute-form https:// requests are not proxied; use CONNECT (HTTPS_PROXY)";
        return Err((why.into(), rules::MALFORMED, named));
    }
    let Some(hp) = named else {
        return Err((
            "the request names no destination".into(),
            rules::MALFORMED,
            None,
        ));
    };
    let to_proxy = uri.authority().is_none() || ctx.is_self(&hp);
    Ok(Addressed {
        hp,
        scheme,
        to_proxy,
    })
}

/// A request to the proxy itself: `/inference/<endpoint>/<operation>`.
fn route_to_proxy(ctx: &ConnCtx, path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/inference/") else {
        return Route::Refuse {
            rule: rules::MALFORMED,
            reason: "this is Airlock's proxy: use it through HTTP_PROXY/HTTPS_PROXY, or call \
                     /inference/<endpoint>/... for a registered LLM endpoint"
                .into(),
            status: StatusCode::BAD_REQUEST,
        };
    };
    let (name, operation) = rest
        .split_once('/')
        .map_or((rest, "/"), |(n, _)| (n, &rest[n.len()..]));
    match ctx.shared.catalog.inference_named(name) {
        Some(endpoint) => Route::Inference {
            endpoint,
            operation: operation.to_owned(),
        },
        None => Route::Refuse {
            rule: rules::UNKNOWN_ENDPOINT,
            reason: format!("no inference endpoint is registered as {name:?}"),
            status: StatusCode::NOT_FOUND,
        },
    }
}

fn route_to_destination(ctx: &ConnCtx, hp: HostPort, path: &str) -> Route {
    let catalog = &ctx.shared.catalog;
    if let Some(endpoint) = catalog.inference_for_host(&hp.host, hp.port) {
        return Route::Inference {
            endpoint,
            operation: path.to_owned(),
        };
    }
    match catalog.http_service_for(&hp.host, hp.port) {
        Some(service) => Route::Service(service),
        None => Route::Egress(hp),
    }
}

fn refused<B>(
    req: &Request<B>,
    hp: Option<HostPort>,
    scheme: &'static str,
    rule: &'static str,
    reason: String,
) -> Routed {
    let hp = hp.unwrap_or(HostPort {
        host: String::new(),
        port: 0,
    });
    let target = Target {
        scheme,
        method: req.method().as_str().to_owned(),
        host: hp.host,
        port: hp.port,
        path: req.uri().path().to_owned(),
    };
    let status = if rule == rules::DOMAIN_FRONTING {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    Routed {
        target,
        route: Route::Refuse {
            rule,
            reason,
            status,
        },
        style: ErrorStyle::Text,
    }
}

/// Dot segments (`/../`, `/%2e%2e/`) and encoded separators (`%2f`, `%5c`,
/// `\`): an upstream may normalize them into a path that policy never saw.
pub(crate) fn has_dot_segments(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains('\\')
        || lower
            .split('/')
            .any(|seg| matches!(seg, "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."))
}

#[cfg(test)]
mod tests {
    use super::has_dot_segments;

    #[test]
    fn ambiguous_paths() {
        for bad in [
            "/a/../b",
            "/..",
            "/a/./b",
            "/a/%2E%2e/b",
            "/a%2fb",
            "/a\\b",
            "/x/.%2e/y",
        ] {
            assert!(has_dot_segments(bad), "{bad}");
        }
        for ok in [
            "/",
            "/a/b.c",
            "/a/..b",
            "/repo.git/info/refs",
            "/v1/chat/completions",
        ] {
            assert!(!has_dot_segments(ok), "{ok}");
        }
    }
}
