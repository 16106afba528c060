//! Sandboxes: create, list, remove; who may see and use one.

use std::time::Duration;

use airlock_audit::EventCode;
use airlock_core::{
    IsolationClass, SandboxId, SandboxName, SpiffeId, format_duration, parse_duration,
};
use airlock_sandbox::{BackendChoice, Limits, SandboxSpec};
use airlock_store::{SandboxLimits, SandboxRecord, SandboxState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;

use super::types::{CreateSandboxRequest, LimitsInfo, SandboxInfo};
use super::{ApiJson, rfc3339};
use crate::auth::Caller;
use crate::authz::{Allowed, authorize, authorize_on, context};
use crate::error::{ApiError, ApiResult};
use crate::sandboxes::sandbox_error;
use crate::state::SharedState;

/// Default sandbox lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(8 * 3600);

pub(crate) fn info(state: &SharedState, sb: &SandboxRecord) -> SandboxInfo {
    SandboxInfo {
        id: sb.id.to_string(),
        name: sb.name.to_string(),
        owner: sb.owner.to_string(),
        backend: sb.backend.to_string(),
        image: sb.image.clone(),
        state: sb.state.as_str().into(),
        created: rfc3339(sb.created),
        expires: rfc3339(sb.expires),
        ended: sb.ended.map(rfc3339),
        limits: LimitsInfo {
            cpus: sb.limits.cpus,
            memory: sb.limits.memory,
            disk: sb.limits.disk,
            pids: sb.limits.pids,
        },
        spiffe_id: SpiffeId::sandbox(&state.trust_domain, &sb.id).to_string(),
        workload_spiffe_id: SpiffeId::workload(&state.trust_domain, &sb.id).to_string(),
        profile: sb.profile.clone(),
    }
}

/// Finds the sandbox `reference` (a name among the caller's sandboxes, or an
/// id) that the caller may use for `action`. Other users' sandboxes are
/// invisible (404) unless the caller's role allows `admin.sandbox.access`.
pub(crate) async fn resolve(
    state: &SharedState,
    caller: &Caller,
    reference: &str,
    action: &str,
) -> ApiResult<(SandboxRecord, Allowed)> {
    let not_found = || {
        ApiError::NotFound(format!(
            "no sandbox {reference:?}; `airlock sandbox ls` lists yours"
        ))
    };
    let found = if reference.starts_with("sb-") {
        let id = SandboxId::new(reference).map_err(|_| not_found())?;
        state.store(move |s| s.sandbox(&id)).await?
    } else {
        let name = SandboxName::new(reference)?;
        let owner = caller.user.clone();
        state
            .store(move |s| s.live_sandbox_named(&owner, &name))
            .await?
    };
    let sb = match found {
        Some(sb) => sb,
        None => return Err(ended_or_missing(state, caller, reference).await),
    };
    // Policy decides; someone else's sandbox that policy does not open to
    // the caller is invisible (404), not forbidden (which would confirm it).
    let allowed = match authorize_on(state, caller, action, sandbox_resource(&sb), context()).await
    {
        Ok(allowed) => allowed,
        Err(ApiError::NotAllowed(_)) if sb.owner != caller.user => return Err(not_found()),
        Err(e) => return Err(e),
    };
    if !sb.state.is_live() {
        let how = match sb.state {
            SandboxState::Expired => "has expired",
            SandboxState::Removed => "was removed",
            _ => "failed to start",
        };
        return Err(ApiError::Conflict(format!("sandbox {} {how}", sb.name)));
    }
    Ok((sb, allowed))
}

/// A sandbox as a policy resource.
pub(crate) fn sandbox_resource(sb: &SandboxRecord) -> airlock_policy::Resource {
    airlock_policy::Resource::Sandbox {
        id: sb.id.clone(),
        owner: sb.owner.clone(),
        isolation: sb.backend,
        image: sb.image.clone(),
    }
}

/// Why a name does not resolve: it ended (say when and how), or it never was.
async fn ended_or_missing(state: &SharedState, caller: &Caller, reference: &str) -> ApiError {
    let owner = caller.user.clone();
    let past = state
        .store(move |s| s.sandboxes(Some(&owner), false))
        .await
        .unwrap_or_default();
    match past.iter().find(|s| s.name.as_str() == reference) {
        Some(sb) => {
            let how = match sb.state {
                SandboxState::Expired => "expired",
                SandboxState::Removed => "was removed",
                _ => "failed to start",
            };
            let when = sb.ended.map(rfc3339).unwrap_or_default();
            ApiError::NotFound(format!(
                "sandbox {reference} {how} at {when}; create a new one with `airlock sandbox create`"
            ))
        }
        None => ApiError::NotFound(format!(
            "no sandbox {reference:?}; `airlock sandbox ls` lists yours"
        )),
    }
}

/// The most restrictive sandbox TTL cap among the caller's roles.
async fn max_ttl(state: &SharedState, caller: &Caller) -> ApiResult<Duration> {
    Ok(state
        .role_limit(&caller.roles, |r| r.max_sandbox_ttl_secs)
        .await?
        .unwrap_or(DEFAULT_TTL))
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// What the workload's environment says about the way out: the proxy's CA
/// for every TLS stack, and the inference endpoints behind the proxy with a
/// dummy key (the proxy injects the real one; no secret enters the sandbox).
fn sandbox_env(state: &SharedState) -> Vec<(String, String)> {
    use crate::sandboxes::TRUST_BUNDLE_INSIDE;
    let mut env: Vec<(String, String)> = [
        "SSL_CERT_FILE",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), TRUST_BUNDLE_INSIDE.to_owned()))
    .collect();
    let snap = state.catalog.snapshot();
    let proxy = "http://127.0.0.1:3128/inference";
    if let Some(name) = snap.default_endpoint(airlock_proxy::InferenceKind::Openai) {
        env.push(("OPENAI_BASE_URL".into(), format!("{proxy}/{name}/v1")));
        env.push(("OPENAI_API_KEY".into(), DUMMY_KEY.into()));
    }
    if let Some(name) = snap.default_endpoint(airlock_proxy::InferenceKind::Anthropic) {
        env.push(("ANTHROPIC_BASE_URL".into(), format!("{proxy}/{name}")));
        env.push(("ANTHROPIC_API_KEY".into(), DUMMY_KEY.into()));
    }
    env
}

/// The API key a sandbox sees: a placeholder the proxy replaces.
pub const DUMMY_KEY: &str = "airlock-proxy-injects-the-real-key";

/// Everything a create request asks for, validated.
struct Plan {
    id: SandboxId,
    name: SandboxName,
    ttl: Duration,
    backend: IsolationClass,
    image: String,
    limits: Limits,
}

async fn plan(state: &SharedState, caller: &Caller, req: &CreateSandboxRequest) -> ApiResult<Plan> {
    let id = SandboxId::from_random(rand::random());
    let name = match &req.name {
        Some(n) => SandboxName::new(n.clone())?,
        None => SandboxName::new(id.as_str().trim_start_matches("sb-").to_owned())?,
    };
    let max = max_ttl(state, caller).await?;
    // Without --ttl: the default, cut to what the caller's roles allow.
    let ttl = match req.ttl.as_deref() {
        Some(t) => parse_duration(t).map_err(bad)?,
        None => DEFAULT_TTL.min(max),
    };
    if ttl > max {
        return Err(ApiError::BadRequest(format!(
            "--ttl {} is longer than your roles allow: at most {}",
            format_duration(ttl),
            format_duration(max)
        )));
    }
    let limits = Limits::parse(
        req.cpus.as_deref(),
        req.memory.as_deref(),
        req.disk.as_deref(),
    )
    .map_err(bad)?;
    let choice: BackendChoice = req
        .backend
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(bad)?;
    let node = state.sandboxes.node().await?;
    let backend = node.resolve_backend(choice).map_err(sandbox_error)?;
    let image = req
        .image
        .clone()
        .unwrap_or_else(|| airlock_sandbox::HOST_IMAGE.to_owned());
    node.images().get(&image).map_err(sandbox_error)?;
    let owner = caller.user.clone();
    let lookup = name.clone();
    if state
        .store(move |s| s.live_sandbox_named(&owner, &lookup))
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "you already have a sandbox named {name}; pick another --name or `airlock sandbox rm {name}`"
        )));
    }
    Ok(Plan {
        id,
        name,
        ttl,
        backend,
        image,
        limits,
    })
}

/// Creates a sandbox and starts it; returns when its init is ready.
#[utoipa::path(post, path = "/v1/sandboxes", tag = "sandboxes", request_body = CreateSandboxRequest,
    responses(
        (status = 201, description = "Sandbox running", body = SandboxInfo),
        (status = 400, description = "Bad backend, image, TTL or size", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
        (status = 409, description = "Name taken", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateSandboxRequest>,
) -> ApiResult<(StatusCode, Json<SandboxInfo>)> {
    let p = plan(&state, &caller, &req).await?;
    let resource = airlock_policy::Resource::Sandbox {
        id: p.id.clone(),
        owner: caller.user.clone(),
        isolation: p.backend,
        image: p.image.clone(),
    };
    let ttl_secs = i64::try_from(p.ttl.as_secs()).unwrap_or(i64::MAX);
    let allowed = authorize_on(
        &state,
        &caller,
        "sandbox.create",
        resource,
        context().with("ttl_secs", ttl_secs),
    )
    .await?;
    let now = OffsetDateTime::now_utc();
    let record = SandboxRecord {
        id: p.id.clone(),
        name: p.name.clone(),
        owner: caller.user.clone(),
        backend: p.backend,
        image: p.image.clone(),
        profile: req.profile.clone(),
        limits: SandboxLimits {
            cpus: f64::from(p.limits.millicpus) / 1000.0,
            memory: p.limits.memory,
            disk: p.limits.disk,
            pids: u64::from(p.limits.pids),
        },
        state: SandboxState::Creating,
        created: now,
        expires: now + p.ttl,
        ended: None,
    };
    let event = allowed
        .event(&caller, EventCode::SandboxCreated)
        .sandbox(p.id.clone())
        .isolation(p.backend)
        .resource(format!("sandbox:{}", p.name))
        .detail("name", p.name.to_string())
        .detail("image", p.image.clone())
        .detail("ttl", format_duration(p.ttl))
        .detail("backend", p.backend.as_str())
        .detail(
            "limits",
            serde_json::to_value(&record.limits).unwrap_or_default(),
        );
    state.audit.record(event).await?;
    let stored = record.clone();
    state.store(move |s| s.add_sandbox(&stored)).await?;

    let mut spec = SandboxSpec::new(p.id.clone(), p.backend);
    spec.image = p.image;
    spec.limits = p.limits;
    spec.hostname = p.name.to_string();
    spec.env = sandbox_env(&state);
    let started = state
        .sandboxes
        .start(spec, &caller.user, req.profile.clone())
        .await;
    let final_state = if started.is_ok() {
        SandboxState::Running
    } else {
        SandboxState::Failed
    };
    let id = p.id.clone();
    state
        .store(move |s| s.set_sandbox_state(&id, final_state, OffsetDateTime::now_utc()))
        .await?;
    started?;
    state.sandboxes.reaper.notify_one();
    let mut record = record;
    record.state = SandboxState::Running;
    Ok((StatusCode::CREATED, Json(info(&state, &record))))
}

/// `?all=true`: every user's live sandboxes (admins); `?ended=true`: include
/// removed and expired ones.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Every user's sandboxes (needs `admin.sandbox.list`).
    #[serde(default)]
    pub all: bool,
    /// Include sandboxes that ended.
    #[serde(default)]
    pub ended: bool,
}

/// Lists sandboxes.
#[utoipa::path(get, path = "/v1/sandboxes", tag = "sandboxes", params(ListQuery),
    responses((status = 200, description = "Sandboxes, newest first", body = Vec<SandboxInfo>)))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<SandboxInfo>>> {
    authorize(&state, &caller, "sandbox.list").await?;
    let owner = if q.all {
        authorize(&state, &caller, "admin.sandbox.list").await?;
        None
    } else {
        Some(caller.user.clone())
    };
    let live_only = !q.ended;
    let all = state
        .store(move |s| s.sandboxes(owner.as_ref(), live_only))
        .await?;
    Ok(Json(all.iter().map(|s| info(&state, s)).collect()))
}

/// Destroys a sandbox now.
#[utoipa::path(delete, path = "/v1/sandboxes/{name}", tag = "sandboxes",
    params(("name" = String, Path, description = "Sandbox name or id")),
    responses(
        (status = 204, description = "Removed; nothing of it remains"),
        (status = 404, description = "No such sandbox", body = crate::error::ErrorBody),
        (status = 409, description = "Already ended", body = crate::error::ErrorBody),
    ))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let (sb, allowed) = resolve(&state, &caller, &name, "sandbox.remove").await?;
    let event = allowed
        .event(&caller, EventCode::SandboxRemoved)
        .sandbox(sb.id.clone())
        .isolation(sb.backend)
        .resource(format!("sandbox:{}", sb.name));
    state.audit.record(event).await?;
    state.sandboxes.stop(&sb.id).await?;
    let id = sb.id.clone();
    state
        .store(move |s| s.set_sandbox_state(&id, SandboxState::Removed, OffsetDateTime::now_utc()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
