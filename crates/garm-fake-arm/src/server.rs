//! The HTTP/1 server: one handler for the token endpoints, ARM and `/_fake/`, with faults applied
//! first and every non-control exchange journaled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::reply::Reply;
use crate::request::Req;
use crate::state::World;
use crate::{arm, auth, control, faults, journal};

/// The journal keeps at most this many entries (oldest dropped).
const JOURNAL_LIMIT: usize = 20_000;

pub type Shared = Arc<Mutex<World>>;

/// Closing the connection without an answer (the `drop` fault).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a fault rule")
    }
}

impl std::error::Error for DropConnection {}

/// Accepts connections until `stop` turns true.
pub async fn serve(listener: TcpListener, shared: Shared, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            _ = stop.changed() => break,
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, World> {
    // A panicking handler must not take the whole fake down with it.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn handle(shared: Shared, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = request.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let req = Req::new(parts.method.as_str(), path_and_query, parts.headers, bytes.to_vec());
    let lower = req.lower();

    if lower.first().map(String::as_str) == Some("_fake") {
        let reply = control::handle(&mut lock(&shared), &req);
        return Ok(to_response(reply));
    }

    let decision = faults::decide(&mut lock(&shared), &req);
    if decision.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
    }
    let mut world = lock(&shared);
    if decision.drop {
        let seq = world.journal.len() as u64;
        let at = world.now_ms();
        world
            .journal
            .push(journal::entry(seq, at, &req, &Reply::empty(0), None));
        return Err(DropConnection);
    }
    let is_arm = lower.first().map(String::as_str) == Some("subscriptions");
    let (reply, principal) = if let Some(reply) = decision.reply.clone() {
        (reply, None)
    } else {
        let route: Vec<&str> = lower.iter().map(String::as_str).collect();
        match (req.method.as_str(), route.as_slice()) {
            ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
                let tenant = tenant.to_string();
                (auth::entra_token(&mut world, &req, &tenant), None)
            }
            ("GET", ["metadata", "identity", "oauth2", "token"]) => (auth::imds_token(&mut world, &req), None),
            _ if is_arm => arm::handle(&mut world, &req, &decision),
            _ => (Reply::json(404, &serde_json::json!({"error": "not found"})), None),
        }
    };
    let seq = world.journal.len() as u64;
    let at = world.now_ms();
    world.journal.push(journal::entry(seq, at, &req, &reply, principal));
    if world.journal.len() > JOURNAL_LIMIT {
        world.journal.remove(0);
    }
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
