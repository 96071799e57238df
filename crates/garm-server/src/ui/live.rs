//! `/ui/events`: server-sent events from the change feed the websocket streams use
//! (`crate::stream`), so a page refreshes its `<main>` when something changed rather than
//! on a timer. Each event names only what changed (`{"entity-type","operation"}`); the page
//! fetches its own fragment again. The browser's `EventSource` reconnects by itself, after
//! `retry` milliseconds, when the connection drops (eviction, shutdown, idle timeout).

use super::Session;
use crate::state::App;
use crate::stream::events::Selection;
use crate::stream::hub::{Hub, Subscription};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Unsubscribes when the response stream is dropped (the browser went away).
struct Unsubscribe(Arc<Hub<Selection>>, u64);

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.0.unsubscribe(self.1);
    }
}

/// The `entity-type` and `operation` of a published change.
fn summary(msg: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(msg).unwrap_or_default();
    serde_json::json!({"entity-type": v["entity-type"], "operation": v["operation"]}).to_string()
}

pub async fn events(State(app): State<App>, _s: Session) -> Response {
    let hub = app.streams.events.clone();
    let sub = hub.subscribe(Selection::Everything);
    let guard = Unsubscribe(hub, sub.id);
    // Either token ends the stream: this subscriber evicted, or the server shutting down.
    let stops = (sub.evicted.clone(), app.streams.closing.clone());
    let hello = futures_util::stream::once(async {
        Ok::<_, Infallible>(Event::default().retry(Duration::from_secs(2)).event("hello").data("{}"))
    });
    type St = (Subscription, Unsubscribe, (CancellationToken, CancellationToken));
    let changes = futures_util::stream::unfold((sub, guard, stops), |(mut sub, guard, stops): St| async move {
        let msg = tokio::select! {
            msg = sub.recv() => msg?,
            _ = stops.0.cancelled() => return None,
            _ = stops.1.cancelled() => return None,
        };
        let event = Event::default().event("change").data(summary(&msg));
        Some((Ok::<_, Infallible>(event), (sub, guard, stops)))
    });
    use futures_util::StreamExt;
    Sse::new(hello.chain(changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_carry_only_what_changed() {
        let msg = r#"{"entity-type":"pool","operation":"update","payload":{"id":"p1","secret":"x"}}"#;
        assert_eq!(super::summary(msg), r#"{"entity-type":"pool","operation":"update"}"#);
    }
}
