//! The GitHub REST API subset: routing, the request gate (switches, auth, rate limits), errors, paging.

mod apps;
mod hooks;
mod misc;
mod runners;

pub(crate) use runners::jit_blob;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::Value;

pub(crate) use crate::error::{ApiError, ApiResult};

use crate::auth::{self, Caller};
use crate::state::FakeState;
use crate::world::Bucket;

/// A JSON response with a status.
pub(crate) fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, Json(body)).into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Where a request came from: the base URL it used, its path and its query.
pub(crate) struct Ctx {
    pub base: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub caller: Caller,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let query = uri
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let caller = parts.extensions.get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
        Ok(Ctx {
            base: format!("http://{host}"),
            path: uri.path().to_owned(),
            query,
            caller,
        })
    }
}

impl Ctx {
    /// Slices `items` by `per_page` (default 30, at most 100) and `page`, with a `Link` header.
    pub fn paginate<T: Clone>(&self, items: &[T]) -> (Vec<T>, Option<String>) {
        let per_page = self
            .query
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(30)
            .min(100);
        let page = self
            .query
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        let pages = items.len().div_ceil(per_page).max(1);
        let slice = items
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .cloned()
            .collect();
        if pages == 1 {
            return (slice, None);
        }
        let mut rels = Vec::new();
        if page > 1 {
            rels.push(("prev", page.min(pages + 1) - 1));
        }
        if page < pages {
            rels.push(("next", page + 1));
            rels.push(("last", pages));
        }
        if page > 1 {
            rels.push(("first", 1));
        }
        let link = rels
            .iter()
            .map(|(rel, n)| format!("<{}>; rel=\"{rel}\"", self.page_url(per_page, *n)))
            .collect::<Vec<_>>()
            .join(", ");
        (slice, Some(link))
    }

    fn page_url(&self, per_page: usize, page: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut keys: Vec<&String> = self.query.keys().collect();
        keys.sort();
        for key in keys {
            if key != "page" && key != "per_page" {
                query.append_pair(key, &self.query[key]);
            }
        }
        query.append_pair("per_page", &per_page.to_string());
        query.append_pair("page", &page.to_string());
        format!("{}{}?{}", self.base, self.path, query.finish())
    }
}

/// Adds a `Link` header when there is one.
pub(crate) fn with_link(mut response: Response, link: Option<String>) -> Response {
    if let Some(value) = link.and_then(|l| HeaderValue::try_from(l).ok()) {
        response.headers_mut().insert(http::header::LINK, value);
    }
    response
}

/// What the gate decided before the handler ran.
struct Admitted {
    caller: Caller,
    rate: Option<Bucket>,
}

/// Runs before every REST handler: test switches, User-Agent, authentication, rate limits;
/// and adds GitHub's response headers afterwards.
async fn gate(State(state): State<FakeState>, mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let is_rate_limit = request.uri().path().ends_with("/rate_limit");
    let limit = state.config().rate_limit;
    let window = state.config().rate_limit_window.as_secs() as i64;
    let headers = request.headers().clone();
    let method = request.method().to_string();
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.path().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let admitted = state.quiet(|w, now| -> Result<Admitted, ApiError> {
        if w.switches.fail_next > 0 {
            w.switches.fail_next -= 1;
            let status = match w.switches.fail_status {
                0 => 503,
                s => s,
            };
            return Err(ApiError::new(status, "Server Error"));
        }
        if !headers.contains_key(http::header::USER_AGENT) {
            return Err(ApiError::new(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
            ));
        }
        let caller = auth::identify(w, &headers, now)?;
        if w.switches.retry_after_next > 0 {
            w.switches.retry_after_next -= 1;
            let secs = match w.switches.retry_after_secs {
                0 => 60,
                s => s,
            };
            return Err(ApiError::new(
                limited_status(w.switches.rate_limit_status),
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            )
            .with_header("retry-after", &secs.to_string()));
        }
        let Some(key) = caller.bucket() else {
            return Ok(Admitted { caller, rate: None });
        };
        let bucket_limit = if matches!(caller, Caller::Anonymous) { 60 } else { limit };
        let now_secs = now.timestamp();
        let bucket = w.buckets.entry(key).or_insert(Bucket {
            limit: bucket_limit,
            used: 0,
            reset: now_secs + window,
        });
        if now_secs >= bucket.reset {
            bucket.used = 0;
            bucket.reset = now_secs + window;
        }
        let forced = w.switches.rate_limit_exhausted_until.filter(|until| *until > now_secs);
        let mut shown = bucket.clone();
        if let Some(until) = forced {
            shown.used = shown.limit;
            shown.reset = until;
        }
        if shown.used >= shown.limit && !is_rate_limit {
            let mut refused = ApiError::new(
                limited_status(w.switches.rate_limit_status),
                "API rate limit exceeded. Check out the documentation for more information.",
            );
            for (name, value) in rate_header_values(&shown) {
                refused = refused.with_header(name, &value);
            }
            return Err(refused);
        }
        if !is_rate_limit {
            bucket.used += 1;
            shown.used += 1;
        }
        Ok(Admitted {
            caller,
            rate: Some(shown),
        })
    });
    let mut response = match admitted {
        Ok(admitted) => {
            let scopes = match &admitted.caller {
                Caller::Pat { scopes, .. } => Some(scopes.join(", ")),
                _ => None,
            };
            request.extensions_mut().insert(admitted.caller);
            let mut response = next.run(request).await;
            if let Some(bucket) = &admitted.rate {
                response = rate_headers(response, bucket);
            }
            if let Some(value) = scopes.and_then(|s| HeaderValue::try_from(s).ok()) {
                response.headers_mut().insert("x-oauth-scopes", value);
            }
            response
        }
        Err(refused) => refused.into_response(),
    };
    if let Ok(value) = HeaderValue::try_from(request_id) {
        response.headers_mut().insert("x-github-request-id", value);
    }
    let status = response.status().as_u16();
    state.quiet(|w, now| {
        // The token exchange is also an Actions call: log it there, refused or not.
        if path.ends_with("/actions/runner-registration") {
            w.ss.log(crate::model::scalesets::ActionsCall {
                at: now,
                method: method.clone(),
                path: path.clone(),
                endpoint: "runner-registration".to_owned(),
                auth_scheme: auth::auth_scheme(&headers),
                status,
            });
        }
        if w.requests.len() >= crate::world::MAX_REQUESTS_KEPT {
            w.requests.remove(0);
        }
        w.requests.push(crate::model::RequestRecord {
            at: now,
            method,
            path,
            status,
            credential_tail: credential_tail(&headers),
        });
    });
    response.headers_mut().insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    response
}

/// 403 unless the switch asks for 429.
fn limited_status(configured: u16) -> u16 {
    if configured == 429 {
        429
    } else {
        403
    }
}

/// The last six characters of the `Authorization` credential.
fn credential_tail(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let credential = value.rsplit(' ').next()?;
    let start = credential.char_indices().rev().nth(5).map(|(i, _)| i).unwrap_or(0);
    Some(credential[start..].to_owned())
}

fn rate_header_values(bucket: &Bucket) -> [(&'static str, String); 5] {
    [
        ("x-ratelimit-limit", bucket.limit.to_string()),
        (
            "x-ratelimit-remaining",
            bucket.limit.saturating_sub(bucket.used).to_string(),
        ),
        ("x-ratelimit-used", bucket.used.to_string()),
        ("x-ratelimit-reset", bucket.reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ]
}

fn rate_headers(mut response: Response, bucket: &Bucket) -> Response {
    let headers: &mut HeaderMap = response.headers_mut();
    for (name, value) in rate_header_values(bucket) {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The REST routes, for mounting at `/` and at `/api/v3`, with `more` (routes of other
/// modules served on the REST host) behind the same gate.
pub(crate) fn router(state: FakeState, more: Router<FakeState>) -> Router {
    Router::new()
        .merge(runners::routes())
        .merge(hooks::routes())
        .merge(apps::routes())
        .merge(misc::routes())
        .merge(more)
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}
