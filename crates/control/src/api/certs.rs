//! Workload identity issuance: X.509-SVIDs for sandboxes and workloads, and
//! JWT-SVIDs that outside services verify with the published JWKS.

use std::time::{Duration, SystemTime};

use airlock_core::{
    Claims, IsolationClass, SandboxId, SpiffeId, UserName, format_duration, parse_duration,
};
use axum::Json;
use axum::extract::State;
use time::OffsetDateTime;

use super::login::parse_public_key;
use super::types::{IssueSvidRequest, JwtSvidRequest, JwtSvidResponse, SvidResponse};
use super::{ApiJson, rfc3339};
use airlock_audit::EventCode;

use crate::audit;
use crate::auth::{Caller, WorkloadCaller};
use crate::authz::authorize;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

/// Longest X.509-SVID.
pub const MAX_SVID_TTL: Duration = Duration::from_secs(3600);
/// Longest JWT-SVID.
pub const MAX_JWT_TTL: Duration = Duration::from_secs(300);

fn ttl_within(requested: Option<&str>, max: Duration, what: &str) -> ApiResult<Duration> {
    let Some(s) = requested else {
        return Ok(max);
    };
    let d = parse_duration(s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if d > max {
        return Err(ApiError::BadRequest(format!(
            "{what} lifetime {s} is too long: at most {}",
            format_duration(max)
        )));
    }
    Ok(d)
}

/// Issues a sandbox or workload X.509-SVID for the key in the CSR.
#[utoipa::path(post, path = "/v1/certs/svid", tag = "identity", request_body = IssueSvidRequest,
    responses(
        (status = 200, description = "SVID issued", body = SvidResponse),
        (status = 400, description = "Malformed CSR, kind, id or TTL", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody),
    ))]
pub async fn issue_svid(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<IssueSvidRequest>,
) -> ApiResult<Json<SvidResponse>> {
    let allowed = authorize(&state, &caller, "admin.cert.issue").await?;
    let key = parse_public_key(&req.csr)?;
    let sandbox = SandboxId::new(req.sandbox)?;
    let user = UserName::new(req.user)?;
    let isolation: IsolationClass = req.isolation.parse().map_err(ApiError::BadRequest)?;
    let ttl = ttl_within(req.ttl.as_deref(), MAX_SVID_TTL, "SVID")?;
    let (id, claims) = match req.kind.as_str() {
        "sandbox" => (
            SpiffeId::sandbox(&state.trust_domain, &sandbox),
            Claims::sandbox(user, sandbox, isolation),
        ),
        "workload" => (
            SpiffeId::workload(&state.trust_domain, &sandbox),
            Claims::workload(user, sandbox, isolation, req.delegation),
        ),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown SVID kind {other:?}: use sandbox or workload"
            )));
        }
    };
    let cert = state
        .ca
        .issue_svid(&key, &id, &claims, ttl, SystemTime::now())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let expires = OffsetDateTime::from(cert.not_after);
    state
        .audit
        .record(
            allowed
                .event(&caller, EventCode::CertIssued)
                .resource(id.to_string())
                .isolation(isolation)
                .detail("kind", format!("{}-svid", req.kind))
                .detail("subject", id.to_string())
                .detail("serial", cert.serial_hex.clone())
                .detail("expires", rfc3339(expires)),
        )
        .await?;
    Ok(Json(SvidResponse {
        spiffe_id: id.to_string(),
        certificate: cert.pem,
        expires: rfc3339(expires),
        ca_certificates: vec![state.ca.cert_pem()],
    }))
}

/// Mints a JWT-SVID for the calling workload, for one audience.
#[utoipa::path(post, path = "/v1/jwt-svid", tag = "identity", request_body = JwtSvidRequest,
    responses(
        (status = 200, description = "JWT-SVID minted", body = JwtSvidResponse),
        (status = 400, description = "Missing audience or TTL too long", body = crate::error::ErrorBody),
        (status = 401, description = "No workload SVID presented", body = crate::error::ErrorBody),
    ))]
pub async fn jwt_svid(
    State(state): State<SharedState>,
    caller: WorkloadCaller,
    ApiJson(req): ApiJson<JwtSvidRequest>,
) -> ApiResult<Json<JwtSvidResponse>> {
    if req.audience.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "a JWT-SVID needs exactly one audience: set \"audience\"".into(),
        ));
    }
    let ttl = ttl_within(req.ttl.as_deref(), MAX_JWT_TTL, "JWT-SVID")?;
    let now = SystemTime::now();
    let token = state
        .jwt
        .mint(
            &caller.id,
            &req.audience,
            &caller.claims,
            ttl,
            now,
            &state.public_url,
        )
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let expires = OffsetDateTime::from(now + ttl);
    let mut event = audit::from(caller.source, EventCode::CertIssued)
        .workload(caller.id.clone())
        .resource(caller.id.to_string())
        .detail("kind", "jwt-svid")
        .detail("subject", caller.id.to_string())
        .detail("audience", req.audience.clone())
        .detail("expires", rfc3339(expires));
    if let Some(u) = &caller.claims.user {
        event = event.user(u.clone());
    }
    if let Some(s) = &caller.claims.sandbox {
        event = event.sandbox(s.clone());
    }
    if let Some(i) = caller.claims.isolation {
        event = event.isolation(i);
    }
    state.audit.record(event).await?;
    Ok(Json(JwtSvidResponse {
        spiffe_id: caller.id.to_string(),
        token,
        expires: rfc3339(expires),
    }))
}
