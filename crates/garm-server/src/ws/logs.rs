//! `/api/v1/ws/logs` (and the legacy `/api/v1/ws`): the server's log (`crate::stream::logs`),
//! when `[logging] enable_log_streamer` is on; else 400 `log streamer is disabled`.

use crate::error::ApiError;
use crate::state::App;
use crate::stream::socket::{self, Pace, Reply};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub async fn handler(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let Some(hub) = app.streams.logs.clone() else {
        return ApiError::bad("log streamer is disabled").into_response();
    };
    if let Some(refused) = super::check_origin(&app, &headers) {
        return refused;
    }
    let pace = Pace::for_idle_timeout(app.config.connections.idle_timeout);
    ws.max_message_size(socket::MAX_MESSAGE)
        .on_upgrade(move |conn| async move {
            // Made once upgraded: its checks run only while the connection does.
            let session = super::session(&app, &headers);
            let sub = hub.subscribe(());
            let id = sub.id;
            let ended = socket::pump(conn, sub, pace, &session, |_| Reply::Continue).await;
            session.revoked.cancel();
            hub.unsubscribe(id);
            tracing::info!(?ended, "log stream client disconnected");
        })
}
