//! Secrets and registered resources (admin). Secret values go in, never out.

use airlock_audit::EventCode;
use airlock_store::{ResourceRecord, SecretRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{ApiJson, rfc3339};
use crate::auth::Caller;
use crate::authz::authorize;
use crate::egress::resources::ResourceSpec;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

fn check_name(kind: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid {kind} name {name:?}: use 1-63 lowercase letters, digits, '-' and '_'"
        )))
    }
}

/// `PUT /v1/secrets/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecretRequest {
    /// The value (never returned by any API).
    pub value: String,
}

/// A secret as listings show it: the name and when it changed, never the value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    /// Name (`${secret:NAME}` refers to it).
    pub name: String,
    /// Last set (RFC 3339).
    pub updated: String,
}

/// Sets a secret (encrypted at rest).
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "admin", request_body = SetSecretRequest,
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Stored"), (status = 400, description = "Bad name or empty value", body = crate::error::ErrorBody)))]
pub async fn set_secret(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SetSecretRequest>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.secret.set").await?;
    check_name("secret", &name)?;
    if req.value.is_empty() {
        return Err(ApiError::BadRequest("the secret value is empty".into()));
    }
    let (nonce, ciphertext) = state
        .secrets
        .seal(&name, &req.value)
        .map_err(ApiError::internal)?;
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::SecretSet)
                .resource(format!("secret:{name}")),
        )
        .await?;
    let record = SecretRecord {
        name,
        nonce,
        ciphertext,
        updated: OffsetDateTime::now_utc(),
    };
    state.store(move |s| s.put_secret(&record)).await?;
    state.refresh_catalog().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists secret names.
#[utoipa::path(get, path = "/v1/secrets", tag = "admin",
    responses((status = 200, description = "Names only", body = Vec<SecretInfo>)))]
pub async fn list_secrets(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SecretInfo>>> {
    authorize(&state, &caller, "admin.resource.list").await?;
    let all = state.store(|s| s.secrets()).await?;
    Ok(Json(
        all.into_iter()
            .map(|s| SecretInfo {
                name: s.name,
                updated: rfc3339(s.updated),
            })
            .collect(),
    ))
}

/// Removes a secret (refused while a resource uses it).
#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "admin",
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Removed"), (status = 409, description = "In use", body = crate::error::ErrorBody)))]
pub async fn remove_secret(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.secret.remove").await?;
    let resources = state.store(|s| s.resources()).await?;
    let users: Vec<String> = resources
        .iter()
        .filter(|r| {
            serde_json::from_value::<ResourceSpec>(r.spec.clone())
                .is_ok_and(|s| s.secrets().contains(&name))
        })
        .map(|r| r.name.clone())
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "secret {name:?} is used by {}; remove those first",
            users.join(", ")
        )));
    }
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::SecretRemoved)
                .resource(format!("secret:{name}")),
        )
        .await?;
    state.store(move |s| s.remove_secret(&name)).await?;
    state.refresh_catalog().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/resources`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddResourceRequest {
    /// Name policy refers to.
    pub name: String,
    /// Settings (`kind` = `http` or `inference`).
    #[schema(value_type = Object)]
    pub spec: ResourceSpec,
}

/// A registered resource (secrets by name only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceInfo {
    /// Name.
    pub name: String,
    /// `http` or `inference`.
    pub kind: String,
    /// Settings.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Registered (RFC 3339).
    pub created: String,
}

/// Registers a resource.
#[utoipa::path(post, path = "/v1/resources", tag = "admin", request_body = AddResourceRequest,
    responses((status = 201, description = "Registered", body = ResourceInfo),
               (status = 400, description = "Bad URL, header, provider or unknown secret", body = crate::error::ErrorBody),
               (status = 409, description = "Name taken", body = crate::error::ErrorBody)))]
pub async fn add_resource(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddResourceRequest>,
) -> ApiResult<(StatusCode, Json<ResourceInfo>)> {
    let allowed = authorize(&state, &caller, "admin.resource.add").await?;
    check_name("resource", &req.name)?;
    req.spec.validate().map_err(ApiError::BadRequest)?;
    let known: Vec<String> = state
        .store(|s| s.secrets())
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    if let Some(missing) = req.spec.secrets().into_iter().find(|s| !known.contains(s)) {
        return Err(ApiError::BadRequest(format!(
            "no secret named {missing:?}: set it first with `airlock admin secret set {missing} --value-stdin`"
        )));
    }
    let record = ResourceRecord {
        name: req.name.clone(),
        kind: req.spec.kind().to_owned(),
        spec: serde_json::to_value(&req.spec).map_err(ApiError::internal)?,
        created: OffsetDateTime::now_utc(),
    };
    let existing = state.store(|s| s.resources()).await?;
    if existing.iter().any(|r| r.name == req.name) {
        return Err(ApiError::Conflict(format!(
            "resource {:?} already exists",
            req.name
        )));
    }
    if let Some(other) = same_http_upstream(&existing, &req.spec) {
        // The proxy finds an HTTP service by the host and port a sandbox
        // addresses; two services there would silently shadow each other.
        return Err(ApiError::Conflict(format!(
            "resource {other:?} already serves that host and port; remove it or use another URL"
        )));
    }
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::ResourceAdded)
                .resource(format!("{}:{}", record.kind, record.name))
                .detail("kind", record.kind.clone()),
        )
        .await?;
    let stored = record.clone();
    state.store(move |s| s.add_resource(&stored)).await?;
    state.refresh_catalog().await?;
    Ok((StatusCode::CREATED, Json(info(record))))
}

/// The name of an existing HTTP resource at the same upstream host and port.
fn same_http_upstream(existing: &[ResourceRecord], spec: &ResourceSpec) -> Option<String> {
    let ResourceSpec::Http { url, .. } = spec else {
        return None;
    };
    let new = airlock_proxy::Upstream::parse(url).ok()?;
    existing.iter().find_map(|r| {
        let url = r.spec["url"].as_str()?;
        let old = airlock_proxy::Upstream::parse(url).ok()?;
        (r.kind == "http" && old.host == new.host && old.port == new.port).then(|| r.name.clone())
    })
}

fn info(r: ResourceRecord) -> ResourceInfo {
    ResourceInfo {
        name: r.name,
        kind: r.kind,
        spec: r.spec,
        created: rfc3339(r.created),
    }
}

/// Lists resources.
#[utoipa::path(get, path = "/v1/resources", tag = "admin",
    responses((status = 200, description = "Resources", body = Vec<ResourceInfo>)))]
pub async fn list_resources(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ResourceInfo>>> {
    authorize(&state, &caller, "admin.resource.list").await?;
    Ok(Json(
        state
            .store(|s| s.resources())
            .await?
            .into_iter()
            .map(info)
            .collect(),
    ))
}

/// Removes a resource.
#[utoipa::path(delete, path = "/v1/resources/{name}", tag = "admin",
    params(("name" = String, Path, description = "Resource name")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such resource", body = crate::error::ErrorBody)))]
pub async fn remove_resource(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.resource.remove").await?;
    let lookup = name.clone();
    if !state
        .store(|s| s.resources())
        .await?
        .iter()
        .any(|r| r.name == lookup)
    {
        return Err(ApiError::NotFound(format!("no resource {name:?}")));
    }
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::ResourceRemoved)
                .resource(name.clone())
                .detail("kind", "resource"),
        )
        .await?;
    state.store(move |s| s.remove_resource(&name)).await?;
    state.refresh_catalog().await?;
    Ok(StatusCode::NO_CONTENT)
}
