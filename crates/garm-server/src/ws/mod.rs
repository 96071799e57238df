//! The websocket endpoints of the live streams (`crate::stream`), as garm serves them:
//! database change events (`/api/v1/ws/events`), the server's log (`/api/v1/ws/logs`, legacy
//! `/api/v1/ws`) and dashboard snapshots (`/api/v1/ws/metrics`); the caller's session every
//! connection checks; and [`published`], the API handlers' one call to publish a change.
//! `docs/streams.md` describes the protocol.

pub mod events;
pub mod logs;
pub mod metrics;

use crate::state::App;
use crate::stream::socket::{self, Session};
use crate::stream::{EntityType, Operation};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Publishes `out` (the API's answer to a change) and hands it back, for handlers:
/// `Ok(Json(published(&app, EntityType::Pool, Operation::Create, pool)))`.
pub fn published<T: Serialize>(app: &App, kind: EntityType, op: Operation, out: T) -> T {
    app.streams.publish(kind, op, &out);
    out
}

/// The websocket routes (admin + URLs guard, added by the caller).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/ws", get(logs::handler))
        .route("/api/v1/ws/logs", get(logs::handler))
        .route("/api/v1/ws/events", get(events::handler))
        .route("/api/v1/ws/metrics", get(metrics::handler))
}

/// How often a connection checks that its user is still enabled and its token current.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The caller's session: it ends when the token expires, or when a check every [`RECHECK`]
/// finds the user gone, disabled or with a new password generation. Cancel `revoked` when
/// the connection ends, to stop the checks.
pub fn session(app: &App, headers: &HeaderMap) -> Session {
    let revoked = CancellationToken::new();
    let claims = crate::auth::bearer(headers, crate::auth::TokenFrom::HeaderOrCookie)
        .and_then(|token| app.keys.verify::<crate::tokens::UserClaims>(&token).ok());
    let closing = app.streams.closing.clone();
    let Some(claims) = claims else {
        return Session {
            expires: None,
            revoked,
            closing,
        };
    };
    let left = claims.exp - chrono::Utc::now().timestamp();
    let expires = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(left.max(0) as u64));
    let (app, watch) = (app.clone(), revoked.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = watch.cancelled() => return,
                _ = tokio::time::sleep(RECHECK) => {}
            }
            match app.store.user_by_id(&claims.user).await {
                Ok(Some(u)) if u.enabled && u.generation == claims.generation => {}
                Ok(_) => return watch.cancel(),
                // The database is busy or down: look again next time.
                Err(_) => {}
            }
        }
    });
    Session {
        expires,
        revoked,
        closing,
    }
}

/// The refusal of an upgrade from an origin garm would refuse.
pub fn check_origin(app: &App, headers: &HeaderMap) -> Option<Response> {
    (!socket::origin_allowed(headers, &app.config.cors_origins))
        .then(|| (StatusCode::FORBIDDEN, "websocket: request origin not allowed").into_response())
}
