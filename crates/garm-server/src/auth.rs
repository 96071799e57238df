//! Tokens: user and metrics JWTs, instance JWTs, and the request guards that check them.

use crate::error::ApiError;
use crate::state::App;
use axum::http::{header, HeaderMap};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Claims of a user (or metrics) token, with garm's keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserClaims {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub token_id: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub read_metrics: bool,
    #[serde(default)]
    pub generation: i64,
    pub iss: String,
    pub exp: i64,
}

/// Claims of an instance token, with garm's keys (`provider_id` carries the pool id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceClaims {
    pub id: String,
    pub name: String,
    pub provider_id: String,
    pub scope: String,
    pub entity: String,
    pub create_attempt: i64,
    pub forge_type: String,
    pub is_agent: bool,
    pub iss: String,
    pub exp: i64,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn verify<T: for<'de> Deserialize<'de>>(&self, token: &str) -> Result<T, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&["garm"]);
        validation.leeway = 0;
        // A token that is not valid yet is refused, as garm does.
        validation.validate_nbf = true;
        decode::<T>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::AuthFailed)
    }
}

pub fn random_token_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// Where a request's token may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFrom {
    /// Only the `Authorization` header (API clients, runners).
    Header,
    /// The header, else the web UI's `garm_token` cookie.
    HeaderOrCookie,
}

/// `Authorization: <scheme> <token>` (scheme not checked, as garm), else the `garm_token` cookie
/// when `from` allows it.
pub fn bearer(headers: &HeaderMap, from: TokenFrom) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?;
        let parts: Vec<&str> = text.split(' ').collect();
        return (parts.len() == 2 && !parts[1].is_empty()).then(|| parts[1].to_string());
    }
    if from == TokenFrom::Header {
        return None;
    }
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("garm_token=").map(str::to_string))
}

/// Checks a user token: signature, expiry, the user exists, is enabled and admin, and the
/// token's generation is current.
pub async fn admin_claims(app: &App, headers: &HeaderMap) -> Result<UserClaims, ApiError> {
    let token = bearer(headers, TokenFrom::HeaderOrCookie).ok_or(ApiError::AuthFailed)?;
    admin_claims_of(app, &token).await
}

/// [`admin_claims`] for a token already taken from the request (the web UI's cookie).
pub async fn admin_claims_of(app: &App, token: &str) -> Result<UserClaims, ApiError> {
    let claims: UserClaims = app.keys.verify(token)?;
    if claims.user.is_empty() {
        return Err(ApiError::AuthFailed);
    }
    let user = app.store.user_by_id(&claims.user).await?.ok_or(ApiError::AuthFailed)?;
    if !user.enabled || user.generation != claims.generation || !user.is_admin {
        return Err(ApiError::AuthFailed);
    }
    Ok(claims)
}
