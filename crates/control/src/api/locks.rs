//! Locks (admin): refuse a user, a sandbox or a login session at once,
//! whatever certificates it still holds.

use airlock_core::parse_duration;
use airlock_store::{Lock, LockTarget};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;

use super::types::{AddLockRequest, LockInfo};
use super::{ApiJson, rfc3339};
use airlock_audit::EventCode;

use crate::auth::Caller;
use crate::authz::authorize;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

fn lock_info(l: &Lock, now: OffsetDateTime) -> LockInfo {
    LockInfo {
        id: l.id.clone(),
        kind: l.target.kind().into(),
        name: l.target.name().into(),
        reason: l.reason.clone(),
        created_by: l.created_by.clone(),
        created: rfc3339(l.created),
        expires: l.expires.map(rfc3339),
        active: l.is_active(now),
    }
}

/// `?all=true` also lists expired locks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListLocksQuery {
    /// Include locks that have lapsed.
    #[serde(default)]
    pub all: bool,
}

/// Lists locks.
#[utoipa::path(get, path = "/v1/locks", tag = "admin", params(ListLocksQuery),
    responses(
        (status = 200, description = "Locks", body = Vec<LockInfo>),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn list_locks(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<ListLocksQuery>,
) -> ApiResult<Json<Vec<LockInfo>>> {
    authorize(&state, &caller, "admin.lock.list").await?;
    let now = OffsetDateTime::now_utc();
    let locks = state.store(|s| s.locks()).await?;
    Ok(Json(
        locks
            .iter()
            .filter(|l| q.all || l.is_active(now))
            .map(|l| lock_info(l, now))
            .collect(),
    ))
}

/// Places a lock. It is in force before this call returns.
#[utoipa::path(post, path = "/v1/locks", tag = "admin", request_body = AddLockRequest,
    responses(
        (status = 201, description = "Lock placed", body = LockInfo),
        (status = 400, description = "Invalid target or TTL", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn add_lock(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddLockRequest>,
) -> ApiResult<(StatusCode, Json<LockInfo>)> {
    let allowed = authorize(&state, &caller, "admin.lock.add").await?;
    let target = LockTarget::from_parts(&req.kind, &req.name).map_err(ApiError::BadRequest)?;
    if target == LockTarget::User(caller.user.clone()) {
        return Err(ApiError::Conflict(
            "you cannot lock yourself out; ask another admin".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let expires = match req.ttl.as_deref() {
        Some(t) => {
            let d = parse_duration(t).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Some(now + d)
        }
        None => None,
    };
    let lock = Lock {
        id: format!("lk-{}", hex::encode(rand::random::<[u8; 6]>())),
        target,
        reason: req.reason.filter(|r| !r.trim().is_empty()),
        created_by: caller.user.to_string(),
        created: now,
        expires,
    };
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::LockAdded)
                .resource(format!("{}:{}", lock.target.kind(), lock.target.name()))
                .detail("lock", lock.id.clone())
                .detail("target_kind", lock.target.kind())
                .detail("target", lock.target.name())
                .detail("expires", lock.expires.map(rfc3339))
                .detail("message", lock.reason.clone()),
        )
        .await?;
    let to_store = lock.clone();
    state.store(move |s| s.add_lock(&to_store)).await?;
    state.refresh_locks().await?;
    Ok((StatusCode::CREATED, Json(lock_info(&lock, now))))
}

/// Removes a lock.
#[utoipa::path(delete, path = "/v1/locks/{id}", tag = "admin",
    params(("id" = String, Path, description = "Lock id")),
    responses(
        (status = 204, description = "Lock removed"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
        (status = 404, description = "No such lock", body = crate::error::ErrorBody),
    ))]
pub async fn remove_lock(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.lock.remove").await?;
    let locks = state.store(|s| s.locks()).await?;
    let lock = locks
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("lock {id:?} does not exist")))?;
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::LockRemoved)
                .resource(format!("{}:{}", lock.target.kind(), lock.target.name()))
                .detail("lock", lock.id.clone())
                .detail("target_kind", lock.target.kind())
                .detail("target", lock.target.name()),
        )
        .await?;
    state.store(move |s| s.remove_lock(&id)).await?;
    state.refresh_locks().await?;
    Ok(StatusCode::NO_CONTENT)
}
