//! GitHub endpoints and credentials.

use crate::convert;
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::ws::published;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::Secret;
use garm_store::{CredentialSecret, EndpointRecord, EntityKind};

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/github/endpoints", get(list_endpoints).post(create_endpoint))
        .route(
            "/api/v1/github/endpoints/{name}",
            get(get_endpoint).put(update_endpoint).delete(delete_endpoint),
        )
        .route("/api/v1/credentials", get(list_credentials))
        .route(
            "/api/v1/github/credentials",
            get(list_credentials).post(create_credentials),
        )
        .route(
            "/api/v1/github/credentials/{id}",
            get(get_credentials).put(update_credentials).delete(delete_credentials),
        )
}

/// A CA bundle must hold at least one parsable PEM certificate and nothing else.
pub fn check_ca_bundle(bundle: &[u8]) -> Result<(), ApiError> {
    let mut reader = std::io::BufReader::new(bundle);
    let mut n = 0;
    for item in rustls_pemfile::certs(&mut reader) {
        let der = item.map_err(|err| ApiError::bad(format!("invalid CA certificate bundle: {err}")))?;
        x509_parser::parse_x509_certificate(&der)
            .map_err(|err| ApiError::bad(format!("invalid CA certificate bundle: {err}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(ApiError::bad("invalid CA certificate bundle: no PEM certificate found"));
    }
    Ok(())
}

fn check_forge_url(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad(format!("missing {field}")));
    }
    let parsed = url::Url::parse(value).map_err(|err| ApiError::bad(format!("invalid {field}: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::bad(format!(
            "invalid {field}: must be an http or https URL with a host"
        )));
    }
    Ok(())
}

async fn list_endpoints(State(app): State<App>) -> Result<Json<Vec<api::ForgeEndpoint>>, ApiError> {
    Ok(Json(
        app.store
            .endpoints("github")
            .await?
            .iter()
            .map(convert::endpoint)
            .collect(),
    ))
}

/// An endpoint's or credentials' name: printable and of bounded length.
fn check_name(name: &str) -> Result<(), ApiError> {
    garm_model::names::check_printable("name", name, garm_model::names::MAX_NAME_LEN)
        .map_err(|err| ApiError::BadRequest(err.to_string()))
}

pub(crate) async fn create_endpoint(
    State(app): State<App>,
    body: JsonBody<api::CreateGithubEndpointParams>,
) -> Result<Json<api::ForgeEndpoint>, ApiError> {
    let Json(p) = body?;
    if p.name.is_empty() {
        return Err(ApiError::bad("missing name"));
    }
    check_name(&p.name)?;
    check_forge_url("base_url", &p.base_url)?;
    check_forge_url("api_base_url", &p.api_base_url)?;
    check_forge_url("upload_base_url", &p.upload_base_url)?;
    if !p.ca_cert_bundle.is_empty() {
        check_ca_bundle(&p.ca_cert_bundle)?;
    }
    let now = chrono::Utc::now();
    let rec = EndpointRecord {
        name: p.name,
        endpoint_type: "github".into(),
        description: p.description,
        api_base_url: p.api_base_url,
        upload_base_url: p.upload_base_url,
        base_url: p.base_url.trim_end_matches('/').to_string(),
        ca_cert_bundle: p.ca_cert_bundle,
        created_at: now,
        updated_at: now,
    };
    app.store.create_endpoint(&rec).await?;
    tracing::info!(endpoint = %rec.name, "endpoint created");
    let out = convert::endpoint(&app.store.endpoint(&rec.name).await?);
    Ok(Json(published(
        &app,
        EntityType::GithubEndpoint,
        Operation::Create,
        out,
    )))
}

async fn get_endpoint(State(app): State<App>, Path(name): Path<String>) -> Result<Json<api::ForgeEndpoint>, ApiError> {
    Ok(Json(convert::endpoint(&app.store.endpoint(&name).await?)))
}

async fn update_endpoint(
    State(app): State<App>,
    Path(name): Path<String>,
    body: JsonBody<api::UpdateGithubEndpointParams>,
) -> Result<Json<api::ForgeEndpoint>, ApiError> {
    let Json(p) = body?;
    let mut rec = app.store.endpoint(&name).await?;
    if let Some(v) = p.description {
        rec.description = v;
    }
    for (field, value, slot) in [
        ("base_url", p.base_url, &mut rec.base_url),
        ("api_base_url", p.api_base_url, &mut rec.api_base_url),
        ("upload_base_url", p.upload_base_url, &mut rec.upload_base_url),
    ] {
        if let Some(v) = value {
            check_forge_url(field, &v)?;
            *slot = v;
        }
    }
    rec.base_url = rec.base_url.trim_end_matches('/').to_string();
    if let Some(bundle) = p.ca_cert_bundle {
        if !bundle.is_empty() {
            check_ca_bundle(&bundle)?;
        }
        rec.ca_cert_bundle = bundle;
    }
    app.store.update_endpoint(&rec).await?;
    let out = convert::endpoint(&app.store.endpoint(&name).await?);
    Ok(Json(published(
        &app,
        EntityType::GithubEndpoint,
        Operation::Update,
        out,
    )))
}

pub(crate) async fn delete_endpoint(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<super::Empty, ApiError> {
    app.store.delete_endpoint(&name).await?;
    // garm's delete event carries the name only.
    let gone = serde_json::json!({ "name": name });
    app.streams
        .publish(EntityType::GithubEndpoint, Operation::Delete, &gone);
    Ok(super::Empty)
}

/// The credentials' rate limit as GitHub last reported it to any of our clients (garm's
/// `rate_limit`: limit, used, remaining, reset in unix seconds); absent until known.
pub(crate) fn rate_limit(app: &App, credentials_id: i64) -> Option<api::RateLimit> {
    let seen = app.pool.forges.rate_limit_of(credentials_id)?;
    let limit = seen.limit?;
    let remaining = seen.remaining.unwrap_or(limit);
    Some(api::RateLimit {
        limit: limit as i64,
        used: limit.saturating_sub(remaining) as i64,
        remaining: remaining as i64,
        reset: seen.reset_at.map_or(0, |t| t.timestamp()),
    })
}

async fn list_credentials(State(app): State<App>) -> Result<Json<Vec<api::ForgeCredentials>>, ApiError> {
    let mut out = Vec::new();
    for c in app.store.list_credentials("github").await? {
        let e = app.store.endpoint(&c.endpoint_name).await?;
        let mut json = convert::credentials(&c, &e);
        json.rate_limit = rate_limit(&app, c.id);
        out.push(json);
    }
    Ok(Json(out))
}

/// A GitHub App key must be a PEM-encoded PKCS#1 RSA private key, as garm requires.
fn check_app_key(pem: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(pem).map_err(|_| ApiError::bad("app private key is not PEM text"))?;
    let mut reader = std::io::BufReader::new(pem);
    match rustls_pemfile::read_one(&mut reader) {
        Ok(Some(rustls_pemfile::Item::Pkcs1Key(der))) => {
            ring::signature::RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map_err(|err| ApiError::bad(format!("invalid app private key: {err}")))?;
            Ok(text.to_string())
        }
        Ok(Some(_)) => Err(ApiError::bad(
            "app private key must be a PKCS#1 RSA key (BEGIN RSA PRIVATE KEY)",
        )),
        _ => Err(ApiError::bad("app private key is not a PEM encoded key")),
    }
}

fn pat_secret(p: &api::PatParams) -> Result<CredentialSecret, ApiError> {
    if p.oauth2_token.is_empty() {
        return Err(ApiError::bad("missing pat.oauth2_token"));
    }
    Ok(CredentialSecret::Pat {
        token: Secret::new(p.oauth2_token.clone()),
    })
}

fn app_secret(a: &api::AppParams) -> Result<CredentialSecret, ApiError> {
    if a.app_id == 0 {
        return Err(ApiError::bad("missing app.app_id"));
    }
    if a.installation_id == 0 {
        return Err(ApiError::bad("missing app.installation_id"));
    }
    if a.private_key_bytes.is_empty() {
        return Err(ApiError::bad("missing app.private_key_bytes"));
    }
    let pem = check_app_key(&a.private_key_bytes)?;
    Ok(CredentialSecret::App {
        app_id: a.app_id,
        installation_id: a.installation_id,
        private_key_pem: Secret::new(pem),
    })
}

pub(crate) async fn create_credentials(
    State(app): State<App>,
    body: JsonBody<api::CreateGithubCredentialsParams>,
) -> Result<Json<api::ForgeCredentials>, ApiError> {
    let Json(p) = body?;
    if p.name.is_empty() {
        return Err(ApiError::bad("missing name"));
    }
    check_name(&p.name)?;
    if p.endpoint.is_empty() {
        return Err(ApiError::bad("missing endpoint"));
    }
    let secret = match p.auth_type.as_str() {
        "pat" => {
            if p.app().is_some() {
                return Err(ApiError::bad("auth_type pat does not take app credentials"));
            }
            pat_secret(p.pat().ok_or_else(|| ApiError::bad("missing pat.oauth2_token"))?)?
        }
        "app" => {
            if p.pat().is_some() {
                return Err(ApiError::bad("auth_type app does not take a pat"));
            }
            app_secret(p.app().ok_or_else(|| ApiError::bad("missing app credentials"))?)?
        }
        "" => return Err(ApiError::bad("missing auth_type (pat or app)")),
        other => return Err(ApiError::bad(format!("invalid auth_type {other:?} (pat or app)"))),
    };
    let endpoint = app.store.endpoint(&p.endpoint).await?;
    let c = app
        .store
        .create_credentials(&p.name, &p.description, "github", &endpoint.name, &secret)
        .await?;
    tracing::info!(credentials = %c.name, auth_type = c.secret.auth_type(), endpoint = %endpoint.name, "credentials created");
    let out = convert::credentials(&c, &endpoint);
    Ok(Json(published(
        &app,
        EntityType::GithubCredentials,
        Operation::Create,
        out,
    )))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<u64>()
        .map(|v| v as i64)
        .map_err(|_| ApiError::bad(format!("invalid credentials id {id:?}")))
}

async fn get_credentials(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<api::ForgeCredentials>, ApiError> {
    let c = app.store.credentials(parse_id(&id)?).await?;
    let e = app.store.endpoint(&c.endpoint_name).await?;
    let mut out = convert::credentials(&c, &e);
    out.rate_limit = rate_limit(&app, c.id);
    for ent in app.store.entities_using_credentials(c.id).await? {
        let json = convert::entity(&app, &ent).await?;
        match ent.kind {
            EntityKind::Repository => out.repositories.push(json),
            EntityKind::Organization => out.organizations.push(json),
            EntityKind::Enterprise => out.enterprises.push(json),
        }
    }
    Ok(Json(out))
}

async fn update_credentials(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<api::UpdateGithubCredentialsParams>,
) -> Result<Json<api::ForgeCredentials>, ApiError> {
    let Json(p) = body?;
    let mut c = app.store.credentials(parse_id(&id)?).await?;
    if p.pat().is_some() && p.app().is_some() {
        return Err(ApiError::bad("cannot update pat and app credentials at the same time"));
    }
    if let Some(name) = p.name.clone().filter(|n| !n.is_empty()) {
        c.name = name;
    }
    if let Some(d) = p.description.clone() {
        c.description = d;
    }
    match (&c.secret, p.pat(), p.app()) {
        (CredentialSecret::Pat { .. }, Some(pat), None) => c.secret = pat_secret(pat)?,
        (CredentialSecret::App { .. }, None, Some(a)) => c.secret = app_secret(a)?,
        (_, None, None) => {}
        _ => return Err(ApiError::bad("the credentials' auth type cannot be changed")),
    }
    app.store.update_credentials(&c).await?;
    let e = app.store.endpoint(&c.endpoint_name).await?;
    let out = convert::credentials(&app.store.credentials(c.id).await?, &e);
    Ok(Json(published(
        &app,
        EntityType::GithubCredentials,
        Operation::Update,
        out,
    )))
}

pub(crate) async fn delete_credentials(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<super::Empty, ApiError> {
    let gone = app.store.credentials(parse_id(&id)?).await?;
    app.store.delete_credentials(gone.id).await?;
    // garm's delete event carries the id, name and forge type only.
    let gone = serde_json::json!({ "id": gone.id, "name": gone.name, "forge_type": "github" });
    app.streams
        .publish(EntityType::GithubCredentials, Operation::Delete, &gone);
    Ok(super::Empty)
}
