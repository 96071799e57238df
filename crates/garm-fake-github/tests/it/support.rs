//! Test helpers: a fake started for the test, a REST client that checks every answer against
//! the OpenAPI subset, a webhook receiver that checks every payload, and App JWTs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use garm_fake_github::{AppSpec, FakeConfig, FakeGithub, FakeHandle};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::schema::{self, Doc};

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/github")
}

pub fn testdata(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

pub const APP_ID: u64 = 4242;

/// A test configuration: fast polls, the test App, the built simulated runner.
pub fn config() -> FakeConfig {
    FakeConfig {
        fixtures_dir: fixtures_dir(),
        runner_binary: PathBuf::from(env!("CARGO_BIN_EXE_garm-fake-runner")),
        long_poll: Duration::from_secs(2),
        runner_offline_after: Duration::from_secs(5),
        delivery_timeout: Duration::from_secs(5),
        apps: vec![AppSpec {
            id: APP_ID,
            client_id: Some("Iv1.testclient".to_owned()),
            slug: Some("garm-test".to_owned()),
            public_key_pem: testdata("test-only-app-key.pub.pem"),
        }],
        ..FakeConfig::default()
    }
}

/// A fake with organization `acme` (repositories `app`, `lib`) and user repo `alice/tool`.
pub async fn start_with(config: FakeConfig) -> FakeHandle {
    let fake = FakeGithub::start(config).await.expect("the fake starts");
    fake.state().add_org("acme");
    fake.state().add_repo("acme", "app");
    fake.state().add_repo("acme", "lib");
    fake.state().add_repo("alice", "tool");
    fake
}

pub async fn start() -> FakeHandle {
    start_with(config()).await
}

/// Every scope a full-power classic token has.
pub const ALL_SCOPES: &[&str] = &["repo", "admin:org", "admin:org_hook", "manage_runners:enterprise"];

/// An App JWT signed with the test key; `iat`/`exp` relative to now, in seconds.
pub fn app_jwt(iss: Value, iat: i64, exp: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": iss, "iat": now + iat, "exp": now + exp});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(testdata("test-only-app-key.pem").as_bytes()).expect("test key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("signing")
}

/// An answer from the fake.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A REST client that validates every answer against the response schemas of `doc`.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    doc: &'static Doc,
    pub token: Option<String>,
    /// `operationId status` of every validated answer.
    pub seen: Arc<Mutex<BTreeSet<String>>>,
}

impl Api {
    /// A client of `fake` at `/` validated with the GHEC subset.
    pub fn new(fake: &FakeHandle, token: Option<&str>) -> Self {
        Api::with(fake.url(), schema::ghec(), token)
    }

    /// A client at `base` (e.g. `.../api/v3`) validated with `doc`.
    pub fn with(base: &str, doc: &'static Doc, token: Option<&str>) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            doc,
            token: token.map(str::to_owned),
            seen: Arc::new(Mutex::new(BTreeSet::new())),
        }
    }

    pub fn as_token(&self, token: &str) -> Self {
        let mut other = self.clone();
        other.token = Some(token.to_owned());
        other
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .http
            .request(method.parse().expect("method"), format!("{}{path}", self.base))
            .header("User-Agent", "garm-fake-github-tests")
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("the fake answers JSON")
        };
        let reply = Reply { status, headers, body };
        self.validate(method, path, &reply);
        reply
    }

    fn validate(&self, method: &str, path: &str, reply: &Reply) {
        let path = path.split('?').next().unwrap_or(path);
        let Some(template) = self.doc.template_of(path) else {
            return; // Not a documented operation (e.g. the runner's own configuration calls).
        };
        let Some(operation) = self.doc.operation(method, &template) else {
            return;
        };
        let id = operation["operationId"].as_str().unwrap_or("?");
        let declared = operation["responses"]
            .get(reply.status.to_string())
            .map(|r| self.doc.resolve(r));
        let schema = match declared {
            Some(response) => match response.pointer("/content/application~1json/schema") {
                Some(schema) => schema.clone(),
                None => {
                    assert!(
                        reply.body.is_null(),
                        "{id} {}: expected no body, got {}",
                        reply.status,
                        reply.body
                    );
                    self.seen.lock().unwrap().insert(format!("{id} {}", reply.status));
                    return;
                }
            },
            // Statuses GitHub returns without declaring them per operation (401, 403, 404, 5xx).
            None if reply.status >= 400 => json!({"$ref": "#/components/schemas/basic-error"}),
            None => panic!("{id}: undeclared success status {} for {method} {path}", reply.status),
        };
        let schema = relaxed(id, reply.status).unwrap_or(schema);
        let errors = self.doc.errors(&schema, &reply.body);
        assert!(
            errors.is_empty(),
            "{id} {} ({method} {path}) violates its schema:\n{}\nbody: {}",
            reply.status,
            errors.join("\n"),
            reply.body
        );
        if reply.status >= 400 {
            assert!(
                reply.body["message"].is_string() && reply.body["documentation_url"].is_string(),
                "{id}: error body {}",
                reply.body
            );
        }
        self.seen.lock().unwrap().insert(format!("{id} {}", reply.status));
    }
}

/// Response schemas we check against something else than the operation declares, and why.
fn relaxed(operation: &str, status: u16) -> Option<Value> {
    match (operation, status) {
        // The inline item schema of this list says `account: allOf[simple-user, enterprise]`,
        // which no real account satisfies (a user or organization lacks `slug`, `name`,
        // `created_at`); the `installation` component the other operations use says `anyOf`.
        // Check the items against that component instead.
        ("apps/list-installations", 200) => {
            Some(json!({"type": "array", "items": {"$ref": "#/components/schemas/installation"}}))
        }
        _ => None,
    }
}

/// One webhook request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub raw: Bytes,
    pub payload: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_lowercase())
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn event(&self) -> &str {
        self.header("x-github-event")
    }

    pub fn action(&self) -> &str {
        self.payload["action"].as_str().unwrap_or_default()
    }
}

#[derive(Clone)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<u16>>,
    changed: watch::Sender<usize>,
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let json = if headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        url::form_urlencoded::parse(&raw)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(&raw).into_owned()
    };
    let payload = serde_json::from_str(&json).unwrap_or(Value::Null);
    let count = {
        let mut received = inbox.received.lock().unwrap();
        received.push(Received { headers, raw, payload });
        received.len()
    };
    inbox.changed.send_replace(count);
    StatusCode::from_u16(*inbox.answer.lock().unwrap()).unwrap_or(StatusCode::OK)
}

/// A webhook endpoint on loopback recording what it gets.
pub struct Receiver {
    pub url: String,
    inbox: Inbox,
}

impl Receiver {
    pub async fn start() -> Self {
        let (changed, _) = watch::channel(0);
        let inbox = Inbox {
            received: Arc::default(),
            answer: Arc::new(Mutex::new(200)),
            changed,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inbox }
    }

    /// The status code answered from now on.
    pub fn answer(&self, status: u16) {
        *self.inbox.answer.lock().unwrap() = status;
    }

    /// Everything received so far; every payload is checked against its webhook schema.
    pub fn received(&self) -> Vec<Received> {
        let received = self.inbox.received.lock().unwrap().clone();
        for item in &received {
            schema::assert_webhook(item.event(), &item.payload);
        }
        received
    }

    /// Waits until at least `n` requests arrived (panics after 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut changes = self.inbox.changed.subscribe();
        let wait = changes.wait_for(|count| *count >= n);
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "expected {n} webhooks, got {}",
                    self.inbox.received.lock().unwrap().len()
                )
            })
            .expect("receiver alive");
        self.received()
    }
}

/// HMAC-SHA256 of `body` with `secret`, hex, computed independently of the fake.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}
