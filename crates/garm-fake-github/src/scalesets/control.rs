//! `/_fake/` routes of the scale set service: inspect, inject faults, switch modes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::model::{ActionsFaultsPatch, AssignMode};
use crate::model::Scope;
use crate::state::FakeState;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

fn done(found: bool) -> Response {
    if found {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

async fn scale_sets(State(state): State<FakeState>) -> Response {
    ok(state.scale_sets())
}

async fn scale_set(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    match state.scale_set(id) {
        Some(set) => ok(json!({
            "scale_set": set,
            "pending_message_ids": set.pending_message_ids(),
            "acknowledged_message_ids": set.acknowledged_message_ids(),
            "statistics": state.scale_set_statistics(id),
        })),
        None => not_found(),
    }
}

async fn delete_scale_set(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    done(state.delete_scale_set(id))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inject {
    #[serde(default = "job_messages")]
    message_type: String,
    #[serde(default)]
    body: String,
}

fn job_messages() -> String {
    "RunnerScaleSetJobMessages".to_owned()
}

async fn inject(State(state): State<FakeState>, Path(id): Path<u64>, Json(body): Json<Inject>) -> Response {
    match state.inject_scale_set_message(id, &body.message_type, &body.body) {
        Some(message_id) => (StatusCode::CREATED, Json(json!({"messageId": message_id}))).into_response(),
        None => not_found(),
    }
}

async fn sessions(State(state): State<FakeState>) -> Response {
    ok(state.scale_set_sessions())
}

async fn evict(State(state): State<FakeState>, Path(id): Path<String>) -> Response {
    done(state.evict_scale_set_session(&id))
}

async fn expire_token(State(state): State<FakeState>, Path(id): Path<String>) -> Response {
    done(state.expire_queue_token(&id))
}

async fn jobs(State(state): State<FakeState>) -> Response {
    ok(state.scale_set_jobs())
}

async fn calls(State(state): State<FakeState>) -> Response {
    ok(state.actions_calls())
}

async fn counts(State(state): State<FakeState>) -> Response {
    ok(state.actions_call_counts())
}

async fn faults(State(state): State<FakeState>) -> Response {
    ok(state.actions_faults())
}

async fn patch_faults(State(state): State<FakeState>, Json(patch): Json<ActionsFaultsPatch>) -> Response {
    ok(state.update_actions_faults(&patch))
}

#[derive(Deserialize)]
struct Mode {
    mode: AssignMode,
}

async fn mode(State(state): State<FakeState>) -> Response {
    ok(json!({"mode": state.assign_mode()}))
}

async fn set_mode(State(state): State<FakeState>, Json(body): Json<Mode>) -> Response {
    state.set_assign_mode(body.mode);
    ok(json!({"mode": body.mode}))
}

#[derive(Deserialize)]
struct ForScope {
    scope: Scope,
}

/// `{svc}` and an admin token for a scope, without the REST steps.
async fn admin_connection(State(state): State<FakeState>, Json(body): Json<ForScope>) -> Response {
    ok(json!({
        "url": state.actions_service_url(&body.scope),
        "token": state.admin_token(&body.scope),
    }))
}

pub(crate) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/_fake/scalesets", get(scale_sets))
        .route("/_fake/scalesets/{id}", get(scale_set).delete(delete_scale_set))
        .route("/_fake/scalesets/{id}/messages", post(inject))
        .route("/_fake/scaleset-sessions", get(sessions))
        .route("/_fake/scaleset-sessions/{id}/evict", post(evict))
        .route("/_fake/scaleset-sessions/{id}/expire-token", post(expire_token))
        .route("/_fake/scaleset-jobs", get(jobs))
        .route("/_fake/scaleset-mode", get(mode).put(set_mode).post(set_mode))
        .route("/_fake/actions-calls", get(calls))
        .route("/_fake/actions-calls/counts", get(counts))
        .route(
            "/_fake/actions-faults",
            get(faults).patch(patch_faults).post(patch_faults),
        )
        .route("/_fake/admin-connection", post(admin_connection))
}
