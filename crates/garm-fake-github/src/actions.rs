//! The runner side: `config.sh` registration on the REST host, and the fake-private Actions
//! service under `/_fake/actions/` (token exchange, listener sessions, job long-poll, completion).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::body;
use crate::files;
use crate::model::Scope;
use crate::rest::{reply, ApiError, ApiResult, Ctx};
use crate::state::FakeState;
use crate::world::{random_token, RunnerKey, Session, TokenKind, World};

/// An error of the Actions service: `{"typeName", "message"}`.
struct ServiceError {
    status: StatusCode,
    type_name: &'static str,
    message: String,
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let body = json!({"typeName": self.type_name, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

fn service_fault(status: StatusCode, type_name: &'static str, message: &str) -> ServiceError {
    ServiceError {
        status,
        type_name,
        message: message.to_owned(),
    }
}

fn service_error(status: StatusCode, type_name: &'static str, message: &str) -> Response {
    service_fault(status, type_name, message).into_response()
}

fn remote_scope(ctx: &Ctx, kind: TokenKind) -> Result<Scope, ApiError> {
    match &ctx.caller {
        crate::auth::Caller::RemoteAuth { kind: k, scope } if *k == kind => Ok(scope.clone()),
        _ => Err(ApiError::new(401, "Bad credentials")),
    }
}

/// `POST {api}/actions/runner-registration`: a registration (or remove) token buys the
/// Actions service URL (`{svc}`, the scope's tenant) and an admin JWT.
async fn runner_registration(State(state): State<FakeState>, ctx: Ctx, bytes: Bytes) -> Response {
    match exchange(&state, &ctx, &bytes) {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

fn exchange(state: &FakeState, ctx: &Ctx, bytes: &Bytes) -> ApiResult {
    let request: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::new(400, "Problems parsing JSON"))?;
    let kind = match request["runner_event"].as_str() {
        Some("remove") => TokenKind::Remove,
        _ => TokenKind::Registration,
    };
    let scope = remote_scope(ctx, kind)?;
    let url = request["url"]
        .as_str()
        .and_then(|u| url::Url::parse(u.trim().trim_end_matches('/')).ok())
        .ok_or_else(|| ApiError::new(422, "Invalid url"))?;
    let named = Scope::from_web_path(url.path()).ok_or_else(ApiError::not_found)?;
    if !named.same_as(&scope) {
        return Err(ApiError::not_found());
    }
    state.quiet(|w, now| {
        if let Some(failure) = injected_failure(w, "runner-registration") {
            return Ok(failure);
        }
        let lifetime = chrono::Duration::from_std(w.ss.config.admin_token_lifetime).unwrap_or_default();
        let expires_at = now + lifetime;
        let token = crate::world::jwt(&w.ss.secret, &scope.path(), "admin", expires_at, now);
        w.ss.admin_tokens.insert(
            token.clone(),
            crate::world::AdminToken {
                scope: scope.clone(),
                expires_at,
            },
        );
        let url = w.service_url(&ctx.base, &scope);
        Ok(reply(
            200,
            json!({
                "url": url,
                "token": token,
                "token_schema": "OAuthAccessToken",
                "use_v2_flow": true,
            }),
        ))
    })
}

/// `POST {api}/actions/runners/register`: the runner-admin flow of `config.sh`.
async fn register(State(state): State<FakeState>, ctx: Ctx, bytes: Bytes) -> ApiResult {
    let request: Value = serde_json::from_slice(&bytes).map_err(|_| ApiError::new(400, "Problems parsing JSON"))?;
    let scope = remote_scope(&ctx, TokenKind::Registration)?;
    state.with(|w, now| {
        let name = request["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::new(422, "Invalid request.").with_errors(json!(["\"name\" wasn't supplied."])))?;
        let group_id = request["group_id"].as_u64().unwrap_or(1);
        let group = w.group(&scope, group_id).cloned().ok_or_else(ApiError::not_found)?;
        let key = request["public_key"]
            .as_str()
            .and_then(files::modulus_from_xml)
            .ok_or_else(|| ApiError::new(422, "Invalid request.").with_errors(json!(["\"public_key\" is invalid."])))?;
        if let Some(existing) = w.runner_by_name(&scope, name).cloned() {
            if !request["replace"].as_bool().unwrap_or(false) {
                return Err(ApiError::new(
                    409,
                    &format!("Already exists - A runner with the name {name} already exists."),
                ));
            }
            if existing.busy {
                return Err(ApiError::new(422, "Bad request - Runner is still running a job"));
            }
            w.remove_runner(existing.id);
        }
        let labels: Vec<(String, &str)> = request["labels"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| match item {
                        Value::String(name) => Some((name.clone(), "custom")),
                        Value::Object(_) => {
                            let name = item["name"].as_str()?.to_owned();
                            let kind = if item["type"].as_str() == Some("read-only") {
                                "read-only"
                            } else {
                                "custom"
                            };
                            Some((name, kind))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let os = request["os"].as_str().unwrap_or("linux");
        let ephemeral = request["ephemeral"].as_bool().unwrap_or(false);
        let runner = w.create_runner(&scope, name, &group, &labels, ephemeral, false, os, now);
        let client_id = uuid::Uuid::new_v4().to_string();
        w.runner_keys.insert(
            runner.id,
            RunnerKey {
                client_id: client_id.clone(),
                key,
            },
        );
        let mut value = body::runner(w, &runner);
        value["authorization"] = json!({
            "authorization_url": format!("{}/_fake/actions/oauth2/token", ctx.base),
            "server_url": format!("{}/_fake/actions/", ctx.base),
            "client_id": client_id,
        });
        Ok(reply(201, value))
    })
}

pub(crate) fn rest_routes() -> Router<FakeState> {
    Router::new()
        .route("/actions/runner-registration", post(runner_registration))
        .route("/actions/runners/register", post(register))
}

/// `POST /_fake/actions/oauth2/token`: client credentials with a JWT client assertion
/// (HS256 over the runner's key, see [`files::RsaParams`]).
async fn oauth_token(State(state): State<FakeState>, Form(form): Form<HashMap<String, String>>) -> Response {
    let invalid = || (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_client"}))).into_response();
    let Some(assertion) = form.get("client_assertion") else {
        return invalid();
    };
    let mut peek = Validation::new(Algorithm::HS256);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    peek.validate_aud = false;
    peek.required_spec_claims = HashSet::new();
    let Ok(unverified) = jsonwebtoken::decode::<Value>(assertion, &DecodingKey::from_secret(&[]), &peek) else {
        return invalid();
    };
    let Some(client_id) = unverified.claims["sub"].as_str().map(str::to_owned) else {
        return invalid();
    };
    state.quiet(|w, now| {
        let Some((&runner_id, key)) = w.runner_keys.iter().find(|(_, k)| k.client_id == client_id) else {
            return invalid();
        };
        let mut strict = Validation::new(Algorithm::HS256);
        strict.required_spec_claims = HashSet::from(["exp".to_owned()]);
        strict.validate_aud = false;
        if jsonwebtoken::decode::<Value>(assertion, &DecodingKey::from_secret(&key.key), &strict).is_err() {
            return invalid();
        }
        let token = random_token("fake_at_", 40);
        w.access_tokens
            .insert(token.clone(), (runner_id, now + chrono::Duration::hours(1)));
        Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600})).into_response()
    })
}

fn runner_of(w: &World, headers: &HeaderMap) -> Result<u64, ServiceError> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let unauthorized = || {
        service_fault(
            StatusCode::UNAUTHORIZED,
            "VssUnauthorizedException",
            "The access token is invalid or expired.",
        )
    };
    let (runner_id, _) = w.access_tokens.get(token).ok_or_else(unauthorized)?;
    if !w.runners.contains_key(runner_id) {
        return Err(service_fault(
            StatusCode::NOT_FOUND,
            "TaskAgentNotFoundException",
            "The runner registration has been deleted from the server.",
        ));
    }
    Ok(*runner_id)
}

async fn create_session(State(state): State<FakeState>, headers: HeaderMap, Json(request): Json<Value>) -> Response {
    state.with(|w, now| {
        let runner_id = match runner_of(w, &headers) {
            Ok(id) => id,
            Err(refused) => return refused.into_response(),
        };
        if w.sessions.values().any(|s| s.runner_id == runner_id) {
            return service_error(
                StatusCode::CONFLICT,
                "TaskAgentSessionConflictException",
                "A session for this runner already exists.",
            );
        }
        let agent = &request["agent"];
        if let Some(runner) = w.runners.get_mut(&runner_id) {
            runner.version = Some(
                agent["version"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(body::default_version),
            );
            if agent["osDescription"]
                .as_str()
                .is_some_and(|os| os.to_lowercase().contains("linux"))
            {
                runner.os = "linux".to_owned();
            }
        }
        let session_id = uuid::Uuid::new_v4().to_string();
        w.sessions.insert(
            session_id.clone(),
            Session {
                runner_id,
                mailbox: VecDeque::new(),
                polls: 0,
                last_seen: now,
                next_message_id: 0,
            },
        );
        w.refresh(now, None);
        w.schedule(now);
        Json(json!({"sessionId": session_id, "ownerName": request["ownerName"], "agent": agent})).into_response()
    })
}

/// Decrements a session's open-poll count however the poll ends.
struct PollGuard {
    state: FakeState,
    session_id: String,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        self.state.quiet(|w, now| {
            if let Some(session) = w.sessions.get_mut(&self.session_id) {
                session.polls = session.polls.saturating_sub(1);
                session.last_seen = now;
            }
        });
    }
}

async fn poll(
    State(state): State<FakeState>,
    Path(session_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let longest = state.config().long_poll;
    let wait = query
        .get("wait")
        .and_then(|w| w.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(longest)
        .min(longest);
    let opened = state.with(|w, now| {
        runner_of(w, &headers)?;
        let session = w.sessions.get_mut(&session_id).ok_or_else(|| {
            service_fault(
                StatusCode::NOT_FOUND,
                "TaskAgentSessionExpiredException",
                "The session has expired.",
            )
        })?;
        session.polls += 1;
        session.last_seen = now;
        w.refresh(now, None);
        w.schedule(now);
        Ok::<(), ServiceError>(())
    });
    if let Err(refused) = opened {
        return refused.into_response();
    }
    let _guard = PollGuard {
        state: state.clone(),
        session_id: session_id.clone(),
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.subscribe();
    loop {
        changes.borrow_and_update();
        let found = state.quiet(|w, _| {
            runner_of(w, &headers)?;
            let session = w.sessions.get_mut(&session_id).ok_or_else(|| {
                service_fault(
                    StatusCode::NOT_FOUND,
                    "TaskAgentSessionExpiredException",
                    "The session has expired.",
                )
            })?;
            Ok::<Option<Value>, ServiceError>(session.mailbox.pop_front())
        });
        match found {
            Err(refused) => return refused.into_response(),
            Ok(Some(message)) => return Json(message).into_response(),
            Ok(None) => {}
        }
        if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            return StatusCode::ACCEPTED.into_response();
        }
    }
}

async fn delete_session(
    State(state): State<FakeState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.with(|w, _| {
        let runner_id = match runner_of(w, &headers) {
            Ok(id) => id,
            Err(refused) => return refused.into_response(),
        };
        if w.sessions.get(&session_id).is_some_and(|s| s.runner_id == runner_id) {
            w.sessions.remove(&session_id);
        }
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn complete(
    State(state): State<FakeState>,
    Path(job_id): Path<u64>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    state.with(|w, now| {
        let runner_id = match runner_of(w, &headers) {
            Ok(id) => id,
            Err(refused) => return refused.into_response(),
        };
        let conclusion = request["conclusion"].as_str().unwrap_or("success");
        match w.finish_job(runner_id, job_id, conclusion, now) {
            Ok(job) => Json(json!({"jobId": job.id, "conclusion": job.conclusion})).into_response(),
            Err(crate::jobs::JobError::UnknownJob(_)) => service_error(
                StatusCode::NOT_FOUND,
                "TaskOrchestrationJobNotFoundException",
                "Job not found.",
            ),
            Err(crate::jobs::JobError::BadConclusion(c)) => service_error(
                StatusCode::BAD_REQUEST,
                "ArgumentException",
                &format!("Unknown conclusion {c}."),
            ),
            Err(err) => service_error(
                StatusCode::CONFLICT,
                "TaskOrchestrationJobConflictException",
                &err.to_string(),
            ),
        }
    })
}

/// `config.sh remove`: a remove token of the runner's scope deletes it.
async fn remove_runner(State(state): State<FakeState>, Path(runner_id): Path<u64>, headers: HeaderMap) -> Response {
    state.with(|w, now| remove_with_remote_auth(w, now, runner_id, &headers))
}

/// Removes a runner for a caller with a live remove token of the runner's scope.
pub(crate) fn remove_with_remote_auth(
    w: &mut World,
    now: chrono::DateTime<chrono::Utc>,
    runner_id: u64,
    headers: &HeaderMap,
) -> Response {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("RemoteAuth "))
        .unwrap_or_default();
    let Some(scope) = w
        .runner_token(token, now)
        .filter(|t| t.kind == TokenKind::Remove)
        .map(|t| t.scope.clone())
    else {
        return service_error(StatusCode::UNAUTHORIZED, "VssUnauthorizedException", "Bad credentials.");
    };
    match w.runners.get(&runner_id) {
        Some(runner) if runner.scope.same_as(&scope) => {
            if runner.busy {
                return service_error(
                    StatusCode::CONFLICT,
                    "TaskAgentBusyException",
                    "The runner is running a job.",
                );
            }
            w.remove_runner(runner_id);
            w.schedule(now);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => service_error(StatusCode::NOT_FOUND, "TaskAgentNotFoundException", "Runner not found."),
    }
}

/// Takes one failure from the Actions service's fault knobs (`ActionsFaults`) if `endpoint`
/// is targeted: the token exchange here and the scale set routes (`crate::scalesets`).
pub(crate) fn injected_failure(w: &mut World, endpoint: &str) -> Option<Response> {
    let faults = &mut w.ss.faults;
    if faults.fail_next == 0 {
        return None;
    }
    if !faults.fail_endpoints.is_empty() && !faults.fail_endpoints.iter().any(|e| e == endpoint) {
        return None;
    }
    faults.fail_next -= 1;
    let status = StatusCode::from_u16(match faults.fail_status {
        0 => 503,
        s => s,
    })
    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = (status, "").into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        let secs = match faults.fail_retry_after_secs {
            0 => 1,
            s => s,
        };
        if let Ok(value) = HeaderValue::try_from(secs.to_string()) {
            response.headers_mut().insert(http::header::RETRY_AFTER, value);
        }
    }
    Some(response)
}

pub(crate) fn service_routes() -> Router<FakeState> {
    Router::new()
        .route("/_fake/actions/oauth2/token", post(oauth_token))
        .route("/_fake/actions/sessions", post(create_session))
        .route("/_fake/actions/sessions/{session_id}", delete(delete_session))
        .route("/_fake/actions/sessions/{session_id}/messages", get(poll))
        .route("/_fake/actions/jobs/{job_id}/complete", post(complete))
        .route("/_fake/actions/runners/{runner_id}", delete(remove_runner))
}
