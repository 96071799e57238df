//! Endpoints and credentials.

use crate::Harness;
use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn test_file(rel: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../garm-forge/tests/testdata")
            .join(rel),
    )
    .unwrap()
}

#[tokio::test]
async fn github_com_is_seeded_and_endpoints_have_crud() {
    let h = Harness::ready().await;
    let list = h.get("/api/v1/github/endpoints").await;
    assert_eq!(list[0]["name"], "github.com");
    assert_eq!(list[0]["base_url"], "https://github.com");
    assert_eq!(list[0]["endpoint_type"], "github");
    let ca = test_file("test-only-ca.pem");
    let body = json!({"name": "ghes", "description": "GHES", "base_url": "https://ghes.example.com", "api_base_url": "https://ghes.example.com/api/v3/", "upload_base_url": "https://ghes.example.com/api/uploads/", "ca_cert_bundle": b64(&ca)});
    let created = h.post("/api/v1/github/endpoints", body.clone()).await;
    assert_eq!(created["ca_cert_bundle"], b64(&ca));
    let (status, b) = h
        .send(Method::POST, "/api/v1/github/endpoints", Some(body.clone()))
        .await;
    Harness::assert_error(status, &b, StatusCode::CONFLICT, "ghes");
    let mut bad = body.clone();
    bad["name"] = json!("other");
    bad["ca_cert_bundle"] = json!(b64(b"not a certificate"));
    let (status, b) = h.send(Method::POST, "/api/v1/github/endpoints", Some(bad)).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "CA certificate");
    let mut bad = body.clone();
    bad["name"] = json!("other");
    bad["api_base_url"] = json!("ftp://x");
    let (status, b) = h.send(Method::POST, "/api/v1/github/endpoints", Some(bad)).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "api_base_url");
    let updated = h
        .send(
            Method::PUT,
            "/api/v1/github/endpoints/ghes",
            Some(json!({"description": "changed"})),
        )
        .await
        .1;
    assert_eq!(updated["description"], "changed");
    assert_eq!(updated["api_base_url"], "https://ghes.example.com/api/v3/");
    let (status, _) = h.send(Method::DELETE, "/api/v1/github/endpoints/ghes", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.send(Method::GET, "/api/v1/github/endpoints/ghes", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.send(Method::DELETE, "/api/v1/github/endpoints/ghes", None).await;
    assert_eq!(status, StatusCode::OK, "deleting an unknown endpoint is a no-op");
    h.add_pat("garm", "ghp_x").await;
    let (status, b) = h
        .send(Method::DELETE, "/api/v1/github/endpoints/github.com", None)
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "used by");
}

#[tokio::test]
async fn pat_credentials_never_show_their_token() {
    let h = Harness::ready().await;
    let created = h.add_pat("garm", "ghp_SuperSecretValue").await;
    assert_eq!(created["auth-type"], "pat");
    assert_eq!(created["name"], "garm");
    assert_eq!(created["endpoint"]["name"], "github.com");
    assert_eq!(created["base_url"], "https://github.com");
    let id = created["id"].as_u64().unwrap();
    for body in [
        created.clone(),
        h.get("/api/v1/github/credentials").await,
        h.get("/api/v1/credentials").await,
        h.get(&format!("/api/v1/github/credentials/{id}")).await,
    ] {
        assert!(!body.to_string().contains("ghp_SuperSecretValue"), "{body}");
    }
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/github/credentials",
            Some(json!({"name": "GARM", "endpoint": "github.com", "auth_type": "pat", "pat": {"oauth2_token": "x"}})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::CONFLICT, "GARM");
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/github/credentials",
            Some(json!({"name": "n", "endpoint": "nowhere", "auth_type": "pat", "pat": {"oauth2_token": "x"}})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::NOT_FOUND, "nowhere");
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/github/credentials",
            Some(json!({"name": "n", "endpoint": "github.com", "auth_type": "token", "pat": {"oauth2_token": "x"}})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "auth_type");
    let (status, b) = h.send(Method::POST, "/api/v1/github/credentials", Some(json!({"name": "n", "endpoint": "github.com", "auth_type": "pat", "app": {"app_id": 1, "installation_id": 2, "private_key_bytes": b64(b"x")}}))).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "app");
    let (status, b) = h.send(Method::PUT, &format!("/api/v1/github/credentials/{id}"), Some(json!({"pat": {"oauth2_token": "a"}, "app": {"app_id": 1, "installation_id": 2, "private_key_bytes": b64(b"x")}}))).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "same time");
    let renamed = h
        .send(
            Method::PUT,
            &format!("/api/v1/github/credentials/{id}"),
            Some(json!({"name": "garm2", "description": "renamed", "pat": {"oauth2_token": "ghp_new"}})),
        )
        .await
        .1;
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("garm2"), Some("renamed"))
    );
    let (status, _) = h
        .send(Method::DELETE, &format!("/api/v1/github/credentials/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get("/api/v1/github/credentials").await, json!([]));
}

#[tokio::test]
async fn app_credentials_need_a_pkcs1_key() {
    let h = Harness::ready().await;
    let key = test_file("test-only-app-key.pem");
    let ok = h.post("/api/v1/github/credentials", json!({"name": "app", "endpoint": "github.com", "auth_type": "app", "app": {"app_id": 123, "installation_id": 456, "private_key_bytes": b64(&key)}})).await;
    assert_eq!(ok["auth-type"], "app");
    assert!(!ok.to_string().contains("PRIVATE KEY"));
    for (bytes, needle) in [(b"not pem".to_vec(), "PEM"), (test_file("test-only-ca.pem"), "PKCS#1")] {
        let (status, b) = h.send(Method::POST, "/api/v1/github/credentials", Some(json!({"name": "app2", "endpoint": "github.com", "auth_type": "app", "app": {"app_id": 1, "installation_id": 2, "private_key_bytes": b64(&bytes)}}))).await;
        Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, needle);
    }
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/github/credentials",
            Some(json!({"name": "app3", "endpoint": "github.com", "auth_type": "app"})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "app");
    let id = ok["id"].as_u64().unwrap();
    let (status, b) = h
        .send(
            Method::PUT,
            &format!("/api/v1/github/credentials/{id}"),
            Some(json!({"pat": {"oauth2_token": "x"}})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "auth type");
}
