//! Users and roles (admin).

use airlock_core::{RoleName, UserName, format_duration};
use airlock_store::{RoleRecord, UserRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use time::OffsetDateTime;

use super::types::{AddUserRequest, RoleInfo, SetRoleRequest, UserInfo};
use super::{ApiJson, rfc3339};
use airlock_audit::EventCode;

use crate::auth::Caller;
use crate::authz::authorize;
use crate::error::{ApiError, ApiResult};
use crate::password;
use crate::state::SharedState;

fn user_info(u: &UserRecord) -> UserInfo {
    UserInfo {
        name: u.name.to_string(),
        roles: u.roles.iter().map(ToString::to_string).collect(),
        traits: u.traits.clone(),
        created: rfc3339(u.created),
    }
}

/// Lists users.
#[utoipa::path(get, path = "/v1/users", tag = "admin",
    responses(
        (status = 200, description = "All users", body = Vec<UserInfo>),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserInfo>>> {
    authorize(&state, &caller, "admin.user.list").await?;
    let users = state.store(|s| s.users()).await?;
    Ok(Json(users.iter().map(user_info).collect()))
}

/// Checks the requested roles exist, naming the known ones if not.
async fn existing_roles(state: &SharedState, names: &[String]) -> ApiResult<Vec<RoleName>> {
    let known: Vec<RoleRecord> = state.store(|s| s.roles()).await?;
    let mut roles = Vec::with_capacity(names.len());
    for n in names {
        let role = RoleName::new(n.clone())?;
        if !known.iter().any(|r| r.name == role) {
            let list: Vec<&str> = known.iter().map(|r| r.name.as_str()).collect();
            return Err(ApiError::BadRequest(format!(
                "unknown role {n:?}: known roles are {}",
                list.join(", ")
            )));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// Adds a user.
#[utoipa::path(post, path = "/v1/users", tag = "admin", request_body = AddUserRequest,
    responses(
        (status = 201, description = "User added", body = UserInfo),
        (status = 400, description = "Invalid name, role or password", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
        (status = 409, description = "User exists", body = crate::error::ErrorBody),
    ))]
pub async fn add_user(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddUserRequest>,
) -> ApiResult<(StatusCode, Json<UserInfo>)> {
    let allowed = authorize(&state, &caller, "admin.user.add").await?;
    let name = UserName::new(req.name)?;
    let roles = existing_roles(&state, &req.roles).await?;
    password::check_strength(&req.password).map_err(ApiError::BadRequest)?;
    let lookup = name.clone();
    if state.store(move |s| s.user(&lookup)).await?.is_some() {
        return Err(ApiError::Conflict(format!("user {name:?} already exists")));
    }
    let pw = req.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let record = UserRecord {
        name: name.clone(),
        roles,
        traits: req.traits,
        password_hash: hash,
        created: OffsetDateTime::now_utc(),
    };
    let roles_text: Vec<String> = record.roles.iter().map(ToString::to_string).collect();
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::UserAdded)
                .resource(format!("user:{name}"))
                .detail("roles", roles_text),
        )
        .await?;
    let to_store = record.clone();
    state.store(move |s| s.add_user(&to_store)).await?;
    Ok((StatusCode::CREATED, Json(user_info(&record))))
}

/// Removes a user; their certificates stop working at once.
#[utoipa::path(delete, path = "/v1/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "User removed"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
        (status = 404, description = "No such user", body = crate::error::ErrorBody),
        (status = 409, description = "Cannot remove yourself", body = crate::error::ErrorBody),
    ))]
pub async fn remove_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.user.remove").await?;
    let name = UserName::new(name)?;
    if name == caller.user {
        return Err(ApiError::Conflict(
            "you cannot remove yourself; ask another admin".into(),
        ));
    }
    let lookup = name.clone();
    if state.store(move |s| s.user(&lookup)).await?.is_none() {
        return Err(ApiError::NotFound(format!("user {name:?} does not exist")));
    }
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::UserRemoved)
                .resource(format!("user:{name}")),
        )
        .await?;
    state.store(move |s| s.remove_user(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists roles.
#[utoipa::path(get, path = "/v1/roles", tag = "admin",
    responses(
        (status = 200, description = "All roles", body = Vec<RoleInfo>),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn list_roles(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RoleInfo>>> {
    authorize(&state, &caller, "admin.role.list").await?;
    let roles = state.store(|s| s.roles()).await?;
    Ok(Json(
        roles
            .into_iter()
            .map(|r| RoleInfo {
                name: r.name.to_string(),
                description: r.description,
                max_ttl: format_duration(std::time::Duration::from_secs(r.max_ttl_secs)),
                max_sandbox_ttl: format_duration(std::time::Duration::from_secs(
                    r.max_sandbox_ttl_secs,
                )),
            })
            .collect(),
    ))
}

/// Creates or changes a role. What a role may do is written in policy
/// (`principal in Airlock::Role::"NAME"`); the role itself carries limits.
#[utoipa::path(put, path = "/v1/roles/{name}", tag = "admin", request_body = SetRoleRequest,
    params(("name" = String, Path, description = "Role name")),
    responses((status = 200, description = "The role", body = RoleInfo),
               (status = 400, description = "Bad name or duration", body = crate::error::ErrorBody)))]
pub async fn set_role(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SetRoleRequest>,
) -> ApiResult<Json<RoleInfo>> {
    let allowed = authorize(&state, &caller, "admin.role.set").await?;
    let name = RoleName::new(name)?;
    let lookup = name.clone();
    let current = state.store(move |s| s.role(&lookup)).await?;
    let secs = |v: Option<&str>, old: Option<u64>| -> ApiResult<u64> {
        match v {
            Some(t) => airlock_core::parse_duration(t)
                .map(|d| d.as_secs())
                .map_err(|e| ApiError::BadRequest(e.to_string())),
            None => Ok(old.unwrap_or(8 * 3600)),
        }
    };
    let record = RoleRecord {
        name: name.clone(),
        description: req
            .description
            .or(current.as_ref().map(|r| r.description.clone()))
            .unwrap_or_default(),
        max_ttl_secs: secs(
            req.max_ttl.as_deref(),
            current.as_ref().map(|r| r.max_ttl_secs),
        )?,
        max_sandbox_ttl_secs: secs(
            req.max_sandbox_ttl.as_deref(),
            current.as_ref().map(|r| r.max_sandbox_ttl_secs),
        )?,
    };
    let event = allowed
        .event(&caller, EventCode::RoleSet)
        .resource(format!("role:{name}"))
        .detail("role", name.to_string());
    state.audit.record(event).await?;
    let stored = record.clone();
    state.store(move |s| s.put_role(&stored)).await?;
    Ok(Json(RoleInfo {
        name: record.name.to_string(),
        description: record.description,
        max_ttl: format_duration(std::time::Duration::from_secs(record.max_ttl_secs)),
        max_sandbox_ttl: format_duration(std::time::Duration::from_secs(
            record.max_sandbox_ttl_secs,
        )),
    }))
}
