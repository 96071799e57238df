//! Async REST client for one GitHub endpoint and one set of credentials.

mod auth;
mod hooks;
mod rate_limit;
mod runners;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::ForgeError;

pub use auth::Auth;
pub use hooks::{DeliveryFilter, DeliveryPage, Hook, HookDelivery};
pub use rate_limit::RateLimitState;
pub use runners::{
    JitConfig, RateBucket, RateLimits, RegistrationToken, Runner, RunnerDownload, RunnerGroup, RunnerStatus,
};

const USER_AGENT: &str = concat!("garm-rs/", env!("CARGO_PKG_VERSION"));
const API_VERSION: &str = "2022-11-28";
const PER_PAGE: &str = "100";
/// A guard against a server whose `next` links never end.
const MAX_PAGES: usize = 1000;

/// One GitHub deployment: github.com, a GHE.com tenant or a GitHub Enterprise Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubEndpoint {
    /// REST base, e.g. `https://api.github.com` or `https://ghes.example.com/api/v3`.
    pub api_base_url: Url,
    /// Web base, e.g. `https://github.com`.
    pub base_url: Url,
    /// Extra PEM root certificates to trust (GHES with a private CA).
    pub ca_cert_bundle: Option<Vec<u8>>,
}

/// Where runners and hooks live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository { owner: String, name: String },
    Organization(String),
    Enterprise(String),
}

impl Scope {
    /// The scope's page on the web host, as the Actions service names it
    /// (`{base}/ORG`, `{base}/OWNER/REPO`, `{base}/enterprises/SLUG`).
    pub fn config_url(&self, base_url: &Url) -> Url {
        let mut url = base_url.clone();
        let segments: Vec<&str> = match self {
            Self::Repository { owner, name } => vec![owner, name],
            Self::Organization(org) => vec![org],
            Self::Enterprise(slug) => vec!["enterprises", slug],
        };
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn segments(&self) -> Vec<&str> {
        match self {
            Self::Repository { owner, name } => vec!["repos", owner, name],
            Self::Organization(org) => vec!["orgs", org],
            Self::Enterprise(slug) => vec!["enterprises", slug],
        }
    }
}

/// The outcome of a delete: both mean the object is gone now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Deleted,
    /// It was already gone (404).
    Gone,
}

/// A GitHub REST client. Cheap to share behind an `Arc`; safe to use from many tasks.
///
/// It remembers the rate limit GitHub reports and sends nothing while that limit says to
/// wait ([`ForgeError::RateLimited`]). With App credentials it caches the installation
/// token until five minutes before it expires, and drops it on a 401.
pub struct GithubClient {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base_url: Url,
    base_url: Url,
    auth: auth::Authenticator,
    rate: Mutex<RateLimitState>,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_base_url", &self.api_base_url.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// One answer, read in full.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl GithubClient {
    /// Builds a client; fails on an unreadable CA bundle or App private key (PKCS#1 or PKCS#8 PEM).
    pub fn new(endpoint: GithubEndpoint, auth: Auth) -> Result<Self, ForgeError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(bundle) = &endpoint.ca_cert_bundle {
            let certificates =
                reqwest::Certificate::from_pem_bundle(bundle).map_err(|err| ForgeError::InvalidConfig {
                    what: "CA bundle",
                    source: Some(err.into()),
                })?;
            if certificates.is_empty() {
                return Err(ForgeError::InvalidConfig {
                    what: "CA bundle holds no certificate",
                    source: None,
                });
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(|err| ForgeError::InvalidConfig {
            what: "HTTP client",
            source: Some(err.into()),
        })?;
        let mut api_base_url = endpoint.api_base_url;
        if !api_base_url.path().ends_with('/') {
            let path = format!("{}/", api_base_url.path());
            api_base_url.set_path(&path);
        }
        Ok(Self {
            http,
            api_base_url,
            base_url: endpoint.base_url,
            auth: auth::Authenticator::new(auth)?,
            rate: Mutex::new(RateLimitState::default()),
        })
    }

    /// The web base URL of the endpoint (what runners are configured with).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The rate limit as last reported by GitHub.
    pub fn rate_limit_state(&self) -> RateLimitState {
        self.rate.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// `api_base_url` joined with path segments (each percent-encoded).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_base_url.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL has path segments")
            .pop_if_empty()
            .extend(segments);
        url
    }

    pub(crate) fn scope_url(&self, scope: &Scope, rest: &[&str]) -> Url {
        let mut segments = scope.segments();
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    fn rate_limit_gate(&self) -> Result<(), ForgeError> {
        let state = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        match state.blocked_until(Utc::now()) {
            Some(reset_at) => Err(ForgeError::RateLimited { reset_at }),
            None => Ok(()),
        }
    }

    /// Sends one authenticated request and returns a 2xx answer; anything else becomes a [`ForgeError`].
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        what: &'static str,
    ) -> Result<Answer, ForgeError> {
        self.rate_limit_gate()?;
        let bearer = self.authorization().await?;
        let answer = self.send(method, url, bearer.expose(), body).await?;
        self.rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&answer.headers);
        if answer.status.is_success() {
            return Ok(answer);
        }
        if answer.status == StatusCode::UNAUTHORIZED {
            self.auth.forget_token().await;
        }
        Err(self.error_for(&answer, what))
    }

    /// Sends a request with GitHub's headers and reads the whole answer, whatever its status.
    async fn send(
        &self,
        method: Method,
        url: Url,
        bearer: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ForgeError> {
        let transport = |source| ForgeError::Transport {
            endpoint: strip_query(&url),
            source,
        };
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(bearer)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(request_id) = headers.get("x-github-request-id") {
            tracing::debug!(%status, ?request_id, url = %strip_query(&url), "github answered");
        }
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer { status, headers, body })
    }

    /// Classifies a non-2xx answer; a rate-limit answer also holds off later requests.
    fn error_for(&self, answer: &Answer, what: &'static str) -> ForgeError {
        let message = error_message(&answer.body);
        let now = Utc::now();
        if let Some(reset_at) = rate_limit::limited_until(answer.status, &answer.headers, &message, now) {
            self.rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .hold_until(reset_at);
            return ForgeError::RateLimited { reset_at };
        }
        match answer.status.as_u16() {
            401 => ForgeError::Unauthorized,
            403 => ForgeError::Forbidden,
            404 => ForgeError::NotFound { what },
            409 => ForgeError::Conflict { message },
            422 => ForgeError::Validation { message },
            status @ 500..=599 => ForgeError::Server { status },
            status => ForgeError::UnexpectedStatus { status, message },
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url, what: &'static str) -> Result<T, ForgeError> {
        let answer = self.call(Method::GET, url, None, what).await?;
        decode(&answer.body, what)
    }

    /// Gets every page of a list, 100 items a page, following `Link: <...>; rel="next"`.
    async fn get_all<P, T>(
        &self,
        mut url: Url,
        what: &'static str,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, ForgeError>
    where
        P: DeserializeOwned,
    {
        url.query_pairs_mut().append_pair("per_page", PER_PAGE);
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.call(Method::GET, url, None, what).await?;
            all.extend(items(decode(&answer.body, what)?));
            match rate_limit::next_link(&answer.headers) {
                // Invariant: the credential is only ever sent to the configured endpoint.
                Some(next) if next.origin() == self.api_base_url.origin() => url = next,
                Some(next) => {
                    tracing::warn!(next = %strip_query(&next), "not following a next link to another host");
                    break;
                }
                None => break,
            }
        }
        Ok(all)
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, ForgeError> {
    serde_json::from_slice(body).map_err(|source| ForgeError::Decode { what, source })
}

/// GitHub's `message`, with the `errors` of a validation failure appended; else the start of the body.
fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::from_utf8_lossy(body).chars().take(200).collect();
    };
    let mut message = value["message"].as_str().unwrap_or_default().to_owned();
    let details: Vec<&str> = value["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error.as_str().or(error["message"].as_str()).or(error["code"].as_str()))
        .collect();
    if !details.is_empty() {
        message = format!("{message} ({})", details.join("; "));
    }
    message
}

fn strip_query(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_query(None);
    url
}
