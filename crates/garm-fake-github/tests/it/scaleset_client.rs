//! A minimal scale set client for the tests, speaking the protocol as ARC and garm do:
//! token exchange, `{svc}` calls with `api-version`, and the message queue.

use std::time::Duration;

use base64::Engine as _;
use garm_fake_github::{FakeConfig, FakeHandle, Scope};
use serde_json::{json, Value};

use crate::support;

pub const UA: &str = "Go-http-client/1.1";

/// A test configuration with a short queue hold.
pub fn config() -> FakeConfig {
    let mut config = support::config();
    config.scale_sets.long_poll = Duration::from_secs(1);
    config
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub fn type_name(&self) -> &str {
        self.body["typeName"].as_str().unwrap_or_default()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

/// The claims of a JWT, decoded without checking the signature (as the clients do).
pub fn claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three segments: {jwt}");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .expect("unpadded base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// `POST {root}/actions/runner-registration` with `RemoteAuth`.
pub async fn exchange(root: &str, token: &str, config_url: &str) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{root}/actions/runner-registration"))
        .header("User-Agent", UA)
        .header("Authorization", format!("RemoteAuth {token}"))
        .json(&json!({"url": config_url, "runner_event": "register"}))
        .send()
        .await
        .expect("the fake answers");
    answer(response).await
}

/// An admin connection to `{svc}`.
#[derive(Clone)]
pub struct Svc {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Svc {
    /// Registration token, then the exchange, for `scope` (`acme` or `acme/app`).
    pub async fn connect(fake: &FakeHandle, scope: &Scope) -> Svc {
        let token = fake.state().registration_token(scope);
        let reply = exchange(fake.url(), &token, &format!("{}/{}", fake.url(), scope.path())).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        Svc {
            http: reqwest::Client::new(),
            url: reply.body["url"].as_str().expect("url").to_owned(),
            token: reply.body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// `{svc}{path}` with `api-version=6.0-preview` added, as the Go clients build it.
    pub fn full(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}api-version=6.0-preview", self.url)
    }

    pub async fn raw(&self, method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method.parse().expect("method"), url)
            .header("User-Agent", UA)
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        answer(request.send().await.expect("the fake answers")).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.raw(method, &self.full(path), Some(&self.token), body).await
    }

    /// Creates a scale set in the default group; its id.
    pub async fn create_set(&self, name: &str, extra: &[&str]) -> u64 {
        let mut labels = vec![json!({"type": "System", "name": name})];
        labels.extend(extra.iter().map(|l| json!({"type": "", "name": l})));
        let body = json!({
            "name": name, "runnerGroupId": 1, "labels": labels,
            "RunnerSetting": {"ephemeral": true}, "createdOn": "0001-01-01T00:00:00Z",
        });
        let reply = self.call("POST", "_apis/runtime/runnerscalesets", Some(body)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["id"].as_u64().expect("id")
    }

    pub async fn open_session(&self, sid: u64) -> Session {
        let reply = self
            .call(
                "POST",
                &format!("_apis/runtime/runnerscalesets/{sid}/sessions"),
                Some(json!({"ownerName": "test-listener"})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        Session::from(&reply.body)
    }
}

/// A message session as a listener keeps it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub queue_url: String,
    pub queue_token: String,
    pub body: Value,
}

impl Session {
    pub fn from(body: &Value) -> Session {
        Session {
            id: body["sessionId"].as_str().expect("sessionId").to_owned(),
            queue_url: body["messageQueueUrl"].as_str().expect("messageQueueUrl").to_owned(),
            queue_token: body["messageQueueAccessToken"].as_str().expect("token").to_owned(),
            body: body.clone(),
        }
    }

    /// `GET {mq}` with the cursor and capacity header.
    pub async fn poll(&self, last: u64, capacity: Option<&str>) -> Answer {
        let mut url = url::Url::parse(&self.queue_url).expect("absolute queue URL");
        if last > 0 {
            url.query_pairs_mut().append_pair("lastMessageId", &last.to_string());
        }
        let mut request = reqwest::Client::new()
            .get(url)
            .header("User-Agent", UA)
            .header("Accept", "application/json; api-version=6.0-preview")
            .header("Authorization", format!("Bearer {}", self.queue_token));
        if let Some(capacity) = capacity {
            request = request.header("X-ScaleSetMaxCapacity", capacity);
        }
        answer(request.send().await.expect("the fake answers")).await
    }

    /// Polls until a message comes (at most `tries` holds); the envelope.
    pub async fn next(&self, last: u64, capacity: Option<&str>, tries: usize) -> Value {
        for _ in 0..tries {
            let reply = self.poll(last, capacity).await;
            match reply.status {
                200 => return reply.body,
                202 => continue,
                other => panic!("poll answered {other}: {}", reply.text),
            }
        }
        panic!("no message after {tries} polls");
    }

    /// `DELETE {mq path}/{id}` keeping the query.
    pub async fn ack(&self, id: u64) -> u16 {
        let mut url = url::Url::parse(&self.queue_url).expect("absolute queue URL");
        let path = format!("{}/{id}", url.path());
        url.set_path(&path);
        reqwest::Client::new()
            .delete(url)
            .header("User-Agent", UA)
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {}", self.queue_token))
            .send()
            .await
            .expect("the fake answers")
            .status()
            .as_u16()
    }
}

/// The job messages of an envelope (`body` is JSON text).
pub fn jobs_of(envelope: &Value) -> Vec<Value> {
    let body = envelope["body"].as_str().expect("body is a string");
    if body.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(body).expect("body holds a JSON array")
}

pub fn types_of(envelope: &Value) -> Vec<String> {
    jobs_of(envelope)
        .iter()
        .map(|m| m["messageType"].as_str().unwrap_or_default().to_owned())
        .collect()
}
