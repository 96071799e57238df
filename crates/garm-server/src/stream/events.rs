//! `/api/v1/ws/events`: database change events with garm's envelope and filter protocol.
//!
//! Nothing is sent until the client writes a filter: `{"send-everything": true}` or
//! `{"filters": [{"entity-type": "pool", "operations": ["create"]}]}` (a filter without
//! operations takes all three). A message with no filters is ignored; one that is not JSON
//! gets the text `failed to unmarshal filter`, one naming an unknown entity type or operation
//! gets `invalid filter`, and both close the connection.

use super::hub::Message;
use super::socket::{self, Pace, Reply, Session};
use super::{EntityType, Operation, Streams};
use crate::api::convert;
use crate::state::App;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use garm_store::{ChangeOp, ChangedRow, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// What an events subscriber asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// No filter yet: nothing is sent (garm's `WithNone`).
    #[default]
    Nothing,
    Everything,
    /// Any of these: an entity type and the operations wanted (empty: all).
    Any(Vec<(EntityType, Vec<Operation>)>),
}

impl Selection {
    pub fn wants(&self, kind: EntityType, op: Operation) -> bool {
        match self {
            Selection::Nothing => false,
            Selection::Everything => true,
            Selection::Any(rules) => rules
                .iter()
                .any(|(k, ops)| *k == kind && (ops.is_empty() || ops.contains(&op))),
        }
    }
}

/// garm's `Options` as the client writes it; types are checked after decoding, as garm does.
#[derive(Debug, Deserialize)]
struct Options {
    #[serde(default, rename = "send-everything")]
    send_everything: Option<bool>,
    #[serde(default)]
    filters: Option<Vec<Filter>>,
}

#[derive(Debug, Deserialize)]
struct Filter {
    #[serde(default, rename = "entity-type")]
    entity_type: Option<String>,
    #[serde(default)]
    operations: Option<Vec<String>>,
}

/// The outcome of a client's filter message.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Select(Selection),
    /// No filters and not everything: garm ignores the message.
    Ignore,
    Refuse(&'static str),
}

/// A garm name (`"pool"`, `"create"`) as one of our enums.
fn named<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

pub fn parse(text: &str) -> Parsed {
    let Ok(opt) = serde_json::from_str::<Options>(text) else {
        return Parsed::Refuse("failed to unmarshal filter");
    };
    if opt.send_everything.unwrap_or(false) {
        return Parsed::Select(Selection::Everything);
    }
    let filters = opt.filters.unwrap_or_default();
    if filters.is_empty() {
        return Parsed::Ignore;
    }
    let mut rules = Vec::with_capacity(filters.len());
    for f in filters {
        let Some(kind) = f.entity_type.as_deref().and_then(named::<EntityType>) else {
            return Parsed::Refuse("invalid filter");
        };
        let mut ops = Vec::new();
        for op in f.operations.unwrap_or_default() {
            match named(&op) {
                Some(op) => ops.push(op),
                None => return Parsed::Refuse("invalid filter"),
            }
        }
        rules.push((kind, ops));
    }
    Parsed::Select(Selection::Any(rules))
}

/// garm's `ChangePayload`, keys in its order.
#[derive(Serialize)]
struct Envelope<'a, P> {
    #[serde(rename = "entity-type")]
    entity_type: EntityType,
    operation: Operation,
    payload: &'a P,
}

pub fn encode(kind: EntityType, op: Operation, payload: &impl Serialize) -> Option<Message> {
    let env = Envelope {
        entity_type: kind,
        operation: op,
        payload,
    };
    serde_json::to_string(&env).ok().map(Message::from)
}

/// How often a connection checks that its user is still enabled and its token current.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The caller's session: it ends when the token expires, or when a check every [`RECHECK`]
/// finds the user gone, disabled or with a new password generation. Cancel `revoked` when
/// the connection ends, to stop the checks.
pub fn session(app: &App, headers: &HeaderMap) -> Session {
    let revoked = CancellationToken::new();
    let claims = crate::auth::bearer(headers, crate::auth::TokenFrom::HeaderOrCookie)
        .and_then(|token| app.keys.verify::<crate::auth::UserClaims>(&token).ok());
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

pub async fn handler(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Some(refused) = check_origin(&app, &headers) {
        return refused;
    }
    let pace = Pace::for_idle_timeout(app.config.connections.idle_timeout);
    let hub = app.streams.events.clone();
    ws.max_message_size(socket::MAX_MESSAGE)
        .on_upgrade(move |conn| async move {
            // Made once upgraded: its checks run only while the connection does.
            let session = session(&app, &headers);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_garm_reads_them() {
        assert_eq!(
            parse(r#"{"send-everything": true}"#),
            Parsed::Select(Selection::Everything)
        );
        assert_eq!(parse(r#"{}"#), Parsed::Ignore);
        assert_eq!(parse(r#"{"filters": []}"#), Parsed::Ignore);
        assert_eq!(parse("nope"), Parsed::Refuse("failed to unmarshal filter"));
        assert_eq!(
            parse(r#"{"filters": [{"entity-type": "pools"}]}"#),
            Parsed::Refuse("invalid filter")
        );
        assert_eq!(
            parse(r#"{"filters": [{"operations": ["create"]}]}"#),
            Parsed::Refuse("invalid filter")
        );
        assert_eq!(
            parse(r#"{"filters": [{"entity-type": "pool", "operations": ["upsert"]}]}"#),
            Parsed::Refuse("invalid filter")
        );
        let Parsed::Select(sel) = parse(
            r#"{"filters": [{"entity-type": "instance", "operations": ["create","delete"]}, {"entity-type": "scaleset"}]}"#,
        ) else {
            panic!("valid filter refused")
        };
        assert!(sel.wants(EntityType::Instance, Operation::Create));
        assert!(!sel.wants(EntityType::Instance, Operation::Update));
        assert!(sel.wants(EntityType::ScaleSet, Operation::Update));
        assert!(!sel.wants(EntityType::Pool, Operation::Create));
        assert!(!Selection::Nothing.wants(EntityType::Pool, Operation::Create));
    }

    #[test]
    fn the_envelope_has_garms_keys() {
        let msg = encode(
            EntityType::GithubCredentials,
            Operation::Delete,
            &serde_json::json!({"id": 3}),
        )
        .unwrap();
        assert_eq!(
            &*msg,
            r#"{"entity-type":"github_credentials","operation":"delete","payload":{"id":3}}"#
        );
    }
}
