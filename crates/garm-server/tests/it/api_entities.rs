//! Repositories, organizations and enterprises.

use crate::Harness;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn repositories_have_garms_shape_and_rules() {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("mkulke", "garm-playground", "s3cret-webhook").await;
    assert_eq!(repo["owner"], "mkulke");
    assert_eq!(repo["name"], "garm-playground");
    assert_eq!(repo["credentials_name"], "garm");
    assert_eq!(repo["credentials"]["name"], "garm");
    assert_eq!(repo["pool_balancing_type"], "roundrobin");
    assert_eq!(repo["endpoint"]["name"], "github.com");
    assert_eq!(repo["agent_mode"], false);
    assert!(repo["pool_manager_status"].is_object());
    assert!(!repo.to_string().contains("s3cret-webhook"));
    let id = repo["id"].as_str().unwrap();

    let (status, b) = h.send(Method::POST, "/api/v1/repositories", Some(json!({"owner": "MKULKE", "name": "Garm-Playground", "credentials_name": "garm", "webhook_secret": "x"}))).await;
    Harness::assert_error(status, &b, StatusCode::CONFLICT, "already exists");
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/repositories",
            Some(json!({"owner": "o", "name": "n", "credentials_name": "garm"})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "missing secret");
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/repositories",
            Some(json!({"owner": "o", "name": "n", "credentials_name": "nope", "webhook_secret": "x"})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "credentials nope not defined");
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/repositories",
            Some(json!({"name": "n", "credentials_name": "garm", "webhook_secret": "x"})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "owner");
    let (status, b) = h.send(Method::POST, "/api/v1/repositories", Some(json!({"owner": "o", "name": "n", "credentials_name": "garm", "webhook_secret": "x", "pool_balancer_type": "random"}))).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "balancer");

    // The CLI sends empty filters; they mean "no filter".
    assert_eq!(
        h.get("/api/v1/repositories?endpoint=&name=&owner=")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(h.get("/api/v1/repositories?owner=someone-else").await, json!([]));
    let updated = h
        .send(
            Method::PUT,
            &format!("/api/v1/repositories/{id}"),
            Some(json!({"pool_balancer_type": "pack", "webhook_secret": "new"})),
        )
        .await
        .1;
    assert_eq!(updated["pool_balancing_type"], "pack");
    let (status, _) = h.send(Method::GET, &format!("/api/v1/organizations/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a repository id is not an organization");

    let pool = h
        .post(&format!("/api/v1/repositories/{id}/pools"), Harness::pool_body())
        .await;
    let shown = h.get(&format!("/api/v1/repositories/{id}")).await;
    assert_eq!(shown["pool"][0]["id"], pool["id"]);
    let (status, b) = h
        .send(Method::DELETE, &format!("/api/v1/repositories/{id}"), None)
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, pool["id"].as_str().unwrap());
    let (status, _) = h
        .send(
            Method::DELETE,
            &format!("/api/v1/pools/{}", pool["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .raw(
            Method::DELETE,
            &format!("/api/v1/repositories/{id}?keepWebhook=true"),
            None,
            Some(&format!("Bearer {}", h.token)),
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(h.get("/api/v1/repositories").await, json!([]));
}

#[tokio::test]
async fn organizations_and_enterprises_work_alike() {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_x").await;
    for base in ["organizations", "enterprises"] {
        let created = h
            .post(
                &format!("/api/v1/{base}"),
                json!({"name": "acme", "credentials_name": "garm", "webhook_secret": "s"}),
            )
            .await;
        assert_eq!(created["name"], "acme");
        assert!(created.get("owner").is_none(), "{created}");
        let id = created["id"].as_str().unwrap();
        assert_eq!(
            h.get(&format!("/api/v1/{base}?name=acme"))
                .await
                .as_array()
                .unwrap()
                .len(),
            1
        );
        h.post(&format!("/api/v1/{base}/{id}/pools"), Harness::pool_body())
            .await;
        let pools = h.get(&format!("/api/v1/{base}/{id}/pools")).await;
        let key = if base == "organizations" {
            "org_name"
        } else {
            "enterprise_name"
        };
        assert_eq!(pools[0][key], "acme");
        assert_eq!(h.get(&format!("/api/v1/{base}/{id}/instances")).await, json!([]));
    }
}

#[tokio::test]
async fn hostile_owners_and_names_are_refused_naming_the_field() {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_x").await;
    let long = "a".repeat(10_000);
    let cases = [
        ("/api/v1/repositories", json!({"owner": "../etc", "name": "n"}), "owner"),
        (
            "/api/v1/repositories",
            json!({"owner": "a\u{0}b", "name": "n"}),
            "owner",
        ),
        (
            "/api/v1/repositories",
            json!({"owner": "o", "name": "n\nInjected: 1"}),
            "name",
        ),
        ("/api/v1/repositories", json!({"owner": "o", "name": ".."}), "name"),
        (
            "/api/v1/repositories",
            json!({"owner": "o", "name": "x\u{1b}[2J"}),
            "name",
        ),
        (
            "/api/v1/repositories",
            json!({"owner": "o\u{202E}rc", "name": "n"}),
            "owner",
        ),
        ("/api/v1/repositories", json!({"owner": "o", "name": long}), "name"),
        ("/api/v1/organizations", json!({"name": "org/../x"}), "name"),
        ("/api/v1/enterprises", json!({"name": "ent\u{2067}"}), "name"),
    ];
    for (uri, mut body, field) in cases {
        body["credentials_name"] = json!("garm");
        body["webhook_secret"] = json!("s3cret");
        let (status, b) = h.send(Method::POST, uri, Some(body.clone())).await;
        Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, field);
        assert!(b.to_string().len() < 500, "the answer does not echo a huge value: {b}");
    }
    assert_eq!(h.get("/api/v1/repositories").await, json!([]));
    assert_eq!(h.get("/api/v1/organizations").await, json!([]));
    // Credentials and endpoint names are printable too.
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/github/credentials",
            Some(json!({"name": "pat\nx", "description": "d", "endpoint": "github.com", "auth_type": "pat", "pat": {"oauth2_token": "ghp_y"}})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "name");
}
