//! The listener against slow, idle and too many clients, over real TCP on loopback: each is
//! closed within its limit while well-behaved clients keep being served.

use crate::Harness;
use garm_server::config::{Connections, Tls};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    _h: Harness,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(limits: Connections, tls: Option<Tls>) -> Server {
    let h = Harness::empty().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let router = h.router.clone();
    let token = stop.clone();
    tokio::spawn(async move { garm_server::serve::run(listener, router, tls.as_ref(), limits, token).await });
    Server { addr, stop, _h: h }
}

fn limits(header_ms: u64, idle_ms: u64, max: usize) -> Connections {
    Connections {
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        tls_handshake_timeout: Duration::from_millis(header_ms),
        max_connections: max,
    }
}

/// Blocks until the server closes `stream` (EOF or reset), returning how long that took, or
/// `None` if it is still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// One GET on a fresh connection; the status line.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    get_on(&mut stream, path)
}

fn get_on(stream: &mut TcpStream, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: garm\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 8192];
    let n = stream.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_closed_after_the_header_timeout_while_others_are_served() {
    let server = serve(limits(600, 5_000, 100), None).await;
    let addr = server.addr;
    let closed = blocking(move || {
        let mut loris: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let start = Instant::now();
        let mut served = Vec::new();
        // A byte every 100 ms: never a whole header, never idle.
        while start.elapsed() < Duration::from_millis(400) {
            for s in &mut loris {
                s.write_all(b"X").unwrap();
            }
            served.push(get(addr, "/api/v1/controller-info"));
            std::thread::sleep(Duration::from_millis(100));
        }
        let times: Vec<Option<Duration>> = loris
            .iter_mut()
            .map(|s| {
                // Keep trickling until the server gives up on us.
                let _ = s.write_all(b"X");
                closed_within(s, Duration::from_secs(3))
            })
            .collect();
        (start, times, served)
    })
    .await;
    let (_start, times, served) = closed;
    assert!(
        times.iter().all(Option::is_some),
        "every trickling client was closed: {times:?}"
    );
    // Served meanwhile: the controller route answers (409: not initialised) rather than hanging.
    assert!(served.iter().all(|s| s.starts_with("HTTP/1.1 409")), "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_header_timeout_and_a_kept_alive_one_after_the_idle_timeout() {
    let server = serve(limits(300, 1_500, 100), None).await;
    let addr = server.addr;
    let (silent, kept) = blocking(move || {
        let mut silent = TcpStream::connect(addr).unwrap();
        let silent = closed_within(&mut silent, Duration::from_secs(3));
        let mut kept = TcpStream::connect(addr).unwrap();
        let status = get_on(&mut kept, "/api/v1/controller-info");
        assert!(status.starts_with("HTTP/1.1 409"), "{status}");
        // Past the header timeout, within the idle timeout: still open and usable.
        assert_eq!(
            closed_within(&mut kept, Duration::from_millis(700)),
            None,
            "closed too early"
        );
        let status = get_on(&mut kept, "/api/v1/controller-info");
        assert!(status.starts_with("HTTP/1.1 409"), "{status}");
        let kept = closed_within(&mut kept, Duration::from_secs(4));
        (silent, kept)
    })
    .await;
    let silent = silent.expect("a connection that never sends is closed");
    assert!(silent < Duration::from_millis(1_500), "{silent:?}");
    let kept = kept.expect("an idle kept-alive connection is closed");
    assert!(
        kept >= Duration::from_millis(500),
        "closed by the idle timeout, not the header one: {kept:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once_and_slots_come_back() {
    let server = serve(limits(800, 800, 10), None).await;
    let addr = server.addr;
    blocking(move || {
        let mut held: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut extra = TcpStream::connect(addr).unwrap();
        let refused = closed_within(&mut extra, Duration::from_millis(500));
        assert!(refused.is_some(), "the eleventh connection is closed at once");
        // The held ones time out and free their slots; a new client is served.
        for s in &mut held {
            assert!(closed_within(s, Duration::from_secs(3)).is_some());
        }
        let status = get(addr, "/api/v1/controller-info");
        assert!(status.starts_with("HTTP/1.1 409"), "{status}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_tls_handshake_is_closed() {
    let dir = std::env::temp_dir().join(format!("garm-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = serve(limits(400, 5_000, 100), Some(Tls { certificate: cert, key })).await;
    let addr = server.addr;
    let closed = blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // Half a ClientHello record header, then nothing.
        stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
        closed_within(&mut stream, Duration::from_secs(3))
    })
    .await;
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        closed.is_some(),
        "the handshake timed out and the connection was closed"
    );
}
