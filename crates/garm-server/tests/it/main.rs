//! Handler tests: the router answered in-process (`oneshot`), on a real SQLite file.

mod api_entities;
mod api_forge;
mod api_gates;
mod api_pools;
mod api_proxies;
mod api_templates;
mod attestation;
mod auth_matrix;
mod bootstrap;
mod config_props;
mod connections;
mod garm_routes;
mod login;
mod replicas;
mod streams;
mod strength;
mod webhook_intake;
mod webui;
mod webui_forms;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use garm_server::config::Config;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const JWT_SECRET: &str = "pK8w2Vb7Qz1Lm4Xr9Ts6Yh3Nd5Fg0Jc2Ua8Ee7Ri1Oo";
pub const PASSPHRASE: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";
pub const PASSWORD: &str = "Gr3en-Tea_at-Noon!42x";

pub struct Harness {
    pub router: axum::Router,
    pub dir: std::path::PathBuf,
    pub token: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn config_text(dir: &std::path::Path) -> String {
    format!(
        r#"
[jwt_auth]
secret = "{JWT_SECRET}"
time_to_live = "8760h"
[apiserver]
bind = "127.0.0.1"
port = 9997
[database]
backend = "sqlite3"
passphrase = "{PASSPHRASE}"
[database.sqlite3]
db_file = "{db}"
[[provider]]
name = "azure_external"
provider_type = "external"
description = "Azure confidential VMs"
[provider.external]
provider_executable = "/bin/true"
"#,
        db = dir.join("garm.db").display()
    )
}

impl Harness {
    /// A fresh server with nothing initialised.
    pub async fn empty() -> Self {
        let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self::open(dir).await
    }

    /// A server on an existing directory (to test restarts).
    pub async fn open(dir: std::path::PathBuf) -> Self {
        let config = Config::parse(&config_text(&dir)).unwrap();
        let (app, _rx) = garm_server::build(config).await.unwrap();
        Self {
            router: garm_server::service(app),
            dir,
            token: String::new(),
        }
    }

    /// Initialised: admin created, logged in, controller URLs set.
    pub async fn ready() -> Self {
        let mut h = Self::empty().await;
        h.init().await;
        h
    }

    pub async fn init(&mut self) {
        let (status, _) = self
            .call(Method::POST, "/api/v1/first-run", Some(json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD, "full_name": "Admin"})), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        self.login().await;
        let (status, _) = self
            .send(
                Method::PUT,
                "/api/v1/controller",
                Some(json!({
                    "metadata_url": "http://127.0.0.1:9997/api/v1/metadata",
                    "callback_url": "http://127.0.0.1:9997/api/v1/callbacks",
                    "webhook_url": "http://127.0.0.1:9997/webhooks"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    pub async fn login(&mut self) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"username": "admin", "password": PASSWORD})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.token = body["token"].as_str().unwrap().to_string();
    }

    /// A request with an explicit Authorization header value (or none).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.raw(method, uri, body.map(|b| b.to_string()), auth).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        body: Option<String>,
        auth: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A request with the admin token.
    pub async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let auth = format!("Bearer {}", self.token);
        self.call(method, uri, body, Some(&auth)).await
    }

    pub async fn get(&self, uri: &str) -> Value {
        let (status, body) = self.send(Method::GET, uri, None).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        body
    }

    pub async fn post(&self, uri: &str, body: Value) -> Value {
        let (status, out) = self.send(Method::POST, uri, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "POST {uri}: {out}");
        out
    }

    pub async fn add_pat(&self, name: &str, token: &str) -> Value {
        self.post("/api/v1/github/credentials", json!({"name": name, "description": "PAT", "endpoint": "github.com", "auth_type": "pat", "pat": {"oauth2_token": token}})).await
    }

    pub async fn add_repo(&self, owner: &str, name: &str, secret: &str) -> Value {
        self.post("/api/v1/repositories", json!({"owner": owner, "name": name, "credentials_name": "garm", "webhook_secret": secret, "pool_balancer_type": "roundrobin"})).await
    }

    /// The documented confidential-VM pool.
    pub fn pool_body() -> Value {
        json!({
            "provider_name": "azure_external",
            "image": "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
            "flavor": "Standard_DC2as_v5",
            "tags": ["self-hosted", "azure-cvm", "ubuntu-2204"],
            "os_type": "linux",
            "os_arch": "amd64",
            "enabled": true,
            "min_idle_runners": 0,
            "max_runners": 4,
            "runner_bootstrap_timeout": 0,
            "extra_specs": {"confidential": true},
            "enable_shell": false,
            "github-runner-group": "",
            "priority": 0,
            "template_id": null
        })
    }

    /// Asserts a garm error body with this status and a details text containing `needle`.
    pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, needle: &str) {
        assert_eq!(status, want, "{body}");
        assert!(body["error"].is_string(), "no error key: {body}");
        let details = body["details"].as_str().unwrap_or_default();
        assert!(details.contains(needle), "details {details:?} lack {needle:?}");
    }
}
