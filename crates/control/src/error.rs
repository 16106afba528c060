//! API errors. Every refusal the API makes is one of these: a status, a
//! stable machine code, and one line a human can act on.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Machine code and human message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `unauthenticated`, `not_allowed`,
    /// `not_found`, `conflict`, `too_many_requests`, `unavailable`, `internal`.
    pub code: String,
    /// One line: what is wrong and what to do.
    pub message: String,
}

/// An error the API returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No usable identity was presented (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this (403).
    #[error("{0}")]
    NotAllowed(String),
    /// The named thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The thing already exists or the state forbids the change (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed attempts; retry after the given seconds (429).
    #[error("{message}")]
    TooManyRequests {
        /// The message.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// A dependency the operation needs is down, e.g. the audit log (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected fault (500). The detail is logged, not returned.
    #[error("internal error; the server log has details")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::NotAllowed(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::NotAllowed(_) => "not_allowed",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Wraps any unexpected error as internal, logging its detail.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut resp = (self.status(), Json(body)).into_response();
        if let Self::TooManyRequests { retry_after, .. } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<airlock_store::StoreError> for ApiError {
    fn from(e: airlock_store::StoreError) -> Self {
        use airlock_store::StoreError as E;
        match e {
            E::AlreadyExists { .. } => Self::Conflict(e.to_string()),
            E::NotFound { .. } => Self::NotFound(e.to_string()),
            E::Corrupt { .. } | E::Db(_) => Self::internal(e),
        }
    }
}

impl From<airlock_core::NameError> for ApiError {
    fn from(e: airlock_core::NameError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
