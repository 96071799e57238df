//! The listener: plain HTTP or TLS (rustls), HTTP/1.1 with keep-alive, with a bounded number
//! of connections, timeouts for slow and idle clients ([`guard`]) and graceful shutdown.

mod guard;

use crate::config::{Connections, Tls};
use axum::extract::ConnectInfo;
use axum::Router;
use guard::{Guarded, Requests};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long shutdown waits for open connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(10);
/// How often a refused connection is logged at most.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open requests
/// finish (for at most [`DRAIN`]).
pub async fn run(
    listener: TcpListener,
    router: Router,
    tls: Option<&Tls>,
    limits: Connections,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let acceptor = match tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(tls)?))),
        None => None,
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refusals = Refusals::default();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment instead of spinning, and keep listening.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.refused(peer, limits.max_connections);
            drop(stream);
            continue;
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "cannot set TCP_NODELAY");
        }
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            acceptor.clone(),
            limits,
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all)).await.is_err() {
        tracing::warn!(
            open = limits.max_connections - slots.available_permits(),
            "connections still open after the drain period; closing them"
        );
    }
    Ok(())
}

/// Counts connections refused for want of a slot, logging at most every few seconds.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<std::time::Instant>,
}

impl Refusals {
    fn refused(&mut self, peer: SocketAddr, max: usize) {
        self.since_log += 1;
        let now = std::time::Instant::now();
        if self
            .last_log
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_EVERY)
        {
            tracing::warn!(%peer, refused = self.since_log, max_connections = max, "connection limit reached: refusing new connections");
            self.since_log = 0;
            self.last_log = Some(now);
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: Connections,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    match acceptor {
        None => serve_http(stream, peer, router, limits, shutdown).await,
        Some(acceptor) => match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => serve_http(stream, peer, router, limits, shutdown).await,
            Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
    }
}

async fn serve_http<S>(stream: S, peer: SocketAddr, router: Router, limits: Connections, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = Arc::new(Requests::default());
    let io = TokioIo::new(Guarded::new(stream, limits, requests.clone()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        // The peer address feeds login throttling.
        req.extensions_mut().insert(ConnectInfo(peer));
        requests.start();
        let requests = requests.clone();
        let response = router.clone().oneshot(req);
        async move {
            let response = response.await;
            // An upgraded connection (a websocket) stays "in a request" for the guard: it may
            // not stall for `idle_timeout`, and its messages are not taken for request headers.
            if !matches!(&response, Ok(r) if r.status() == hyper::StatusCode::SWITCHING_PROTOCOLS) {
                requests.finish();
            }
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // Header and idle deadlines are the guard's; hyper's own timer is off.
        .header_read_timeout(None)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

fn tls_config(tls: &Tls) -> anyhow::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(&tls.certificate)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(&tls.key)?))?
        .ok_or_else(|| anyhow::anyhow!("no private key in {}", tls.key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(config)
}
