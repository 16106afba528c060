//! One request's life in the proxy: the state shared by all connections,
//! the attempt (who, what, when), refusing with an audited denial, and
//! forwarding with an audited response.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use airlock_core::Decision;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt as _;

use crate::body::{AuditedBody, Finish, TapFactory};
use crate::caller::Caller;
use crate::config::ProxyConfig;
use crate::deny::{self, ErrorStyle};
use crate::event::{ProxyEvent, Target};
use crate::headers;
use crate::inference::budget::{BudgetBook, Charge};
use crate::mitm_ca::ProxyCa;
use crate::pool::Pool;
use crate::request::ProxyRequest;
use crate::rules;
use crate::seams::{AuditSink, Catalog, Decider, RecordFuture, SinkError};
use crate::upstream::{ProxyBody, Upstreams, guard_refusal};

/// Everything every connection of every sandbox shares.
pub(crate) struct Shared {
    pub config: ProxyConfig,
    pub decider: Arc<dyn Decider>,
    pub catalog: Arc<dyn Catalog>,
    audit: Arc<dyn AuditSink>,
    pub ca: ProxyCa,
    pub upstreams: Upstreams,
    pub budgets: BudgetBook,
    /// False after a record failed, until one succeeds: "no audit, no action".
    audit_ok: Arc<AtomicBool>,
}

impl Shared {
    pub fn new(
        config: ProxyConfig,
        ca: ProxyCa,
        decider: Arc<dyn Decider>,
        catalog: Arc<dyn Catalog>,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Self, crate::ProxyError> {
        Ok(Self {
            upstreams: Upstreams::new(&config)?,
            config,
            decider,
            catalog,
            audit,
            ca,
            budgets: BudgetBook::default(),
            audit_ok: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Records `event`, keeping track of whether the sink works.
    pub fn record(&self, event: ProxyEvent) -> RecordFuture {
        let fut = self.audit.record(event);
        let ok = self.audit_ok.clone();
        let limit = self.config.audit_timeout;
        Box::pin(async move {
            let result = match tokio::time::timeout(limit, fut).await {
                Ok(result) => result,
                Err(_) => Err(SinkError(format!("no acknowledgement within {limit:?}"))),
            };
            // Written only on a change: every request's record reads it,
            // and a store each time would bounce its cache line between
            // the runtime's threads.
            if ok.load(Ordering::Relaxed) != result.is_ok() {
                ok.store(result.is_ok(), Ordering::Release);
            }
            if let Err(e) = &result {
                tracing::error!(error = %e, "audit record failed; refusing requests until it recovers");
            }
            result
        })
    }

    /// Whether the last record succeeded.
    pub fn audit_healthy(&self) -> bool {
        self.audit_ok.load(Ordering::Acquire)
    }
}

/// A request as it arrived: who sent it, what it addressed, when.
pub(crate) struct Attempt {
    pub shared: Arc<Shared>,
    pub caller: Arc<Caller>,
    pub target: Target,
    pub started: Instant,
    pub time: SystemTime,
    /// How errors are shaped for this client.
    pub style: ErrorStyle,
}

impl Attempt {
    /// An event for this attempt with no outcome yet.
    pub fn event(&self, request: ProxyRequest, decision: Decision) -> ProxyEvent {
        ProxyEvent {
            time: self.time,
            caller: self.caller.clone(),
            target: self.target.clone(),
            request,
            decision,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            latency: self.started.elapsed(),
            model: None,
            usage: None,
            error: None,
            request_body: None,
            response_body: None,
        }
    }

    /// Asks policy about `request`.
    pub fn decide(&self, request: &ProxyRequest) -> Decision {
        self.shared.decider.decide(&self.caller, request)
    }

    /// Refuses with `status`: records the denial, then answers the one-line
    /// explanation (or 503 if the record failed).
    pub async fn refuse(&self, event: ProxyEvent, status: StatusCode) -> Response<ProxyBody> {
        let line = deny::denial_line(&self.target, &event.decision);
        let mut event = event;
        event.status = status.as_u16();
        event.latency = self.started.elapsed();
        tracing::info!(sandbox = %self.caller.sandbox, %line, "denied");
        match self.shared.record(event).await {
            Ok(()) => deny::message(status, &line, self.style),
            Err(_) => self.audit_down(),
        }
    }

    /// Refuses `request` for one of the proxy's own rules.
    pub async fn refuse_rule(
        &self,
        request: ProxyRequest,
        rule: &str,
        reason: impl Into<String>,
        status: StatusCode,
    ) -> Response<ProxyBody> {
        let event = self.event(request, rules::deny(rule, reason));
        self.refuse(event, status).await
    }

    /// The answer when the audit sink does not work: nothing proceeds.
    pub fn audit_down(&self) -> Response<ProxyBody> {
        let line = format!(
            "airlock: refused {} {} ({:?}): the audit log is unavailable, so nothing may proceed",
            self.target.method,
            self.target.url(),
            rules::AUDIT_UNAVAILABLE
        );
        deny::message(StatusCode::SERVICE_UNAVAILABLE, &line, self.style)
    }

    /// When the sink failed recently: records the refusal (which, if it
    /// works, lifts the latch for the next request) and answers 503.
    pub async fn refuse_while_audit_down(
        &self,
        request: &ProxyRequest,
    ) -> Option<Response<ProxyBody>> {
        if self.shared.audit_healthy() {
            return None;
        }
        let reason = "the audit log failed to record an earlier request";
        let event = self.event(
            request.clone(),
            rules::deny(rules::AUDIT_UNAVAILABLE, reason),
        );
        Some(self.refuse(event, StatusCode::SERVICE_UNAVAILABLE).await)
    }
}

/// What to forward and how to account for it.
pub(crate) struct Forward {
    pub client: Arc<Pool>,
    pub request: Request<ProxyBody>,
    pub event: ProxyEvent,
    pub bytes_in: Arc<AtomicU64>,
    /// Builds the response tap once the response headers are known.
    pub tap: Option<TapFactory>,
    pub charge: Option<Charge>,
    /// Registered resources: strip `Set-Cookie` so sessions minted from an
    /// injected credential never reach the sandbox.
    pub strip_set_cookie: bool,
}

/// Sends an allowed request upstream and returns the response whose body
/// records the event when it ends. Boxed, like the flows in
/// [`crate::dispatch`]: its state is several KiB, and each flow holding it
/// inline grew by as much.
pub(crate) fn forward(
    attempt: &Attempt,
    fwd: Forward,
) -> Pin<Box<impl Future<Output = Response<ProxyBody>> + '_>> {
    Box::pin(forward_unboxed(attempt, fwd))
}

async fn forward_unboxed(attempt: &Attempt, fwd: Forward) -> Response<ProxyBody> {
    if let Some(refusal) = attempt.refuse_while_audit_down(&fwd.event.request).await {
        return refusal;
    }
    let Forward {
        client,
        request,
        mut event,
        bytes_in,
        tap,
        charge,
        strip_set_cookie,
    } = fwd;
    let upstream = match client.request(request).await {
        Ok(resp) => resp,
        Err(err) => return Box::pin(upstream_failed(attempt, event, &bytes_in, &err)).await,
    };
    let (mut parts, body) = upstream.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    if strip_set_cookie {
        parts.headers.remove(http::header::SET_COOKIE);
    }
    let tap = tap.map(|make| make(&parts.headers));
    if tap.as_ref().is_some_and(|t| t.rewrites()) {
        parts.headers.remove(http::header::CONTENT_LENGTH);
    }
    event.status = parts.status.as_u16();
    let finish = Finish::new(
        attempt.shared.clone(),
        event,
        attempt.started,
        bytes_in,
        charge,
    );
    let small = !tap.as_ref().is_some_and(|t| t.rewrites())
        && body.size_hint().exact().is_some_and(|n| n <= WHOLE_MAX);
    let body = AuditedBody::new(body, tap, finish);
    if !small {
        return Response::from_parts(parts, ProxyBody::new(body));
    }
    match body.collect().await {
        Ok(whole) => Response::from_parts(parts, ProxyBody::new(whole.map_err(|n| match n {}))),
        Err(e) => unfinished(attempt, &*e),
    }
}

/// Responses of at most this many bytes (by their length, known in advance)
/// are read whole before their head is sent, and go out once their event is
/// durable: one write to the client instead of the head at once and the
/// last bytes after the commit, and nothing of the response before the
/// audit log has it.
const WHOLE_MAX: u64 = 64 * 1024;

/// The answer when a response read whole did not complete: the audit log
/// failed to record it (nothing may proceed), or the upstream's body broke
/// off (the event, with that error, is recorded in the background).
fn unfinished(
    attempt: &Attempt,
    err: &(dyn std::error::Error + Send + Sync + 'static),
) -> Response<ProxyBody> {
    if err.downcast_ref::<SinkError>().is_some() {
        return attempt.audit_down();
    }
    let line = format!(
        "airlock: upstream of {} failed: {}",
        attempt.target.url(),
        error_chain(err)
    );
    tracing::warn!(sandbox = %attempt.caller.sandbox, %line);
    deny::message(StatusCode::BAD_GATEWAY, &line, attempt.style)
}

/// The upstream could not be reached: an internal address is a denial (the
/// guard refused it), anything else a 502 on an allowed request.
async fn upstream_failed(
    attempt: &Attempt,
    mut event: ProxyEvent,
    bytes_in: &AtomicU64,
    err: &(dyn std::error::Error + Send + Sync + 'static),
) -> Response<ProxyBody> {
    event.bytes_in = bytes_in.load(Ordering::Relaxed);
    if let Some(refusal) = guard_refusal(err) {
        event.decision = rules::deny(rules::INTERNAL_ADDRESS, refusal.to_string());
        return attempt.refuse(event, StatusCode::FORBIDDEN).await;
    }
    let why = error_chain(err);
    let line = format!(
        "airlock: upstream of {} failed: {why}",
        attempt.target.url()
    );
    tracing::warn!(sandbox = %attempt.caller.sandbox, %line);
    event.error = Some(why);
    event.status = StatusCode::BAD_GATEWAY.as_u16();
    event.latency = attempt.started.elapsed();
    match attempt.shared.record(event).await {
        Ok(()) => deny::message(StatusCode::BAD_GATEWAY, &line, attempt.style),
        Err(_) => attempt.audit_down(),
    }
}

/// An error and its causes on one line.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
