//! A load balancer in front of `garm` replicas, for the replica stories: every request (webhooks,
//! metadata, callbacks) goes to the next replica in turn, and to the one after when a replica
//! cannot be reached or does not answer within a few seconds (killed, stopped). With `copies`
//! above one, each request is sent to that many different replicas at once, as GitHub's
//! redeliveries landing on other replicas would be; the first answer is returned.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Shared {
    targets: Vec<String>,
    copies: usize,
    next: AtomicUsize,
    http: reqwest::Client,
}

/// A running balancer; it stops when dropped.
pub struct Balancer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Balancer {
    /// Listens on a free loopback port and forwards to `targets` (base URLs).
    pub async fn start(targets: Vec<String>, copies: usize) -> Self {
        let shared = Arc::new(Shared {
            copies: copies.clamp(1, targets.len().max(1)),
            targets,
            next: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(4))
                .build()
                .expect("client"),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, task }
    }
}

async fn send(
    shared: &Shared,
    target: &str,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Option<Response> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = shared
        .http
        .request(parts.method.clone(), format!("{target}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    let resp = req.send().await.ok()?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.ok()?;
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            out.headers_mut().insert(name, value.clone());
        }
    }
    Some(out)
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let n = shared.targets.len();
    let start = shared.next.fetch_add(1, Ordering::Relaxed);
    if shared.copies > 1 {
        // The same request to `copies` different replicas at once.
        let parts = Arc::new(parts);
        let mut sends = Vec::new();
        for k in 0..shared.copies {
            let (shared, parts, body) = (shared.clone(), parts.clone(), body.clone());
            let target = shared.targets[(start + k) % n].clone();
            sends.push(tokio::spawn(async move { send(&shared, &target, &parts, body).await }));
        }
        let mut first = None;
        for s in sends {
            if let Ok(Some(resp)) = s.await {
                first.get_or_insert(resp);
            }
        }
        return first.unwrap_or_else(|| StatusCode::BAD_GATEWAY.into_response());
    }
    for k in 0..n {
        let target = &shared.targets[(start + k) % n];
        if let Some(resp) = send(&shared, target, &parts, body.clone()).await {
            return resp;
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}
