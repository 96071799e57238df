//! `run.sh`: token exchange, listener session, message long-poll and job completion.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::{client, hostname, read, rejected, send, RunnerError};
use crate::config::RUNNER_VERSION;
use crate::files::{self, Credentials, RsaParams, RunnerSettings};

/// A job the service handed to this runner.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub job_id: u64,
    pub repository: String,
    pub labels: Vec<String>,
    /// How long to "run" it.
    pub run_for: Duration,
    /// What to report at the end.
    pub conclusion: String,
}

/// A configured runner talking to the Actions service.
pub struct Listener {
    http: reqwest::Client,
    pub settings: RunnerSettings,
    credentials: Credentials,
    rsa: RsaParams,
    access_token: Option<String>,
    session_id: Option<String>,
    last_message_id: u64,
}

impl Listener {
    /// Loads the three files from `dir`.
    pub fn load(dir: &Path) -> Result<Self, RunnerError> {
        let parse = |name: &str| -> Result<Vec<u8>, RunnerError> { read(dir, name) };
        let settings = serde_json::from_slice(&parse(".runner")?)
            .map_err(|_| RunnerError::Config(".runner is not valid".to_owned()))?;
        let credentials = serde_json::from_slice(&parse(".credentials")?)
            .map_err(|_| RunnerError::Config(".credentials is not valid".to_owned()))?;
        let rsa = serde_json::from_slice(&parse(".credentials_rsaparams")?)
            .map_err(|_| RunnerError::Config(".credentials_rsaparams is not valid".to_owned()))?;
        Ok(Listener {
            http: client(),
            settings,
            credentials,
            rsa,
            access_token: None,
            session_id: None,
            last_message_id: 0,
        })
    }

    /// Decodes a JIT blob without touching the disk.
    pub fn from_jit(blob: &str) -> Result<Self, RunnerError> {
        let decoded = files::decode_jit(blob)?;
        let get = |name: &str| decoded.get(name).cloned().unwrap_or_default();
        let invalid = |name: &str| RunnerError::Config(format!("{name} in the JIT configuration is not valid"));
        Ok(Listener {
            http: client(),
            settings: serde_json::from_slice(&get(".runner")).map_err(|_| invalid(".runner"))?,
            credentials: serde_json::from_slice(&get(".credentials")).map_err(|_| invalid(".credentials"))?,
            rsa: serde_json::from_slice(&get(".credentials_rsaparams"))
                .map_err(|_| invalid(".credentials_rsaparams"))?,
            access_token: None,
            session_id: None,
            last_message_id: 0,
        })
    }

    fn service(&self, tail: &str) -> String {
        let base = &self.settings.server_url;
        if base.ends_with('/') {
            format!("{base}{tail}")
        } else {
            format!("{base}/{tail}")
        }
    }

    async fn exchange_token(&mut self) -> Result<String, RunnerError> {
        let now = chrono::Utc::now().timestamp();
        let client_id = &self.credentials.data.client_id;
        let claims = json!({
            "sub": client_id, "iss": client_id, "aud": self.credentials.data.authorization_url,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "nbf": now, "exp": now + 300,
        });
        let key = jsonwebtoken::EncodingKey::from_secret(&self.rsa.signing_key());
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &key,
        )
        .map_err(|_| RunnerError::Config("cannot sign the token request".to_owned()))?;
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let what = "oauth2/token";
        let (status, body) = send(
            what,
            self.http.post(&self.credentials.data.authorization_url).form(&form),
        )
        .await?;
        match status {
            200 => {}
            400 | 401 => return Err(RunnerError::Deleted),
            _ => return Err(rejected(what, status, &body)),
        }
        let token = body["access_token"].as_str().unwrap_or_default().to_owned();
        self.access_token = Some(token.clone());
        Ok(token)
    }

    async fn token(&mut self) -> Result<String, RunnerError> {
        match &self.access_token {
            Some(token) => Ok(token.clone()),
            None => self.exchange_token().await,
        }
    }

    /// Opens the listener session; the runner shows `online` from now on while it polls.
    pub async fn connect(&mut self) -> Result<(), RunnerError> {
        let token = self.token().await?;
        let body = json!({
            "ownerName": hostname(),
            "agent": {"id": self.settings.agent_id, "name": self.settings.agent_name, "version": RUNNER_VERSION, "osDescription": "Linux"},
        });
        let what = "sessions";
        let (status, reply) = send(
            what,
            self.http.post(self.service("sessions")).bearer_auth(token).json(&body),
        )
        .await?;
        match status {
            200 => {
                self.session_id = reply["sessionId"].as_str().map(str::to_owned);
                Ok(())
            }
            409 => Err(RunnerError::Conflict),
            401 | 404 => Err(RunnerError::Deleted),
            _ => Err(rejected(what, status, &reply)),
        }
    }

    /// Long-polls for up to `wait`; `None` when no job came.
    pub async fn poll(&mut self, wait: Duration) -> Result<Option<JobRequest>, RunnerError> {
        let session = self
            .session_id
            .clone()
            .ok_or_else(|| RunnerError::Config("not connected".to_owned()))?;
        let token = self.token().await?;
        let url = self.service(&format!("sessions/{session}/messages"));
        let query = [
            ("status", "Online".to_owned()),
            ("lastMessageId", self.last_message_id.to_string()),
            ("wait", wait.as_secs_f64().to_string()),
        ];
        let what = "messages";
        let (status, message) = send(what, self.http.get(url).query(&query).bearer_auth(token)).await?;
        match status {
            200 => {}
            202 | 204 => return Ok(None),
            401 => {
                self.access_token = None;
                return Ok(None);
            }
            404 => return Err(RunnerError::Deleted),
            _ => return Err(rejected(what, status, &message)),
        }
        self.last_message_id = message["messageId"].as_u64().unwrap_or(self.last_message_id);
        if message["messageType"].as_str() != Some("RunnerJobRequest") {
            return Ok(None);
        }
        let body: Value = serde_json::from_str(message["body"].as_str().unwrap_or("{}")).unwrap_or_default();
        Ok(Some(JobRequest {
            job_id: body["jobId"].as_u64().unwrap_or_default(),
            repository: body["repository"].as_str().unwrap_or_default().to_owned(),
            labels: body["labels"]
                .as_array()
                .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            run_for: Duration::from_millis(body["runForMs"].as_u64().unwrap_or_default()),
            conclusion: body["conclusion"].as_str().unwrap_or("success").to_owned(),
        }))
    }

    /// Reports the end of a job with its conclusion.
    pub async fn complete(&mut self, job_id: u64, conclusion: &str) -> Result<(), RunnerError> {
        let token = self.token().await?;
        let what = "complete";
        let url = self.service(&format!("jobs/{job_id}/complete"));
        let (status, body) = send(
            what,
            self.http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"conclusion": conclusion})),
        )
        .await?;
        match status {
            200 => Ok(()),
            404 => Err(RunnerError::Deleted),
            _ => Err(rejected(what, status, &body)),
        }
    }

    /// Closes the session; the runner goes `offline`.
    pub async fn disconnect(&mut self) {
        let (Some(session), Some(token)) = (self.session_id.take(), self.access_token.clone()) else {
            return;
        };
        let _ = self
            .http
            .delete(self.service(&format!("sessions/{session}")))
            .bearer_auth(token)
            .send()
            .await;
    }
}
