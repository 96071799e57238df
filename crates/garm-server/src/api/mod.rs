//! The REST handlers, one module per group of routes; [`crate::routes`] puts them together.

pub mod controller;
pub mod entities;
pub mod forge;
pub mod hooks;
pub mod metadata;
pub mod metrics;
pub mod metrics_catalog;
pub mod pools;
pub mod proxies;
pub mod replicas;
pub mod runners;
pub mod scalesets;
pub mod templates;
pub mod webhook;

use crate::error::ApiError;
use crate::state::App;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// 409 `init_required` until the admin user exists.
pub async fn require_init(app: &App) -> Result<(), ApiError> {
    if app.store.has_admin().await? {
        Ok(())
    } else {
        Err(ApiError::InitRequired)
    }
}

/// 200 with an empty body and a JSON content type: garm's answer to a DELETE.
pub struct Empty;

impl IntoResponse for Empty {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], "").into_response()
    }
}
