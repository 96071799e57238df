//! Blocking JSON client for garm's REST API (`<base_url>/api/v1`), with redacted debug dumps.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::blocking::{Client as HttpClient, RequestBuilder};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A garm API error: the `{"error", "details"}` body, or the bare status when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error: String,
    pub details: String,
}

impl ApiError {
    /// Builds the error for a non-2xx response from its status and body.
    pub fn from_response(status: StatusCode, body: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            error: String,
            #[serde(default)]
            details: String,
        }
        if let Ok(parsed) = serde_json::from_str::<Body>(body) {
            return ApiError {
                status: status.as_u16(),
                error: parsed.error,
                details: parsed.details,
            };
        }
        let text = body.trim();
        let first_line = text.lines().next().unwrap_or("").trim();
        let reason = status.canonical_reason().unwrap_or("");
        let details = if first_line.eq_ignore_ascii_case(reason) {
            String::new()
        } else {
            first_line.chars().take(200).collect()
        };
        ApiError {
            status: status.as_u16(),
            error: status.to_string(),
            details,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.details.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.error, self.details)
        }
    }
}

impl std::error::Error for ApiError {}

/// Talks to one garm installation.
pub struct Client {
    api_base: String,
    token: Option<String>,
    debug: bool,
    http: HttpClient,
}

impl Client {
    /// A client for `base_url` (the profile's URL; `/api/v1` is appended to its path).
    pub fn new(base_url: &str, token: Option<String>, debug: bool) -> anyhow::Result<Self> {
        let http = HttpClient::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .context("building HTTP client")?;
        Ok(Client {
            api_base: api_base(base_url),
            token,
            debug,
            http,
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, &[], None)
    }

    pub fn get_query(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(Method::GET, path, query, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, path, &[], Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PUT, path, &[], Some(body))
    }

    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(Method::DELETE, path, query, None)
    }

    /// Sends one request; a 2xx answer is parsed as JSON (an empty body is `null`).
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.api_base, path);
        let mut request: RequestBuilder = self.http.request(method.clone(), &url);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if self.debug {
            self.dump_request(&method, &url, query, body);
        }
        let response = request
            .send()
            .with_context(|| format!("sending {method} request to {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("reading response of {method} {url}"))?;
        if self.debug {
            dump_response(status, &text);
        }
        if !status.is_success() {
            return Err(ApiError::from_response(status, &text).into());
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("decoding response of {method} {url}"))
    }

    fn dump_request(&self, method: &Method, url: &str, query: &[(&str, String)], body: Option<&Value>) {
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if query.is_empty() {
            eprintln!("> {method} {url}");
        } else {
            eprintln!("> {method} {url}?{}", query.join("&"));
        }
        if self.token.is_some() {
            eprintln!("> Authorization: Bearer ***");
        }
        if let Some(body) = body {
            eprintln!("> Content-Type: application/json");
            eprintln!(">");
            eprintln!("{}", pretty(&redact(body)));
        }
    }
}

fn dump_response(status: StatusCode, text: &str) {
    eprintln!("< {status}");
    if text.trim().is_empty() {
        return;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => eprintln!("{}", pretty(&redact(&value))),
        Err(_) => eprintln!("{}", text.trim_end()),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// `<base_url>/api/v1`, keeping any path in `base_url`.
pub fn api_base(base_url: &str) -> String {
    format!("{}/api/v1", base_url.trim_end_matches('/'))
}

/// Whether a JSON key holds something that must never be printed.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "token", "secret", "private_key"]
        .iter()
        .any(|needle| key.contains(needle))
}

/// A copy of `value` with every secret-looking key's value replaced by `***`.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String("***".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_base_keeps_the_profile_path_and_drops_trailing_slashes() {
        assert_eq!(api_base("http://127.0.0.1:9997/"), "http://127.0.0.1:9997/api/v1");
        assert_eq!(api_base("https://x.example/garm"), "https://x.example/garm/api/v1");
    }

    #[test]
    fn garm_error_bodies_print_error_and_details() {
        let err = ApiError::from_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":"Bad Request","details":"missing owner"}"#,
        );
        assert_eq!(err.to_string(), "Bad Request: missing owner");
        let err = ApiError::from_response(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Authentication failed","details":""}"#,
        );
        assert_eq!(err.to_string(), "Authentication failed");
    }

    #[test]
    fn other_error_bodies_print_the_http_status() {
        let err = ApiError::from_response(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        assert_eq!(err.to_string(), "401 Unauthorized");
        let err = ApiError::from_response(StatusCode::NOT_FOUND, "404 page not found");
        assert_eq!(err.to_string(), "404 Not Found: 404 page not found");
        assert_eq!(err.status, 404);
    }

    #[test]
    fn redaction_hides_secrets_at_any_depth() {
        let body = json!({
            "username": "admin",
            "password": "hunter2",
            "webhook_secret": "s",
            "pat": {"oauth2_token": "ghp_x"},
            "app": {"app_id": 1, "private_key_bytes": "LS0t"},
            "items": [{"token": "jwt"}],
            "enable_shell": null,
        });
        let redacted = redact(&body).to_string();
        for secret in ["hunter2", "\"s\"", "ghp_x", "LS0t", "jwt"] {
            assert!(!redacted.contains(secret), "{secret} leaked: {redacted}");
        }
        assert!(redacted.contains("admin"));
        assert!(redacted.contains("\"app_id\":1"));
    }
}
