//! GitHub's REST error body, shared by the REST routes ([`crate::rest`]), the credential
//! checks ([`crate::auth`]) and the runner registration routes ([`crate::actions`]).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

const DOCS: &str = "https://docs.github.com/rest";

/// A GitHub-shaped error: `{"message", "documentation_url", "status"}` (plus `errors` for 422).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: u16,
    message: String,
    errors: Option<Value>,
    headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, message: &str) -> Self {
        ApiError {
            status,
            message: message.to_owned(),
            errors: None,
            headers: Vec::new(),
        }
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "Not Found")
    }

    pub fn with_errors(mut self, errors: Value) -> Self {
        self.errors = Some(errors);
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "message": self.message,
            "documentation_url": DOCS,
            "status": self.status.to_string(),
        });
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;
