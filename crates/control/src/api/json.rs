//! A JSON body extractor whose rejections are API errors (one JSON line)
//! instead of axum's plain-text ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Like `axum::Json`, but a malformed body is a `bad_request` API error.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(ApiError::BadRequest(describe(&rejection))),
        }
    }
}

fn describe(r: &JsonRejection) -> String {
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            "request body must be JSON (Content-Type: application/json)".into()
        }
        other => format!("invalid request body: {}", other.body_text()),
    }
}
