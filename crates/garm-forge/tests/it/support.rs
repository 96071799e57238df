//! Fixture loading and a tiny axum server that records requests and answers from a closure.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

/// `shared/fixtures/github`, next to the workspace.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/github")
}

pub fn testdata(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

fn rest_description() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let path = fixtures().join("openapi/rest-subset.ghec.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
        serde_json::from_str(&text).expect("the OpenAPI subset is JSON")
    })
}

fn resolve(doc: &'static Value, value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local $ref");
            resolve(
                doc,
                doc.pointer(pointer).unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => value,
    }
}

/// The documented example answer of `method path` with `status`, from the GHEC REST subset.
pub fn example(path: &str, method: &str, status: &str) -> Value {
    let doc = rest_description();
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "no operation {method} {path} in the fixture");
    let response = resolve(doc, &operation["responses"][status]);
    let examples = response["content"]["application/json"]["examples"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status} has no example"));
    let first = examples.values().next().expect("at least one example");
    resolve(doc, first)["value"].clone()
}

/// A `basic-error` / `validation-error` body as the REST description's schemas define it.
pub fn error_body(message: &str) -> Value {
    serde_json::json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
    })
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `http://127.0.0.1:<port>`: the server's own origin, for `Link` headers.
    pub origin: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// An answer to give.
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct Shared {
    origin: String,
    handler: Box<Handler>,
    seen: Mutex<Vec<Seen>>,
}

/// A server on `127.0.0.1:<free port>` that lives as long as the test's runtime.
pub struct FakeGithub {
    shared: Arc<Shared>,
}

impl FakeGithub {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            origin,
            handler: Box::new(handler),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(answer).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { shared }
    }

    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many requests had this method and path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.method == method && seen.path == path)
            .count()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body: body.to_vec(),
        origin: shared.origin.clone(),
    };
    let reply = (shared.handler)(&seen);
    shared.seen.lock().unwrap().push(seen);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}
