//! The `/v1` HTTP API. Routes are registered through `utoipa-axum`, so the
//! OpenAPI document served at `/v1/openapi.json` is built from the very same
//! registrations as the router and cannot fall out of sync with it.

mod audit;
mod certs;
mod exec;
mod files;
mod json;
mod locks;
mod login;
mod node;
mod policy;
mod public;
mod resources;
pub(crate) mod sandboxes;
pub mod types;
mod users;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use audit::AuditKey;
pub use exec::{EXEC_STREAM, PROTOCOL as EXEC_PROTOCOL};
pub use json::ApiJson;
pub use policy::{CheckRequest, PolicyBody, PolicyFileBody, ProfileBody};
pub use resources::{AddResourceRequest, ResourceInfo, SecretInfo, SetSecretRequest};

use crate::state::SharedState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Airlock control plane API",
        description = "Users, login, locks and identity issuance. Authenticated routes need \
                       the client certificate from `airlock login` (mTLS)."
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// The router and the OpenAPI document describing it.
pub fn router_and_spec() -> (Router<SharedState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(public::health))
        .routes(routes!(public::ca))
        .routes(routes!(public::jwks))
        .routes(routes!(public::openid_configuration))
        .routes(routes!(login::login))
        .routes(routes!(login::whoami))
        .routes(routes!(users::list_users, users::add_user))
        .routes(routes!(users::remove_user))
        .routes(routes!(users::list_roles))
        .routes(routes!(users::set_role))
        .routes(routes!(locks::list_locks, locks::add_lock))
        .routes(routes!(locks::remove_lock))
        .routes(routes!(certs::issue_svid))
        .routes(routes!(certs::jwt_svid))
        .routes(routes!(audit::search))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::prove))
        .routes(routes!(audit::export))
        .routes(routes!(audit::key))
        .routes(routes!(audit::recording))
        .routes(routes!(sandboxes::list, sandboxes::create))
        .routes(routes!(sandboxes::remove))
        .routes(routes!(exec::exec))
        .routes(routes!(files::upload, files::download))
        .routes(routes!(files::services))
        .routes(routes!(files::logs))
        .routes(routes!(node::backends))
        .routes(routes!(node::list_images, node::build_image))
        .routes(routes!(node::remove_image))
        .routes(routes!(policy::get_policy, policy::set_policy))
        .routes(routes!(policy::check))
        .routes(routes!(policy::list_profiles))
        .routes(routes!(policy::set_profile, policy::remove_profile))
        .routes(routes!(resources::list_secrets))
        .routes(routes!(resources::set_secret, resources::remove_secret))
        .routes(routes!(resources::list_resources, resources::add_resource))
        .routes(routes!(resources::remove_resource))
        .split_for_parts()
}

/// The full router, with the OpenAPI document mounted.
pub fn router(state: SharedState) -> Router {
    let (router, spec) = router_and_spec();
    let spec = std::sync::Arc::new(spec);
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let spec = std::sync::Arc::clone(&spec);
                async move { axum::Json((*spec).clone()) }
            }),
        )
        .fallback(|| async {
            crate::error::ApiError::NotFound(
                "no such API route; see /v1/openapi.json for the routes this server has".into(),
            )
        })
        .layer(axum::middleware::from_fn(read_small_bodies_first))
        .with_state(state)
}

/// Bodies up to this size are read before routing.
const SMALL_BODY: usize = 64 * 1024;

/// Reads a small request body in full before the request is routed. A
/// request refused before its body is read (an extractor's 401 or 403)
/// would otherwise leave the body in the socket, and closing a socket with
/// unread bytes resets it: the client would see "connection reset" instead
/// of the refusal it was sent. Streams (file uploads, upgrades) pass as
/// they are.
async fn read_small_bodies_first(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let small = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > 0 && n <= SMALL_BODY);
    if !small {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, SMALL_BODY).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                .await
        }
        Err(e) => {
            crate::error::ApiError::BadRequest(format!("the request body could not be read: {e}"))
                .into_response()
        }
    }
}

/// RFC 3339 for API bodies.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
