//! Named proxies: garm's rules, the password never shown, pools referring to them.

use crate::Harness;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn proxies_are_validated_kept_secret_and_protected_while_used() {
    let h = Harness::ready().await;
    let created = h
        .post(
            "/api/v1/proxies",
            json!({"name": "Corp", "description": "office", "http_proxy": "http://proxy.example:3128",
                   "no_proxy": "localhost", "username": "svc", "password": "pr0xy-s3cret"}),
        )
        .await;
    assert_eq!(created["id"], 1);
    assert_eq!(created["username"], "svc");
    assert!(!created.to_string().contains("pr0xy-s3cret"), "{created}");
    assert!(!h.get("/api/v1/proxies").await.to_string().contains("pr0xy-s3cret"));
    for (body, needle, status) in [
        (
            json!({"name": "corp", "http_proxy": "http://other:1"}),
            "already exists",
            StatusCode::CONFLICT,
        ),
        (json!({"name": "none"}), "at least one", StatusCode::BAD_REQUEST),
        (
            json!({"name": "ftp", "http_proxy": "ftp://p:21"}),
            "scheme",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "creds", "https_proxy": "http://u:p@p:1"}),
            "not in the URL",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "pw", "http_proxy": "http://p:1", "password": "x"}),
            "needs a username",
            StatusCode::BAD_REQUEST,
        ),
        (json!({"http_proxy": "http://p:1"}), "name", StatusCode::BAD_REQUEST),
        (
            json!({"name": "bad\nname", "http_proxy": "http://p:1"}),
            "name",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, b) = h.send(Method::POST, "/api/v1/proxies", Some(body)).await;
        Harness::assert_error(got, &b, status, needle);
    }
    let socks = h
        .post(
            "/api/v1/proxies",
            json!({"name": "socks", "https_proxy": "socks5://127.0.0.1:1080"}),
        )
        .await;
    // An update changes only what it names; an empty username clears the credentials.
    let (status, updated) = h
        .send(
            Method::PUT,
            "/api/v1/proxies/1",
            Some(json!({"https_proxy": "http://proxy.example:3129"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["http_proxy"], "http://proxy.example:3128");
    assert_eq!(updated["https_proxy"], "http://proxy.example:3129");
    assert_eq!(updated["username"], "svc");
    let (_, cleared) = h
        .send(Method::PUT, "/api/v1/proxies/1", Some(json!({"username": ""})))
        .await;
    assert!(cleared.get("username").is_none(), "{cleared}");
    // Pools refer to a proxy by id; a missing one is refused; one in use cannot go.
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("mkulke", "garm-playground", "secret").await;
    let uri = format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap());
    let mut body = Harness::pool_body();
    body["proxy_id"] = json!(42);
    let (status, b) = h.send(Method::POST, &uri, Some(body.clone())).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "proxy_id");
    body["proxy_id"] = socks["id"].clone();
    let pool = h.post(&uri, body).await;
    assert_eq!(
        (pool["proxy_id"].as_u64(), pool["proxy_name"].as_str()),
        (Some(2), Some("socks"))
    );
    let (status, b) = h.send(Method::DELETE, "/api/v1/proxies/2", None).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "used by pools");
    let pool_uri = format!("/api/v1/pools/{}", pool["id"].as_str().unwrap());
    let (status, cleared) = h.send(Method::PUT, &pool_uri, Some(json!({"proxy_id": 0}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cleared.get("proxy_id").is_none(), "{cleared}");
    assert_eq!(
        cleared["generation"], 1,
        "a proxy change makes older instances outdated"
    );
    let (status, _) = h.send(Method::DELETE, "/api/v1/proxies/2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get("/api/v1/proxies").await.as_array().unwrap().len(), 1);
}
