//! The ARM HTTP pipeline: bearer token, request ids, retries for 408/429/5xx honouring
//! `Retry-After`, one token refresh on 401, and ARM error bodies turned into [`AzureError`].

use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::auth::{self, Credential};
use crate::config::{Config, Timeouts};
use crate::error::AzureError;

/// Transient failures are retried this many times before giving up.
const MAX_RETRIES: u32 = 6;

/// A point in time a command (or its cleanup) must finish by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(duration: Duration) -> Deadline {
        Deadline(Instant::now() + duration)
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Sleeps `delay`, unless that would pass the deadline.
    pub fn sleep(&self, delay: Duration, what: &str) -> Result<(), AzureError> {
        if delay > self.remaining() {
            return Err(AzureError::Deadline(what.to_owned()));
        }
        std::thread::sleep(delay);
        Ok(())
    }
}

/// A successful (2xx) ARM answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The body as JSON; an empty body is `null`.
    pub fn json(&self) -> Result<Value, AzureError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|err| AzureError::Protocol(format!("the answer is not JSON: {err}")))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

/// `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) win over `Retry-After`
/// (seconds or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|value| value.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// `{"error": {"code", "message"}}`, or the same fields at the top level.
pub fn error_code_and_message(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").filter(|error| error.is_object()).unwrap_or(&value);
    let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let code = field("code");
    let message = field("message");
    if code.is_empty() && message.is_empty() {
        let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
        return (String::new(), text);
    }
    (code, message)
}

/// An authenticated ARM client for one subscription.
pub struct Arm {
    http: Client,
    credential: Credential,
    pub base: Url,
    pub subscription: String,
    pub timeouts: Timeouts,
}

fn client_builder(timeouts: (Duration, Duration)) -> reqwest::blocking::ClientBuilder {
    Client::builder()
        .connect_timeout(timeouts.0)
        .timeout(timeouts.1)
        .user_agent(concat!("garm-provider-azure/", env!("CARGO_PKG_VERSION")))
}

impl Arm {
    /// Builds the HTTP clients and the credential chain of `config`.
    pub fn new(config: &Config) -> Result<Arm, AzureError> {
        let mut builder = client_builder((Duration::from_secs(10), Duration::from_secs(60)));
        if let Some(path) = &config.endpoints.ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|err| AzureError::Config(format!("cannot read {}: {err}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| AzureError::Config(format!("{} holds no PEM certificates: {err}", path.display())))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|err| AzureError::Config(format!("cannot build the HTTP client: {err}")))?;
        // IMDS is link-local: never through a proxy, and quick to give up off Azure.
        let imds_http = client_builder((Duration::from_secs(2), Duration::from_secs(15)))
            .no_proxy()
            .build()
            .map_err(|err| AzureError::Config(format!("cannot build the HTTP client: {err}")))?;
        let credential = Credential::new(auth::sources(config), config.endpoints.clone(), http.clone(), imds_http);
        Ok(Arm {
            http,
            credential,
            base: config.endpoints.resource_manager.clone(),
            subscription: config.credentials.subscription_id.clone(),
            timeouts: config.timeouts,
        })
    }

    /// Tokens fetched so far (for the closing log line).
    pub fn tokens_fetched(&self) -> u32 {
        self.credential.fetched()
    }

    /// `{base}/subscriptions/{sub}{path}?api-version={api}` plus `query`.
    pub fn url(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Url {
        let text = format!(
            "{}/subscriptions/{}{path}",
            self.base.as_str().trim_end_matches('/'),
            self.subscription
        );
        let mut url = Url::parse(&text).expect("the base URL was checked and names are checked");
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", api_version);
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        url
    }

    /// Sends one ARM request, retrying transient failures; `Ok` only for 2xx answers.
    pub fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        deadline: Deadline,
    ) -> Result<Answer, AzureError> {
        let mut retries = 0;
        let mut refreshed = false;
        let mut backoff = Duration::from_millis(800);
        loop {
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(AzureError::Deadline(format!("waiting to send {method} {url}")));
            }
            let token = self.credential.token()?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header("Accept", "application/json")
                .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
                .timeout(remaining.min(Duration::from_secs(60)));
            if let Some(body) = body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(body).expect("JSON values serialize"));
            }
            let transient_wait = match request.send() {
                Err(err) if retries < MAX_RETRIES && (err.is_connect() || err.is_timeout() || err.is_request()) => {
                    tracing::warn!(%method, %url, error = %err, "request failed; retrying");
                    None
                }
                Err(source) => {
                    return Err(AzureError::Transport {
                        method: method.to_string(),
                        url: url.to_string(),
                        source,
                    })
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = response
                        .bytes()
                        .map_err(|source| AzureError::Transport {
                            method: method.to_string(),
                            url: url.to_string(),
                            source,
                        })?
                        .to_vec();
                    tracing::debug!(%method, %url, status, "ARM answered");
                    if (200..300).contains(&status) {
                        return Ok(Answer { status, headers, body });
                    }
                    let (code, message) = error_code_and_message(&body);
                    let token_problem = matches!(
                        code.as_str(),
                        "InvalidAuthenticationToken" | "ExpiredAuthenticationToken" | "AuthenticationFailed"
                    );
                    if status == 401 && token_problem && !refreshed {
                        tracing::info!(code, "ARM refused the token; fetching a new one");
                        self.credential.invalidate();
                        refreshed = true;
                        continue;
                    }
                    let transient = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
                    if !transient || retries >= MAX_RETRIES {
                        return Err(AzureError::Arm {
                            method: method.to_string(),
                            url: url.to_string(),
                            status,
                            code,
                            message,
                        });
                    }
                    tracing::warn!(%method, %url, status, code, "transient ARM error; retrying");
                    retry_after(&headers)
                }
            };
            retries += 1;
            let wait = match transient_wait {
                // Obeyed exactly, up to the configured cap.
                Some(wait) => wait.min(self.timeouts.max_retry_after),
                None => {
                    let jitter = rand::thread_rng().gen_range(0.8..1.2);
                    let wait = backoff.mul_f64(jitter);
                    backoff *= 2;
                    wait
                }
            };
            deadline.sleep(wait, &format!("retrying {method} {url}"))?;
        }
    }

    /// Every element of a paged list, following `nextLink` verbatim.
    pub fn list_all(&self, first: &Url, deadline: Deadline) -> Result<Vec<Value>, AzureError> {
        let mut items = Vec::new();
        let mut next = Some(first.clone());
        while let Some(url) = next.take() {
            let page = self.send(Method::GET, &url, None, deadline)?.json()?;
            if let Some(values) = page.get("value").and_then(Value::as_array) {
                items.extend(values.iter().cloned());
            }
            if let Some(link) = page
                .get("nextLink")
                .and_then(Value::as_str)
                .filter(|link| !link.is_empty())
            {
                next = Some(Url::parse(link).map_err(|err| AzureError::Protocol(format!("nextLink {link:?}: {err}")))?);
            }
        }
        Ok(items)
    }
}
