//! Named proxies (`/api/v1/proxies`), with garm's rules: a unique name (case-insensitive),
//! at least one proxy URL (http, https or socks5, no credentials inside it), a password only
//! with a username, never returned; a proxy a pool uses cannot be deleted.

use super::Empty;
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::ws::published;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::Secret;
use garm_store::ProxyRecord;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/proxies", get(list).post(create))
        .route("/api/v1/proxies/{proxy_id}", get(show).put(update).delete(delete))
}

pub fn to_api(p: &ProxyRecord) -> api::Proxy {
    api::Proxy {
        id: p.id as u64,
        created_at: Some(p.created_at),
        updated_at: Some(p.updated_at),
        name: p.name.clone(),
        description: p.description.clone(),
        http_proxy: p.http_proxy.clone(),
        https_proxy: p.https_proxy.clone(),
        no_proxy: p.no_proxy.clone(),
        username: p.username.clone(),
    }
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad(format!("invalid proxy ID {text:?}")))
}

fn check_url(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Ok(());
    }
    let url = url::Url::parse(value).map_err(|err| ApiError::bad(format!("{field}: invalid URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5") {
        return Err(ApiError::bad(format!(
            "{field}: scheme {:?} is not http, https or socks5",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::bad(format!("{field}: the URL has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad(format!(
            "{field}: put credentials in username and password, not in the URL"
        )));
    }
    Ok(())
}

/// Checks a proxy as it would be stored.
fn check(p: &ProxyRecord) -> Result<(), ApiError> {
    garm_model::names::check_printable("name", &p.name, garm_model::names::MAX_NAME_LEN)
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    if p.http_proxy.is_empty() && p.https_proxy.is_empty() {
        return Err(ApiError::bad("at least one of http_proxy and https_proxy is required"));
    }
    check_url("http_proxy", &p.http_proxy)?;
    check_url("https_proxy", &p.https_proxy)?;
    if p.no_proxy.chars().any(char::is_control) {
        return Err(ApiError::bad("no_proxy: control characters are not allowed"));
    }
    if p.username.chars().any(char::is_control) {
        return Err(ApiError::bad("username: control characters are not allowed"));
    }
    if p.password.is_some() && p.username.is_empty() {
        return Err(ApiError::bad("password: a password needs a username"));
    }
    Ok(())
}

async fn list(State(app): State<App>) -> Result<Json<Vec<api::Proxy>>, ApiError> {
    Ok(Json(app.store.proxies().await?.iter().map(to_api).collect()))
}

async fn show(State(app): State<App>, Path(id): Path<String>) -> Result<Json<api::Proxy>, ApiError> {
    Ok(Json(to_api(&app.store.proxy(parse_id(&id)?).await?)))
}

pub(crate) async fn create(
    State(app): State<App>,
    body: JsonBody<api::ProxyParams>,
) -> Result<Json<api::Proxy>, ApiError> {
    let Json(p) = body?;
    let now = chrono::Utc::now();
    let record = ProxyRecord {
        id: 0,
        name: p.name.unwrap_or_default(),
        description: p.description.unwrap_or_default(),
        http_proxy: p.http_proxy.unwrap_or_default(),
        https_proxy: p.https_proxy.unwrap_or_default(),
        no_proxy: p.no_proxy.unwrap_or_default(),
        username: p.username.unwrap_or_default(),
        password: p.password.filter(|s| !s.is_empty()).map(Secret::new),
        created_at: now,
        updated_at: now,
    };
    if record.name.is_empty() {
        return Err(ApiError::bad("name: missing name"));
    }
    check(&record)?;
    let created = app.store.create_proxy(&record).await?;
    tracing::info!(proxy = created.id, name = %created.name, "proxy created");
    Ok(Json(published(
        &app,
        EntityType::Proxy,
        Operation::Create,
        to_api(&created),
    )))
}

pub(crate) async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<api::ProxyParams>,
) -> Result<Json<api::Proxy>, ApiError> {
    let Json(p) = body?;
    let mut record = app.store.proxy(parse_id(&id)?).await?;
    if let Some(name) = p.name.filter(|n| !n.is_empty()) {
        record.name = name;
    }
    for (field, value) in [
        (&mut record.description, p.description),
        (&mut record.http_proxy, p.http_proxy),
        (&mut record.https_proxy, p.https_proxy),
        (&mut record.no_proxy, p.no_proxy),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    if let Some(username) = p.username {
        // An empty username clears the credentials.
        if username.is_empty() {
            record.password = None;
        }
        record.username = username;
    }
    if let Some(password) = p.password {
        record.password = (!password.is_empty()).then(|| Secret::new(password));
    }
    check(&record)?;
    let updated = app.store.update_proxy(&record).await?;
    tracing::info!(proxy = updated.id, name = %updated.name, "proxy updated");
    Ok(Json(published(
        &app,
        EntityType::Proxy,
        Operation::Update,
        to_api(&updated),
    )))
}

pub(crate) async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<Empty, ApiError> {
    let id = parse_id(&id)?;
    let gone = app.store.proxy(id).await?;
    app.store.delete_proxy(id).await?;
    tracing::info!(proxy = id, "proxy deleted");
    app.streams
        .publish(EntityType::Proxy, Operation::Delete, &to_api(&gone));
    Ok(Empty)
}

/// The proxy a pool asks for: 0 or absent is none; otherwise it must exist (400, as garm).
pub async fn for_pool(app: &App, asked: Option<u64>) -> Result<Option<i64>, ApiError> {
    match asked.filter(|id| *id > 0) {
        None => Ok(None),
        Some(id) => match app.store.proxy(id as i64).await {
            Ok(p) => Ok(Some(p.id)),
            Err(err) if err.is_not_found() => Err(ApiError::bad(format!("proxy_id: no proxy with ID {id}"))),
            Err(err) => Err(err.into()),
        },
    }
}
