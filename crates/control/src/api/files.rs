//! `airlock cp` and `airlock svc` through the API: file trees in and out of
//! a sandbox (one file's bytes or a tar stream), and services that outlive
//! a session.

use airlock_audit::EventCode;
use airlock_sandbox::channel::{CopyFormat, ServiceInfo, SvcRequest, User};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio_util::io::{ReaderStream, StreamReader};

use super::ApiJson;
use super::sandboxes::resolve;
use crate::auth::Caller;
use crate::authz::Allowed;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// Where and how to copy.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    /// Path inside the sandbox (relative paths are under /workspace).
    pub path: String,
    /// `file` (one file's bytes, default) or `tar` (a directory tree).
    pub format: Option<String>,
    /// File mode for `file` uploads, octal (e.g. `755`).
    pub mode: Option<String>,
}

/// Checks a sandbox path: no `..` (a copy never leaves the sandbox's tree,
/// and saying so beats silently clamping), no NUL, not empty.
fn sandbox_path(p: &str) -> ApiResult<String> {
    if p.is_empty() || p.contains('\0') {
        return Err(ApiError::BadRequest(
            "give a path inside the sandbox".into(),
        ));
    }
    if p.split('/').any(|seg| seg == "..") {
        return Err(ApiError::BadRequest(format!(
            "path {p:?} contains '..': paths name places inside the sandbox; write them without '..'"
        )));
    }
    Ok(if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/workspace/{p}")
    })
}

fn format_of(q: &FileQuery) -> ApiResult<CopyFormat> {
    match q.format.as_deref().unwrap_or("file") {
        "file" => Ok(CopyFormat::File),
        "tar" => Ok(CopyFormat::Tar),
        other => Err(ApiError::BadRequest(format!(
            "unknown copy format {other:?}: use file or tar"
        ))),
    }
}

fn channel_error(e: airlock_sandbox::channel::ChannelError) -> ApiError {
    use airlock_sandbox::channel::ChannelError as E;
    match e {
        E::Remote(m) => ApiError::BadRequest(m),
        other => ApiError::Unavailable(format!("sandbox unreachable: {other}")),
    }
}

async fn copy_event(
    state: &SharedState,
    caller: &Caller,
    allowed: &Allowed,
    sb: &airlock_store::SandboxRecord,
    direction: &str,
    path: &str,
) -> ApiResult<()> {
    let event = allowed
        .event(caller, EventCode::SandboxCopy)
        .sandbox(sb.id.clone())
        .isolation(sb.backend)
        .resource(format!("sandbox:{}:{path}", sb.name))
        .detail("direction", direction)
        .detail("path", path);
    state.audit.record(event).await
}

/// Uploads a file or a tar stream into the sandbox.
#[utoipa::path(put, path = "/v1/sandboxes/{name}/files", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id"), FileQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Bytes written", body = Object),
        (status = 400, description = "Bad path or format", body = crate::error::ErrorBody),
    ))]
pub async fn upload(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<FileQuery>,
    req: Request,
) -> ApiResult<Json<serde_json::Value>> {
    let (sb, allowed) = resolve(&state, &caller, &name, "sandbox.cp").await?;
    let path = sandbox_path(&q.path)?;
    let format = format_of(&q)?;
    let mode = q
        .mode
        .as_deref()
        .map(|m| u32::from_str_radix(m, 8))
        .transpose()
        .map_err(|_| ApiError::BadRequest("--mode must be octal, e.g. 644".into()))?;
    let conn = conn(&state, &sb)?;
    copy_event(&state, &caller, &allowed, &sb, "in", &path).await?;
    let body = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let bytes = conn
        .copy_in(&path, format, mode, User::Agent, StreamReader::new(body))
        .await
        .map_err(channel_error)?;
    Ok(Json(serde_json::json!({ "path": path, "bytes": bytes })))
}

fn conn(
    state: &SharedState,
    sb: &airlock_store::SandboxRecord,
) -> ApiResult<airlock_sandbox::channel::InitConn> {
    state.sandboxes.conn(&sb.id).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "sandbox {} is not reachable right now; retry",
            sb.name
        ))
    })
}

/// Downloads a file or a tar stream of a directory.
#[utoipa::path(get, path = "/v1/sandboxes/{name}/files", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id"), FileQuery),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Bad path, or nothing there", body = crate::error::ErrorBody),
    ))]
pub async fn download(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<FileQuery>,
) -> ApiResult<Response> {
    let (sb, allowed) = resolve(&state, &caller, &name, "sandbox.cp").await?;
    let path = sandbox_path(&q.path)?;
    let format = format_of(&q)?;
    let conn = conn(&state, &sb)?;
    copy_event(&state, &caller, &allowed, &sb, "out", &path).await?;
    let (writer, mut reader) = tokio::io::duplex(64 * 1024);
    let src = path.clone();
    let task = tokio::spawn(async move { conn.copy_out(&src, format, User::Agent, writer).await });
    // Wait for the first bytes (or the failure), so "no such file" is a 4xx
    // and not a broken 200.
    let mut first = vec![0u8; 16 * 1024];
    let n = reader.read(&mut first).await.map_err(ApiError::internal)?;
    if n == 0 {
        match task.await.map_err(ApiError::internal)? {
            Err(e) => return Err(channel_error(e)),
            Ok(_) => {
                return Ok((
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    Body::empty(),
                )
                    .into_response());
            }
        }
    }
    first.truncate(n);
    let head =
        futures_util::stream::once(
            async move { Ok::<_, std::io::Error>(bytes::Bytes::from(first)) },
        );
    let body = Body::from_stream(head.chain(ReaderStream::new(reader)));
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

/// Starts, stops, restarts or lists services in the sandbox.
#[utoipa::path(post, path = "/v1/sandboxes/{name}/services", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id")),
    request_body = Object,
    responses((status = 200, description = "Services after the change", body = Object)))]
pub async fn services(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SvcRequest>,
) -> ApiResult<Json<Vec<ServiceInfo>>> {
    let (sb, allowed) = resolve(&state, &caller, &name, "sandbox.exec").await?;
    let conn = conn(&state, &sb)?;
    if let SvcRequest::Start {
        name: svc, exec, ..
    } = &req
    {
        let event = allowed
            .event(&caller, EventCode::SandboxExec)
            .sandbox(sb.id.clone())
            .isolation(sb.backend)
            .resource(format!("sandbox:{}", sb.name))
            .detail("argv", exec.argv.clone())
            .detail("service", svc.clone())
            .detail("tty", false);
        state.audit.record(event).await?;
    }
    conn.svc(req).await.map(Json).map_err(channel_error)
}

/// `?follow=true&tail=N`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogsQuery {
    /// Keep streaming new lines.
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
}

/// Streams a service's log (kept on disk in the sandbox).
#[utoipa::path(get, path = "/v1/sandboxes/{name}/services/{service}/logs", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id"),
           ("service" = String, Path, description = "Service name"), LogsQuery),
    responses((status = 200, description = "Log lines", content_type = "text/plain", body = String)))]
pub async fn logs(
    State(state): State<SharedState>,
    caller: Caller,
    Path((name, service)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let (sb, _) = resolve(&state, &caller, &name, "sandbox.exec").await?;
    let conn = conn(&state, &sb)?;
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Err(e) = conn.svc_logs(&service, q.follow, q.tail, writer).await {
            tracing::debug!(error = %e, "service log stream ended");
        }
    });
    let body = Body::from_stream(ReaderStream::new(reader));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response())
}
