//! `ApiError`: the one place where errors become HTTP statuses and garm's error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use garm_api_types::ApiErrorResponse;
use garm_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Any authentication failure; the details never reach the client.
    #[error("authentication failed")]
    AuthFailed,
    /// A handler-level refusal (wrong password); garm strips the details.
    #[error("not authorized")]
    Unauthorized,
    /// A webhook whose signature does not prove it comes from the owner's hook; the details
    /// say what was wrong with the header, and are empty for a digest that does not match.
    #[error("webhook signature refused")]
    SignatureRefused(String),
    /// A request body over the route's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    /// The caller is who it says, but may not have this (an instance that did not attest).
    #[error("{0}")]
    Forbidden(String),
    /// Something this answer needs (a provider) could not be reached; try again.
    #[error("{0}")]
    Unavailable(String),
    #[error("init_required")]
    InitRequired,
    #[error("urls_required")]
    UrlsRequired,
    /// Too many failed logins; try again after this many seconds.
    #[error("too many failed login attempts")]
    TooManyRequests { retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub use garm_base::chain;

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::InitRequired | Self::UrlsRequired => StatusCode::CONFLICT,
            Self::AuthFailed | Self::Unauthorized | Self::SignatureRefused(_) => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ApiErrorResponse {
        let (error, details) = match self {
            Self::BadRequest(m) => ("Bad Request", m.clone()),
            Self::NotFound(m) => ("Not Found", m.clone()),
            Self::Conflict(m) => ("Conflict", m.clone()),
            Self::AuthFailed => ("Authentication failed", String::new()),
            Self::Unauthorized => ("Not Authorized", String::new()),
            Self::SignatureRefused(m) => ("Not Authorized", m.clone()),
            Self::TooLarge(m) => ("Bad Request", m.clone()),
            Self::Unprocessable(m) => ("Unprocessable Content", m.clone()),
            Self::Forbidden(m) => ("Forbidden", m.clone()),
            Self::Unavailable(m) => ("Service Unavailable", m.clone()),
            Self::InitRequired => ("init_required", "Missing superuser".to_string()),
            Self::UrlsRequired => (
                "urls_required",
                "Missing required URLs. Make sure you update the metadata and callback URLs".to_string(),
            ),
            Self::TooManyRequests { retry_after } => (
                "Too Many Requests",
                format!("too many failed login attempts; try again in {retry_after} seconds"),
            ),
            Self::Internal(_) => ("Server error", String::new()),
        };
        ApiErrorResponse {
            error: error.into(),
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %chain(&self), "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let Self::TooManyRequests { retry_after } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict { what } => Self::Conflict(format!("{what} already exists")),
            StoreError::InUse { what } => Self::BadRequest(what),
            StoreError::Transition(t) => Self::BadRequest(t.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<garm_forge::webhook::WebhookError> for ApiError {
    fn from(err: garm_forge::webhook::WebhookError) -> Self {
        Self::BadRequest(chain(&err))
    }
}

impl From<garm_forge::webhook::SignatureError> for ApiError {
    /// Every signature failure is 401, whether the header is missing, lacks its `sha256=`
    /// prefix, names another algorithm or does not match; only a mismatch gives no details.
    fn from(err: garm_forge::webhook::SignatureError) -> Self {
        match err {
            garm_forge::webhook::SignatureError::Mismatch => Self::SignatureRefused(String::new()),
            other => Self::SignatureRefused(other.to_string()),
        }
    }
}

impl From<garm_pool::intake::resolve::ResolveError> for ApiError {
    fn from(err: garm_pool::intake::resolve::ResolveError) -> Self {
        use garm_pool::intake::resolve::ResolveError;
        match err {
            ResolveError::Unreadable(err) => err.into(),
            ResolveError::ForgeInstanceHook => Self::BadRequest(err.to_string()),
            ResolveError::Signature { source, .. } => source.into(),
            ResolveError::Store(err) => err.into(),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(err: axum::extract::rejection::JsonRejection) -> Self {
        Self::BadRequest(format!("invalid request: {}", err.body_text()))
    }
}

/// garm's 404 for unknown paths under `/api/v1` (lowercase "found").
pub fn api_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ApiErrorResponse {
            error: "Not found".into(),
            details: "Resource not found".into(),
        }),
    )
        .into_response()
}
