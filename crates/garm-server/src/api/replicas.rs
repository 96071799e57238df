//! What an operator and a load balancer need from replicas: `/healthz` (the process answers),
//! `/readyz` (the database answers too), and `GET /api/v1/leases` (who holds what).

use crate::error::ApiError;
use crate::state::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Duration;

/// How long `/readyz` waits for the database.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process serves HTTP; it reads nothing.
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// 200 only while the database answers a query within [`READY_TIMEOUT`]; 503 otherwise, so a
/// load balancer sends nothing to a replica cut off from PostgreSQL.
pub async fn readyz(State(app): State<App>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: the database refused a query");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "database did not answer in time\n").into_response()
        }
    }
}

/// One lease as `GET /api/v1/leases` shows it.
#[derive(Debug, Serialize)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub token: i64,
    /// RFC 3339, by the database's clock.
    pub expires_at: String,
    pub expired: bool,
    /// Whether the replica answering holds it.
    pub held_here: bool,
}

/// Every lease: the entities' and the replicas' own (admin only).
pub async fn list(State(app): State<App>) -> Result<Json<Vec<Lease>>, ApiError> {
    let fence = app.pool.store.fence().cloned();
    let out = app
        .store
        .leases()
        .await?
        .into_iter()
        .map(|l| Lease {
            held_here: fence
                .as_ref()
                .is_some_and(|f| f.holder() == l.holder && f.token(&l.name) == Some(l.token)),
            expires_at: chrono::DateTime::from_timestamp_millis(l.expires_at_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            name: l.name,
            holder: l.holder,
            token: l.token,
            expired: l.expired,
        })
        .collect();
    Ok(Json(out))
}

/// `garm_leases_held{replica}`: the leases this replica holds (its own liveness lease included).
pub fn gauges(app: &App, out: &mut String) {
    use std::fmt::Write;
    super::metrics_catalog::header(out, "garm_leases_held");
    if let Some(fence) = app.pool.store.fence() {
        let _ = writeln!(
            out,
            "garm_leases_held{{replica=\"{}\"}} {}",
            super::metrics::esc(fence.holder()),
            fence.held().len()
        );
    }
}
