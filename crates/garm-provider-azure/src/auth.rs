//! Tokens for ARM: client secret, workload identity (federated token file) and managed identity
//! (IMDS), tried in that order; the first that works is kept and its token cached for the run.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde::Deserialize;

use crate::config::{Config, Endpoints};
use crate::error::AzureError;
use garm_base::Secret;

/// One way to get a token.
#[derive(Debug, Clone)]
pub enum Source {
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
    },
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl Source {
    pub fn describe(&self) -> &'static str {
        match self {
            Source::ClientSecret { .. } => "client secret",
            Source::WorkloadIdentity { .. } => "workload identity",
            Source::ManagedIdentity { .. } => "managed identity",
        }
    }
}

/// The credential chain of a config: service principal (if complete), workload identity (if
/// configured), then managed identity (always).
pub fn sources(config: &Config) -> Vec<Source> {
    let credentials = &config.credentials;
    let mut sources = Vec::new();
    if let Some(sp) = &credentials.service_principal {
        sources.push(Source::ClientSecret {
            tenant_id: sp.tenant_id.clone(),
            client_id: sp.client_id.clone(),
            client_secret: sp.client_secret.clone(),
        });
    }
    if let Some(wi) = &credentials.workload_identity {
        sources.push(Source::WorkloadIdentity {
            tenant_id: wi.tenant_id.clone(),
            client_id: wi.client_id.clone(),
            token_file: wi.federated_token_file.clone(),
        });
    }
    sources.push(Source::ManagedIdentity {
        client_id: credentials.managed_identity.client_id.clone(),
    });
    sources
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// A token cache over a credential chain.
pub struct Credential {
    sources: Vec<Source>,
    endpoints: Endpoints,
    http: Client,
    imds_http: Client,
    chosen: RefCell<Option<usize>>,
    cached: RefCell<Option<Cached>>,
    fetched: RefCell<u32>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
}

/// Entra sends numbers, IMDS sends strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    Text(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<u64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::Text(text) => text.trim().parse().ok(),
        }
    }
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl Credential {
    /// `http` talks to the authority; `imds_http` must bypass proxies.
    pub fn new(sources: Vec<Source>, endpoints: Endpoints, http: Client, imds_http: Client) -> Credential {
        Credential {
            sources,
            endpoints,
            http,
            imds_http,
            chosen: RefCell::new(None),
            cached: RefCell::new(None),
            fetched: RefCell::new(0),
        }
    }

    /// How many tokens this credential fetched so far.
    pub fn fetched(&self) -> u32 {
        *self.fetched.borrow()
    }

    /// A bearer token, from the cache unless it is close to expiry.
    pub fn token(&self) -> Result<Secret, AzureError> {
        if let Some(cached) = self.cached.borrow().as_ref() {
            if Instant::now() < cached.refresh_at {
                return Ok(cached.token.clone());
            }
        }
        let (token, lifetime) = self.fetch()?;
        // Refresh 5 minutes before expiry, or halfway for short-lived tokens.
        let margin = (lifetime / 2).min(Duration::from_secs(300));
        *self.cached.borrow_mut() = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        *self.fetched.borrow_mut() += 1;
        Ok(token)
    }

    /// Forgets the cached token (ARM said it is invalid or expired).
    pub fn invalidate(&self) {
        *self.cached.borrow_mut() = None;
    }

    fn fetch(&self) -> Result<(Secret, Duration), AzureError> {
        if let Some(index) = *self.chosen.borrow() {
            return self.fetch_from(&self.sources[index]);
        }
        let mut failures = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            match self.fetch_from(source) {
                Ok(token) => {
                    tracing::debug!(credential = source.describe(), "got an ARM token");
                    *self.chosen.borrow_mut() = Some(index);
                    return Ok(token);
                }
                Err(AzureError::Credential(reason)) => failures.push(format!("{}: {reason}", source.describe())),
                Err(err) => failures.push(format!("{}: {err}", source.describe())),
            }
        }
        Err(AzureError::Credential(failures.join("; ")))
    }

    fn fetch_from(&self, source: &Source) -> Result<(Secret, Duration), AzureError> {
        match source {
            Source::ClientSecret {
                tenant_id,
                client_id,
                client_secret,
            } => self.entra(tenant_id, client_id, &[("client_secret", client_secret.expose())]),
            Source::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                // Re-read every time: the platform rotates the file.
                let assertion = std::fs::read_to_string(token_file)
                    .map_err(|err| AzureError::Credential(format!("cannot read {}: {err}", token_file.display())))?;
                self.entra(
                    tenant_id,
                    client_id,
                    &[
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.trim()),
                    ],
                )
            }
            Source::ManagedIdentity { client_id } => self.imds(client_id.as_deref()),
        }
    }

    /// `POST {authority}/{tenant}/oauth2/v2.0/token` with the client credentials grant.
    fn entra(&self, tenant: &str, client_id: &str, secret: &[(&str, &str)]) -> Result<(Secret, Duration), AzureError> {
        let mut url = self.endpoints.authority_host.clone();
        url.path_segments_mut()
            .map_err(|()| AzureError::Credential("the authority host cannot be a base URL".into()))?
            .pop_if_empty()
            .extend([tenant, "oauth2", "v2.0", "token"]);
        let scope = self.endpoints.scope();
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", &scope),
        ];
        form.extend_from_slice(secret);
        let response = self
            .http
            .post(url.clone())
            .form(&form)
            .send()
            .map_err(|err| AzureError::Credential(format!("POST {url}: {err}")))?;
        read_token(response)
    }

    /// `GET {imds}/metadata/identity/oauth2/token` with `Metadata: true`; retries the answers
    /// IMDS gives while it is starting up.
    fn imds(&self, client_id: Option<&str>) -> Result<(Secret, Duration), AzureError> {
        let mut url = self.endpoints.imds.clone();
        url.path_segments_mut()
            .map_err(|()| AzureError::Credential("the IMDS URL cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(["metadata", "identity", "oauth2", "token"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", "2018-02-01");
            query.append_pair("resource", &self.endpoints.token_audience);
            if let Some(id) = client_id {
                query.append_pair("client_id", id);
            }
        }
        let mut delay = Duration::from_millis(500);
        for attempt in 1.. {
            let response = self
                .imds_http
                .get(url.clone())
                .header("Metadata", "true")
                .send()
                .map_err(|err| AzureError::Credential(format!("GET {url}: {err}")))?;
            let status = response.status().as_u16();
            let retry = matches!(status, 404 | 410 | 429) || status >= 500;
            if retry && attempt < 4 {
                std::thread::sleep(delay);
                delay *= 2;
                continue;
            }
            return read_token(response);
        }
        unreachable!("the loop returns")
    }
}

fn read_token(response: reqwest::blocking::Response) -> Result<(Secret, Duration), AzureError> {
    let status = response.status();
    let body = response
        .bytes()
        .map_err(|err| AzureError::Credential(format!("cannot read the token answer: {err}")))?;
    if !status.is_success() {
        let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
        return Err(AzureError::Credential(format!(
            "HTTP {}: {} {}",
            status.as_u16(),
            error.error,
            error.error_description
        )));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|err| AzureError::Credential(format!("the token answer is not a token: {err}")))?;
    let lifetime = answer.expires_in.and_then(|value| value.seconds()).unwrap_or(3599);
    Ok((Secret::new(answer.access_token), Duration::from_secs(lifetime)))
}
