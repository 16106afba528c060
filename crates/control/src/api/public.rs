//! Unauthenticated documents: health, the CA bundle a client pins, and the
//! JWKS / OIDC discovery documents outside services use to verify JWT-SVIDs.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use super::types::{CaInfo, Health};
use crate::state::SharedState;

/// Liveness and version.
#[utoipa::path(get, path = "/v1/health", tag = "public",
    responses((status = 200, description = "Server is up", body = Health)))]
pub async fn health(State(state): State<SharedState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        cluster: state.cluster_name.clone(),
    })
}

/// The cluster's CA certificates, for clients to pin on first login.
#[utoipa::path(get, path = "/v1/ca", tag = "public",
    responses((status = 200, description = "Trusted CA certificates", body = CaInfo)))]
pub async fn ca(State(state): State<SharedState>) -> Json<CaInfo> {
    Json(CaInfo {
        cluster: state.cluster_name.clone(),
        trust_domain: state.trust_domain.to_string(),
        fingerprint: state.ca.fingerprint().to_owned(),
        certificates: vec![state.ca.cert_pem()],
    })
}

/// Public keys that sign JWT-SVIDs (RFC 7517).
#[utoipa::path(get, path = "/v1/jwks", tag = "public",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
pub async fn jwks(State(state): State<SharedState>) -> Json<Value> {
    Json(state.jwt.jwks())
}

/// OpenID Connect discovery, so standard verifiers find the JWKS.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "public",
    responses((status = 200, description = "OIDC discovery document", body = Object)))]
pub async fn openid_configuration(State(state): State<SharedState>) -> Json<Value> {
    Json(airlock_ca::openid_configuration(&state.public_url))
}
