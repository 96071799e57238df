//! The request journal: every request and answer, with credentials masked, for tests to assert on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::reply::Reply;
use crate::request::Req;

/// One request and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// Milliseconds since the fake started.
    pub at_ms: u64,
    pub method: String,
    /// The absolute URL as requested.
    pub url: String,
    pub path: String,
    /// Lower-cased names; `authorization` shows only its scheme.
    pub headers: BTreeMap<String, String>,
    /// JSON bodies as JSON, form bodies as an object (secrets masked), others as text.
    pub body: Value,
    /// Who the bearer token belongs to, for ARM calls.
    pub principal: Option<String>,
    pub response: Response,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Entry {
    /// The request's header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The answer's header `name` (lower case).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response
            .headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Whether the path contains `needle`, ignoring case.
    pub fn path_has(&self, needle: &str) -> bool {
        self.path.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())
    }
}

const SECRET_FIELDS: [&str; 3] = ["client_secret", "client_assertion", "access_token"];

fn body_value(bytes: &[u8], content_type: Option<&str>) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if let Ok(mut value) = serde_json::from_slice::<Value>(bytes) {
        if let Some(fields) = value.as_object_mut() {
            for field in SECRET_FIELDS {
                if let Some(secret) = fields.get_mut(field) {
                    *secret = Value::String("***".to_owned());
                }
            }
        }
        return value;
    }
    if content_type.is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded")) {
        let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(bytes)
            .map(|(key, value)| {
                let shown = if SECRET_FIELDS.contains(&key.as_ref()) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), Value::String(shown))
            })
            .collect();
        return Value::Object(fields);
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// Builds the journal entry of `req` answered by `reply`.
pub fn entry(seq: u64, at_ms: u64, req: &Req, reply: &Reply, principal: Option<String>) -> Entry {
    let headers = req
        .headers
        .iter()
        .map(|(name, value)| {
            let text = value.to_str().unwrap_or_default();
            let shown = if name == http::header::AUTHORIZATION {
                text.split_whitespace()
                    .next()
                    .map(|scheme| format!("{scheme} ***"))
                    .unwrap_or_default()
            } else {
                text.to_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    let response_headers = reply
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    Entry {
        seq,
        at_ms,
        method: req.method.clone(),
        url: req.url(),
        path: req.path.clone(),
        headers,
        body: body_value(&req.body, req.header("content-type")),
        principal,
        response: Response {
            status: reply.status,
            headers: response_headers,
            body: body_value(&reply.body, reply.get_header("content-type")),
        },
    }
}
