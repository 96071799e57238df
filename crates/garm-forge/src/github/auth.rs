//! Credentials: personal access tokens, and GitHub App JWTs exchanged for installation tokens.

use chrono::{DateTime, TimeDelta, Utc};
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::GithubClient;
use crate::{ForgeError, Secret};

/// GitHub recommends backdating `iat` to absorb clock drift.
const JWT_BACKDATE: TimeDelta = TimeDelta::seconds(60);
/// GitHub accepts at most ten minutes.
const JWT_LIFETIME: TimeDelta = TimeDelta::minutes(9);
/// An installation token is replaced this long before it expires.
const TOKEN_REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A classic or fine-grained personal access token, sent as `Authorization: Bearer <token>`.
    Pat { token: Secret },
    /// A GitHub App installation: an RS256 App JWT is exchanged for installation tokens.
    App {
        app_id: u64,
        installation_id: u64,
        /// The App's RSA private key, PKCS#1 or PKCS#8 PEM.
        private_key_pem: Secret,
    },
}

pub(super) enum Authenticator {
    Pat(Secret),
    App {
        app_id: u64,
        installation_id: u64,
        key: EncodingKey,
        cached: tokio::sync::Mutex<Option<InstallationToken>>,
    },
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pat(_) => f.write_str("Pat"),
            Self::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("App")
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .finish_non_exhaustive(),
        }
    }
}

#[derive(Clone, Deserialize)]
pub(super) struct InstallationToken {
    token: Secret,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct AppClaims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl Authenticator {
    pub(super) fn new(auth: Auth) -> Result<Self, ForgeError> {
        Ok(match auth {
            Auth::Pat { token } => Self::Pat(token),
            Auth::App {
                app_id,
                installation_id,
                private_key_pem,
            } => {
                let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|err| {
                    ForgeError::InvalidConfig {
                        what: "GitHub App private key",
                        source: Some(err.into()),
                    }
                })?;
                // Signing once now reports a PEM that holds no usable RSA key at construction.
                app_jwt(app_id, &key, Utc::now())?;
                Self::App {
                    app_id,
                    installation_id,
                    key,
                    cached: tokio::sync::Mutex::new(None),
                }
            }
        })
    }

    /// Drops a cached installation token (after GitHub answered 401 with it).
    pub(super) async fn forget_token(&self) {
        if let Self::App { cached, .. } = self {
            *cached.lock().await = None;
        }
    }
}

/// The App JWT: `iss` is the App id, `iat` one minute ago, `exp` nine minutes ahead.
fn app_jwt(app_id: u64, key: &EncodingKey, now: DateTime<Utc>) -> Result<Secret, ForgeError> {
    let claims = AppClaims {
        iat: (now - JWT_BACKDATE).timestamp(),
        exp: (now + JWT_LIFETIME).timestamp(),
        iss: app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
        .map(Secret::new)
        .map_err(|err| ForgeError::InvalidConfig {
            what: "GitHub App private key",
            source: Some(err.into()),
        })
}

impl GithubClient {
    /// The bearer token for the next request: the PAT, or a (cached) installation token.
    pub(super) async fn authorization(&self) -> Result<Secret, ForgeError> {
        let (app_id, installation_id, key, cached) = match &self.auth {
            Authenticator::Pat(token) => return Ok(token.clone()),
            Authenticator::App {
                app_id,
                installation_id,
                key,
                cached,
            } => (*app_id, *installation_id, key, cached),
        };
        // Holding the lock while fetching makes concurrent callers share one exchange.
        let mut cached = cached.lock().await;
        let now = Utc::now();
        if let Some(token) = cached.as_ref() {
            if token.expires_at - TOKEN_REFRESH_MARGIN > now {
                return Ok(token.token.clone());
            }
        }
        let what = "GitHub App installation";
        let jwt = app_jwt(app_id, key, now)?;
        let installation = installation_id.to_string();
        let url = self.url(&["app", "installations", &installation, "access_tokens"]);
        self.rate_limit_gate()?;
        // The exchange is charged to the App, not to the installation: its rate-limit
        // headers describe another bucket and are not recorded.
        let answer = self.send(Method::POST, url, jwt.expose(), None).await?;
        if !answer.status.is_success() {
            return Err(self.error_for(&answer, what));
        }
        let token: InstallationToken = super::decode(&answer.body, what)?;
        *cached = Some(token.clone());
        Ok(token.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_no_secret() {
        let auth = Auth::Pat {
            token: Secret::new("ghp_abc"),
        };
        assert!(!format!("{auth:?}").contains("ghp_abc"));
        let auth = Authenticator::Pat(Secret::new("ghp_abc"));
        assert_eq!(format!("{auth:?}"), "Pat");
    }

    #[test]
    fn a_key_that_is_not_pem_is_rejected() {
        let err = Authenticator::new(Auth::App {
            app_id: 1,
            installation_id: 2,
            private_key_pem: Secret::new("not a key"),
        })
        .unwrap_err();
        assert!(matches!(err, ForgeError::InvalidConfig { .. }), "{err:?}");
    }
}
