//! The message queue (`GET {mq}`, `DELETE {mq}/{messageId}`) and `acquirejobs`, all
//! authenticated with the session's queue token.

use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::service::{bearer, finish, query_of, Call};
use super::wire::{self, exception, reply, scale_set_not_found, unauthorized};
use crate::actions::injected_failure;
use crate::auth::auth_scheme;
use crate::state::FakeState;
use crate::world::World;

/// The live session (id, scale set) a queue token opens, if it belongs to `queue_key`.
fn session_for(w: &World, token: &str, queue_key: &str, now: DateTime<Utc>) -> Option<(String, u64)> {
    w.ss.session_by_token(token, now)
        .filter(|s| s.queue_key == queue_key)
        .map(|s| (s.id.clone(), s.scale_set_id))
}

/// Marks the end of a held poll however it ends.
struct PollGuard {
    state: FakeState,
    session_id: String,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        self.state.quiet(|w, now| {
            if let Some(session) = w.ss.sessions.get_mut(&self.session_id) {
                session.open_polls = session.open_polls.saturating_sub(1);
                session.last_poll = Some(now);
            }
        });
    }
}

fn bad_capacity() -> Response {
    exception(
        StatusCode::BAD_REQUEST,
        "ArgumentOutOfRangeException",
        "X-ScaleSetMaxCapacity must be a non-negative integer.",
    )
}

async fn poll(
    state: &FakeState,
    queue_key: &str,
    query: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let early = state.quiet(|w, _| {
        if let Some(failure) = injected_failure(w, "message.get") {
            return Some(failure);
        }
        if w.ss.faults.queue_unauthorized_next > 0 {
            w.ss.faults.queue_unauthorized_next -= 1;
            return Some(unauthorized());
        }
        None
    });
    if let Some(response) = early {
        return response;
    }
    let delay = state.quiet(|w, _| w.ss.faults.poll_delay_ms);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let capacity = match headers.get("x-scalesetmaxcapacity") {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return bad_capacity(),
        },
    };
    let cursor = match query.get("lastmessageid") {
        None => 0,
        Some(text) if text.is_empty() => 0,
        Some(text) => match text.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                return exception(
                    StatusCode::BAD_REQUEST,
                    "ArgumentException",
                    "lastMessageId is not a number.",
                )
            }
        },
    };
    let token = bearer(headers).unwrap_or_default().to_owned();
    let opened = state.with(|w, now| {
        let (session_id, sid) = session_for(w, &token, queue_key, now)?;
        if let Some(session) = w.ss.sessions.get_mut(&session_id) {
            session.open_polls += 1;
            session.last_poll = Some(now);
        }
        if let (Some(set), Some(cap)) = (w.ss.sets.get_mut(&sid), capacity) {
            set.last_capacity = Some(cap);
        }
        w.schedule(now);
        Some((session_id, sid))
    });
    let Some((session_id, sid)) = opened else {
        return unauthorized();
    };
    let _guard = PollGuard {
        state: state.clone(),
        session_id: session_id.clone(),
    };
    let hold = state.quiet(|w, _| w.ss.config.long_poll);
    let deadline = tokio::time::Instant::now() + hold;
    let mut changes = state.subscribe();
    loop {
        changes.borrow_and_update();
        // `Some` ends the poll: a refusal or the message.
        let found = state.quiet(|w, now| {
            if session_for(w, &token, queue_key, now).is_none_or(|(id, _)| id != session_id) {
                return Some(unauthorized());
            }
            w.flush_events(sid, now);
            let Some(set) = w.ss.sets.get_mut(&sid) else {
                return Some(scale_set_not_found(sid));
            };
            let message = set.messages.iter_mut().find(|m| !m.acknowledged && m.id > cursor)?;
            message.deliveries += 1;
            let envelope = json!({
                "messageId": message.id,
                "messageType": message.message_type,
                "body": message.body,
                "statistics": message.statistics,
            });
            Some(reply(StatusCode::OK, envelope))
        });
        if let Some(response) = found {
            return response;
        }
        if tokio::time::Instant::now() >= deadline {
            return StatusCode::ACCEPTED.into_response();
        }
        // Time alone changes things (reassignment, expiry): look again at least every 250 ms.
        let tick = (tokio::time::Instant::now() + Duration::from_millis(250)).min(deadline);
        let _ = tokio::time::timeout_at(tick, changes.changed()).await;
    }
}

fn acknowledge(state: &FakeState, queue_key: &str, message_id: u64, headers: &HeaderMap) -> Response {
    let token = bearer(headers).unwrap_or_default().to_owned();
    state.with(|w, now| {
        if let Some(failure) = injected_failure(w, "message.delete") {
            return failure;
        }
        let Some((_, sid)) = session_for(w, &token, queue_key, now) else {
            return unauthorized();
        };
        if let Some(message) =
            w.ss.sets
                .get_mut(&sid)
                .and_then(|s| s.messages.iter_mut().find(|m| m.id == message_id))
        {
            message.acknowledged = true;
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `GET|DELETE /_fake/actions/queue/{key}/message[/{id}]`.
pub(crate) async fn queue(
    State(state): State<FakeState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let key = segments.get(3).copied().unwrap_or_default().to_owned();
    let tail = segments.get(4..).unwrap_or_default();
    let scheme = auth_scheme(&headers);
    let query = query_of(&uri);
    let (endpoint, response) = match (&method, tail) {
        (&Method::GET, ["message"]) => ("message.get", poll(&state, &key, &query, &headers).await),
        (&Method::DELETE, ["message", id]) => match id.parse::<u64>() {
            Ok(id) => ("message.delete", acknowledge(&state, &key, id, &headers)),
            Err(_) => (
                "message.delete",
                exception(
                    StatusCode::BAD_REQUEST,
                    "ArgumentException",
                    "The message id is not a number.",
                ),
            ),
        },
        _ => (
            "unknown",
            exception(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "No such queue resource.",
            ),
        ),
    };
    finish(&state, response, &method, path, endpoint, scheme).await
}

/// `POST {svc}_apis/runtime/runnerscalesets/{sid}/acquirejobs` with the queue token.
pub(crate) fn acquire(w: &mut World, now: DateTime<Utc>, call: &Call, sid: u64) -> Response {
    if !w.ss.sets.get(&sid).is_some_and(|s| s.scope.same_as(&call.scope)) {
        return scale_set_not_found(sid);
    }
    let token = bearer(&call.headers).unwrap_or_default();
    if w.ss.session_by_token(token, now).is_none_or(|s| s.scale_set_id != sid) {
        return unauthorized();
    }
    let Some(ids) = call.json().and_then(|v| match v {
        Value::Array(items) => items.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>(),
        _ => None,
    }) else {
        return exception(
            StatusCode::BAD_REQUEST,
            "ArgumentException",
            "The body must be a JSON array of runner request ids.",
        );
    };
    let acquired = w.acquire(sid, &ids, now);
    reply(
        StatusCode::OK,
        wire::list(acquired.into_iter().map(Value::from).collect()),
    )
}
