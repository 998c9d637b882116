//! JSON error responses, and extractors whose rejections are [`ApiError`]s instead of axum's
//! plain-text ones.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::BODY_LIMIT;
use crate::api::ApiError;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    /// `{"error": {"code": ..., "message": ...}}` with `status`; a status that is not a valid
    /// 4xx/5xx code (an engine bug) becomes 500.
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (status, Json(body)).into_response()
    }
}

/// A JSON request body of type `T`; any failure to get one is an [`ApiError`]
/// (see [`json_rejection`]).
#[derive(Debug)]
pub(super) struct JsonBody<T>(pub(super) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// Why a JSON body was refused, as docs/api.md lists it:
///
/// | case | status | code |
/// |---|---|---|
/// | `Content-Type` is not `application/json` (or `+json`) | 415 | `unsupported_media_type` |
/// | not JSON (syntax error, truncated, empty) | 400 | `malformed_json` |
/// | JSON of the wrong shape (missing, unknown or mistyped field, unknown state) | 422 | `invalid_body` |
/// | body over [`BODY_LIMIT`] | 413 | `body_too_large` |
/// | body could not be read (connection error) | 400 | `unreadable_body` |
pub(super) fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let (status, code, message) = match rejection {
        JsonRejection::MissingJsonContentType(_) => (
            415,
            "unsupported_media_type",
            "expected a request body with `Content-Type: application/json`".to_string(),
        ),
        JsonRejection::JsonSyntaxError(e) => (400, "malformed_json", e.body_text()),
        JsonRejection::JsonDataError(e) => (422, "invalid_body", e.body_text()),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return body_too_large()
        }
        JsonRejection::BytesRejection(e) => (400, "unreadable_body", e.body_text()),
        other => (other.status().as_u16(), "invalid_body", other.body_text()),
    };
    ApiError {
        status,
        code,
        message,
    }
}

/// 413 `body_too_large`: a body over [`BODY_LIMIT`], whether the JSON extractor or the audit
/// layer (which reads write bodies first) found it.
pub(super) fn body_too_large() -> ApiError {
    ApiError {
        status: 413,
        code: "body_too_large",
        message: format!("the request body exceeds the limit of {BODY_LIMIT} bytes"),
    }
}

/// The query string as `T`; anything else is 400 `invalid_query` naming the problem (an
/// unknown parameter, a value of the wrong type).
#[derive(Debug)]
pub(super) struct QueryParams<T>(pub(super) T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_query",
                rejection.body_text(),
            )),
        }
    }
}

/// The `{id}` segment of a seat route.
#[derive(Debug)]
pub(super) struct SeatId(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for SeatId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Self(id)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

/// A call id from the path: a number, else 400 `invalid_path`.
#[derive(Debug)]
pub(super) struct CallPath(pub(super) u64);

impl<S: Send + Sync> FromRequestParts<S> for CallPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => id.parse().map(Self).map_err(|_| {
                ApiError::not_found(
                    "unknown_call",
                    format!("no call {id:?}: call ids are numbers"),
                )
            }),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

/// A path segment that could not be decoded (invalid percent-encoding or UTF-8): 400.
fn path_rejection(rejection: &PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", rejection.body_text())
}
