//! `/api/v1/ws/events`: database change events with garm's envelope and filter protocol
//! (`crate::stream::events`), and the relay that turns the store's instance and job changes
//! into events.
//!
//! Nothing is sent until the client writes a filter: `{"send-everything": true}` or
//! `{"filters": [{"entity-type": "pool", "operations": ["create"]}]}` (a filter without
//! operations takes all three). A message with no filters is ignored; one that is not JSON
//! gets the text `failed to unmarshal filter`, one naming an unknown entity type or operation
//! gets `invalid filter`, and both close the connection.

use crate::convert;
use crate::state::App;
use crate::stream::events::{parse, Parsed, Selection};
use crate::stream::socket::{self, Pace, Reply};
use crate::stream::{EntityType, Operation, Streams};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use garm_store::{ChangeOp, ChangedRow, Store};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub async fn handler(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Some(refused) = super::check_origin(&app, &headers) {
        return refused;
    }
    let pace = Pace::for_idle_timeout(app.config.connections.idle_timeout);
    let hub = app.streams.events.clone();
    ws.max_message_size(socket::MAX_MESSAGE)
        .on_upgrade(move |conn| async move {
            // Made once upgraded: its checks run only while the connection does.
            let session = super::session(&app, &headers);
            let sub = hub.subscribe(Selection::Nothing);
            let id = sub.id;
            let ended = socket::pump(conn, sub, pace, &session, |text| match parse(text) {
                Parsed::Select(selection) => {
                    hub.with_filter(id, |s| *s = selection);
                    Reply::Continue
                }
                Parsed::Ignore => Reply::Continue,
                Parsed::Refuse(answer) => Reply::Refuse(answer),
            })
            .await;
            hub.unsubscribe(id);
            tracing::debug!(?ended, "events websocket closed");
        })
}

/// Turns the store's instance and job changes into events until `shutdown`.
pub fn relay(store: Store, streams: Streams, shutdown: CancellationToken) {
    let mut feed = store.subscribe_changes();
    tokio::spawn(async move {
        let mut providers: HashMap<garm_model::PoolId, String> = HashMap::new();
        loop {
            let change = tokio::select! {
                _ = shutdown.cancelled() => return,
                change = feed.recv() => change,
            };
            let change = match change {
                Ok(change) => change,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "events stream fell behind the store; instance and job changes dropped"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if streams.events.is_empty() {
                continue;
            }
            let op = match change.op {
                ChangeOp::Create => Operation::Create,
                ChangeOp::Update => Operation::Update,
                ChangeOp::Delete => Operation::Delete,
            };
            match change.row {
                ChangedRow::Instance(i) => {
                    let provider = match providers.get(&i.pool_id) {
                        Some(name) => name.clone(),
                        None => {
                            let name = store
                                .pool(&i.pool_id)
                                .await
                                .map(|p| p.provider_name)
                                .unwrap_or_default();
                            if !name.is_empty() {
                                providers.insert(i.pool_id.clone(), name.clone());
                            }
                            name
                        }
                    };
                    let payload = convert::instance(&i, &provider, None);
                    streams.publish(EntityType::Instance, op, &payload);
                }
                ChangedRow::Job(j) => streams.publish(EntityType::Job, op, &convert::job(&j)),
            }
        }
    });
}
