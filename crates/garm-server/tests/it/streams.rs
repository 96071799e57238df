//! The websocket streams on a real listener: auth, the events filter protocol and envelope,
//! the log stream on and off, metrics snapshots, and the bound on what a client that never
//! reads can cost.

use super::{config_text, PASSWORD};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures_util::{SinkExt, StreamExt};
use garm_model::{InstanceStatus, RunnerStatus};
use garm_server::stream::{hub::Message, EntityType, Operation};
use garm_server::App;
use garm_store::InstanceRecord;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as Ws};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower::ServiceExt;

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    app: App,
    addr: SocketAddr,
    token: String,
    dir: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// An initialised server on a loopback port; `extra` is appended to the config.
    async fn start(extra: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("garm-streams-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("{}\n{extra}", config_text(&dir));
        let config = garm_server::config::Config::parse(&text).unwrap();
        let (app, _rx) = garm_server::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let (router, limits, token) = (garm_server::service(app.clone()), app.config.connections, stop.clone());
        tokio::spawn(async move { garm_server::serve::run(listener, router, None, limits, token).await });
        let mut s = Self {
            app,
            addr,
            token: String::new(),
            dir,
            stop,
        };
        let user =
            json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD, "full_name": "Admin"});
        s.call(Method::POST, "/api/v1/first-run", Some(user)).await;
        let login = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"username": "admin", "password": PASSWORD})),
            )
            .await;
        s.token = login["token"].as_str().unwrap().to_string();
        let urls = json!({"metadata_url": "http://127.0.0.1:1/api/v1/metadata", "callback_url": "http://127.0.0.1:1/api/v1/callbacks", "webhook_url": "http://127.0.0.1:1/webhooks"});
        s.call(Method::PUT, "/api/v1/controller", Some(urls)).await;
        s
    }

    /// A REST call (in-process; events are published whatever the transport).
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Value {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if !self.token.is_empty() {
            req = req.header("authorization", format!("Bearer {}", self.token));
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        let resp = garm_server::service(self.app.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    async fn add_repo(&self, name: &str) -> Value {
        let body = json!({"owner": "acme", "name": name, "credentials_name": "garm", "webhook_secret": "s3cret-s3cret", "pool_balancer_type": "roundrobin"});
        self.call(Method::POST, "/api/v1/repositories", Some(body)).await
    }

    async fn add_pool(&self, repo_id: &str) -> Value {
        let body = json!({"provider_name": "azure_external", "image": "ubuntu", "flavor": "small", "tags": ["linux"], "os_type": "linux", "os_arch": "amd64", "max_runners": 4, "min_idle_runners": 0, "enabled": false});
        self.call(
            Method::POST,
            &format!("/api/v1/repositories/{repo_id}/pools"),
            Some(body),
        )
        .await
    }

    fn request(&self, path: &str, auth: Option<&str>) -> tungstenite::handshake::client::Request {
        let mut req = format!("ws://{}{path}", self.addr).into_client_request().unwrap();
        if let Some(a) = auth {
            req.headers_mut().insert("authorization", a.parse().unwrap());
        }
        req
    }

    async fn connect(&self, path: &str) -> Client {
        let auth = format!("Bearer {}", self.token);
        tokio_tungstenite::connect_async(self.request(path, Some(&auth)))
            .await
            .unwrap()
            .0
    }

    /// The HTTP status and body a refused upgrade gets.
    async fn refused(&self, path: &str, auth: Option<&str>) -> (u16, String) {
        match tokio_tungstenite::connect_async(self.request(path, auth)).await {
            Err(tungstenite::Error::Http(resp)) => {
                let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                (resp.status().as_u16(), body.unwrap_or_default())
            }
            Ok(_) => panic!("{path} accepted the upgrade"),
            Err(other) => panic!("{path}: {other}"),
        }
    }

    async fn add_github_creds(&self) {
        let body = json!({"name": "garm", "description": "PAT", "endpoint": "github.com", "auth_type": "pat", "pat": {"oauth2_token": "ghp_x"}});
        self.call(Method::POST, "/api/v1/github/credentials", Some(body)).await;
    }
}

/// The next text message (pings and pongs skipped), within a few seconds.
async fn next_text(ws: &mut Client) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no message within 5s")
            .expect("stream ended")
            .expect("read failed");
        match msg {
            Ws::Text(t) => return t.to_string(),
            Ws::Ping(_) | Ws::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn next_event(ws: &mut Client) -> Value {
    serde_json::from_str(&next_text(ws).await).unwrap()
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn streams_refuse_missing_or_bad_tokens() {
    let s = Server::start("").await;
    for path in [
        "/api/v1/ws/events",
        "/api/v1/ws/logs",
        "/api/v1/ws",
        "/api/v1/ws/metrics/",
    ] {
        let (status, _) = s.refused(path, None).await;
        assert_eq!(status, 401, "{path} without a token");
        let (status, _) = s.refused(path, Some("Bearer not.a.jwt")).await;
        assert_eq!(status, 401, "{path} with a bad token");
    }
}

#[tokio::test]
async fn events_follow_the_filter_with_garms_envelope() {
    let s = Server::start("").await;
    s.add_github_creds().await;
    let mut ws = s.connect("/api/v1/ws/events").await;
    until("the subscription", || s.app.streams.events.subscribers() == 1).await;
    // Before a filter, nothing is sent.
    s.add_repo("before-filter").await;
    let filter = json!({"filters": [{"entity-type": "repository"}, {"entity-type": "pool", "operations": ["create"]}]});
    ws.send(Ws::Text(filter.to_string().into())).await.unwrap();
    until("the filter", || {
        s.app
            .streams
            .events
            .any(|sel| sel.wants(EntityType::Pool, Operation::Create))
    })
    .await;

    let repo = s.add_repo("app").await;
    let ev = next_event(&mut ws).await;
    assert_eq!(ev["entity-type"], "repository");
    assert_eq!(ev["operation"], "create");
    assert_eq!(ev["payload"], repo, "the payload is the API's answer");
    assert!(ev["payload"].get("webhook_secret").is_none());

    let repo_id = repo["id"].as_str().unwrap();
    let pool = s.add_pool(repo_id).await;
    let ev = next_event(&mut ws).await;
    assert_eq!(
        (ev["entity-type"].as_str(), ev["operation"].as_str()),
        (Some("pool"), Some("create"))
    );
    assert_eq!(ev["payload"]["id"], pool["id"]);
    assert_eq!(ev["payload"]["repo_id"], repo_id);

    // A pool update is filtered out: the next event is the repository deleted after it.
    let pool_id = pool["id"].as_str().unwrap();
    s.call(
        Method::PUT,
        &format!("/api/v1/pools/{pool_id}"),
        Some(json!({"max_runners": 9})),
    )
    .await;
    s.call(Method::DELETE, &format!("/api/v1/pools/{pool_id}"), None).await;
    s.call(Method::DELETE, &format!("/api/v1/repositories/{repo_id}"), None)
        .await;
    let ev = next_event(&mut ws).await;
    assert_eq!(
        (ev["entity-type"].as_str(), ev["operation"].as_str()),
        (Some("repository"), Some("delete"))
    );
    assert_eq!(ev["payload"]["id"], repo_id);
}

#[tokio::test]
async fn instance_and_job_changes_come_from_the_store() {
    let s = Server::start("").await;
    s.add_github_creds().await;
    let repo = s.add_repo("runners").await;
    let pool = s.add_pool(repo["id"].as_str().unwrap()).await;
    let pool_id = pool["id"].as_str().unwrap();
    let mut ws = s.connect("/api/v1/ws/events").await;
    ws.send(Ws::Text(json!({"send-everything": true}).to_string().into()))
        .await
        .unwrap();
    until("the filter", || {
        s.app
            .streams
            .events
            .any(|sel| sel.wants(EntityType::Job, Operation::Delete))
    })
    .await;

    let now = chrono::Utc::now();
    let record = InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: "garm-stream1".into(),
        pool_id: pool_id.into(),
        provider_id: None,
        agent_id: 0,
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![],
        status: InstanceStatus::PendingCreate,
        runner_status: RunnerStatus::Pending,
        provider_fault: String::new(),
        create_attempt: 0,
        token_fetched: false,
        jit_config: Some(garm_model::Secret::new("{\"secret\":\"jit\"}")),
        runner_group: String::new(),
        extra_labels: vec![],
        generation: 0,
        callback_url: String::new(),
        metadata_url: String::new(),
        heartbeat: now,
        created_at: now,
        updated_at: now,
    };
    s.app.store.create_instance(&record, 4).await.unwrap();
    let ev = next_event(&mut ws).await;
    assert_eq!(
        (ev["entity-type"].as_str(), ev["operation"].as_str()),
        (Some("instance"), Some("create"))
    );
    assert_eq!(ev["payload"]["name"], "garm-stream1");
    assert_eq!(ev["payload"]["pool_id"], pool_id);
    assert_eq!(ev["payload"]["provider_name"], "azure_external");
    assert!(!ev.to_string().contains("jit"), "no JIT configuration in events: {ev}");

    // A pool manager step's write, then the API marking it for deletion: updates.
    s.app
        .store
        .modify_instance(&"garm-stream1".into(), garm_store::Transition::Forced, |i| {
            i.status = InstanceStatus::Running
        })
        .await
        .unwrap();
    let ev = next_event(&mut ws).await;
    assert_eq!(
        (ev["operation"].as_str(), ev["payload"]["status"].as_str()),
        (Some("update"), Some("running"))
    );
    s.call(Method::DELETE, "/api/v1/instances/garm-stream1", None).await;
    let ev = next_event(&mut ws).await;
    assert_eq!(ev["payload"]["status"], "pending_delete");
    s.app.store.delete_instance_row(&"garm-stream1".into()).await.unwrap();
    let ev = next_event(&mut ws).await;
    assert_eq!(
        (ev["entity-type"].as_str(), ev["operation"].as_str()),
        (Some("instance"), Some("delete"))
    );
}

#[tokio::test]
async fn a_bad_filter_is_answered_and_closes_the_stream() {
    let s = Server::start("").await;
    for (sent, answer) in [
        (r#"{"filters":[{"entity-type":"gadget"}]}"#, "invalid filter"),
        ("{not json", "failed to unmarshal filter"),
    ] {
        let mut ws = s.connect("/api/v1/ws/events").await;
        ws.send(Ws::Text(sent.into())).await.unwrap();
        assert_eq!(next_text(&mut ws).await, answer);
        let closed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        assert!(matches!(closed, Some(Ok(Ws::Close(_))) | None), "{closed:?}");
    }
}

#[tokio::test]
async fn the_log_stream_is_refused_when_disabled() {
    let s = Server::start("").await;
    let (status, body) = s.refused("/api/v1/ws/logs", Some(&format!("Bearer {}", s.token))).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["details"], "log streamer is disabled");
}

#[tokio::test]
async fn the_log_stream_sends_slog_records_when_enabled() {
    use tracing_subscriber::layer::SubscriberExt;
    let s = Server::start("[logging]\nenable_log_streamer = true\n").await;
    let hub = s.app.streams.logs.clone().expect("streamer on");
    let before = hub.subscribers();
    // The legacy path is the same stream.
    let mut ws = s.connect("/api/v1/ws").await;
    until("the subscription", || hub.subscribers() > before).await;
    let marker = uuid::Uuid::new_v4().to_string();
    let layer = garm_server::stream::logs::StreamLayer::new(garm_server::stream::logs::hub());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(marker = %marker, pool = "p-1", "stream test line");
    });
    loop {
        let rec: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
        if rec["marker"] == marker.as_str() {
            assert_eq!(rec["level"], "INFO");
            assert_eq!(rec["msg"], "stream test line");
            assert_eq!(rec["pool"], "p-1");
            break;
        }
    }
}

#[tokio::test]
async fn metrics_send_a_snapshot_on_connect() {
    let s = Server::start("").await;
    s.add_github_creds().await;
    let repo = s.add_repo("dash").await;
    let pool = s.add_pool(repo["id"].as_str().unwrap()).await;
    let mut ws = s.connect("/api/v1/ws/metrics").await;
    let snap: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(snap["entities"][0]["id"], repo["id"]);
    assert_eq!(snap["entities"][0]["name"], "acme/dash");
    assert_eq!(snap["entities"][0]["type"], "repository");
    assert_eq!(snap["entities"][0]["pool_count"], 1);
    assert_eq!(snap["pools"][0]["id"], pool["id"]);
    assert_eq!(snap["pools"][0]["repo_name"], "acme/dash");
    assert_eq!(snap["pools"][0]["runner_counts"], json!({}));
    assert_eq!(snap["scale_sets"], json!([]));
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_client_that_never_reads_costs_at_most_its_queue() {
    let s = Server::start("").await;
    // A client with a tiny receive window that never reads after the handshake.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(s.addr).await.unwrap();
    let auth = format!("Bearer {}", s.token);
    let (mut stuck, _) = tokio_tungstenite::client_async(
        s.request("/api/v1/ws/events", Some(&auth)),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    stuck
        .send(Ws::Text(r#"{"send-everything":true}"#.into()))
        .await
        .unwrap();
    let hub = s.app.streams.events.clone();
    until("the filter", || {
        hub.any(|sel| sel.wants(EntityType::Pool, Operation::Update))
    })
    .await;

    // 3000 events of 64 KiB (~190 MiB) published at a client that reads none of them.
    let payload = json!({ "id": "x", "blob": "y".repeat(64 * 1024) });
    let rss_before = rss_bytes();
    let started = std::time::Instant::now();
    let mut most_queued = 0;
    for _ in 0..3000 {
        s.app.streams.publish(EntityType::Pool, Operation::Update, &payload);
        most_queued = most_queued.max(hub.queued_bytes());
    }
    let publishing = started.elapsed();
    let one: Message = garm_server::stream::events::encode(EntityType::Pool, Operation::Update, &payload).unwrap();
    let bound = garm_server::stream::hub::QUEUE * one.len();
    assert!(most_queued <= bound, "queued {most_queued} bytes, bound {bound}");
    // The client fell a whole queue behind: it was evicted, and its queue freed.
    assert_eq!(hub.evictions(), 1);
    until("the eviction", || hub.subscribers() == 0).await;
    assert_eq!(hub.queued_bytes(), 0);
    assert!(
        publishing < Duration::from_secs(20),
        "publishing waited: {publishing:?}"
    );
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(
        grown < bound + 32 * 1024 * 1024,
        "RSS grew by {grown} bytes (queue bound {bound})"
    );
    // The server closed the connection: the client finds the end after what had left already.
    let mut got = 0;
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(msg)) = stuck.next().await {
            match msg {
                Ws::Text(_) => got += 1,
                Ws::Close(_) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the server kept the connection open");
    // Part of the queue may have left before the eviction was seen; the rest was dropped.
    assert!(got < 3000, "all {got} messages reached the client");
}

#[tokio::test]
async fn a_password_reset_closes_open_streams() {
    let s = Server::start("").await;
    let mut ws = s.connect("/api/v1/ws/events").await;
    until("the subscription", || s.app.streams.events.subscribers() == 1).await;
    // As `garm admin password-reset` does, from another process: the token's generation is stale.
    s.app
        .store
        .reset_password("admin", "$2b$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinva")
        .await
        .unwrap();
    let wait = garm_server::ws::RECHECK + Duration::from_secs(5);
    let closed = tokio::time::timeout(wait, async {
        loop {
            match ws.next().await {
                Some(Ok(Ws::Close(frame))) => return frame.map(|f| f.reason.to_string()),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the stream stayed open after the password changed");
    assert_eq!(closed.as_deref(), Some("user disabled or password changed"));
    until("the unsubscription", || s.app.streams.events.subscribers() == 0).await;
}

#[tokio::test]
async fn shutdown_closes_streams_as_going_away() {
    let s = Server::start("").await;
    let mut ws = s.connect("/api/v1/ws/metrics").await;
    next_text(&mut ws).await;
    s.app.streams.closing.cancel();
    let frame = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Ws::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the stream stayed open during shutdown")
    .expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
}
