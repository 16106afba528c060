//! Login: a password (checked against its argon2id hash) and a public key
//! in; a short-lived user certificate out. The private key stays on the
//! client.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use airlock_ca::PublicKey;
use airlock_core::{Claims, RoleName, SessionId, UserName, format_duration, parse_duration};
use airlock_store::{SessionRecord, UserRecord};
use axum::Json;
use axum::extract::State;
use time::OffsetDateTime;

use super::types::{LoginRequest, LoginResponse, WhoAmI};
use super::{ApiJson, rfc3339};
use airlock_audit::{AuditEvent, EventCode};

use crate::audit;
use crate::auth::{Caller, Source};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::{locks, password};

/// Certificate lifetime when the client asks for none.
pub const DEFAULT_USER_TTL: Duration = Duration::from_secs(8 * 3600);

const WRONG_CREDENTIALS: &str = "wrong user name or password";

/// Exchanges a password and a public key for a user certificate.
#[utoipa::path(post, path = "/v1/login", tag = "login", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed key or TTL", body = crate::error::ErrorBody),
        (status = 401, description = "Wrong user name or password", body = crate::error::ErrorBody),
        (status = 403, description = "User is locked", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed logins", body = crate::error::ErrorBody),
    ))]
pub async fn login(
    State(state): State<SharedState>,
    Source(source): Source,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    throttle(&state, &req.user, source).await?;
    let record = check_password(&state, &req, source).await?;
    let user = record.name.clone();
    if let Some(lock) = state.locks.find_target(
        &airlock_store::LockTarget::User(user.clone()),
        OffsetDateTime::now_utc(),
    ) {
        let reason = format!(
            "{}; ask an admin to remove the lock",
            locks::describe(&lock)
        );
        state
            .audit
            .record(login_failed(source, &req.user, &reason))
            .await?;
        return Err(ApiError::NotAllowed(reason));
    }
    let key = parse_public_key(&req.public_key)?;
    let ttl = user_ttl(&state, &record.roles, req.ttl.as_deref()).await?;
    let session = SessionId::from_random(rand::random());
    let mut claims = Claims::user(user.clone(), record.roles.clone(), session.clone());
    claims.traits = record.traits.clone();
    let cert = state
        .ca
        .issue_user(&key, &claims, ttl, SystemTime::now())
        .map_err(ApiError::internal)?;
    let expires = OffsetDateTime::from(cert.not_after);

    state
        .audit
        .record(
            audit::from(source, EventCode::UserLogin)
                .user(user.clone())
                .session(session.clone())
                .detail("method", "password")
                .detail("ttl", format_duration(ttl))
                .detail("cert_serial", cert.serial_hex.clone())
                .detail("expires", rfc3339(expires)),
        )
        .await?;
    state
        .audit
        .record(
            audit::from(source, EventCode::CertIssued)
                .user(user.clone())
                .session(session.clone())
                .resource(format!("user:{user}"))
                .detail("kind", "user")
                .detail("subject", user.to_string())
                .detail("serial", cert.serial_hex.clone())
                .detail("expires", rfc3339(expires)),
        )
        .await?;
    let session_record = SessionRecord {
        id: session.clone(),
        user: user.clone(),
        source: source.to_string(),
        created: OffsetDateTime::now_utc(),
        expires,
    };
    state.store(move |s| s.add_session(&session_record)).await?;
    reset_failures(&state, &user);

    Ok(Json(LoginResponse {
        user: user.to_string(),
        roles: record.roles.iter().map(ToString::to_string).collect(),
        session: session.to_string(),
        certificate: cert.pem,
        expires: rfc3339(expires),
        ca_certificates: vec![state.ca.cert_pem()],
        cluster: state.cluster_name.clone(),
    }))
}

/// Refuses the attempt if the user name or the source address has failed
/// too often recently.
async fn throttle(state: &SharedState, user: &str, source: SocketAddr) -> ApiResult<()> {
    let now = Instant::now();
    let blocked = {
        let mut limits = state.login_limits.lock().unwrap_or_else(|p| p.into_inner());
        let by_user = limits.per_user.check(user, now).err();
        let by_source = limits.per_source.check(&source.ip().to_string(), now).err();
        by_user.max(by_source)
    };
    let Some(wait) = blocked else {
        return Ok(());
    };
    let retry_after = wait.as_secs().max(1);
    let message = format!(
        "too many failed logins; try again in {}",
        format_duration(Duration::from_secs(retry_after))
    );
    state
        .audit
        .record(login_failed(source, user, &message))
        .await?;
    Err(ApiError::TooManyRequests {
        message,
        retry_after,
    })
}

/// Verifies the password; unknown users cost the same time as wrong passwords
/// and get the same answer, so logins do not reveal which names exist.
async fn check_password(
    state: &SharedState,
    req: &LoginRequest,
    source: SocketAddr,
) -> ApiResult<UserRecord> {
    let name = UserName::new(req.user.clone()).ok();
    let record = match name.clone() {
        Some(n) => state.store(move |s| s.user(&n)).await?,
        None => None,
    };
    let hash = record.as_ref().map_or_else(
        || password::decoy_hash().to_owned(),
        |r| r.password_hash.clone(),
    );
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    match record {
        Some(r) if ok => Ok(r),
        _ => {
            record_failure(state, &req.user, source);
            // The audit log may say whether the name exists (reviewers
            // need it); the API answer never does.
            let event = login_failed(source, &req.user, WRONG_CREDENTIALS)
                .detail("user_exists", record.is_some());
            state.audit.record(event).await?;
            Err(ApiError::Unauthenticated(WRONG_CREDENTIALS.into()))
        }
    }
}

/// A refused login. The attempted name is a detail, not `user`: it may not
/// be a user at all.
fn login_failed(source: SocketAddr, attempted: &str, reason: &str) -> AuditEvent {
    let attempted: String = attempted.chars().take(64).collect();
    audit::from(source, EventCode::UserLoginFailed)
        .deny(reason)
        .detail("method", "password")
        .detail("attempted_user", attempted)
}

fn record_failure(state: &SharedState, user: &str, source: SocketAddr) {
    let now = Instant::now();
    let mut limits = state.login_limits.lock().unwrap_or_else(|p| p.into_inner());
    limits.per_user.record_failure(user, now);
    limits
        .per_source
        .record_failure(&source.ip().to_string(), now);
}

fn reset_failures(state: &SharedState, user: &UserName) {
    let mut limits = state.login_limits.lock().unwrap_or_else(|p| p.into_inner());
    limits.per_user.reset(user.as_str());
}

/// Reads a PEM CSR or PEM public key.
pub(crate) fn parse_public_key(pem: &str) -> ApiResult<PublicKey> {
    let parsed = if pem.contains("CERTIFICATE REQUEST") {
        PublicKey::from_csr_pem(pem)
    } else {
        PublicKey::from_spki_pem(pem)
    };
    parsed.map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The certificate lifetime: what was asked (default 8 h), capped by the
/// most restrictive of the user's roles.
async fn user_ttl(
    state: &SharedState,
    roles: &[RoleName],
    requested: Option<&str>,
) -> ApiResult<Duration> {
    let requested = match requested {
        Some(s) => parse_duration(s).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => DEFAULT_USER_TTL,
    };
    let role_max = state
        .role_limit(roles, |r| r.max_ttl_secs)
        .await?
        .unwrap_or(DEFAULT_USER_TTL);
    Ok(requested.min(role_max))
}

/// Who the caller is, as the server sees them.
#[utoipa::path(get, path = "/v1/whoami", tag = "login",
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "No valid user certificate", body = crate::error::ErrorBody),
    ))]
pub async fn whoami(State(state): State<SharedState>, caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: caller.user.to_string(),
        roles: caller.roles.iter().map(ToString::to_string).collect(),
        session: caller.session.map(|s| s.to_string()),
        expires: rfc3339(caller.expires),
        source: caller.source.to_string(),
        cluster: state.cluster_name.clone(),
    })
}
