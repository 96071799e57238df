//! The authentication matrix: every route, asked with no token, a malformed token, an expired
//! token, an instance token and another instance's token; instance tokens reach only their
//! own instance's metadata and stop working once the runner is up; logins are rate limited.

use crate::{config_text, Harness, JWT_SECRET, PASSPHRASE};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use garm_model::{InstanceStatus, RunnerStatus};
use garm_store::{InstanceRecord, Sealer, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A user (admin) token.
    Admin,
    /// The instance token of a booting runner.
    Instance,
    /// No token: first run, login, webhooks (HMAC instead), metrics (its own token).
    Open,
}

/// `(method, route template, concrete path, class)`: every route the router serves.
fn routes() -> Vec<(Method, String, String, Class)> {
    use Class::*;
    let mut out: Vec<(Method, String, String, Class)> = Vec::new();
    let mut add = |m: Method, template: &str, path: &str, class: Class| {
        out.push((m, template.to_string(), path.to_string(), class));
    };
    add(Method::POST, "/api/v1/first-run", "/api/v1/first-run", Open);
    add(Method::POST, "/api/v1/auth/login", "/api/v1/auth/login", Open);
    add(Method::GET, "/metrics", "/metrics", Open);
    add(Method::POST, "/webhooks", "/webhooks", Open);
    add(Method::POST, "/webhooks/{controller_id}", "/webhooks/abc", Open);
    add(Method::GET, "/api/v1/controller", "/api/v1/controller", Admin);
    add(Method::PUT, "/api/v1/controller", "/api/v1/controller", Admin);
    add(Method::GET, "/api/v1/controller-info", "/api/v1/controller-info", Admin);
    add(Method::GET, "/api/v1/metrics-token", "/api/v1/metrics-token", Admin);
    add(Method::GET, "/api/v1/providers", "/api/v1/providers", Admin);
    add(Method::GET, "/api/v1/jobs", "/api/v1/jobs", Admin);
    add(Method::GET, "/api/v1/leases", "/api/v1/leases", Admin);
    for m in [Method::GET, Method::POST] {
        add(m, "/api/v1/github/endpoints", "/api/v1/github/endpoints", Admin);
    }
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        add(
            m,
            "/api/v1/github/endpoints/{name}",
            "/api/v1/github/endpoints/nope",
            Admin,
        );
    }
    add(Method::GET, "/api/v1/credentials", "/api/v1/credentials", Admin);
    for m in [Method::GET, Method::POST] {
        add(m, "/api/v1/github/credentials", "/api/v1/github/credentials", Admin);
    }
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        add(
            m,
            "/api/v1/github/credentials/{id}",
            "/api/v1/github/credentials/999",
            Admin,
        );
    }
    for base in ["repositories", "organizations", "enterprises"] {
        for m in [Method::GET, Method::POST] {
            add(m, &format!("/api/v1/{base}"), &format!("/api/v1/{base}"), Admin);
        }
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            add(
                m,
                &format!("/api/v1/{base}/{{id}}"),
                &format!("/api/v1/{base}/nope"),
                Admin,
            );
        }
        for m in [Method::GET, Method::POST] {
            add(
                m,
                &format!("/api/v1/{base}/{{id}}/pools"),
                &format!("/api/v1/{base}/nope/pools"),
                Admin,
            );
        }
        for m in [Method::GET, Method::PUT, Method::DELETE] {
            add(
                m,
                &format!("/api/v1/{base}/{{id}}/pools/{{pool_id}}"),
                &format!("/api/v1/{base}/nope/pools/nope"),
                Admin,
            );
        }
        add(
            Method::GET,
            &format!("/api/v1/{base}/{{id}}/instances"),
            &format!("/api/v1/{base}/nope/instances"),
            Admin,
        );
        for m in [Method::GET, Method::POST] {
            add(
                m,
                &format!("/api/v1/{base}/{{id}}/scalesets"),
                &format!("/api/v1/{base}/nope/scalesets"),
                Admin,
            );
        }
    }
    add(Method::GET, "/api/v1/scalesets", "/api/v1/scalesets", Admin);
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        // An id that does not exist: the admin gets 404 (200 for a delete), everyone else 401.
        add(m, "/api/v1/scalesets/{id}", "/api/v1/scalesets/999", Admin);
    }
    add(
        Method::GET,
        "/api/v1/scalesets/{id}/instances",
        "/api/v1/scalesets/999/instances",
        Admin,
    );
    for base in ["repositories", "organizations"] {
        for m in [Method::GET, Method::POST, Method::DELETE] {
            add(
                m,
                &format!("/api/v1/{base}/{{id}}/webhook"),
                &format!("/api/v1/{base}/nope/webhook"),
                Admin,
            );
        }
    }
    add(Method::GET, "/api/v1/instances", "/api/v1/instances", Admin);
    for m in [Method::GET, Method::DELETE] {
        add(m, "/api/v1/instances/{name}", "/api/v1/instances/garm-nope", Admin);
    }
    add(Method::GET, "/api/v1/pools", "/api/v1/pools", Admin);
    for m in [Method::GET, Method::POST] {
        add(m, "/api/v1/templates", "/api/v1/templates", Admin);
    }
    add(
        Method::POST,
        "/api/v1/templates/restore",
        "/api/v1/templates/restore",
        Admin,
    );
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        // An id that does not exist: the admin gets 404, everyone else 401.
        add(m, "/api/v1/templates/{template_id}", "/api/v1/templates/999", Admin);
    }
    for m in [Method::GET, Method::POST] {
        add(m, "/api/v1/proxies", "/api/v1/proxies", Admin);
    }
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        add(m, "/api/v1/proxies/{proxy_id}", "/api/v1/proxies/999", Admin);
    }
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        add(m, "/api/v1/pools/{pool_id}", "/api/v1/pools/nope", Admin);
    }
    add(
        Method::GET,
        "/api/v1/pools/{pool_id}/instances",
        "/api/v1/pools/nope/instances",
        Admin,
    );
    add(
        Method::POST,
        "/api/v1/callbacks/status",
        "/api/v1/callbacks/status",
        Instance,
    );
    add(
        Method::POST,
        "/api/v1/callbacks/system-info",
        "/api/v1/callbacks/system-info",
        Instance,
    );
    for (template, path) in [
        (
            "/api/v1/metadata/runner-registration-token",
            "/api/v1/metadata/runner-registration-token",
        ),
        (
            "/api/v1/metadata/credentials/{file}",
            "/api/v1/metadata/credentials/runner",
        ),
        (
            "/api/v1/metadata/system/service-name",
            "/api/v1/metadata/system/service-name",
        ),
        (
            "/api/v1/metadata/systemd/unit-file",
            "/api/v1/metadata/systemd/unit-file",
        ),
        (
            "/api/v1/metadata/system/cert-bundle",
            "/api/v1/metadata/system/cert-bundle",
        ),
        ("/api/v1/metadata/install-script", "/api/v1/metadata/install-script"),
        ("/api/v1/metadata/runner-metadata", "/api/v1/metadata/runner-metadata"),
        (
            "/api/v1/metadata/attestation/nonce",
            "/api/v1/metadata/attestation/nonce",
        ),
        (
            "/api/v1/metadata/tools/garm-attest",
            "/api/v1/metadata/tools/garm-attest",
        ),
    ] {
        add(Method::GET, template, path, Instance);
    }
    // An empty body is not evidence (400): the instance is not judged by it.
    add(
        Method::POST,
        "/api/v1/metadata/attestation/evidence",
        "/api/v1/metadata/attestation/evidence",
        Instance,
    );
    out
}

/// Route templates as the router's source declares them (`{{id}}` in `format!` strings, and
/// the entity collections expanded), so a route added without a line above fails this test.
fn declared_routes() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            let looks_like_route =
                piece.starts_with("/api/v1/") || piece == "/metrics" || piece.starts_with("/webhooks");
            if !looks_like_route || piece.contains(' ') {
                continue;
            }
            let template = piece.replace("{{", "{").replace("}}", "}");
            if template.contains("{base}") {
                let bases: &[&str] = if template.ends_with("/webhook") {
                    &["repositories", "organizations"]
                } else {
                    &["repositories", "organizations", "enterprises"]
                };
                for base in bases {
                    found.insert(template.replace("{base}", base));
                }
            } else {
                found.insert(template);
            }
        }
    }
    found
}

struct World {
    h: Harness,
    store: Store,
    pool_id: String,
    a: InstanceRecord,
    b: InstanceRecord,
}

async fn world() -> World {
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!("{}\n[metrics]\nenable = true\n", config_text(&dir));
    let (app, _rx) = garm_server::build(garm_server::config::Config::parse(&config).unwrap())
        .await
        .unwrap();
    let mut h = Harness {
        router: garm_server::service(app),
        dir: dir.clone(),
        token: String::new(),
    };
    h.init().await;
    h.add_pat("garm", "ghp_AuthMatrixToken0000000000000000000").await;
    let repo = h.add_repo("acme", "widgets", "WebhookSecretForTheMatrix").await;
    let repo_id = repo["id"].as_str().unwrap();
    let pool = h
        .post(&format!("/api/v1/repositories/{repo_id}/pools"), Harness::pool_body())
        .await;
    let pool_id = pool["id"].as_str().unwrap().to_string();
    let store = Store::connect(
        &format!("sqlite://{}", dir.join("garm.db").display()),
        Sealer::new(PASSPHRASE),
    )
    .await
    .unwrap();
    let a = instance(&store, &pool_id, "garm-instance-a").await;
    let b = instance(&store, &pool_id, "garm-instance-b").await;
    World {
        h,
        store,
        pool_id,
        a,
        b,
    }
}

async fn instance(store: &Store, pool_id: &str, name: &str) -> InstanceRecord {
    let now = chrono::Utc::now();
    let record = InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        pool_id: pool_id.into(),
        provider_id: Some(name.into()),
        agent_id: 0,
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![garm_store::AddressRecord {
            address: "10.10.0.10".into(),
            kind: "private".into(),
        }],
        status: InstanceStatus::Running,
        runner_status: RunnerStatus::Installing,
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
    store.instance(name).await.unwrap()
}

fn sign(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn instance_token(i: &InstanceRecord, pool_id: &str, exp_offset: i64) -> String {
    sign(json!({
        "id": i.id, "name": i.name, "provider_id": pool_id, "scope": "repository", "entity": "acme/widgets",
        "create_attempt": i.create_attempt, "forge_type": "github", "is_agent": false, "iss": "garm",
        "exp": chrono::Utc::now().timestamp() + exp_offset,
    }))
}

fn user_id(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string()
}

fn body_for(method: &Method) -> Option<Value> {
    (*method == Method::POST || *method == Method::PUT).then(|| json!({}))
}

const AUTH_FAILED: &str = r#"{"error":"Authentication failed","details":""}"#;

#[tokio::test]
async fn the_matrix_lists_every_declared_route() {
    let listed: BTreeSet<String> = routes().into_iter().map(|(_, template, _, _)| template).collect();
    let declared = declared_routes();
    let missing: Vec<&String> = declared.difference(&listed).collect();
    assert!(missing.is_empty(), "routes missing from the auth matrix: {missing:?}");
    assert!(declared.len() > 40, "the source scan found the routes: {declared:?}");
}

#[tokio::test]
async fn every_route_answers_each_kind_of_token_as_it_should() {
    let w = world().await;
    let admin = w.h.token.clone();
    let uid = user_id(&admin);
    let now = chrono::Utc::now().timestamp();
    let expired_user = sign(json!({"user": uid, "is_admin": true, "generation": 0, "iss": "garm", "exp": now - 5}));
    let token_a = instance_token(&w.a, &w.pool_id, 600);
    let token_b = instance_token(&w.b, &w.pool_id, 600);
    let expired_a = instance_token(&w.a, &w.pool_id, -5);
    // A's name with B's id: a token that names one instance and was minted for another.
    let crossed = sign(json!({
        "id": w.b.id, "name": w.a.name, "provider_id": w.pool_id, "scope": "repository", "entity": "acme/widgets",
        "create_attempt": 1, "forge_type": "github", "is_agent": false, "iss": "garm", "exp": now + 600,
    }));
    // Otherwise valid tokens whose `nbf` lies in the future (garm refuses them).
    let future_user = sign(
        json!({"user": uid, "is_admin": true, "generation": 0, "iss": "garm", "exp": now + 3600, "nbf": now + 600}),
    );
    let future_a = sign(json!({
        "id": w.a.id, "name": w.a.name, "provider_id": w.pool_id, "scope": "repository", "entity": "acme/widgets",
        "create_attempt": w.a.create_attempt, "forge_type": "github", "is_agent": false, "iss": "garm",
        "exp": now + 3600, "nbf": now + 600,
    }));
    let kinds: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("malformed", Some("Bearer not.a.jwt".into())),
        ("garbage scheme", Some("Bearer".into())),
        ("expired user", Some(format!("Bearer {expired_user}"))),
        ("expired instance", Some(format!("Bearer {expired_a}"))),
        ("not yet valid user", Some(format!("Bearer {future_user}"))),
        ("not yet valid instance", Some(format!("Bearer {future_a}"))),
        ("instance A", Some(format!("Bearer {token_a}"))),
        ("instance B", Some(format!("Bearer {token_b}"))),
        ("crossed instance", Some(format!("Bearer {crossed}"))),
        ("admin", Some(format!("Bearer {admin}"))),
    ];
    let mut checked = 0;
    for (method, template, path, class) in routes() {
        for (kind, auth) in &kinds {
            let (status, text) =
                w.h.raw(
                    method.clone(),
                    &path,
                    body_for(&method).map(|b| b.to_string()),
                    auth.as_deref(),
                )
                .await;
            let what = format!("{method} {template} with {kind}: {status} {text}");
            let valid_for_route = match class {
                Class::Admin => *kind == "admin",
                Class::Instance => *kind == "instance A" || *kind == "instance B",
                Class::Open => false,
            };
            match class {
                Class::Admin | Class::Instance if valid_for_route => {
                    assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}");
                }
                Class::Admin | Class::Instance => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert_eq!(body, serde_json::from_str::<Value>(AUTH_FAILED).unwrap(), "{what}");
                }
                Class::Open => {
                    // Tokens give nothing here: each answer is what anyone gets.
                    match template.as_str() {
                        "/api/v1/first-run" => assert_eq!(status, StatusCode::CONFLICT, "{what}"),
                        // An empty login fails, and repeated failures are limited.
                        "/api/v1/auth/login" => assert!(
                            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
                            "{what}"
                        ),
                        // Only a metrics token opens /metrics, not a user or instance token.
                        "/metrics" => assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}"),
                        // Another controller's webhook URL: acknowledged and ignored, as garm does.
                        "/webhooks/{controller_id}" => assert_eq!(status, StatusCode::OK, "{what}"),
                        // Webhooks are authenticated by their signature; without event headers: 400.
                        _ => assert_eq!(status, StatusCode::BAD_REQUEST, "{what}"),
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked} requests");

    // Each instance token reads its own instance, never another.
    for (token, me) in [(&token_a, &w.a), (&token_b, &w.b)] {
        let (status, meta) =
            w.h.call(
                Method::GET,
                "/api/v1/metadata/runner-metadata",
                None,
                Some(&format!("Bearer {token}")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{meta}");
        assert_eq!(meta["runner_name"], me.name.as_str());
    }
}

#[tokio::test]
async fn an_instance_token_stops_working_once_the_runner_is_up() {
    let w = world().await;
    let token = format!("Bearer {}", instance_token(&w.a, &w.pool_id, 600));
    let (status, _) =
        w.h.call(Method::GET, "/api/v1/metadata/system/service-name", None, Some(&token))
            .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        w.h.call(
            Method::POST,
            "/api/v1/callbacks/status",
            Some(json!({"status": "idle", "message": "runner successfully installed"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        w.store.instance(&w.a.name).await.unwrap().runner_status,
        RunnerStatus::Idle
    );
    for (method, _, path, class) in routes() {
        if class != Class::Instance {
            continue;
        }
        let body = body_for(&method).map(|b| b.to_string());
        let (status, text) = w.h.raw(method.clone(), &path, body, Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} after idle: {text}");
    }
    // The other instance, still installing, is unaffected.
    let other = format!("Bearer {}", instance_token(&w.b, &w.pool_id, 600));
    let (status, _) =
        w.h.call(Method::GET, "/api/v1/metadata/system/service-name", None, Some(&other))
            .await;
    assert_eq!(status, StatusCode::OK);
    // A token of an earlier create attempt is refused.
    w.store
        .modify_instance(&w.b.name, garm_store::Transition::Forced, |i| i.create_attempt = 2)
        .await
        .unwrap();
    let (status, _) =
        w.h.call(Method::GET, "/api/v1/metadata/system/service-name", None, Some(&other))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub(crate) async fn login_from(
    h: &Harness,
    username: &str,
    password: &str,
    from: Option<[u8; 4]>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"username": username, "password": password}).to_string(),
        ))
        .unwrap();
    if let Some(ip) = from {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    }
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), retry)
}

#[tokio::test]
async fn the_systemd_unit_takes_only_a_plain_user_name() {
    let w = world().await;
    let token = format!("Bearer {}", instance_token(&w.a, &w.pool_id, 600));
    let (status, unit) =
        w.h.raw(
            Method::GET,
            "/api/v1/metadata/systemd/unit-file?runAsUser=ubuntu",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{unit}");
    assert!(unit.contains("User=ubuntu\n"), "{unit}");
    for hostile in [
        "runner%0AExecStartPre%3D%2Fbin%2Fsh",
        "runner%0D%0A%5BService%5D",
        "..%2F..%2Froot",
        "a%20b",
        "root%00",
    ] {
        let (status, body) =
            w.h.call(
                Method::GET,
                &format!("/api/v1/metadata/systemd/unit-file?runAsUser={hostile}"),
                None,
                Some(&token),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hostile}: {body}");
        assert!(body["details"].as_str().unwrap().contains("runAsUser"), "{body}");
    }
}

#[tokio::test]
async fn runner_lists_leave_addresses_out_and_a_single_runner_shows_them_as_garm_does() {
    let w = world().await;
    for uri in [
        "/api/v1/instances".to_string(),
        format!("/api/v1/pools/{}/instances", w.pool_id),
    ] {
        let list = w.h.get(&uri).await;
        let listed = list.as_array().unwrap();
        assert_eq!(listed.len(), 2, "{uri}: {list}");
        assert!(listed.iter().all(|i| i.get("addresses").is_none()), "{uri}: {list}");
    }
    let one = w.h.get(&format!("/api/v1/instances/{}", w.a.name)).await;
    assert_eq!(
        one["addresses"],
        serde_json::json!([{"address": "10.10.0.10", "type": "private"}])
    );
}

#[tokio::test]
async fn the_install_script_comes_from_the_pools_template() {
    use base64::Engine;
    let w = world().await;
    let token = format!("Bearer {}", instance_token(&w.a, &w.pool_id, 600));
    let (status, script) =
        w.h.raw(Method::GET, "/api/v1/metadata/install-script", None, Some(&token))
            .await;
    assert_eq!(status, StatusCode::OK, "{script}");
    assert!(script.contains("actions-runner"), "the system template by default");
    let text = "#!/bin/bash\necho custom install for {{ .RunnerName }}\n";
    let t =
        w.h.post(
            "/api/v1/templates",
            json!({"name": "custom-linux", "description": "mine", "os_type": "linux", "forge_type": "github",
                   "data": base64::engine::general_purpose::STANDARD.encode(text)}),
        )
        .await;
    let (status, body) =
        w.h.send(
            Method::PUT,
            &format!("/api/v1/pools/{}", w.pool_id),
            Some(json!({"template_id": t["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["template_name"], "custom-linux");
    let (status, script) =
        w.h.raw(Method::GET, "/api/v1/metadata/install-script", None, Some(&token))
            .await;
    assert_eq!(status, StatusCode::OK, "{script}");
    assert_eq!(script, format!("#!/bin/bash\necho custom install for {}\n", w.a.name));
}

#[tokio::test]
async fn a_pools_proxy_reaches_the_systemd_unit_and_the_install_script() {
    let w = world().await;
    let proxy =
        w.h.post(
            "/api/v1/proxies",
            json!({"name": "corp", "http_proxy": "http://proxy.example:3128", "no_proxy": "10.0.0.0/8",
                   "username": "svc", "password": "100%secret"}),
        )
        .await;
    let (status, body) =
        w.h.send(
            Method::PUT,
            &format!("/api/v1/pools/{}", w.pool_id),
            Some(json!({"proxy_id": proxy["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = format!("Bearer {}", instance_token(&w.a, &w.pool_id, 600));
    let (status, unit) =
        w.h.raw(
            Method::GET,
            "/api/v1/metadata/systemd/unit-file?runAsUser=runner",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{unit}");
    // Credentials composed into the URL; systemd needs `%` doubled.
    assert!(
        unit.contains("Environment=\"HTTP_PROXY=http://svc:100%%25secret@proxy.example:3128\"\n"),
        "{unit}"
    );
    assert!(
        unit.contains("Environment=\"http_proxy=http://svc:100%%25secret@proxy.example:3128\"\n"),
        "{unit}"
    );
    assert!(unit.contains("Environment=\"NO_PROXY=10.0.0.0/8\"\n"), "{unit}");
    assert!(!unit.contains("HTTPS_PROXY"), "no https proxy was set: {unit}");
    let (status, script) =
        w.h.raw(Method::GET, "/api/v1/metadata/install-script", None, Some(&token))
            .await;
    assert_eq!(status, StatusCode::OK, "{script}");
    assert!(
        script.contains("http://svc:100%25secret@proxy.example:3128"),
        "the script gets the proxy"
    );
}
