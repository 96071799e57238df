//! The HTTP side of `{svc}` (`/_fake/actions/tenant/{n}/…`) and of the message queue
//! (`/_fake/actions/queue/{key}/message`): path normalisation, `api-version`, tokens, fault
//! injection, `ActivityId`, the optional BOM and the call log.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::ActionsCall;
use super::wire::{exception, unauthorized};
use super::{handlers, queue};
use crate::actions::{injected_failure, remove_with_remote_auth};
use crate::auth::auth_scheme;
use crate::model::Scope;
use crate::state::FakeState;
use crate::world::World;

/// One request to `{svc}`, parsed.
pub(crate) struct Call {
    /// `http://host` as the client addressed the fake.
    pub base: String,
    /// `{svc}`, ending in `/`.
    pub svc: String,
    pub scope: Scope,
    /// Query parameters, form-decoded, keys lowercased.
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    /// The JSON body; `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return Some(Value::Null);
        }
        let text = self.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&self.body);
        serde_json::from_slice(text).ok()
    }
}

/// The operations of `{svc}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Groups,
    ListSets,
    CreateSet,
    GetSet(u64),
    UpdateSet(u64),
    DeleteSet(u64),
    CreateSession(u64),
    RefreshSession(u64, String),
    DeleteSession(u64, String),
    Acquire(u64),
    Acquirable(u64),
    Jit(u64),
    Agents,
    GetAgent(u64),
    DeleteAgent(u64),
    /// `config.sh remove` (`DELETE {svc}runners/{id}`, `RemoteAuth`).
    RemoveRunner(u64),
    Unknown,
}

impl Route {
    pub fn parse(method: &Method, rest: &[&str]) -> Route {
        let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
        let parts: Vec<&str> = lower.iter().map(String::as_str).collect();
        let num = |s: &str| s.parse::<u64>().ok();
        let m = method.clone();
        match (m, parts.as_slice()) {
            (Method::GET, ["_apis", "runtime", "runnergroups"]) => Route::Groups,
            (Method::GET, ["_apis", "runtime", "runnerscalesets"]) => Route::ListSets,
            (Method::POST, ["_apis", "runtime", "runnerscalesets"]) => Route::CreateSet,
            (m, ["_apis", "runtime", "runnerscalesets", sid, tail @ ..]) => {
                let Some(sid) = num(sid) else {
                    return Route::Unknown;
                };
                match (m, tail) {
                    (Method::GET, []) => Route::GetSet(sid),
                    (Method::PATCH, []) => Route::UpdateSet(sid),
                    (Method::DELETE, []) => Route::DeleteSet(sid),
                    (Method::POST, ["sessions"]) => Route::CreateSession(sid),
                    // Session ids are UUIDs: keep the case as sent.
                    (Method::PATCH, ["sessions", _]) => Route::RefreshSession(sid, rest[5].to_owned()),
                    (Method::DELETE, ["sessions", _]) => Route::DeleteSession(sid, rest[5].to_owned()),
                    (Method::POST, ["acquirejobs"]) => Route::Acquire(sid),
                    (Method::GET, ["acquirablejobs"]) => Route::Acquirable(sid),
                    (Method::POST, ["generatejitconfig"]) => Route::Jit(sid),
                    _ => Route::Unknown,
                }
            }
            (Method::GET, ["_apis", "distributedtask", "pools", _, "agents"]) => Route::Agents,
            (Method::GET, ["_apis", "distributedtask", "pools", _, "agents", rid]) => {
                num(rid).map(Route::GetAgent).unwrap_or(Route::Unknown)
            }
            (Method::DELETE, ["_apis", "distributedtask", "pools", _, "agents", rid]) => {
                num(rid).map(Route::DeleteAgent).unwrap_or(Route::Unknown)
            }
            (Method::DELETE, ["runners", rid]) => num(rid).map(Route::RemoveRunner).unwrap_or(Route::Unknown),
            _ => Route::Unknown,
        }
    }

    /// The endpoint name used in the call log, counts and fault knobs.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Route::Groups => "runnergroups.get",
            Route::ListSets => "scalesets.list",
            Route::CreateSet => "scalesets.create",
            Route::GetSet(_) => "scaleset.get",
            Route::UpdateSet(_) => "scaleset.update",
            Route::DeleteSet(_) => "scaleset.delete",
            Route::CreateSession(_) => "session.create",
            Route::RefreshSession(..) => "session.refresh",
            Route::DeleteSession(..) => "session.delete",
            Route::Acquire(_) => "acquirejobs",
            Route::Acquirable(_) => "acquirablejobs",
            Route::Jit(_) => "generatejitconfig",
            Route::Agents => "agents.list",
            Route::GetAgent(_) => "agent.get",
            Route::DeleteAgent(_) => "agent.delete",
            Route::RemoveRunner(_) => "runner.remove",
            Route::Unknown => "unknown",
        }
    }
}

/// The bearer credential, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn base_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

pub(crate) fn query_of(uri: &http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The live admin token of the request, checked against the tenant's scope.
fn admit(w: &World, call: &Call, now: DateTime<Utc>) -> bool {
    bearer(&call.headers)
        .and_then(|token| w.ss.admin_tokens.get(token))
        .is_some_and(|t| t.expires_at > now && t.scope.same_as(&call.scope))
}

/// Adds `ActivityId`, the BOM if asked, and logs the call.
pub(crate) async fn finish(
    state: &FakeState,
    response: Response,
    method: &Method,
    path: String,
    endpoint: &str,
    scheme: Option<String>,
) -> Response {
    let bom = state.quiet(|w, _| w.ss.faults.bom);
    let mut response = if bom {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let bytes = if bytes.is_empty() {
            bytes
        } else {
            let mut with = b"\xEF\xBB\xBF".to_vec();
            with.extend_from_slice(&bytes);
            Bytes::from(with)
        };
        let mut parts = parts;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        response
    };
    if let Ok(value) = HeaderValue::try_from(uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("activityid", value);
    }
    let status = response.status().as_u16();
    state.quiet(|w, now| {
        w.ss.log(ActionsCall {
            at: now,
            method: method.to_string(),
            path,
            endpoint: endpoint.to_owned(),
            auth_scheme: scheme,
            status,
        });
    });
    response
}

async fn service(
    State(state): State<FakeState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // ["_fake", "actions", "tenant", n, ...]
    let tenant = segments.get(3).and_then(|n| n.parse::<usize>().ok());
    let rest = segments.get(4..).unwrap_or_default();
    let route = Route::parse(&method, rest);
    let endpoint = route.endpoint();
    let scheme = auth_scheme(&headers);
    let base = base_of(&headers);
    let query = query_of(&uri);
    let response = state.with(|w, now| {
        if let Some(failure) = injected_failure(w, endpoint) {
            return failure;
        }
        let Some(scope) = tenant.and_then(|n| w.ss.tenant(n)).cloned() else {
            return exception(StatusCode::NOT_FOUND, "ResourceNotFoundException", "Unknown tenant.");
        };
        if let Route::RemoveRunner(id) = route {
            return remove_with_remote_auth(w, now, id, &headers);
        }
        if route == Route::Unknown {
            return exception(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("No resource at {path}."),
            );
        }
        if query.get("api-version").map(String::as_str) != Some("6.0-preview") {
            return exception(
                StatusCode::BAD_REQUEST,
                "VssVersionNotSpecifiedException",
                "The request must carry api-version=6.0-preview.",
            );
        }
        let svc = w.service_url(&base, &scope);
        let call = Call {
            base: base.clone(),
            svc,
            scope,
            query,
            headers: headers.clone(),
            body,
        };
        if let Route::Acquire(sid) = route {
            return queue::acquire(w, now, &call, sid);
        }
        if !admit(w, &call, now) {
            return unauthorized();
        }
        handlers::dispatch(w, now, &call, route)
    });
    finish(&state, response, &method, path, endpoint, scheme).await
}

pub(crate) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/_fake/actions/tenant/{*rest}", any(service))
        .route("/_fake/actions/queue/{*rest}", any(queue::queue))
}
