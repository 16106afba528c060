//! The node: which isolation backends work here, and its images.

use airlock_sandbox::{BuildProgress, BuildRequest, ImageInfo};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiJson;
use super::types::{BackendInfo, BuildImageRequest, ImageSummary};
use crate::auth::Caller;
use crate::authz::authorize;
use crate::error::ApiResult;
use crate::sandboxes::sandbox_error;
use crate::state::SharedState;

/// Every isolation backend of the server's node, usable or not, and why.
#[utoipa::path(get, path = "/v1/node/backends", tag = "sandboxes",
    responses((status = 200, description = "Backends, strongest first", body = Vec<BackendInfo>)))]
pub async fn backends(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<BackendInfo>>> {
    authorize(&state, &caller, "sandbox.list").await?;
    let node = state.sandboxes.node().await?;
    Ok(Json(
        node.doctor()
            .into_iter()
            .map(|b| BackendInfo {
                name: b.name.to_owned(),
                usable: b.usable,
                detail: b.detail,
            })
            .collect(),
    ))
}

fn summary(i: ImageInfo) -> ImageSummary {
    let source = match &i.suite {
        Some(suite) => format!("{} {suite}", i.kind),
        None => i.kind.clone(),
    };
    ImageSummary {
        name: i.name,
        source,
        packages: i.packages,
        size: Some(i.size),
        created: Some(i.created),
    }
}

/// Lists images.
#[utoipa::path(get, path = "/v1/images", tag = "images",
    responses((status = 200, description = "Images", body = Vec<ImageSummary>)))]
pub async fn list_images(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    authorize(&state, &caller, "sandbox.list").await?;
    let node = state.sandboxes.node().await?;
    let images = node.list_images().map_err(sandbox_error)?;
    Ok(Json(images.into_iter().map(summary).collect()))
}

/// Builds a Debian image with debootstrap. The answer streams progress as
/// JSON lines (`{"percent":..,"line":..}`), then `{"done":image}` or
/// `{"error":message}`.
#[utoipa::path(post, path = "/v1/images", tag = "images", request_body = BuildImageRequest,
    responses((status = 200, description = "Progress, then the image", content_type = "application/x-ndjson", body = String)))]
pub async fn build_image(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<BuildImageRequest>,
) -> ApiResult<Response> {
    authorize(&state, &caller, "admin.image.build").await?;
    let node = state.sandboxes.node().await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let progress_tx = tx.clone();
    let request = BuildRequest {
        name: req.name,
        packages: req.packages,
        suite: req.suite,
        mirror: None,
    };
    tokio::spawn(async move {
        let report = move |p: BuildProgress| {
            let line = serde_json::json!({"percent": p.percent, "line": p.line});
            let _ = progress_tx.send(format!("{line}\n"));
        };
        let last = match node.images().build(request, report).await {
            Ok(info) => serde_json::json!({"done": summary(info)}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        let _ = tx.send(format!("{last}\n"));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, std::io::Error>(line), rx))
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Removes an image (refused while a sandbox uses it).
#[utoipa::path(delete, path = "/v1/images/{name}", tag = "images",
    params(("name" = String, Path, description = "Image name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "In use", body = crate::error::ErrorBody),
    ))]
pub async fn remove_image(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&state, &caller, "admin.image.remove").await?;
    let node = state.sandboxes.node().await?;
    node.remove_image(&name).map_err(sandbox_error)?;
    Ok(StatusCode::NO_CONTENT)
}
