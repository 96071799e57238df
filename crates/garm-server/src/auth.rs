//! The request guards that check tokens: where a request's token comes from, and the checks
//! of an admin's user token. The tokens themselves are in [`crate::tokens`].

use crate::error::ApiError;
use crate::state::App;
use crate::tokens::UserClaims;
use axum::http::{header, HeaderMap};

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
