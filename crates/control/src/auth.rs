//! Who is calling. Every authenticated route takes a [`Caller`] (a human with
//! a user certificate) or a [`WorkloadCaller`] (a sandbox workload with its
//! SVID); the extractor verifies the certificate against the cluster CA,
//! checks its kind, checks locks and that the user still exists, and records
//! every refusal in the audit log.

use std::net::SocketAddr;
use std::time::SystemTime;

use airlock_ca::{VerifiedCert, VerifyError};
use airlock_core::{Claims, RoleName, SessionId, SpiffeId, SubjectKind, UserName};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use airlock_audit::EventCode;

use crate::audit;
use crate::error::ApiError;
use crate::locks;
use crate::state::SharedState;

/// What the TLS layer learned about a connection; attached to every request.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The leaf certificate the client presented, if any.
    pub client_cert: Option<CertificateDer<'static>>,
}

/// An authenticated human.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: UserName,
    /// Their current roles (from the store, so a role change applies at once).
    pub roles: Vec<RoleName>,
    /// Their current traits, for policy.
    pub traits: std::collections::BTreeMap<String, Vec<String>>,
    /// The login session their certificate belongs to.
    pub session: Option<SessionId>,
    /// Where from.
    pub source: SocketAddr,
    /// When their certificate expires.
    pub expires: OffsetDateTime,
}

/// An authenticated workload (agent inside a sandbox).
#[derive(Debug, Clone)]
pub struct WorkloadCaller {
    /// Its SPIFFE ID.
    pub id: SpiffeId,
    /// Its claims (delegating user, sandbox, isolation).
    pub claims: Claims,
    /// Where from.
    pub source: SocketAddr,
}

fn conn_info(parts: &Parts) -> Result<&ConnInfo, ApiError> {
    parts
        .extensions
        .get::<ConnInfo>()
        .ok_or_else(|| ApiError::internal("request without connection info"))
}

/// Turns a verification failure into the line the user sees.
fn explain(e: &VerifyError) -> ApiError {
    ApiError::Unauthenticated(e.to_string())
}

/// Verifies the presented certificate and checks locks; shared by both
/// extractors.
fn verify_presented(state: &SharedState, conn: &ConnInfo) -> Result<VerifiedCert, ApiError> {
    let der = conn.client_cert.as_ref().ok_or_else(|| {
        ApiError::Unauthenticated("no client certificate: run `airlock login` first".into())
    })?;
    let verified = state
        .ca
        .verify(der.as_ref(), SystemTime::now())
        .map_err(|e| explain(&e))?;
    if let Some(lock) = state
        .locks
        .find(&verified.claims, OffsetDateTime::now_utc())
    {
        return Err(ApiError::NotAllowed(format!(
            "{}; ask an admin to remove the lock",
            locks::describe(&lock)
        )));
    }
    Ok(verified)
}

async fn refused(state: &SharedState, parts: &Parts, conn: &ConnInfo, err: ApiError) -> ApiError {
    let event = audit::from(conn.peer, EventCode::ApiRefused)
        .action("api.call")
        .deny(err.to_string())
        .resource(format!("{} {}", parts.method, parts.uri.path()))
        .detail("method", parts.method.as_str())
        .detail("path", parts.uri.path())
        .detail("status", err.status().as_u16());
    if let Err(audit_err) = state.audit.record(event).await {
        return audit_err;
    }
    err
}

async fn authenticate_user(state: &SharedState, conn: &ConnInfo) -> Result<Caller, ApiError> {
    let verified = verify_presented(state, conn)?;
    let claims = verified.claims;
    if claims.kind != SubjectKind::User {
        return Err(ApiError::Unauthenticated(format!(
            "a {} certificate cannot be used here: this API needs a user certificate from `airlock login`",
            claims.kind
        )));
    }
    let user = claims
        .user
        .clone()
        .ok_or_else(|| ApiError::Unauthenticated("certificate names no user".into()))?;
    let lookup = user.clone();
    let record = state.store(move |s| s.user(&lookup)).await?;
    let record =
        record.ok_or_else(|| ApiError::Unauthenticated(format!("user {user} no longer exists")))?;
    Ok(Caller {
        user,
        roles: record.roles,
        traits: record.traits,
        session: claims.session,
        source: conn.peer,
        expires: verified.not_after.into(),
    })
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let conn = conn_info(parts)?.clone();
        match authenticate_user(state, &conn).await {
            Ok(caller) => Ok(caller),
            Err(e) => Err(refused(state, parts, &conn, e).await),
        }
    }
}

fn authenticate_workload(state: &SharedState, conn: &ConnInfo) -> Result<WorkloadCaller, ApiError> {
    let verified = verify_presented(state, conn)?;
    if verified.claims.kind != SubjectKind::Workload {
        return Err(ApiError::Unauthenticated(format!(
            "a {} certificate cannot be used here: this API needs a workload SVID",
            verified.claims.kind
        )));
    }
    let id = verified
        .spiffe_id
        .ok_or_else(|| ApiError::Unauthenticated("workload certificate has no SPIFFE ID".into()))?;
    Ok(WorkloadCaller {
        id,
        claims: verified.claims,
        source: conn.peer,
    })
}

impl FromRequestParts<SharedState> for WorkloadCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let conn = conn_info(parts)?.clone();
        match authenticate_workload(state, &conn) {
            Ok(caller) => Ok(caller),
            Err(e) => Err(refused(state, parts, &conn, e).await),
        }
    }
}

/// The client address of an unauthenticated request (login).
#[derive(Debug, Clone, Copy)]
pub struct Source(pub SocketAddr);

impl FromRequestParts<SharedState> for Source {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &SharedState) -> Result<Self, ApiError> {
        Ok(Self(conn_info(parts)?.peer))
    }
}
