//! First run, login, controller settings and the metrics token.

use super::require_init;
use crate::convert;
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::tokens::{random_token_id, UserClaims};
use crate::ws::published;
use axum::extract::State;
use axum::Json;
use garm_api_types as api;
use garm_store::UserRecord;

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
}

/// `POST /api/v1/first-run`: creates the admin user once.
pub async fn first_run(
    State(app): State<App>,
    body: Result<Json<api::NewUserParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<api::User>, ApiError> {
    let Json(params) = body?;
    if app.store.has_admin().await? {
        return Err(ApiError::Conflict("already initialized".into()));
    }
    if params.username.is_empty() {
        return Err(ApiError::bad("missing username"));
    }
    if params.username.len() > 64 || !params.username.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad("username must be alphanumeric and at most 64 characters"));
    }
    if params.email.is_empty() {
        return Err(ApiError::bad("missing email"));
    }
    if !valid_email(&params.email) {
        return Err(ApiError::bad("invalid email address"));
    }
    if params.password.is_empty() {
        return Err(ApiError::bad("missing password"));
    }
    // The check starts a short-lived process (see `strength`): off the async workers.
    let (password, username, email) = (params.password.clone(), params.username.clone(), params.email.clone());
    let strong = tokio::task::spawn_blocking(move || crate::strength::strong(&password, &[&username, &email]))
        .await
        .map_err(ApiError::internal)?;
    if !strong {
        return Err(ApiError::bad("password is too weak"));
    }
    let password = params.password.clone();
    let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let now = chrono::Utc::now();
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        username: params.username,
        email: params.email,
        full_name: params.full_name,
        password_hash: hash,
        generation: 0,
        is_admin: true,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    app.store.create_admin(&user).await.map_err(|err| match err {
        garm_store::StoreError::Conflict { .. } => ApiError::Conflict("already initialized".into()),
        other => other.into(),
    })?;
    tracing::info!(username = %user.username, "admin user created");
    Ok(Json(published(
        &app,
        EntityType::User,
        Operation::Create,
        user_json(&user),
    )))
}

pub fn user_json(u: &UserRecord) -> api::User {
    api::User {
        id: u.id.clone(),
        created_at: u.created_at,
        updated_at: u.updated_at,
        email: u.email.clone(),
        username: u.username.clone(),
        full_name: u.full_name.clone(),
        enabled: u.enabled,
        is_admin: u.is_admin,
    }
}

/// The client's IP address, when the listener knows it (not in in-process tests): the TCP
/// peer, or what a trusted proxy says in `X-Forwarded-For` (`[apiserver] trusted_proxies`).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<App> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| {
                    crate::client_addr::client_address(info.0.ip(), &parts.headers, &app.config.trusted_proxies)
                }),
        ))
    }
}

/// `POST /api/v1/auth/login`. Failed logins are throttled per (username, address), per
/// address and per username (see [`crate::login_limit`]); a throttled attempt is answered 429
/// before the password is looked at. Every attempt that gets as far as the password costs one
/// bcrypt verification, against a stand-in hash when the user does not exist or is disabled,
/// so the time taken does not tell whether a username exists.
pub async fn login(
    State(app): State<App>,
    ClientAddr(address): ClientAddr,
    body: Result<Json<api::PasswordLoginParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<api::JwtResponse>, ApiError> {
    require_init(&app).await?;
    let Json(params) = body?;
    let now = std::time::Instant::now();
    if let Some(wait) = app.logins.check(&params.username, address, now) {
        tracing::warn!(username = %params.username, address = ?address, "login refused: too many failed attempts");
        return Err(ApiError::TooManyRequests {
            retry_after: wait.as_secs().max(1),
        });
    }
    let refuse = |why: &str| {
        tracing::warn!(username = %params.username, address = ?address, why, "failed login");
        app.logins.failed(&params.username, address, now);
        ApiError::Unauthorized
    };
    if params.username.is_empty() || params.password.is_empty() {
        return Err(refuse("empty username or password"));
    }
    let user = app.store.user_by_name(&params.username).await?;
    let hash = match &user {
        Some(user) if user.enabled => user.password_hash.clone(),
        _ => stand_in_hash().to_owned(),
    };
    let password = params.password.clone();
    let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        None => return Err(refuse("no such user")),
        Some(user) if !user.enabled => return Err(refuse("user disabled")),
        Some(_) if !matches => return Err(refuse("wrong password")),
        Some(user) => user,
    };
    app.logins.succeeded(&params.username, address, now);
    let claims = UserClaims {
        user: user.id.clone(),
        token_id: random_token_id(),
        full_name: user.full_name.clone(),
        is_admin: user.is_admin,
        read_metrics: false,
        generation: user.generation,
        iss: "garm".into(),
        exp: (chrono::Utc::now() + app.config.jwt_ttl).timestamp(),
    };
    Ok(Json(api::JwtResponse {
        token: app.keys.sign(&claims),
    }))
}

/// The cost garm (and `first-run`) hashes passwords with.
pub const BCRYPT_COST: u32 = 10;

/// A bcrypt hash of a random password at [`BCRYPT_COST`], made once, that logins for unknown
/// or disabled users are verified against so that they take as long as a wrong password.
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = crate::tokens::random_token_id();
        bcrypt::hash(random, BCRYPT_COST).expect("bcrypt hashing of a short password cannot fail")
    })
}

/// Makes the stand-in hash ahead of the first login, off the request path.
pub fn prepare_login() {
    stand_in_hash();
}

/// `GET /api/v1/controller` and `/api/v1/controller-info`.
pub async fn show(State(app): State<App>) -> Result<Json<api::ControllerInfo>, ApiError> {
    Ok(Json(convert::controller(&app.store.controller().await?)))
}

fn check_url(field: &str, value: &str) -> Result<(), ApiError> {
    let parsed = url::Url::parse(value).map_err(|err| ApiError::bad(format!("invalid {field}: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::bad(format!(
            "invalid {field}: must be an http or https URL with a host"
        )));
    }
    Ok(())
}

/// `PUT /api/v1/controller`: only the fields present change.
pub async fn update(
    State(app): State<App>,
    body: Result<Json<api::UpdateControllerParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<api::ControllerInfo>, ApiError> {
    let Json(p) = body?;
    let mut c = app.store.controller().await?;
    for (field, value, slot) in [
        ("metadata_url", &p.metadata_url, &mut c.metadata_url),
        ("callback_url", &p.callback_url, &mut c.callback_url),
        ("webhook_url", &p.webhook_url, &mut c.webhook_url),
        ("agent_url", &p.agent_url, &mut c.agent_url),
    ] {
        if let Some(v) = value {
            if !v.is_empty() {
                check_url(field, v)?;
            }
            *slot = v.trim_end_matches('/').to_string();
        }
    }
    if let Some(url) = &p.garm_agent_releases_url {
        c.garm_agent_releases_url = if url.is_empty() {
            "https://api.github.com/repos/cloudbase/garm-agent/releases".into()
        } else {
            check_url("garm_agent_releases_url", url)?;
            url.clone()
        };
    }
    if let Some(v) = &p.garm_agent_version {
        let plain = v.strip_prefix('v').unwrap_or(v);
        let semver = plain.split('.').count() == 3 && plain.split('.').all(|n| n.parse::<u64>().is_ok());
        if !(v.is_empty() || v == "latest" || semver) {
            return Err(ApiError::bad(
                "garm_agent_version must be empty, latest or a version like v1.2.3",
            ));
        }
        c.garm_agent_version = v.clone();
    }
    if let Some(v) = p.enable_agent_tools_sync {
        c.enable_agent_tools_sync = v;
    }
    if let Some(v) = p.allow_insecure_garm_agent {
        c.allow_insecure_garm_agent = v;
    }
    if let Some(v) = p.minimum_job_age_backoff {
        c.minimum_job_age_backoff = v;
    }
    if p.clear_ca_cert_bundle {
        c.ca_cert_bundle.clear();
    } else if let Some(bundle) = &p.ca_cert_bundle {
        if !bundle.is_empty() {
            super::forge::check_ca_bundle(bundle)?;
        }
        c.ca_cert_bundle = bundle.clone();
    }
    app.store.update_controller(&c).await?;
    tracing::info!(metadata_url = %c.metadata_url, callback_url = %c.callback_url, webhook_url = %c.webhook_url, "controller updated");
    let out = convert::controller(&c);
    Ok(Json(published(&app, EntityType::Controller, Operation::Update, out)))
}

/// `GET /api/v1/metrics-token`: a token good only for `/metrics`.
pub async fn metrics_token(State(app): State<App>) -> Result<Json<api::JwtResponse>, ApiError> {
    let claims = UserClaims {
        user: String::new(),
        token_id: random_token_id(),
        full_name: String::new(),
        is_admin: false,
        read_metrics: true,
        generation: 0,
        iss: "garm".into(),
        exp: (chrono::Utc::now() + app.config.jwt_ttl).timestamp(),
    };
    Ok(Json(api::JwtResponse {
        token: app.keys.sign(&claims),
    }))
}
