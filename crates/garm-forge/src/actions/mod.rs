//! Client of GitHub's Actions service, the private API behind runner scale sets.
//!
//! The chain (`shared/docs/scalesets.md` §2): the REST client mints a registration token,
//! which buys an admin connection (`POST …/actions/runner-registration`: the service URL
//! and an admin JWT); every scale set, session and runner call goes to that URL with the
//! admin token, and the message-queue calls use the session's queue token. The admin
//! connection is cached until a minute before its token expires and dropped on a 401, so a
//! rejected token costs one refresh, never a loop.
//!
//! Any 2xx counts as success (the reference clients disagree on exact codes), answers may
//! start with a byte-order mark, and errors are the service's `{typeName, message}` bodies,
//! plain text or nothing ([`ActionsError`]).

mod types;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::github::{GithubClient, Scope};
use crate::{ForgeError, Secret};

pub use types::{
    Agent, JobMessage, Label, Message, RunnerGroup, RunnerSetting, ScaleSet, ScaleSetJit, Session, Statistics,
};

const API_VERSION: &str = "6.0-preview";
/// How long the service may hold a long poll (it answers within about 50 s).
const POLL_TIMEOUT: Duration = Duration::from_secs(300);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// An admin token this close to its expiry is replaced before use.
const ADMIN_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A failed Actions service call. Classify with the `is_*` methods.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("getting the Actions service connection failed")]
    Connection(#[source] ForgeError),
    #[error("the Actions service rejected our token")]
    Unauthorized,
    #[error("the Actions service answered {status}{}: {message}", type_suffix(type_name))]
    Service {
        status: u16,
        /// The short exception name (`RunnerScaleSetSessionConflictException`, …), if any.
        type_name: String,
        message: String,
    },
    #[error("request to the Actions service ({what}) failed")]
    Transport {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("could not decode the Actions service's answer about {what}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("the Actions service gave an unusable answer: {0}")]
    Invalid(String),
}

fn type_suffix(type_name: &str) -> String {
    if type_name.is_empty() {
        String::new()
    } else {
        format!(" ({type_name})")
    }
}

impl ActionsError {
    fn service(&self) -> Option<(u16, &str)> {
        match self {
            Self::Service { status, type_name, .. } => Some((*status, type_name.as_str())),
            _ => None,
        }
    }

    fn named(&self, name: &str) -> bool {
        self.service().is_some_and(|(_, t)| t.contains(name))
    }

    pub fn status(&self) -> Option<u16> {
        self.service().map(|(s, _)| s)
    }

    /// Another listener holds the scale set's session (409).
    pub fn is_session_conflict(&self) -> bool {
        self.named("RunnerScaleSetSessionConflictException") || self.status() == Some(409)
    }

    /// The scale set no longer exists in the service.
    pub fn is_scale_set_gone(&self) -> bool {
        self.named("RunnerScaleSetNotFoundException")
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The runner is running a job and cannot be removed now.
    pub fn is_job_still_running(&self) -> bool {
        self.named("JobStillRunningException")
    }

    /// A runner with that name exists already.
    pub fn is_agent_exists(&self) -> bool {
        self.named("AgentExistsException")
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized)
            || matches!(self, Self::Connection(e) if e.is_unauthorized())
            || self.status() == Some(403)
    }

    /// Trying again later may work: 5xx, 429, transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Connection(e) => e.is_retryable(),
            Self::Service { status, .. } => *status == 429 || (*status >= 500 && *status != 501),
            _ => false,
        }
    }
}

/// One call with the session's queue token; `capacity` makes it a poll.
struct QueueCall<'a> {
    method: Method,
    url: &'a Url,
    body: Option<String>,
    timeout: Duration,
    capacity: Option<u32>,
    what: &'static str,
}

/// The service URL and admin token bought with a registration token.
struct AdminConnection {
    base: Url,
    token: Secret,
    expires_at: DateTime<Utc>,
}

/// The Actions service of one scope (repository, organization or enterprise).
pub struct ActionsClient {
    github: Arc<GithubClient>,
    scope: Scope,
    admin: tokio::sync::Mutex<Option<AdminConnection>>,
}

impl std::fmt::Debug for ActionsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionsClient")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The `exp` claim of a JWT, read without checking the signature (nobody checks it).
pub fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = value.get("exp")?.as_f64()?;
    DateTime::from_timestamp(exp as i64, 0)
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, ActionsError> {
    serde_json::from_slice(strip_bom(body)).map_err(|source| ActionsError::Decode { what, source })
}

/// One answer, read in full.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

fn error_of(answer: &Answer, content_type: &str) -> ActionsError {
    if answer.status == StatusCode::UNAUTHORIZED {
        return ActionsError::Unauthorized;
    }
    let body = strip_bom(&answer.body);
    let (type_name, message) = if body.is_empty() {
        (String::new(), "unknown exception".to_string())
    } else if content_type.contains("text/plain") {
        (String::new(), String::from_utf8_lossy(body).chars().take(300).collect())
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => {
                let full = v["typeName"].as_str().unwrap_or_default();
                // `Namespace.ShortName, Assembly` → `ShortName`.
                let short = full.split(',').next().unwrap_or_default();
                let short = short.rsplit('.').next().unwrap_or_default().trim().to_string();
                (short, v["message"].as_str().unwrap_or_default().to_string())
            }
            Err(_) => (String::new(), String::from_utf8_lossy(body).chars().take(300).collect()),
        }
    };
    ActionsError::Service {
        status: answer.status.as_u16(),
        type_name,
        message,
    }
}

impl ActionsClient {
    pub fn new(github: Arc<GithubClient>, scope: Scope) -> Self {
        Self {
            github,
            scope,
            admin: tokio::sync::Mutex::new(None),
        }
    }

    /// The scope's config URL, as the service knows it.
    pub fn config_url(&self) -> Url {
        self.scope.config_url(self.github.base_url())
    }

    /// `POST {rest}/actions/runner-registration` with a fresh registration token.
    async fn connect(&self) -> Result<AdminConnection, ActionsError> {
        let registration = self
            .github
            .create_registration_token(&self.scope)
            .await
            .map_err(ActionsError::Connection)?;
        let mut url = self.github.api_base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ActionsError::Invalid("the REST base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["actions", "runner-registration"]);
        let body = serde_json::json!({"url": self.config_url().as_str(), "runner_event": "register"});
        let response = self
            .github
            .http
            .post(url)
            .header("authorization", format!("RemoteAuth {}", registration.token.expose()))
            .json(&body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|source| ActionsError::Transport {
                what: "runner registration",
                source,
            })?;
        let answer = read(response, "runner registration").await?;
        if !answer.0.status.is_success() {
            return Err(error_of(&answer.0, &answer.1));
        }
        let wire: types::WireAdminConnection = decode(&answer.0.body, "the admin connection")?;
        let mut base = Url::parse(&wire.url).map_err(|_| ActionsError::Invalid("service URL is not a URL".into()))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let token = wire
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ActionsError::Invalid("no admin token".into()))?;
        // An unreadable expiry is treated as short-lived rather than refused.
        let expires_at = jwt_expiry(token.expose()).unwrap_or_else(|| Utc::now() + chrono::TimeDelta::minutes(2));
        Ok(AdminConnection {
            base,
            token,
            expires_at,
        })
    }

    /// The cached admin connection, renewed when it is about to expire.
    async fn admin(&self) -> Result<(Url, Secret), ActionsError> {
        let mut guard = self.admin.lock().await;
        if let Some(conn) = guard.as_ref() {
            if conn.expires_at - ADMIN_MARGIN > Utc::now() {
                return Ok((conn.base.clone(), conn.token.clone()));
            }
        }
        let conn = self.connect().await?;
        let out = (conn.base.clone(), conn.token.clone());
        *guard = Some(conn);
        Ok(out)
    }

    async fn forget_admin(&self) {
        *self.admin.lock().await = None;
    }

    /// `{svc}` joined with `path`, with `query` and the API version.
    fn service_url(base: &Url, path: &str, query: &[(&str, &str)]) -> Result<Url, ActionsError> {
        let mut url = base
            .join(path.trim_start_matches('/'))
            .map_err(|_| ActionsError::Invalid(format!("cannot join {path} to the service URL")))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", API_VERSION);
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One admin-token call; a 401 renews the admin connection and tries once more.
    async fn admin_call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        what: &'static str,
    ) -> Result<Vec<u8>, ActionsError> {
        for attempt in 0..2 {
            let (base, token) = self.admin().await?;
            let url = Self::service_url(&base, path, query)?;
            let mut request = self
                .github
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("content-type", "application/json")
                .timeout(CALL_TIMEOUT);
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
            let response = request
                .send()
                .await
                .map_err(|source| ActionsError::Transport { what, source })?;
            let (answer, content_type) = read(response, what).await?;
            if answer.status.is_success() {
                return Ok(answer.body);
            }
            if answer.status == StatusCode::UNAUTHORIZED && attempt == 0 {
                tracing::debug!(what, "the Actions service refused the admin token; renewing it");
                self.forget_admin().await;
                continue;
            }
            return Err(error_of(&answer, &content_type));
        }
        Err(ActionsError::Unauthorized)
    }

    async fn admin_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        what: &'static str,
    ) -> Result<T, ActionsError> {
        let bytes = self.admin_call(method, path, query, body, what).await?;
        decode(&bytes, what)
    }

    /// The runner group called `name` (`None` if there is none).
    pub async fn runner_group(&self, name: &str) -> Result<Option<RunnerGroup>, ActionsError> {
        let list: types::Listing<RunnerGroup> = self
            .admin_json(
                Method::GET,
                "_apis/runtime/runnergroups/",
                &[("groupName", name)],
                None,
                "runner groups",
            )
            .await?;
        Ok(list.value.into_iter().next())
    }

    /// The scale set named `name` in runner group `group_id`, if any.
    pub async fn scale_set_by_name(&self, group_id: i64, name: &str) -> Result<Option<ScaleSet>, ActionsError> {
        let group = group_id.to_string();
        let list: types::Listing<ScaleSet> = self
            .admin_json(
                Method::GET,
                "_apis/runtime/runnerscalesets",
                &[("runnerGroupId", &group), ("name", name)],
                None,
                "scale sets",
            )
            .await?;
        Ok(list.value.into_iter().find(|s| s.name == name))
    }

    /// The scale set with service id `id`; `None` when the service does not know it.
    pub async fn scale_set(&self, id: i64) -> Result<Option<ScaleSet>, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        match self.admin_json(Method::GET, &path, &[], None, "a scale set").await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_scale_set(&self, spec: &ScaleSet) -> Result<ScaleSet, ActionsError> {
        let body = serde_json::to_value(spec).expect("a scale set serializes");
        self.admin_json(
            Method::POST,
            "_apis/runtime/runnerscalesets",
            &[],
            Some(&body),
            "a new scale set",
        )
        .await
    }

    /// Changes the members of `patch` that are set (name, runner group, runner settings).
    pub async fn update_scale_set(&self, id: i64, patch: &ScaleSet) -> Result<ScaleSet, ActionsError> {
        let body = serde_json::to_value(patch).expect("a scale set serializes");
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        self.admin_json(Method::PATCH, &path, &[], Some(&body), "an updated scale set")
            .await
    }

    /// Deletes the scale set; one the service does not know counts as deleted.
    pub async fn delete_scale_set(&self, id: i64) -> Result<(), ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{id}");
        match self
            .admin_call(Method::DELETE, &path, &[], None, "deleting a scale set")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn session_of(wire: types::WireSession, scale_set_id: i64) -> Result<Session, ActionsError> {
        if wire.session_id.is_empty() {
            return Err(ActionsError::Invalid("session without an id".into()));
        }
        let queue_url = Url::parse(&wire.message_queue_url)
            .map_err(|_| ActionsError::Invalid("session without a usable messageQueueUrl".into()))?;
        let token = wire
            .message_queue_access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ActionsError::Invalid("session without a queue token".into()))?;
        Ok(Session {
            id: wire.session_id,
            scale_set_id: wire
                .runner_scale_set
                .map(|s| s.id)
                .filter(|id| *id != 0)
                .unwrap_or(scale_set_id),
            owner: wire.owner_name,
            queue_url,
            queue_token_expires_at: jwt_expiry(token.expose()),
            queue_token: token,
            statistics: wire.statistics.unwrap_or_default(),
        })
    }

    /// Opens the scale set's message session ([`ActionsError::is_session_conflict`] when
    /// another listener holds it, [`ActionsError::is_scale_set_gone`] when it was deleted).
    pub async fn create_session(&self, scale_set_id: i64, owner: &str) -> Result<Session, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{scale_set_id}/sessions");
        let body = serde_json::json!({"ownerName": owner});
        let wire: types::WireSession = self
            .admin_json(Method::POST, &path, &[], Some(&body), "a new session")
            .await?;
        Self::session_of(wire, scale_set_id)
    }

    /// Renews the session's queue token (404 when the service evicted the session).
    pub async fn refresh_session(&self, session: &mut Session) -> Result<(), ActionsError> {
        let path = format!(
            "_apis/runtime/runnerscalesets/{}/sessions/{}",
            session.scale_set_id, session.id
        );
        let wire: types::WireSession = self
            .admin_json(Method::PATCH, &path, &[], None, "a refreshed session")
            .await?;
        *session = Self::session_of(wire, session.scale_set_id)?;
        Ok(())
    }

    /// Closes the session; an expired (400) or unknown (404) one counts as closed.
    pub async fn delete_session(&self, session: &Session) -> Result<(), ActionsError> {
        let path = format!(
            "_apis/runtime/runnerscalesets/{}/sessions/{}",
            session.scale_set_id, session.id
        );
        match self
            .admin_call(Method::DELETE, &path, &[], None, "closing a session")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.named("RunnerScaleSetSessionExpiredException") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A queue-token call; a 401 refreshes the session and tries once more.
    async fn queue_call(&self, session: &mut Session, call: QueueCall<'_>) -> Result<Answer, ActionsError> {
        let QueueCall {
            method,
            url,
            body,
            timeout,
            capacity,
            what,
        } = call;
        for attempt in 0..2 {
            let mut request = self
                .github
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(session.queue_token.expose())
                .timeout(timeout);
            if let Some(capacity) = capacity {
                request = request
                    .header("accept", "application/json; api-version=6.0-preview")
                    .header("x-scalesetmaxcapacity", capacity.to_string());
            } else {
                request = request.header("content-type", "application/json");
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|source| ActionsError::Transport { what, source })?;
            let (answer, content_type) = read(response, what).await?;
            if answer.status == StatusCode::UNAUTHORIZED && attempt == 0 {
                tracing::debug!(what, session = %session.id, "the queue token was refused; refreshing the session");
                self.refresh_session(session).await?;
                continue;
            }
            if answer.status.is_success() {
                return Ok(answer);
            }
            return Err(error_of(&answer, &content_type));
        }
        Err(ActionsError::Unauthorized)
    }

    /// Long-polls the session's queue: `None` when nothing arrived during the hold.
    pub async fn get_message(
        &self,
        session: &mut Session,
        last_message_id: i64,
        max_capacity: u32,
    ) -> Result<Option<Message>, ActionsError> {
        let mut url = session.queue_url.clone();
        if last_message_id > 0 {
            url.query_pairs_mut()
                .append_pair("lastMessageId", &last_message_id.to_string());
        }
        let call = QueueCall {
            method: Method::GET,
            url: &url,
            body: None,
            timeout: POLL_TIMEOUT,
            capacity: Some(max_capacity),
            what: "polling the queue",
        };
        let answer = self.queue_call(session, call).await?;
        if answer.status == StatusCode::ACCEPTED || strip_bom(&answer.body).is_empty() {
            return Ok(None);
        }
        let wire: types::WireMessage = decode(&answer.body, "a queue message")?;
        let jobs = match wire.body.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|source| ActionsError::Decode {
                what: "the job messages of a queue message",
                source,
            })?,
        };
        Ok(Some(Message {
            id: wire.message_id,
            kind: wire.message_type,
            statistics: wire.statistics.unwrap_or_default(),
            jobs,
        }))
    }

    /// Acknowledges (deletes) message `id`.
    pub async fn delete_message(&self, session: &mut Session, id: i64) -> Result<(), ActionsError> {
        let mut url = session.queue_url.clone();
        url.path_segments_mut()
            .map_err(|()| ActionsError::Invalid("queue URL cannot take a path".into()))?
            .pop_if_empty()
            .push(&id.to_string());
        let call = QueueCall {
            method: Method::DELETE,
            url: &url,
            body: None,
            timeout: CALL_TIMEOUT,
            capacity: None,
            what: "acknowledging a message",
        };
        self.queue_call(session, call).await.map(|_| ())
    }

    /// Acquires the `JobAvailable` requests `ids`; answers the ids this call got.
    pub async fn acquire_jobs(&self, session: &mut Session, ids: &[i64]) -> Result<Vec<i64>, ActionsError> {
        let (base, _) = self.admin().await?;
        let path = format!("_apis/runtime/runnerscalesets/{}/acquirejobs", session.scale_set_id);
        let url = Self::service_url(&base, &path, &[])?;
        let body = serde_json::to_string(ids).expect("ids serialize");
        let call = QueueCall {
            method: Method::POST,
            url: &url,
            body: Some(body),
            timeout: CALL_TIMEOUT,
            capacity: None,
            what: "acquiring jobs",
        };
        let answer = self.queue_call(session, call).await?;
        let acquired: types::WireAcquired = decode(&answer.body, "acquired jobs")?;
        Ok(acquired.value)
    }

    /// Mints a just-in-time runner called `name` in scale set `scale_set_id`.
    pub async fn generate_jit_config(&self, scale_set_id: i64, name: &str) -> Result<ScaleSetJit, ActionsError> {
        let path = format!("_apis/runtime/runnerscalesets/{scale_set_id}/generatejitconfig");
        let body = serde_json::json!({"name": name, "workFolder": "_work"});
        let wire: types::WireJit = self
            .admin_json(Method::POST, &path, &[], Some(&body), "a JIT configuration")
            .await?;
        Ok(ScaleSetJit {
            runner: wire.runner,
            encoded_jit_config: wire.encoded_jit_config,
        })
    }

    /// Every runner of the scope.
    pub async fn agents(&self) -> Result<Vec<Agent>, ActionsError> {
        let list: types::Listing<Agent> = self
            .admin_json(
                Method::GET,
                "_apis/distributedtask/pools/0/agents",
                &[],
                None,
                "runners",
            )
            .await?;
        Ok(list.value)
    }

    /// The runner called `name`, if any.
    pub async fn agent_by_name(&self, name: &str) -> Result<Option<Agent>, ActionsError> {
        let list: types::Listing<Agent> = self
            .admin_json(
                Method::GET,
                "_apis/distributedtask/pools/0/agents",
                &[("agentName", name)],
                None,
                "a runner by name",
            )
            .await?;
        Ok(list.value.into_iter().find(|a| a.name == name))
    }

    /// Removes a runner; one already gone counts as removed
    /// ([`ActionsError::is_job_still_running`] while it runs a job).
    pub async fn remove_agent(&self, id: i64) -> Result<(), ActionsError> {
        let path = format!("_apis/distributedtask/pools/0/agents/{id}");
        match self
            .admin_call(Method::DELETE, &path, &[], None, "removing a runner")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

async fn read(response: reqwest::Response, what: &'static str) -> Result<(Answer, String), ActionsError> {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Some(activity) = response.headers().get("activityid") {
        tracing::trace!(%status, ?activity, what, "actions service answered");
    }
    let body = response
        .bytes()
        .await
        .map_err(|source| ActionsError::Transport { what, source })?
        .to_vec();
    Ok((Answer { status, body }, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_claims() {
        // {"alg":"HS256"} . {"exp":1767229200} . sig
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3NjcyMjkyMDB9.c2ln";
        assert_eq!(jwt_expiry(token).map(|t| t.timestamp()), Some(1_767_229_200));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }

    #[test]
    fn exception_names_are_shortened_and_matched() {
        let answer = Answer {
            status: StatusCode::CONFLICT,
            body: br#"{"typeName":"GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi","message":"busy"}"#.to_vec(),
        };
        let err = error_of(&answer, "application/json");
        assert!(err.is_session_conflict());
        assert!(!err.is_scale_set_gone());
        assert!(
            err.to_string().contains("RunnerScaleSetSessionConflictException"),
            "{err}"
        );
        let plain = Answer {
            status: StatusCode::BAD_REQUEST,
            body: b"\xEF\xBB\xBFsomething broke".to_vec(),
        };
        let err = error_of(&plain, "text/plain; charset=utf-8");
        assert_eq!(err.status(), Some(400));
        assert!(err.to_string().ends_with("something broke"), "{err}");
        let empty = Answer {
            status: StatusCode::BAD_GATEWAY,
            body: Vec::new(),
        };
        assert!(error_of(&empty, "").is_retryable());
    }

    #[test]
    fn runner_setting_is_read_in_either_case_and_written_capitalised() {
        let s: ScaleSet =
            serde_json::from_str(r#"{"id":7,"name":"x","runnerSetting":{"disableUpdate":true}}"#).unwrap();
        assert!(s.runner_setting.disable_update);
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(out["RunnerSetting"]["disableUpdate"], true);
        assert!(out.get("runnerSetting").is_none());
    }

    #[test]
    fn job_messages_tolerate_zero_and_empty_times() {
        let m: JobMessage = serde_json::from_str(
            r#"{"messageType":"JobCompleted","jobId":"j","queueTime":"0001-01-01T00:00:00Z","finishTime":"","runnerAssignTime":"2026-01-01T00:00:02Z"}"#,
        )
        .unwrap();
        assert_eq!(m.queue_time, None);
        assert_eq!(m.finish_time, None);
        assert!(m.runner_assign_time.is_some());
    }
}
