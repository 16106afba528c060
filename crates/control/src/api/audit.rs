//! Reading the audit log: search, tail, export, verify, inclusion proofs,
//! the published checkpoint key, and session recordings. Reading needs a
//! role that allows `audit.read`, and each read is itself audited (tail
//! polls after the first are not, or a `tail -f` would feed itself).

use airlock_audit::{AuditError, AuditEvent, EventCode, QueryParams};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::authorize;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

fn audit_error(e: AuditError) -> ApiError {
    match e {
        AuditError::Query(q) => ApiError::BadRequest(q.to_string()),
        AuditError::NotFound(id) => ApiError::NotFound(format!("no audit event {id:?}")),
        other => ApiError::internal(other),
    }
}

/// Authorizes an audit read and records it.
async fn read_allowed(state: &SharedState, caller: &Caller, what: String) -> ApiResult<()> {
    let allowed = authorize(state, caller, "audit.read").await?;
    state
        .audit
        .record(
            allowed
                .event(caller, EventCode::AuditRead)
                .detail("query", what),
        )
        .await
}

/// The query string of `GET /v1/audit/events`, all strings so errors are ours.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Only this user's events.
    pub user: Option<String>,
    /// Only this sandbox's events.
    pub sandbox: Option<String>,
    /// An action, or a prefix such as `sandbox.` or `sandbox.*`.
    pub action: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    /// A duration ago (`1h`) or an RFC 3339 time.
    pub since: Option<String>,
    /// A duration ago or an RFC 3339 time.
    pub until: Option<String>,
    /// At most this many events.
    pub limit: Option<String>,
    /// Only events after this id (`ev-41`), oldest first: for `tail -f`.
    pub after: Option<String>,
    /// Only events before this id (paging back).
    pub before: Option<String>,
    /// `newest` (default) or `oldest`.
    pub order: Option<String>,
}

/// Searches the audit log.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(SearchQuery),
    responses(
        (status = 200, description = "Matching events", body = [Object]),
        (status = 400, description = "Malformed parameter", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn search(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let params = QueryParams {
        user: q.user,
        sandbox: q.sandbox,
        action: q.action,
        decision: q.decision,
        since: q.since,
        until: q.until,
        limit: q.limit,
        after: q.after,
        before: q.before,
        order: q.order,
    };
    let query = params
        .parse(OffsetDateTime::now_utc())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if params.after.is_none() {
        read_allowed(&state, &caller, format!("{params:?}")).await?;
    } else {
        authorize(&state, &caller, "audit.read").await?;
    }
    let events = state.audit.log().search(query).await.map_err(audit_error)?;
    Ok(Json(events))
}

/// Recomputes the whole log and checks every signed checkpoint.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "Verification report (problem = null when intact)", body = Object),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn verify(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<Value>> {
    read_allowed(&state, &caller, "verify".into()).await?;
    let report = state.audit.log().verify().await.map_err(audit_error)?;
    Ok(Json(
        serde_json::to_value(report).map_err(ApiError::internal)?,
    ))
}

/// An inclusion proof of one event against a signed checkpoint.
#[utoipa::path(get, path = "/v1/audit/events/{id}/proof", tag = "audit",
    params(("id" = String, Path, description = "Event id, e.g. ev-42")),
    responses(
        (status = 200, description = "Proof bundle (verifies offline)", body = Object),
        (status = 404, description = "No such event", body = crate::error::ErrorBody),
    ))]
pub async fn prove(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    read_allowed(&state, &caller, format!("prove {id}")).await?;
    let bundle = state.audit.log().prove(id).await.map_err(audit_error)?;
    Ok(Json(
        serde_json::to_value(bundle).map_err(ApiError::internal)?,
    ))
}

/// `?format=jsonl|ocsf&since=...`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `jsonl` (canonical events) or `ocsf`.
    pub format: Option<String>,
    /// A duration ago (`24h`) or an RFC 3339 time.
    pub since: Option<String>,
}

/// Streams the log as JSON lines or OCSF.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(ExportQuery),
    responses(
        (status = 200, description = "One JSON object per line", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Unknown format or bad time", body = crate::error::ErrorBody),
    ))]
pub async fn export(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let ocsf = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "ocsf" => true,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown export format {other:?}: use jsonl or ocsf"
            )));
        }
    };
    let since = QueryParams {
        since: q.since.clone(),
        ..QueryParams::default()
    }
    .parse(OffsetDateTime::now_utc())
    .map_err(|e| ApiError::BadRequest(e.to_string()))?
    .since;
    read_allowed(
        &state,
        &caller,
        format!("export {:?} since {:?}", q.format, q.since),
    )
    .await?;
    let log = state.audit.log().clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx,
            buf: Vec::new(),
        };
        let result = if ocsf {
            log.export_ocsf(&mut out, since)
        } else {
            log.export_jsonl(&mut out, since)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "audit export ended early");
            let _ = out
                .tx
                .blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = chunk_stream(rx);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Adapts a blocking `Write` to a bounded channel of chunks, so an export of
/// millions of events streams in constant memory.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// The receiving end as a body stream.
fn chunk_stream(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The published checkpoint key and the latest signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditKey {
    /// The checkpoint origin (first line of every checkpoint).
    pub origin: String,
    /// The verifier key, `name+keyid+base64`, as `server init` printed it.
    pub vkey: String,
    /// The latest signed checkpoint note, if any.
    pub checkpoint: Option<String>,
}

/// The audit log's public verification key and latest checkpoint (public,
/// so outside witnesses can follow the log).
#[utoipa::path(get, path = "/v1/audit/key", tag = "public",
    responses((status = 200, description = "Verifier key and latest checkpoint", body = AuditKey)))]
pub async fn key(State(state): State<SharedState>) -> ApiResult<Json<AuditKey>> {
    let log = state.audit.log().clone();
    let latest = tokio::task::spawn_blocking(move || log.store().checkpoints())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .pop()
        .map(|c| c.note);
    Ok(Json(AuditKey {
        origin: state.audit.log().origin().to_owned(),
        vkey: state.audit.log().verifier().to_vkey(),
        checkpoint: latest,
    }))
}

/// A session recording (asciicast v2); its hash is in the audit log.
#[utoipa::path(get, path = "/v1/recordings/{id}", tag = "audit",
    params(("id" = String, Path, description = "Recording id, e.g. rec-0123abcd...")),
    responses(
        (status = 200, description = "The asciicast file", content_type = "application/x-asciicast", body = String),
        (status = 404, description = "No such recording", body = crate::error::ErrorBody),
    ))]
pub async fn recording(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let valid = id.starts_with("rec-") && id[4..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "{id:?} is not a recording id (rec-...)"
        )));
    }
    read_allowed(&state, &caller, format!("recording {id}")).await?;
    let path = state.data_dir.recordings().join(format!("{id}.cast"));
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound(format!("no recording {id}")))?;
    Ok(([(header::CONTENT_TYPE, "application/x-asciicast")], bytes).into_response())
}
