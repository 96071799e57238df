//! The fake-private control API under `/_fake/`: seed state, enqueue jobs, flip switches, inspect.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::archive_name;
use crate::config::{AppSpec, PatSpec};
use crate::model::{Scope, Switches, SwitchesPatch};
use crate::state::FakeState;

fn bad_request(message: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.to_string()}))).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

async fn snapshot(State(state): State<FakeState>) -> Response {
    ok(json!({
        "url": state.quiet(|w, _| w.urls.web.clone()),
        "orgs": state.orgs(),
        "repos": state.repos(),
        "runners": state.runners(),
        "jobs": state.jobs(),
        "hooks": state.hooks(),
        "switches": state.switches(),
        "scale_sets": state.scale_sets(),
        "scale_set_sessions": state.scale_set_sessions(),
        "scale_set_jobs": state.scale_set_jobs(),
    }))
}

#[derive(Deserialize)]
struct NewOrg {
    login: String,
    enterprise: Option<String>,
}

async fn add_org(State(state): State<FakeState>, Json(body): Json<NewOrg>) -> Response {
    match body.enterprise {
        Some(slug) => ok(state.add_org_in_enterprise(&body.login, &slug)),
        None => ok(state.add_org(&body.login)),
    }
}

#[derive(Deserialize)]
struct NewRepo {
    owner: String,
    name: String,
    #[serde(default)]
    private: bool,
}

async fn add_repo(State(state): State<FakeState>, Json(body): Json<NewRepo>) -> Response {
    if body.private {
        ok(state.add_private_repo(&body.owner, &body.name))
    } else {
        ok(state.add_repo(&body.owner, &body.name))
    }
}

#[derive(Deserialize)]
struct NewEnterprise {
    slug: String,
}

async fn add_enterprise(State(state): State<FakeState>, Json(body): Json<NewEnterprise>) -> Response {
    ok(state.add_enterprise(&body.slug))
}

#[derive(Deserialize)]
struct NewGroup {
    scope: Scope,
    name: String,
    #[serde(default = "visibility_all")]
    visibility: String,
}

fn visibility_all() -> String {
    "all".to_owned()
}

async fn add_group(State(state): State<FakeState>, Json(body): Json<NewGroup>) -> Response {
    ok(state.add_runner_group(&body.scope, &body.name, &body.visibility))
}

async fn add_pat(State(state): State<FakeState>, Json(body): Json<PatSpec>) -> Response {
    state.add_pat(body.clone());
    ok(body)
}

async fn add_app(State(state): State<FakeState>, Json(body): Json<AppSpec>) -> Response {
    if jsonwebtoken::DecodingKey::from_rsa_pem(body.public_key_pem.as_bytes()).is_err() {
        return bad_request("public_key_pem is not an RSA public key in PEM");
    }
    state.add_app(body.clone());
    ok(json!({"id": body.id}))
}

#[derive(Deserialize)]
struct NewInstallation {
    app_id: u64,
    account: String,
    repositories: Option<Vec<String>>,
}

async fn add_installation(State(state): State<FakeState>, Json(body): Json<NewInstallation>) -> Response {
    ok(state.add_installation(body.app_id, &body.account, body.repositories))
}

#[derive(Deserialize)]
struct NewToken {
    scope: Scope,
}

async fn registration_token(State(state): State<FakeState>, Json(body): Json<NewToken>) -> Response {
    ok(json!({"token": state.registration_token(&body.scope)}))
}

#[derive(Deserialize)]
struct NewJob {
    owner: String,
    repo: String,
    labels: Vec<String>,
    #[serde(default)]
    run_for_ms: u64,
    #[serde(default = "success")]
    conclusion: String,
}

fn success() -> String {
    "success".to_owned()
}

async fn enqueue_job(State(state): State<FakeState>, Json(body): Json<NewJob>) -> Response {
    let labels: Vec<&str> = body.labels.iter().map(String::as_str).collect();
    let run_for = std::time::Duration::from_millis(body.run_for_ms);
    match state.enqueue_job(&body.owner, &body.repo, &labels, run_for, &body.conclusion) {
        Ok(job) => (StatusCode::CREATED, Json(job)).into_response(),
        Err(err) => bad_request(err),
    }
}

async fn jobs(State(state): State<FakeState>) -> Response {
    ok(state.jobs())
}

async fn job(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    state.job(id).map(ok).unwrap_or_else(not_found)
}

async fn cancel_job(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    match state.cancel_job(id) {
        Ok(job) => ok(job),
        Err(err) => bad_request(err),
    }
}

async fn runners(State(state): State<FakeState>) -> Response {
    ok(state.runners())
}

async fn runner(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    state.runner(id).map(ok).unwrap_or_else(not_found)
}

async fn remove_runner(State(state): State<FakeState>, Path(id): Path<u64>) -> Response {
    match state.remove_runner(id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(),
    }
}

async fn hooks(State(state): State<FakeState>) -> Response {
    ok(state.hooks())
}

#[derive(Deserialize)]
struct NewHook {
    scope: Scope,
    url: String,
    secret: Option<String>,
    #[serde(default = "json_type")]
    content_type: String,
}

fn json_type() -> String {
    "json".to_owned()
}

async fn add_hook(State(state): State<FakeState>, Json(body): Json<NewHook>) -> Response {
    ok(state.add_hook(&body.scope, &body.url, body.secret.as_deref(), &body.content_type))
}

async fn deliveries(State(state): State<FakeState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let list: Vec<Value> = state
        .deliveries()
        .into_iter()
        .filter(|d| query.get("event").is_none_or(|e| &d.event == e))
        .filter(|d| query.get("action").is_none_or(|a| d.action.as_ref() == Some(a)))
        .filter(|d| query.get("hook_id").is_none_or(|h| d.hook_id.to_string() == *h))
        .map(|d| serde_json::to_value(d).unwrap_or_default())
        .collect();
    ok(list)
}

async fn requests(State(state): State<FakeState>) -> Response {
    ok(state.requests())
}

async fn revoke_pat(State(state): State<FakeState>, Path(token): Path<String>) -> Response {
    if state.revoke_pat(&token) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

async fn switches(State(state): State<FakeState>) -> Response {
    ok(state.switches())
}

async fn patch_switches(State(state): State<FakeState>, Json(patch): Json<SwitchesPatch>) -> Response {
    ok(state.update_switches(&patch))
}

async fn put_switches(State(state): State<FakeState>, Json(switches): Json<Switches>) -> Response {
    state.set_switches(switches.clone());
    ok(switches)
}

async fn runner_archive(State(state): State<FakeState>, Path(file): Path<String>) -> Response {
    if file != archive_name("x64") && file != archive_name("arm64") {
        return not_found();
    }
    ([(header::CONTENT_TYPE, "application/gzip")], state.archive().to_vec()).into_response()
}

pub(crate) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/_fake/state", get(snapshot))
        .route("/_fake/orgs", post(add_org))
        .route("/_fake/repos", post(add_repo))
        .route("/_fake/enterprises", post(add_enterprise))
        .route("/_fake/runner-groups", post(add_group))
        .route("/_fake/pats", post(add_pat))
        .route("/_fake/pats/{token}", axum::routing::delete(revoke_pat))
        .route("/_fake/requests", get(requests))
        .route("/_fake/apps", post(add_app))
        .route("/_fake/installations", post(add_installation))
        .route("/_fake/registration-tokens", post(registration_token))
        .route("/_fake/jobs", get(jobs).post(enqueue_job))
        .route("/_fake/jobs/{id}", get(job))
        .route("/_fake/jobs/{id}/cancel", post(cancel_job))
        .route("/_fake/runners", get(runners))
        .route("/_fake/runners/{id}", get(runner).delete(remove_runner))
        .route("/_fake/hooks", get(hooks).post(add_hook))
        .route("/_fake/deliveries", get(deliveries))
        .route(
            "/_fake/switches",
            get(switches)
                .patch(patch_switches)
                .post(patch_switches)
                .put(put_switches),
        )
        .route("/_fake/runner-archive/{file}", get(runner_archive))
}
