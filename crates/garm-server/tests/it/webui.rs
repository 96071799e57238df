//! The web UI's gates, in-process: off unless configured, redirects, the session cookie,
//! CSRF on every POST, cached assets, and escaping of what users typed.

use crate::{config_text, Harness, PASSWORD};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use garm_server::config::Config;
use serde_json::json;
use tower::ServiceExt;

pub(crate) async fn with_ui() -> Harness {
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = config_text(&dir) + "[apiserver.webui]\nenable = true\n";
    let (app, _rx) = garm_server::build(Config::parse(&text).unwrap()).await.unwrap();
    Harness {
        router: garm_server::service(app),
        dir,
        token: String::new(),
    }
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub(crate) async fn request(h: &Harness, method: Method, uri: &str, cookie: &str, form: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let body = form.map(|f| Body::from(f.to_string())).unwrap_or_else(Body::empty);
    let resp = h.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) fn location(a: &Answer) -> &str {
    a.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub(crate) fn hidden_csrf(body: &str) -> String {
    let at = body.find("name=\"_csrf\" value=\"").expect("a CSRF field") + "name=\"_csrf\" value=\"".len();
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

/// Logs in through the form; returns the session cookie.
pub(crate) async fn log_in(h: &Harness) -> String {
    let page = request(h, Method::GET, "/ui/login", "", None).await;
    let pre = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden_csrf(&page.body);
    let form = format!("_csrf={csrf}&username=admin&password={}", urlencode(PASSWORD));
    let a = request(h, Method::POST, "/ui/login", &pre, Some(&form)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.starts_with("garm_ui="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    set.split(';').next().unwrap().to_string()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn the_ui_is_off_unless_configured() {
    let h = Harness::ready().await;
    let a = request(&h, Method::GET, "/ui/", "", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = request(&h, Method::GET, "/", "", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_lead_to_first_run_then_login() {
    let mut h = with_ui().await;
    let a = request(&h, Method::GET, "/", "", None).await;
    assert_eq!(location(&a), "/ui/");
    let a = request(&h, Method::GET, "/ui/pools", "", None).await;
    assert_eq!(location(&a), "/ui/first-run");
    let a = request(&h, Method::GET, "/ui/first-run", "", None).await;
    assert!(
        a.body.contains("<label for=\"f-password\">Password</label>"),
        "{}",
        a.body
    );
    h.init().await;
    let a = request(&h, Method::GET, "/ui/pools?page=2", "", None).await;
    assert_eq!(location(&a), "/ui/login?next=%2Fui%2Fpools%3Fpage%3D2");
    let a = request(&h, Method::GET, "/ui/first-run", "", None).await;
    assert_eq!(location(&a), "/ui/login", "first run is over");
    // A forged or stale cookie is no session.
    let a = request(&h, Method::GET, "/ui/", "garm_ui=not.a.jwt", None).await;
    assert!(location(&a).starts_with("/ui/login"));
    // The API's bearer token in the UI's cookie works; the UI's cookie does not open the API.
    let cookie = log_in(&h).await;
    let a = request(&h, Method::GET, "/ui/", &cookie, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("<h1>Dashboard</h1>") && a.body.contains("No job is waiting."),
        "{}",
        a.body
    );
    let a = request(&h, Method::GET, "/api/v1/pools", &cookie, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token() {
    let mut h = with_ui().await;
    h.init().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let cookie = log_in(&h).await;
    // Login itself needs the double-submit token.
    let a = request(&h, Method::POST, "/ui/login", "", Some("username=admin&password=x")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let page = request(&h, Method::GET, "/ui/pools/new", &cookie, None).await;
    let csrf = hidden_csrf(&page.body);
    let form = |token: &str| {
        format!(
            "_csrf={token}&entity={}&provider_name=azure_external&image=img&flavor=Standard_DC2as_v5&tags=self-hosted&os_type=linux&os_arch=amd64&max_runners=2&min_idle_runners=0&enabled=true",
            repo["id"].as_str().unwrap()
        )
    };
    for bad in ["", "0000", &csrf[..csrf.len() - 1]] {
        let a = request(&h, Method::POST, "/ui/pools", &cookie, Some(&form(bad))).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "token {bad:?}");
    }
    assert_eq!(h.get("/api/v1/pools").await, json!([]), "nothing was created");
    let a = request(&h, Method::POST, "/ui/pools", &cookie, Some(&form(&csrf))).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let pools = h.get("/api/v1/pools").await;
    assert_eq!(pools[0]["flavor"], "Standard_DC2as_v5");
    assert_eq!(location(&a), format!("/ui/pools/{}", pools[0]["id"].as_str().unwrap()));
    // Logout is a POST too.
    let a = request(&h, Method::POST, "/ui/logout", &cookie, Some("_csrf=nope")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn what_users_typed_is_escaped() {
    let mut h = with_ui().await;
    h.init().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let mut body = Harness::pool_body();
    body["extra_specs"] = json!({"confidential": true, "note": "<script>alert(1)</script>"});
    let pool = h
        .post(
            &format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap()),
            body,
        )
        .await;
    let cookie = log_in(&h).await;
    let a = request(
        &h,
        Method::GET,
        &format!("/ui/pools/{}", pool["id"].as_str().unwrap()),
        &cookie,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", a.body);
    assert!(!a.body.contains("<script>alert"), "{}", a.body);
}

#[tokio::test]
async fn assets_are_cached_by_content_hash() {
    let h = with_ui().await;
    let page = request(&h, Method::GET, "/ui/first-run", "", None).await;
    let at = page.body.find("/ui/assets/style.").unwrap();
    let href = &page.body[at..at + page.body[at..].find('"').unwrap()];
    let a = request(&h, Method::GET, href, "", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(a.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let a = request(&h, Method::GET, "/ui/assets/style.000000000000.css", "", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "a stale hash is not served");
}

#[tokio::test]
async fn the_event_stream_announces_changes() {
    use http_body_util::BodyExt;
    let mut h = with_ui().await;
    h.init().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let cookie = log_in(&h).await;
    let a = request(&h, Method::GET, "/ui/events", "", None).await;
    assert!(location(&a).starts_with("/ui/login"), "no session, no stream");
    let req = Request::get("/ui/events")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let resp = h.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    let mut seen = String::new();
    let mut next = async || {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .unwrap();
        String::from_utf8_lossy(&frame.into_data().unwrap_or_default()).into_owned()
    };
    seen.push_str(&next().await);
    assert!(seen.contains("event: hello") && seen.contains("retry: 2000"), "{seen}");
    h.post(
        &format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap()),
        Harness::pool_body(),
    )
    .await;
    while !seen.contains("event: change") {
        seen.push_str(&next().await);
    }
    assert!(
        seen.contains(r#"data: {"entity-type":"pool","operation":"create"}"#),
        "{seen}"
    );
    assert!(
        !seen.contains("Standard_DC2as_v5"),
        "events name the change, not the object: {seen}"
    );
}

/// A booting instance of `pool_id`, written straight to the store (as the pool manager would).
async fn add_instance(h: &Harness, pool_id: &str, name: &str, status: garm_model::InstanceStatus) {
    let store = garm_store::Store::connect(
        &format!("sqlite://{}", h.dir.join("garm.db").display()),
        garm_store::Sealer::new(crate::PASSPHRASE),
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let record = garm_store::InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        pool_id: pool_id.into(),
        provider_id: Some(name.into()),
        agent_id: 0,
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![],
        status,
        runner_status: garm_model::RunnerStatus::Installing,
        provider_fault: String::new(),
        create_attempt: 1,
        token_fetched: false,
        jit_config: None,
        runner_group: String::new(),
        extra_labels: vec![],
        generation: 0,
        callback_url: String::new(),
        metadata_url: String::new(),
        heartbeat: now,
        created_at: now,
        updated_at: now,
    };
    store.create_instance(&record, 100).await.unwrap();
}

/// Endpoints, credentials and instances are deleted from a confirmation page, through the
/// API's handlers: a refusal shows the API's own message and deletes nothing.
#[tokio::test]
async fn deleting_asks_first_and_shows_the_apis_refusal() {
    let mut h = with_ui().await;
    h.init().await;
    h.post(
        "/api/v1/github/endpoints",
        json!({"name": "ghes.example", "description": "GHES", "base_url": "https://ghes.example", "api_base_url": "https://ghes.example/api/v3/", "upload_base_url": "https://ghes.example/uploads/"}),
    )
    .await;
    let creds = h
        .post(
            "/api/v1/github/credentials",
            json!({"name": "ghes-pat", "description": "PAT", "endpoint": "ghes.example", "auth_type": "pat", "pat": {"oauth2_token": "ghp_Ghes"}}),
        )
        .await;
    let creds_id = creds["id"].as_i64().unwrap();
    let cookie = log_in(&h).await;

    let list = request(&h, Method::GET, "/ui/endpoints", &cookie, None).await;
    assert!(
        list.body.contains("href=\"/ui/endpoints/ghes.example/delete\""),
        "{}",
        list.body
    );
    let ask = request(&h, Method::GET, "/ui/endpoints/ghes.example/delete", &cookie, None).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(
        ask.body.contains("<h1>Delete endpoint ghes.example?</h1>"),
        "{}",
        ask.body
    );
    assert!(ask.body.contains("href=\"/ui/endpoints\">Cancel</a>"), "{}", ask.body);
    let csrf = hidden_csrf(&ask.body);
    let a = request(
        &h,
        Method::POST,
        "/ui/endpoints/ghes.example/delete",
        &cookie,
        Some("_csrf=x"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // In use by the credentials: the API refuses, and the page says what the API says.
    let (status, api_refusal) = h
        .send(Method::DELETE, "/api/v1/github/endpoints/ghes.example", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{api_refusal}");
    let said = api_refusal["details"]
        .as_str()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| api_refusal["error"].as_str().unwrap());
    let form = format!("_csrf={csrf}");
    let a = request(
        &h,
        Method::POST,
        "/ui/endpoints/ghes.example/delete",
        &cookie,
        Some(&form),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains(&format!("Not deleted: {}", garm_server::ui::e(said))),
        "the API's message {said:?}: {}",
        a.body
    );
    assert_eq!(
        h.get("/api/v1/github/endpoints/ghes.example").await["name"],
        "ghes.example"
    );

    let list = request(&h, Method::GET, "/ui/credentials", &cookie, None).await;
    let href = format!("/ui/credentials/{creds_id}/delete");
    assert!(list.body.contains(&format!("href=\"{href}\"")), "{}", list.body);
    let ask = request(&h, Method::GET, &href, &cookie, None).await;
    assert!(
        ask.body.contains("<h1>Delete credentials ghes-pat?</h1>"),
        "{}",
        ask.body
    );
    let a = request(&h, Method::POST, &href, &cookie, Some(&form)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(location(&a), "/ui/credentials");
    let (status, _) = h
        .send(Method::GET, &format!("/api/v1/github/credentials/{creds_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the credentials are gone");
    let a = request(
        &h,
        Method::POST,
        "/ui/endpoints/ghes.example/delete",
        &cookie,
        Some(&form),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (status, _) = h.send(Method::GET, "/api/v1/github/endpoints/ghes.example", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the endpoint is gone");

    // An instance: refused while it is being created, marked for deletion once running.
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let pool = h
        .post(
            &format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap()),
            Harness::pool_body(),
        )
        .await;
    let pool_id = pool["id"].as_str().unwrap();
    add_instance(&h, pool_id, "garm-doomed", garm_model::InstanceStatus::Creating).await;
    let shown = request(&h, Method::GET, "/ui/instances/garm-doomed", &cookie, None).await;
    assert!(
        shown.body.contains("href=\"/ui/instances/garm-doomed/delete\""),
        "{}",
        shown.body
    );
    let ask = request(&h, Method::GET, "/ui/instances/garm-doomed/delete", &cookie, None).await;
    assert!(
        ask.body.contains("<h1>Delete instance garm-doomed?</h1>"),
        "{}",
        ask.body
    );
    assert!(ask.body.contains("<label for=\"f-force_remove\">"), "{}", ask.body);
    let a = request(
        &h,
        Method::POST,
        "/ui/instances/garm-doomed/delete",
        &cookie,
        Some(&form),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains("Not deleted: runner must be in one of the following states: running, error, pending_delete, pending_force_delete (it is creating)"),
        "{}",
        a.body
    );
    assert_eq!(h.get("/api/v1/instances/garm-doomed").await["status"], "creating");
    let running = "garm-running";
    add_instance(&h, pool_id, running, garm_model::InstanceStatus::Running).await;
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/instances/{running}/delete"),
        &cookie,
        Some("_csrf="),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get(&format!("/api/v1/instances/{running}")).await["status"],
        "running"
    );
    let force = format!("{form}&force_remove=true");
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/instances/{running}/delete"),
        &cookie,
        Some(&force),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(location(&a), format!("/ui/instances/{running}"));
    assert_eq!(
        h.get(&format!("/api/v1/instances/{running}")).await["status"],
        "pending_force_delete"
    );
}
