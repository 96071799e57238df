//! Who is calling (PAT, App JWT, installation token, `RemoteAuth` registration token) and what they may do.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::error::ApiError;
use crate::model::Scope;
use crate::world::{TokenKind, World};

/// The authenticated caller of a REST request.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Anonymous,
    Pat { token: String, scopes: Vec<String> },
    Installation { installation_id: u64 },
    App { app_id: u64 },
    RemoteAuth { kind: TokenKind, scope: Scope },
}

impl Caller {
    /// The primary rate-limit bucket charged for this caller, if any.
    pub fn bucket(&self) -> Option<String> {
        match self {
            Caller::Anonymous => Some("anonymous".to_owned()),
            Caller::Pat { token, .. } => Some(format!("pat:{token}")),
            Caller::Installation { installation_id } => Some(format!("installation:{installation_id}")),
            Caller::App { app_id } => Some(format!("app:{app_id}")),
            Caller::RemoteAuth { .. } => None,
        }
    }
}

/// Allowed skew for `iat` (future, and past beyond the lifetime) and the 10 minute `exp` ceiling.
const JWT_SKEW_SECS: i64 = 60;
const JWT_MAX_LIFETIME_SECS: i64 = 600;

fn bad_credentials() -> ApiError {
    ApiError::new(401, "Bad credentials")
}

/// Identifies the caller from `Authorization`; unknown or expired credentials are a 401.
pub(crate) fn identify(w: &World, headers: &HeaderMap, now: DateTime<Utc>) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let value = value.to_str().map_err(|_| bad_credentials())?.trim();
    let (scheme, credential) = value.split_once(' ').ok_or_else(bad_credentials)?;
    let credential = credential.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "remoteauth" => {
            let token = w.runner_token(credential, now).ok_or_else(bad_credentials)?;
            Ok(Caller::RemoteAuth {
                kind: token.kind,
                scope: token.scope.clone(),
            })
        }
        "bearer" | "token" => {
            if let Some(pat) = w.pats.get(credential) {
                return Ok(Caller::Pat {
                    token: pat.token.clone(),
                    scopes: pat.scopes.clone(),
                });
            }
            if let Some(token) = w.install_tokens.get(credential) {
                if token.expires_at > now {
                    return Ok(Caller::Installation {
                        installation_id: token.installation_id,
                    });
                }
                return Err(bad_credentials());
            }
            if credential.split('.').count() == 3 && credential.starts_with("eyJ") {
                if scheme.eq_ignore_ascii_case("token") {
                    return Err(ApiError::new(401, "A JSON web token could not be decoded"));
                }
                return verify_jwt(w, credential, now).map(|app_id| Caller::App { app_id });
            }
            Err(bad_credentials())
        }
        _ => Err(bad_credentials()),
    }
}

fn claim_i64(claims: &Value, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Checks an App JWT: RS256 signature by the App named in `iss`, `iat`/`exp` window.
fn verify_jwt(w: &World, token: &str, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let undecodable = || ApiError::new(401, "A JSON web token could not be decoded");
    let header = jsonwebtoken::decode_header(token).map_err(|_| undecodable())?;
    if header.alg != Algorithm::RS256 {
        return Err(undecodable());
    }
    let mut peek = Validation::new(Algorithm::RS256);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    peek.validate_aud = false;
    peek.required_spec_claims = HashSet::new();
    let unverified =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(&[]), &peek).map_err(|_| undecodable())?;
    let issuer = match unverified.claims.get("iss") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => return Err(ApiError::new(401, "'Issuer' claim ('iss') must be an Integer")),
    };
    let app = w
        .apps
        .values()
        .find(|app| app.id.to_string() == issuer || app.client_id.as_deref() == Some(issuer.as_str()))
        .ok_or_else(|| ApiError::new(401, "Integration not found"))?;
    let key = DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes()).map_err(|_| undecodable())?;
    let mut strict = Validation::new(Algorithm::RS256);
    strict.validate_exp = false;
    strict.validate_aud = false;
    strict.required_spec_claims = HashSet::new();
    let verified = jsonwebtoken::decode::<Value>(token, &key, &strict).map_err(|_| undecodable())?;
    let now = now.timestamp();
    let iat = claim_i64(&verified.claims, "iat").ok_or_else(|| {
        ApiError::new(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        )
    })?;
    let exp = claim_i64(&verified.claims, "exp").ok_or_else(|| {
        ApiError::new(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        )
    })?;
    if iat > now + JWT_SKEW_SECS {
        return Err(ApiError::new(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    }
    if exp <= now {
        return Err(ApiError::new(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    }
    if exp > now + JWT_MAX_LIFETIME_SECS || exp - iat > JWT_MAX_LIFETIME_SECS + JWT_SKEW_SECS {
        return Err(ApiError::new(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    Ok(app.id)
}

/// What an endpoint needs from its caller.
#[derive(Debug, Clone)]
pub(crate) enum Need {
    /// Runners, registration/remove tokens, JIT, downloads, runner groups of a scope.
    Runners(Scope),
    /// Repository or organization webhooks.
    Hooks(Scope),
    /// Reading a repository (its metadata, its jobs).
    RepoRead { owner: String, repo: String, private: bool },
    /// Reading an organization.
    OrgRead(String),
    /// `/app...` endpoints: an App JWT.
    App,
}

fn has_any(scopes: &[String], wanted: &[&str]) -> bool {
    scopes.iter().any(|s| wanted.contains(&s.as_str()))
}

/// Classic-token scopes that satisfy a need (any one of them).
fn accepted_scopes(need: &Need) -> &'static [&'static str] {
    match need {
        Need::Runners(Scope::Repo { .. }) => &["repo"],
        Need::Runners(Scope::Org { .. }) => &["admin:org", "manage_runners:org"],
        Need::Runners(Scope::Enterprise { .. }) => &["manage_runners:enterprise", "admin:enterprise"],
        // "The repo and public_repo scopes grant full access to repositories, including repository hooks."
        Need::Hooks(Scope::Repo { .. }) => &["admin:repo_hook", "repo"],
        Need::Hooks(_) => &["admin:org_hook"],
        Need::RepoRead { private: true, .. } => &["repo"],
        Need::RepoRead { .. } | Need::OrgRead(_) | Need::App => &[],
    }
}

/// Decides whether `caller` may do what `need` describes; `remote_ok` admits the
/// registration token of the same scope (the runner's configuration calls).
pub(crate) fn authorize(w: &World, caller: &Caller, need: &Need, remote_ok: bool) -> Result<(), ApiError> {
    if let Need::App = need {
        return match caller {
            Caller::App { .. } => Ok(()),
            _ => Err(ApiError::new(401, "A JSON web token could not be decoded")),
        };
    }
    match caller {
        Caller::App { .. } => Err(ApiError::new(401, "A JSON web token could not be decoded")),
        Caller::Anonymous => match need {
            Need::RepoRead { private: false, .. } | Need::OrgRead(_) => Ok(()),
            _ => Err(ApiError::new(401, "Requires authentication")),
        },
        Caller::RemoteAuth { kind, scope } => match need {
            Need::Runners(wanted) if remote_ok && *kind == TokenKind::Registration && wanted.same_as(scope) => Ok(()),
            _ => Err(bad_credentials()),
        },
        Caller::Pat { scopes, .. } => {
            let accepted = accepted_scopes(need);
            if accepted.is_empty() || has_any(scopes, accepted) {
                Ok(())
            } else {
                Err(ApiError::new(403, "Resource not accessible by personal access token")
                    .with_header("x-accepted-oauth-scopes", &accepted.join(", ")))
            }
        }
        Caller::Installation { installation_id } => {
            let Some(inst) = w.installations.get(installation_id) else {
                return Err(bad_credentials());
            };
            let allowed = match need {
                Need::Runners(Scope::Repo { owner, repo }) | Need::Hooks(Scope::Repo { owner, repo }) => {
                    inst.covers_repo(owner, repo)
                }
                Need::RepoRead { owner, repo, .. } => inst.covers_repo(owner, repo),
                Need::Runners(Scope::Org { org }) | Need::Hooks(Scope::Org { org }) | Need::OrgRead(org) => {
                    inst.target_type == "Organization" && inst.account.eq_ignore_ascii_case(org)
                }
                // GitHub's description: the enterprise runner endpoints are not available to Apps.
                Need::Runners(Scope::Enterprise { .. }) | Need::Hooks(Scope::Enterprise { .. }) => false,
                Need::App => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(ApiError::new(403, "Resource not accessible by integration"))
            }
        }
    }
}

/// The scheme of `Authorization` (`Bearer`, `RemoteAuth`, ...).
pub(crate) fn auth_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    Some(value.split(' ').next().unwrap_or_default().to_owned())
}
