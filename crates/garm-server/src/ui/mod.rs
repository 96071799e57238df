//! The web UI at `/ui/` (on with `[apiserver.webui] enable`): server-rendered HTML, a
//! hand-written stylesheet and a small script, all embedded in the binary.
//!
//! Reads go to the store; every change goes through the same handler functions as the REST
//! API (`crate::api::*`), so the UI, the API and `garm-cli` see and validate the same thing.
//! The session is an HttpOnly, SameSite=Strict cookie holding the user JWT the API issues;
//! every POST carries a CSRF token (an HMAC of the token's id, or before login a
//! double-submit cookie).

mod attest;
mod auth;
mod charts;
mod dashboard;
mod deletes;
mod entities;
mod hooks;
mod html;
mod live;
mod pools;
mod resources;
mod runners;
mod scalesets;
mod templates;

use crate::error::ApiError;
use crate::state::App;
use axum::extract::{FromRequestParts, Path};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::OnceLock;

pub use dashboard::render_dashboard;
pub use html::e;
pub use pools::render_pools;

/// The session cookie's name (not the API's `garm_token`, so the JSON API is never
/// authenticated by the UI's cookie).
pub const SESSION_COOKIE: &str = "garm_ui";
/// The double-submit CSRF cookie of the login and first-run forms.
const PRE_CSRF_COOKIE: &str = "garm_ui_csrf";

const CSS: &str = include_str!("assets/style.css");
const JS: &str = include_str!("assets/app.js");

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(dashboard::page_handler))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/events", get(live::events))
        .merge(auth::routes())
        .merge(entities::routes())
        .merge(pools::routes())
        .merge(runners::routes())
        .merge(resources::routes())
        .merge(deletes::routes())
        .merge(scalesets::routes())
        .merge(templates::routes())
        .merge(hooks::routes())
}

/// A submitted form's fields (an unchecked checkbox is absent).
pub type FormData = HashMap<String, String>;

/// Whether a form makes a new object or edits a stored one (the two share their controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormMode {
    Create,
    Edit,
}

pub fn field<'a>(form: &'a FormData, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or("")
}

pub fn checked(form: &FormData, name: &str) -> bool {
    matches!(field(form, name), "true" | "on")
}

fn asset_hash(body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    hex::encode(&digest.as_ref()[..6])
}

/// The stylesheet's and script's URLs, with a content hash so browsers may cache them forever.
fn asset_names() -> &'static (String, String) {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    NAMES.get_or_init(|| {
        (
            format!("style.{}.css", asset_hash(CSS)),
            format!("app.{}.js", asset_hash(JS)),
        )
    })
}

async fn asset(Path(file): Path<String>) -> Response {
    let (css, js) = asset_names();
    let (body, ty) = if file == *css {
        (CSS, "text/css; charset=utf-8")
    } else if file == *js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// A logged-in administrator.
pub struct Session {
    pub user: String,
    /// The token every POST of this session must carry.
    pub csrf: String,
    /// The session's JWT, for the few API handlers that read the caller from the request
    /// headers (template creation records its owner). Never rendered.
    pub token: String,
}

impl Session {
    /// The headers an API request of this session would carry (`Authorization: Bearer`).
    pub fn api_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = format!("Bearer {}", self.token).parse() {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }
}

fn csrf_for(app: &App, token_id: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app.config.jwt_secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, format!("garm-ui-csrf:{token_id}").as_bytes()).as_ref())
}

impl FromRequestParts<App> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let to_login = || {
            let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ui");
            let next = if parts.method == axum::http::Method::GET && !path.starts_with("/ui/events") {
                format!("?next={}", html::url_part(path))
            } else {
                String::new()
            };
            Redirect::to(&format!("/ui/login{next}")).into_response()
        };
        match app.store.has_admin().await {
            Ok(false) => return Err(Redirect::to("/ui/first-run").into_response()),
            Ok(true) => {}
            Err(err) => return Err(error_page(&ApiError::from(err))),
        }
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        match crate::auth::admin_claims_of(app, &token).await {
            Ok(claims) => {
                let user = app
                    .store
                    .user_by_id(&claims.user)
                    .await
                    .ok()
                    .flatten()
                    .map(|u| u.username)
                    .unwrap_or_default();
                Ok(Session {
                    user,
                    csrf: csrf_for(app, &claims.token_id),
                    token,
                })
            }
            Err(_) => Err(to_login()),
        }
    }
}

impl Session {
    /// Refuses a form whose CSRF token is not this session's.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the page handlers return as it is"
    )]
    pub fn check(&self, form: &FormData) -> Result<(), Response> {
        let sent = field(form, "_csrf");
        if !sent.is_empty() && ct_eq(sent, &self.csrf) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

/// Compares two tokens without stopping at the first difference.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden() -> Response {
    let body = bare_page(
        "Forbidden",
        "<h1>Forbidden</h1><p>The form's security token is missing or stale. Go back, reload the page and try again.</p>",
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

/// Whether the script asked for the page's `<main>` only (live refresh).
pub struct Fragment(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Fragment {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Fragment(parts.headers.get("x-garm-fragment").is_some()))
    }
}

const NAV: &[(&str, &str)] = &[
    ("/ui/", "Dashboard"),
    ("/ui/jobs", "Jobs"),
    ("/ui/instances", "Instances"),
    ("/ui/pools", "Pools"),
    ("/ui/scalesets", "Scale sets"),
    ("/ui/repositories", "Repositories"),
    ("/ui/organizations", "Organizations"),
    ("/ui/enterprises", "Enterprises"),
    ("/ui/endpoints", "Endpoints"),
    ("/ui/credentials", "Credentials"),
    ("/ui/templates", "Templates"),
    ("/ui/proxies", "Proxies"),
    ("/ui/controller", "Controller"),
];

fn head(out: &mut String, title: &str) {
    let (css, js) = asset_names();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · garm</title><link rel=\"stylesheet\" href=\"/ui/assets/{css}\"><script src=\"/ui/assets/{js}\" defer></script></head>",
        e(title)
    );
}

/// A page without navigation (login, first run, errors).
pub fn bare_page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1024);
    head(&mut out, title);
    let _ = write!(
        out,
        "<body class=\"bare\"><main id=\"main\">{body}</main></body></html>"
    );
    out
}

/// Whether a page refreshes its `<main>` by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Every 2 s (lists and details of things that change on their own).
    Live,
    /// Never (forms, and lists filtered by a search).
    Static,
}

impl Refresh {
    /// `Live` when `live` holds, else `Static`.
    pub fn live_if(live: bool) -> Self {
        if live {
            Self::Live
        } else {
            Self::Static
        }
    }
}

/// A page with the navigation.
pub fn page(s: &Session, frag: &Fragment, title: &str, current: &str, refresh: Refresh, body: &str) -> Response {
    if frag.0 {
        return Html(body.to_string()).into_response();
    }
    let mut out = String::with_capacity(body.len() + 4096);
    head(&mut out, title);
    out.push_str("<body><a class=\"skip\" href=\"#main\">Skip to content</a><header><span class=\"brand\">garm</span><nav aria-label=\"main\"><ul>");
    for (href, label) in NAV {
        let here = if *href == current { " aria-current=\"page\"" } else { "" };
        let _ = write!(out, "<li><a href=\"{href}\"{here}>{label}</a></li>");
    }
    let _ = write!(out, "</ul></nav><div class=\"who\">{} ", e(&s.user));
    html::button(&mut out, "/ui/logout", &s.csrf, "Log out", "link");
    out.push_str("</div></header>");
    let live_attr = match refresh {
        Refresh::Live => " data-live=\"2000\"",
        Refresh::Static => "",
    };
    let _ = write!(
        out,
        "<main id=\"main\" tabindex=\"-1\"{live_attr}>{body}</main><p id=\"live-status\" role=\"status\" aria-live=\"polite\"></p></body></html>"
    );
    Html(out).into_response()
}

/// An error as a page: 5xx details stay in the log.
pub fn error_page(err: &ApiError) -> Response {
    let status = err.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %crate::error::chain(err), "web UI request failed");
        "internal error; see the server log".to_string()
    } else {
        message(err)
    };
    let body = bare_page(
        "Error",
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/ui/\">Back to the dashboard</a></p>",
            status.as_u16(),
            e(&message)
        ),
    );
    (status, Html(body)).into_response()
}

/// The message an API error shows in a form.
pub fn message(err: &ApiError) -> String {
    if err.status().is_server_error() {
        tracing::error!(error = %crate::error::chain(err), "web UI action failed");
        return "internal error; see the server log".into();
    }
    let body = err.body();
    if body.details.is_empty() {
        body.error
    } else {
        body.details
    }
}

pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// Renders an error page from a handler's `ApiError`.
pub type UiResult = Result<Response, Response>;

pub fn fail(err: ApiError) -> Response {
    error_page(&err)
}

/// A store error rendered as the API would answer it.
pub fn store_fail(err: garm_store::StoreError) -> Response {
    fail(err.into())
}

/// Options of a select whose labels are its values.
pub fn opts(values: &[&str]) -> Vec<(String, String)> {
    values.iter().map(|v| (v.to_string(), v.to_string())).collect()
}

/// Options of a select naming each entity by its kind and name.
pub fn entity_options(entities: &[garm_store::EntityRecord]) -> Vec<(String, String)> {
    entities
        .iter()
        .map(|x| (x.id.to_string(), format!("{} {}", x.kind.as_str(), x.display_name())))
        .collect()
}

/// A whole-number form field as JSON; empty is 0.
pub fn number(f: &FormData, name: &str) -> Result<serde_json::Value, ApiError> {
    let text = field(f, name).trim();
    if text.is_empty() {
        return Ok(serde_json::json!(0));
    }
    text.parse::<u32>()
        .map(|n| serde_json::json!(n))
        .map_err(|_| ApiError::bad(format!("{name}: must be a whole number")))
}

/// The plural path segment of an entity kind.
pub fn kind_path(kind: garm_store::EntityKind) -> &'static str {
    match kind {
        garm_store::EntityKind::Repository => "repositories",
        garm_store::EntityKind::Organization => "organizations",
        garm_store::EntityKind::Enterprise => "enterprises",
    }
}

/// A page number from `?page=`.
pub fn page_no(q: &HashMap<String, String>) -> usize {
    q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "garm_ui_csrf=abc; garm_ui=tok".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, PRE_CSRF_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "garm"), None);
    }

    #[test]
    fn asset_names_carry_a_content_hash() {
        let (css, js) = asset_names();
        assert!(css.starts_with("style.") && css.ends_with(".css") && css.len() == "style..css".len() + 12);
        assert!(js.starts_with("app.") && js.ends_with(".js"));
        assert_ne!(asset_hash("a"), asset_hash("b"));
    }
}
