//! CONNECT: decide the tunnel, answer 200, then look at what the client
//! speaks inside. TLS is intercepted (so every request inside is decided
//! and audited on its own); anything else to an unregistered destination is
//! relayed as a raw TCP tunnel, audited when it closes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use airlock_core::Decision;

use crate::deny::{ErrorStyle, full};
use crate::event::Target;
use crate::exchange::Attempt;
use crate::guard::is_internal;
use crate::request::ProxyRequest;
use crate::rewind::Rewind;
use crate::rules;
use crate::server::{ConnCtx, Tunnel, serve_http};
use crate::target::HostPort;
use crate::upstream::{ConnectError, ProxyBody, connect_tcp};
use crate::{intercept, rules::deny};

/// How long to wait for the client's first byte. Server-speaks-first
/// protocols (SSH, SMTP) send nothing, so silence means a raw tunnel.
const FIRST_BYTE_WAIT: Duration = Duration::from_secs(1);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Handles a CONNECT request.
pub(crate) async fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
    started: Instant,
) -> Response<ProxyBody> {
    let hp = req
        .uri()
        .authority()
        .and_then(|a| HostPort::from_authority(a, 443));
    let attempt = Attempt {
        shared: ctx.shared.clone(),
        caller: ctx.caller.clone(),
        target: Target {
            scheme: "tcp",
            method: "CONNECT".into(),
            host: hp.as_ref().map(|h| h.host.clone()).unwrap_or_default(),
            port: hp.as_ref().map_or(0, |h| h.port),
            path: String::new(),
        },
        started,
        time: SystemTime::now(),
        style: ErrorStyle::Text,
    };
    let request = crate::dispatch::egress_of(&attempt.target);
    let Some(hp) = hp.filter(|_| ctx.tunnel.is_none()) else {
        let why = "CONNECT needs host:port and cannot be nested in a tunnel";
        return attempt
            .refuse_rule(request, rules::MALFORMED, why, StatusCode::BAD_REQUEST)
            .await;
    };
    let catalog = &ctx.shared.catalog;
    let registered = catalog.http_service_for(&hp.host, hp.port).is_some()
        || catalog.inference_for_host(&hp.host, hp.port).is_some();
    // A registered resource is decided per request inside the tunnel; an
    // unregistered destination is decided here first.
    let decision = if registered {
        None
    } else {
        Some(attempt.decide(&request))
    };
    if let Some(d) = decision.as_ref().filter(|d| !d.is_allowed()) {
        return attempt
            .refuse(attempt.event(request, d.clone()), StatusCode::FORBIDDEN)
            .await;
    }
    if let Some(ip) = hp.ip().filter(|ip| !registered && is_internal(*ip)) {
        let why = format!("{ip} is an internal address and no resource is registered there");
        return attempt
            .refuse_rule(request, rules::INTERNAL_ADDRESS, why, StatusCode::FORBIDDEN)
            .await;
    }
    if let Some(refusal) = attempt.refuse_while_audit_down(&request).await {
        return refusal;
    }
    let on_upgrade = hyper::upgrade::on(req);
    ctx.set_upgrade(Box::pin(run(
        ctx.clone(),
        attempt,
        hp,
        decision,
        on_upgrade,
    )));
    Response::new(full(Bytes::new()))
}

/// The tunnel, once hyper hands over the socket.
async fn run(
    ctx: Arc<ConnCtx>,
    attempt: Attempt,
    hp: HostPort,
    decision: Option<Decision>,
    on_upgrade: OnUpgrade,
) {
    let mut io = match on_upgrade.await {
        Ok(upgraded) => TokioIo::new(upgraded),
        Err(e) => return tracing::debug!(error = %e, "CONNECT upgrade failed"),
    };
    let mut first = [0u8; 1];
    let n = match tokio::time::timeout(FIRST_BYTE_WAIT, io.read(&mut first)).await {
        Ok(Ok(0)) | Ok(Err(_)) => return,
        Ok(Ok(n)) => n,
        Err(_) => 0,
    };
    let io = Rewind::new(Bytes::copy_from_slice(&first[..n]), io);
    match (n == 1 && first[0] == TLS_HANDSHAKE, decision) {
        (true, _) => intercept::serve(ctx, hp, io).await,
        // Registered resources are only reached through HTTP the proxy reads.
        (false, None) => {
            let inner = ConnCtx::inside(
                &ctx,
                Tunnel {
                    connect: hp,
                    sni: None,
                    tls: false,
                },
            );
            serve_http(Arc::new(inner), io, false).await
        }
        (false, Some(decision)) => relay(attempt, hp, decision, io).await,
    }
}

/// A raw TCP tunnel to an allowed, public destination; one event at close.
async fn relay<IO>(attempt: Attempt, hp: HostPort, decision: Decision, mut io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let request = ProxyRequest::Egress {
        host: hp.host.clone(),
        port: hp.port,
    };
    let timeout = attempt.shared.config.connect_timeout;
    let mut event = attempt.event(request, decision);
    match connect_tcp(&hp.host, hp.port, true, timeout).await {
        Ok(mut upstream) => {
            let copied = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
            match copied {
                Ok((up, down)) => (event.bytes_in, event.bytes_out) = (up, down),
                Err(e) => event.error = Some(format!("tunnel ended: {e}")),
            }
        }
        Err(ConnectError::Guard(g)) => {
            event.decision = deny(rules::INTERNAL_ADDRESS, g.to_string())
        }
        Err(e) => event.error = Some(e.to_string()),
    }
    event.latency = attempt.started.elapsed();
    if let Err(e) = attempt.shared.record(event).await {
        tracing::error!(error = %e, "raw tunnel not audited");
    }
}
