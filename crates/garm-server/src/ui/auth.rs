//! Login, logout and the first-run form: the same handlers as `/api/v1/auth/login` and
//! `/api/v1/first-run`, with the JWT kept in an HttpOnly, SameSite=Strict cookie.

use super::html::{e, form, Field, Kind};
use super::{bare_page, cookie, field, see_other, FormData, Session, PRE_CSRF_COOKIE, SESSION_COOKIE};
use crate::api::controller::{self, ClientAddr};
use crate::state::App;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use garm_api_types as api;
use std::collections::HashMap;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/first-run", get(first_run_page).post(first_run))
}

fn secure(app: &App) -> &'static str {
    if app.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    }
}

/// The pre-login CSRF token: the cookie's if the browser has one, else a new one to set.
fn pre_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_CSRF_COOKIE).filter(|c| c.len() == 32) {
        Some(c) => (c, false),
        None => (
            crate::tokens::random_token_id() + &crate::tokens::random_token_id(),
            true,
        ),
    }
}

fn pre_csrf_ok(headers: &HeaderMap, form: &FormData) -> bool {
    let sent = field(form, "_csrf");
    cookie(headers, PRE_CSRF_COOKIE).is_some_and(|c| !sent.is_empty() && super::ct_eq(&c, sent))
}

fn with_pre_csrf(app: &App, status: StatusCode, token: &str, set: bool, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    if set {
        let c = format!(
            "{PRE_CSRF_COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict{}",
            secure(app)
        );
        if let Ok(v) = c.parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Only local paths are followed after login.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/ui/".into(),
    }
}

fn login_body(csrf: &str, next: &str, username: &str, error: Option<&str>, note: Option<&str>) -> String {
    let mut out = String::from("<div class=\"card narrow\"><h1>Log in to garm</h1>");
    if let Some(n) = note {
        out.push_str(&format!("<p class=\"note\" role=\"status\">{}</p>", e(n)));
    }
    let action = format!("/ui/login?next={}", super::html::url_part(next));
    form(
        &mut out,
        &action,
        csrf,
        &[
            Field::new("username", "Username", Kind::Text)
                .value(username)
                .required(),
            Field::new("password", "Password", Kind::Password).required(),
        ],
        "Log in",
        error,
    );
    out.push_str("</div>");
    out
}

async fn login_page(State(app): State<App>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Ok(false) = app.store.has_admin().await {
        return see_other("/ui/first-run");
    }
    let (token, set) = pre_csrf(&headers);
    let note = q
        .contains_key("created")
        .then_some("The admin user was created. Log in with it.");
    let body = login_body(&token, &safe_next(q.get("next")), "", None, note);
    with_pre_csrf(&app, StatusCode::OK, &token, set, bare_page("Log in", &body))
}

async fn login(
    State(app): State<App>,
    addr: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    Form(f): Form<FormData>,
) -> Response {
    let (token, set) = pre_csrf(&headers);
    let next = safe_next(q.get("next"));
    let username = field(&f, "username").to_string();
    if !pre_csrf_ok(&headers, &f) {
        let body = login_body(&token, &next, &username, Some("The form expired; try again."), None);
        return with_pre_csrf(&app, StatusCode::FORBIDDEN, &token, set, bare_page("Log in", &body));
    }
    let params = api::PasswordLoginParams {
        username: username.clone(),
        password: field(&f, "password").to_string(),
    };
    match controller::login(State(app.clone()), addr, Ok(Json(params))).await {
        Ok(Json(jwt)) => {
            tracing::info!(username = %username, "web UI login");
            let mut resp = see_other(&next);
            let c = format!(
                "{SESSION_COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
                jwt.token,
                app.config.jwt_ttl.as_secs(),
                secure(&app)
            );
            if let Ok(v) = c.parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(err) => {
            let status = err.status();
            let msg = match err {
                crate::error::ApiError::TooManyRequests { retry_after } => {
                    format!("Too many failed attempts; try again in {retry_after} s.")
                }
                crate::error::ApiError::Unauthorized | crate::error::ApiError::AuthFailed => {
                    "Wrong username or password.".to_string()
                }
                other => super::message(&other),
            };
            let body = login_body(&token, &next, &username, Some(&msg), None);
            with_pre_csrf(&app, status, &token, set, bare_page("Log in", &body))
        }
    }
}

async fn logout(s: Session, Form(f): Form<FormData>) -> Response {
    if let Err(resp) = s.check(&f) {
        return resp;
    }
    let mut resp = see_other("/ui/login");
    if let Ok(v) = format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0").parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `http(s)://host` as the browser reached garm, for the URL defaults.
fn origin(app: &App, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if app.config.tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn first_run_body(csrf: &str, values: &FormData, base: &str, error: Option<&str>) -> String {
    let v = |k: &str, d: String| values.get(k).cloned().unwrap_or(d);
    let mut out = String::from(
        "<div class=\"card narrow\"><h1>Welcome to garm</h1><p>Create the administrator and tell garm the URLs runners reach it on.</p>",
    );
    form(
        &mut out,
        "/ui/first-run",
        csrf,
        &[
            Field::new("username", "Username", Kind::Text)
                .value(v("username", "admin".into()))
                .required()
                .help("Letters and digits."),
            Field::new("email", "Email", Kind::Email)
                .value(v("email", String::new()))
                .required(),
            Field::new("full_name", "Full name", Kind::Text).value(v("full_name", String::new())),
            Field::new("password", "Password", Kind::Password)
                .required()
                .help("A strong password: long, not made of words."),
            Field::new("metadata_url", "Metadata URL", Kind::Url)
                .value(v("metadata_url", format!("{base}/api/v1/metadata"))),
            Field::new("callback_url", "Callback URL", Kind::Url)
                .value(v("callback_url", format!("{base}/api/v1/callbacks"))),
            Field::new("webhook_url", "Webhook URL", Kind::Url).value(v("webhook_url", format!("{base}/webhooks"))),
        ],
        "Create administrator",
        error,
    );
    out.push_str("</div>");
    out
}

async fn first_run_page(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Ok(true) = app.store.has_admin().await {
        return see_other("/ui/login");
    }
    let (token, set) = pre_csrf(&headers);
    let body = first_run_body(&token, &FormData::new(), &origin(&app, &headers), None);
    with_pre_csrf(&app, StatusCode::OK, &token, set, bare_page("First run", &body))
}

async fn first_run(State(app): State<App>, headers: HeaderMap, Form(f): Form<FormData>) -> Response {
    let (token, set) = pre_csrf(&headers);
    let base = origin(&app, &headers);
    let fail = |status: StatusCode, msg: &str| {
        let body = first_run_body(&token, &f, &base, Some(msg));
        with_pre_csrf(&app, status, &token, set, bare_page("First run", &body))
    };
    if !pre_csrf_ok(&headers, &f) {
        return fail(StatusCode::FORBIDDEN, "The form expired; try again.");
    }
    let params = api::NewUserParams {
        username: field(&f, "username").into(),
        email: field(&f, "email").into(),
        full_name: field(&f, "full_name").into(),
        password: field(&f, "password").into(),
    };
    if let Err(err) = controller::first_run(State(app.clone()), Ok(Json(params))).await {
        return fail(err.status(), &super::message(&err));
    }
    let urls = api::UpdateControllerParams {
        metadata_url: Some(field(&f, "metadata_url").into()),
        callback_url: Some(field(&f, "callback_url").into()),
        webhook_url: Some(field(&f, "webhook_url").into()),
        ..Default::default()
    };
    if let Err(err) = controller::update(State(app.clone()), Ok(Json(urls))).await {
        // The admin exists now; the URLs can be fixed on the controller page.
        tracing::warn!(error = %err, "first run: controller URLs not saved");
    }
    see_other("/ui/login?created=1")
}
