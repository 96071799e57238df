//! Bootstrap gates, authentication and routing behaviour.

use crate::{Harness, JWT_SECRET, PASSWORD};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn everything_answers_init_required_until_first_run() {
    let h = Harness::empty().await;
    for (method, uri) in [
        (Method::GET, "/api/v1/controller-info"),
        (Method::GET, "/api/v1/controller"),
        (Method::GET, "/api/v1/pools"),
    ] {
        let (status, body) = h.call(method, uri, None, None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body, json!({"error": "init_required", "details": "Missing superuser"}));
    }
    let (status, body) = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "a", "password": "b"})),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("init_required"))
    );
}

#[tokio::test]
async fn first_run_validates_and_happens_once() {
    let h = Harness::empty().await;
    let weak = json!({"username": "admin", "email": "admin@example.com", "password": "password"});
    let (status, body) = h.call(Method::POST, "/api/v1/first-run", Some(weak), None).await;
    Harness::assert_error(status, &body, StatusCode::BAD_REQUEST, "too weak");
    let bad_email = json!({"username": "admin", "email": "nope", "password": PASSWORD});
    let (status, body) = h.call(Method::POST, "/api/v1/first-run", Some(bad_email), None).await;
    Harness::assert_error(status, &body, StatusCode::BAD_REQUEST, "email");
    let (status, body) = h
        .raw(Method::POST, "/api/v1/first-run", Some("{not json".into()), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let good = json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD, "full_name": "Admin"});
    let (status, user) = h
        .call(Method::POST, "/api/v1/first-run", Some(good.clone()), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            user["username"].as_str(),
            user["is_admin"].as_bool(),
            user["enabled"].as_bool()
        ),
        (Some("admin"), Some(true), Some(true))
    );
    assert!(user.get("password").is_none());
    let (status, _) = h.call(Method::POST, "/api/v1/first-run", Some(good), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn urls_are_required_before_authentication() {
    let mut h = Harness::empty().await;
    h.call(
        Method::POST,
        "/api/v1/first-run",
        Some(json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD})),
        None,
    )
    .await;
    // No token at all still gets urls_required: the URLs check runs first.
    let (status, body) = h.call(Method::GET, "/api/v1/providers", None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("urls_required"))
    );
    // /controller is reachable without URLs, but needs a token.
    let (status, body) = h.call(Method::GET, "/api/v1/controller", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "Authentication failed", "details": ""}));
    h.login().await;
    let info = h.get("/api/v1/controller").await;
    assert_eq!(info["controller_id"].as_str().unwrap().len(), 36);
    assert_eq!(info["minimum_job_age_backoff"], 30);
    let (status, _) = h
        .send(
            Method::PUT,
            "/api/v1/controller",
            Some(json!({"metadata_url": "not a url"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let info = h
        .send(Method::PUT, "/api/v1/controller", Some(json!({"metadata_url": "https://garm.example.com/api/v1/metadata", "callback_url": "https://garm.example.com/api/v1/callbacks", "webhook_url": "https://garm.example.com/webhooks", "minimum_job_age_backoff": 0})))
        .await
        .1;
    assert_eq!(
        info["controller_webhook_url"],
        format!(
            "https://garm.example.com/webhooks/{}",
            info["controller_id"].as_str().unwrap()
        )
    );
    assert_eq!(info["agent_url"], "https://garm.example.com");
    assert!(
        info.get("minimum_job_age_backoff").is_none(),
        "zero is omitted as Go does"
    );
    let shown = h.get("/api/v1/controller-info").await;
    assert_eq!(shown["callback_url"], "https://garm.example.com/api/v1/callbacks");
}

fn forged(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_with_garms_body() {
    let h = Harness::ready().await;
    let user_id = {
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                h.token.split('.').nth(1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        claims["user"].as_str().unwrap().to_string()
    };
    let now = chrono::Utc::now().timestamp();
    let expired = forged(
        json!({"user": user_id, "is_admin": true, "generation": 0, "iss": "garm", "exp": now - 10}),
        JWT_SECRET,
    );
    let wrong_key = forged(
        json!({"user": user_id, "is_admin": true, "generation": 0, "iss": "garm", "exp": now + 600}),
        "another-secret",
    );
    let stale_generation = forged(
        json!({"user": user_id, "is_admin": true, "generation": 7, "iss": "garm", "exp": now + 600}),
        JWT_SECRET,
    );
    let valid = forged(
        json!({"user": user_id, "is_admin": true, "generation": 0, "iss": "garm", "exp": now + 600}),
        JWT_SECRET,
    );
    let metrics = h.get("/api/v1/metrics-token").await["token"]
        .as_str()
        .unwrap()
        .to_string();
    for auth in [
        None,
        Some("Bearer".to_string()),
        Some("Bearer not.a.jwt".to_string()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {wrong_key}")),
        Some(format!("Bearer {stale_generation}")),
        Some(format!("Bearer {metrics}")),
    ] {
        let (status, body) = h.call(Method::GET, "/api/v1/pools", None, auth.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body, json!({"error": "Authentication failed", "details": ""}));
    }
    let (status, _) = h
        .call(Method::GET, "/api/v1/pools", None, Some(&format!("Bearer {valid}")))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_is_not_authorized() {
    let h = Harness::ready().await;
    let (status, body) = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "admin", "password": "wrong"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "Not Authorized", "details": ""}));
    let (status, _) = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "nobody", "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn routes_tolerate_trailing_slashes_and_unknown_paths_get_garms_404() {
    let h = Harness::ready().await;
    assert_eq!(h.get("/api/v1/providers/").await, h.get("/api/v1/providers").await);
    let providers = h.get("/api/v1/providers").await;
    assert_eq!(
        providers,
        json!([{"name": "azure_external", "type": "external", "description": "Azure confidential VMs"}])
    );
    let (status, body) = h.send(Method::GET, "/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "Not found", "details": "Resource not found"}));
    let (status, _) = h.call(Method::GET, "/api/v1/no-such-thing", None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "unknown paths are not a way around authentication"
    );
    assert_eq!(h.get("/api/v1/jobs").await, json!([]));
    assert_eq!(h.get("/api/v1/instances").await, json!([]));
    let (status, body) = h.send(Method::GET, "/api/v1/instances/garm-nope", None).await;
    Harness::assert_error(status, &body, StatusCode::NOT_FOUND, "garm-nope");
    let (status, _) = h.send(Method::OPTIONS, "/api/v1/pools", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn state_survives_a_restart_and_the_database_holds_no_plain_secret() {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_PlainTextTokenThatMustNotLeak").await;
    let repo = h
        .add_repo("mkulke", "garm-playground", "WebhookSecretThatMustNotLeak")
        .await;
    let dir = h.dir.clone();
    let token = h.token.clone();
    std::mem::forget(h);
    let mut again = Harness::open(dir.clone()).await;
    again.token = token;
    let shown = again
        .get(&format!("/api/v1/repositories/{}", repo["id"].as_str().unwrap()))
        .await;
    assert_eq!(shown["name"], "garm-playground");
    assert_eq!(shown["credentials_name"], "garm");
    let mut bytes = std::fs::read(dir.join("garm.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("garm.db-wal")) {
        bytes.extend(wal);
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("garm-playground"), "the test reads the right file");
    assert!(!text.contains("ghp_PlainTextTokenThatMustNotLeak"));
    assert!(!text.contains("WebhookSecretThatMustNotLeak"));
}
