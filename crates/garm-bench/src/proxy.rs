//! A counting reverse proxy in front of the fake GitHub: garm's endpoint points here, so every
//! GitHub API call garm makes is counted by method and route before it is forwarded.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

struct Shared {
    target: SocketAddr,
    client: reqwest::Client,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// The proxy; counts are kept until it is dropped.
pub struct Proxy {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Serves `listener`, forwarding to `target` (the fake's own address).
    pub fn serve(listener: tokio::net::TcpListener, target: SocketAddr) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            target,
            client: reqwest::Client::builder().pool_max_idle_per_host(64).build()?,
            counts: Mutex::new(BTreeMap::new()),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, task })
    }

    /// Calls so far, by `METHOD /route`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().expect("counts lock").clone()
    }
}

/// Calls in `after` that were not yet in `before`, by route (routes with none left out).
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade" | "content-length"
    )
}

/// `GET /repos/{owner}/{repo}/actions/runners/{id}`: ids and names folded, `/api/v3` dropped.
pub fn route(method: &str, path: &str) -> String {
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let first = segments.first().copied().unwrap_or_default();
    let folded: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| match (first, i) {
            ("repos", 1) => "{owner}",
            ("repos", 2) => "{repo}",
            ("orgs", 1) => "{org}",
            ("enterprises", 1) => "{enterprise}",
            _ if s.bytes().all(|b| b.is_ascii_digit()) => "{id}",
            _ => s,
        })
        .collect();
    format!("{method} /{}", folded.join("/"))
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path();
    if !path.starts_with("/_fake") {
        let key = route(parts.method.as_str(), path);
        *shared.counts.lock().expect("counts lock").entry(key).or_default() += 1;
    }
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(path);
    // The Host header is kept, so the fake writes links (pagination) that come back here.
    let mut outgoing = shared
        .client
        .request(
            parts.method.clone(),
            format!("http://{}{path_and_query}", shared.target),
        )
        .body(body);
    for (name, value) in parts.headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        outgoing = outgoing.header(name, value);
    }
    let Ok(answer) = outgoing.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        response.headers_mut().append(name, value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn routes_fold_names_and_ids() {
        assert_eq!(
            route("POST", "/api/v3/repos/bench/app7/actions/runners/generate-jitconfig"),
            "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig"
        );
        assert_eq!(
            route("DELETE", "/repos/bench/app7/actions/runners/42"),
            "DELETE /repos/{owner}/{repo}/actions/runners/{id}"
        );
        assert_eq!(
            route("GET", "/orgs/acme/actions/runners"),
            "GET /orgs/{org}/actions/runners"
        );
    }
}
