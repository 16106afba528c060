//! The policy set, delegation profiles and `policy check` (admin).
//!
//! A new set or profile is validated in full (schema, examples) before it
//! replaces anything; a refused one leaves the active engine untouched and
//! the answer carries Cedar's diagnostics.

use airlock_audit::EventCode;
use airlock_core::{SandboxId, UserName};
use airlock_policy::{Principal, Request, Resource, UserInfo, WorkloadInfo};
use airlock_store::PolicyFile;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiJson;
use crate::audit;
use crate::auth::Caller;
use crate::authz::{authorize, context};
use crate::error::{ApiError, ApiResult};
use crate::policy::{build, describe};
use crate::state::SharedState;

/// One file of a policy set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFileBody {
    /// File name: `*.cedar` is policy, `*.toml`/`*.json` examples checked at load.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// `PUT /v1/policy` and `GET /v1/policy`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyBody {
    /// The files (empty on PUT: back to the starter set).
    pub files: Vec<PolicyFileBody>,
    /// Ids of the policies in force (GET only).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Whether the built-in starter set is in force (GET only).
    #[serde(default)]
    pub starter: bool,
}

fn kind_of(name: &str) -> ApiResult<&'static str> {
    if name.ends_with(".cedar") {
        Ok("policy")
    } else if name.ends_with(".toml") || name.ends_with(".json") {
        Ok("examples")
    } else {
        Err(ApiError::BadRequest(format!(
            "{name:?}: policy files end in .cedar, examples files in .toml or .json"
        )))
    }
}

/// Replaces the cluster's policy set (validated first; refused sets change nothing).
#[utoipa::path(put, path = "/v1/policy", tag = "policy", request_body = PolicyBody,
    responses((status = 200, description = "In force", body = PolicyBody),
               (status = 400, description = "Refused, with Cedar's diagnostics", body = crate::error::ErrorBody)))]
pub async fn set_policy(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<PolicyBody>,
) -> ApiResult<Json<PolicyBody>> {
    let allowed = authorize(&state, &caller, "admin.policy.set").await?;
    let mut files = Vec::new();
    for f in req.files {
        files.push(PolicyFile {
            kind: kind_of(&f.name)?.into(),
            name: f.name,
            text: f.text,
        });
    }
    let profiles = state.store(|s| s.profiles()).await?;
    let engine = match build(&files, &profiles) {
        Ok(e) => e,
        Err(e) => {
            let reason = format!("policy set refused: {}", describe(&e));
            let event = audit::by(&caller, EventCode::PolicySet).deny(reason.clone());
            state.audit.record(event).await?;
            return Err(ApiError::BadRequest(reason));
        }
    };
    if let Err(reason) = keeps_policy_control(&engine, &caller) {
        let event = audit::by(&caller, EventCode::PolicySet).deny(reason.clone());
        state.audit.record(event).await?;
        return Err(ApiError::Conflict(reason));
    }
    let ids: Vec<String> = engine
        .policies()
        .ids()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let event = allowed
        .event(&caller, EventCode::PolicySet)
        .detail("policies", ids.len())
        .detail(
            "files",
            files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        );
    state.audit.record(event).await?;
    let stored = files.clone();
    state
        .store(move |s| s.replace_policy_files(&stored))
        .await?;
    state.policy.replace(engine);
    get_body(&state).await.map(Json)
}

/// A set under which its author could not set policy again would leave the
/// cluster with nobody able to repair it (a set replaces the starter set
/// whole, its admin policy included): refused, like locking yourself out.
fn keeps_policy_control(engine: &airlock_policy::Engine, caller: &Caller) -> Result<(), String> {
    let request = Request::new(
        crate::authz::principal(caller),
        "admin.policy.set",
        Resource::Cluster,
        context(),
    );
    let decision = engine.decide(&request);
    if decision.is_allowed() {
        return Ok(());
    }
    Err(format!(
        "policy set refused: under it you ({}) could not set policy again ({}); \
         keep a policy that permits admin.policy.set, like the starter set's admin-control-plane",
        caller.user, decision.reason
    ))
}

async fn get_body(state: &SharedState) -> ApiResult<PolicyBody> {
    let files = state.store(|s| s.policy_files()).await?;
    let engine = state.policy.engine();
    Ok(PolicyBody {
        starter: files.iter().all(|f| f.kind != "policy"),
        files: files
            .into_iter()
            .map(|f| PolicyFileBody {
                name: f.name,
                text: f.text,
            })
            .collect(),
        policies: engine
            .policies()
            .ids()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    })
}

/// The policy set in force.
#[utoipa::path(get, path = "/v1/policy", tag = "policy",
    responses((status = 200, description = "Files and policy ids", body = PolicyBody)))]
pub async fn get_policy(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<PolicyBody>> {
    authorize(&state, &caller, "admin.policy.get").await?;
    let mut body = get_body(&state).await?;
    if body.starter {
        body.files.push(PolicyFileBody {
            name: "starter.cedar (built in)".into(),
            text: airlock_policy::STARTER_POLICIES.into(),
        });
    }
    Ok(Json(body))
}

/// `POST /v1/policy/check`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The user.
    pub user: String,
    /// Decide as this sandbox's workload (its user's policies AND its profile).
    #[serde(default)]
    pub sandbox: Option<String>,
    /// The action, e.g. `http.request`.
    pub action: String,
    /// `cluster`, `audit`, `sandbox:ID`, `http:NAME`, `inference:NAME` or `egress:HOST:PORT`.
    pub resource: String,
    /// Context attributes (JSON object); `time` defaults to now.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// Explains what policy decides for a request, and which policies decide it.
#[utoipa::path(post, path = "/v1/policy/check", tag = "policy", request_body = CheckRequest,
    responses((status = 200, description = "Decision and every matching policy", body = Object),
               (status = 400, description = "Unknown user, sandbox or resource", body = crate::error::ErrorBody)))]
pub async fn check(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&state, &caller, "admin.policy.get").await?;
    let name = UserName::new(req.user.clone())?;
    let lookup = name.clone();
    let user = state
        .store(move |s| s.user(&lookup))
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("no user {name}")))?;
    let user = UserInfo {
        name: user.name,
        roles: user.roles,
        traits: user.traits,
    };
    let principal = match &req.sandbox {
        None => Principal::User(user),
        Some(s) => {
            let sb = find_sandbox(state.clone(), &user.name, s).await?;
            Principal::Workload(WorkloadInfo {
                user,
                sandbox: sb.id,
                isolation: sb.backend,
                image: sb.image,
                profile: sb.profile,
            })
        }
    };
    let (resource, defaults) = parse_resource(&state, &req.resource).await?;
    let mut ctx = context();
    for (k, v) in defaults {
        if !req.context.contains_key(k) {
            ctx = ctx.with(k, v);
        }
    }
    for (k, v) in req.context {
        ctx = ctx.with(&k, v);
    }
    let request = Request::new(principal, req.action, resource, ctx);
    let explanation = state.policy.engine().explain(&request);
    let mut v = serde_json::to_value(&explanation).map_err(ApiError::internal)?;
    v["text"] = serde_json::Value::String(explanation.to_string());
    Ok(Json(v))
}

/// Context attributes the proxy would set from the resource itself.
type Defaults = Vec<(&'static str, serde_json::Value)>;

/// A sandbox of `owner`'s: by id, or by name among their live sandboxes.
/// Another user's sandbox is refused: its workload acts for its own owner,
/// so deciding it as `owner`'s would explain a request that cannot happen.
async fn find_sandbox(
    state: SharedState,
    owner: &UserName,
    reference: &str,
) -> ApiResult<airlock_store::SandboxRecord> {
    let found = if reference.starts_with("sb-") {
        let id = SandboxId::new(reference)?;
        state.store(move |st| st.sandbox(&id)).await?
    } else {
        let name = airlock_core::SandboxName::new(reference)?;
        let owner = owner.clone();
        state
            .store(move |st| st.live_sandbox_named(&owner, &name))
            .await?
    };
    let sb = found.ok_or_else(|| ApiError::BadRequest(format!("no sandbox {reference:?}")))?;
    if &sb.owner != owner {
        return Err(ApiError::BadRequest(format!(
            "sandbox {reference:?} belongs to {}, not {owner}; pass --user {}",
            sb.owner, sb.owner
        )));
    }
    Ok(sb)
}

/// The resource `spec` names, and the context the proxy would give a
/// request to it (host and port of an HTTP service or egress destination,
/// method POST for inference), so a check needs only what varies.
async fn parse_resource(state: &SharedState, spec: &str) -> ApiResult<(Resource, Defaults)> {
    let bad = || {
        ApiError::BadRequest(format!(
            "--resource {spec:?}: use cluster, audit, sandbox:ID, http:NAME, inference:NAME or egress:HOST:PORT"
        ))
    };
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut defaults = Defaults::new();
    let resource = match kind {
        "cluster" => Resource::Cluster,
        "audit" => Resource::AuditLog,
        "sandbox" => {
            let id = SandboxId::new(rest).map_err(|_| bad())?;
            let sb = state
                .store(move |s| s.sandbox(&id))
                .await?
                .ok_or_else(|| ApiError::BadRequest(format!("no sandbox {rest}")))?;
            Resource::Sandbox {
                id: sb.id,
                owner: sb.owner,
                isolation: sb.backend,
                image: sb.image,
            }
        }
        "http" | "inference" => {
            let records = state.store(|s| s.resources()).await?;
            let r = records
                .into_iter()
                .find(|r| r.name == rest && r.kind == kind)
                .ok_or_else(|| ApiError::BadRequest(format!("no {kind} resource {rest:?}")))?;
            let url = r.spec["url"].as_str().unwrap_or_default();
            let (host, port) = airlock_proxy::Upstream::parse(url)
                .map(|u| (u.host, u.port))
                .unwrap_or_default();
            if kind == "http" {
                defaults.push(("host", host.clone().into()));
                defaults.push(("port", port.into()));
                Resource::HttpService { name: r.name, host }
            } else {
                defaults.push(("method", "POST".into()));
                let provider = r.spec["provider"].as_str().unwrap_or_default();
                let kind = if provider == "anthropic" {
                    airlock_policy::InferenceKind::Anthropic
                } else {
                    airlock_policy::InferenceKind::OpenAi
                };
                Resource::Inference { name: r.name, kind }
            }
        }
        "egress" => {
            let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            let (host, port): (String, u16) =
                (host.to_ascii_lowercase(), port.parse().map_err(|_| bad())?);
            defaults.push(("host", host.clone().into()));
            defaults.push(("port", port.into()));
            Resource::Egress { host, port }
        }
        _ => return Err(bad()),
    };
    Ok((resource, defaults))
}

/// `PUT /v1/profiles/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// Cedar policies over `Workload` principals.
    pub text: String,
}

/// Sets a delegation profile (validated first).
#[utoipa::path(put, path = "/v1/profiles/{name}", tag = "policy", request_body = ProfileBody,
    params(("name" = String, Path, description = "Profile name")),
    responses((status = 204, description = "In force"),
               (status = 400, description = "Refused, with Cedar's diagnostics", body = crate::error::ErrorBody)))]
pub async fn set_profile(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ProfileBody>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.profile.set").await?;
    let files = state.store(|s| s.policy_files()).await?;
    let mut profiles: Vec<(String, String)> = state.store(|s| s.profiles()).await?;
    profiles.retain(|(n, _)| n != &name);
    profiles.push((name.clone(), req.text.clone()));
    match build(&files, &profiles) {
        Ok(engine) => {
            let event = allowed
                .event(&caller, EventCode::ProfileSet)
                .resource(format!("profile:{name}"))
                .detail("profile", name.clone());
            state.audit.record(event).await?;
            let (n, t) = (name.clone(), req.text.clone());
            state.store(move |s| s.put_profile(&n, &t)).await?;
            state.policy.replace(engine);
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) => {
            let reason = format!("profile {name:?} refused: {}", describe(&e));
            let event = audit::by(&caller, EventCode::ProfileSet)
                .deny(reason.clone())
                .detail("profile", name);
            state.audit.record(event).await?;
            Err(ApiError::BadRequest(reason))
        }
    }
}

/// Lists profile names.
#[utoipa::path(get, path = "/v1/profiles", tag = "policy",
    responses((status = 200, description = "Profiles", body = Object)))]
pub async fn list_profiles(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    authorize(&state, &caller, "admin.policy.get").await?;
    let profiles = state.store(|s| s.profiles()).await?;
    Ok(Json(
        profiles
            .into_iter()
            .map(|(name, text)| serde_json::json!({"name": name, "text": text}))
            .collect(),
    ))
}

/// Removes a profile (refused while a live sandbox uses it).
#[utoipa::path(delete, path = "/v1/profiles/{name}", tag = "policy",
    params(("name" = String, Path, description = "Profile name")),
    responses((status = 204, description = "Removed"), (status = 409, description = "In use", body = crate::error::ErrorBody)))]
pub async fn remove_profile(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let allowed = authorize(&state, &caller, "admin.profile.remove").await?;
    let live = state.store(|s| s.sandboxes(None, true)).await?;
    if live
        .iter()
        .any(|s| s.profile.as_deref() == Some(name.as_str()))
    {
        return Err(ApiError::Conflict(format!(
            "profile {name:?} is used by a live sandbox"
        )));
    }
    let files = state.store(|s| s.policy_files()).await?;
    let mut profiles = state.store(|s| s.profiles()).await?;
    if !profiles.iter().any(|(n, _)| n == &name) {
        return Err(ApiError::NotFound(format!("no profile {name:?}")));
    }
    profiles.retain(|(n, _)| n != &name);
    let engine = build(&files, &profiles).map_err(|e| ApiError::internal(describe(&e)))?;
    let event = allowed
        .event(&caller, EventCode::ProfileSet)
        .resource(format!("profile:{name}"))
        .detail("profile", name.clone())
        .detail("removed", true);
    state.audit.record(event).await?;
    state.store(move |s| s.remove_profile(&name)).await?;
    state.policy.replace(engine);
    Ok(StatusCode::NO_CONTENT)
}
