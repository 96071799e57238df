//! Runner install templates: the system ones, CRUD with garm's rules, and pools using them.

use crate::Harness;
use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn text_of(t: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t["data"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

const MINE: &str = "#!/bin/bash\necho installing {{ .RunnerName }}\n";

#[tokio::test]
async fn the_system_templates_are_seeded_with_garms_ids_and_cannot_be_changed() {
    let h = Harness::ready().await;
    let list = h.get("/api/v1/templates").await;
    let names: Vec<(&str, u64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["id"].as_u64().unwrap(),
                t["owner_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("github_windows", 1, "system"), ("github_linux", 2, "system")]
    );
    assert!(
        list.as_array().unwrap().iter().all(|t| t["data"].is_null()),
        "lists carry no text"
    );
    let linux = h.get("/api/v1/templates/2").await;
    assert_eq!(
        text_of(&linux),
        garm_template::system_template("github", "linux").unwrap()
    );
    let (status, b) = h
        .send(Method::PUT, "/api/v1/templates/2", Some(json!({"data": b64(MINE)})))
        .await;
    Harness::assert_error(
        status,
        &b,
        StatusCode::BAD_REQUEST,
        "system templates cannot be changed",
    );
    let (status, b) = h.send(Method::DELETE, "/api/v1/templates/1", None).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "cannot be deleted");
    // Restoring rewrites them from the built-in copy; Gitea has none yet.
    let (status, _) = h
        .send(
            Method::POST,
            "/api/v1/templates/restore",
            Some(json!({"forge": "github", "os_type": "linux"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .send(
            Method::POST,
            "/api/v1/templates/restore",
            Some(json!({"restore_all": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, b) = h
        .send(
            Method::POST,
            "/api/v1/templates/restore",
            Some(json!({"forge": "gitea", "os_type": "linux"})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "no built-in template");
    assert_eq!(h.get("/api/v1/templates").await.as_array().unwrap().len(), 2);
    let (status, _) = h.send(Method::GET, "/api/v1/templates/77", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn templates_are_created_checked_filtered_updated_and_deleted() {
    let h = Harness::ready().await;
    let created = h
        .post(
            "/api/v1/templates",
            json!({"name": "my-linux", "description": "ours", "os_type": "linux", "forge_type": "github", "data": b64(MINE)}),
        )
        .await;
    assert_eq!(created["id"], 3);
    assert_eq!(
        created["owner_id"].as_str().unwrap().len(),
        36,
        "owned by the admin user: {created}"
    );
    assert_eq!(text_of(&created), MINE);
    for (body, needle, status) in [
        (
            json!({"name": "my-linux", "os_type": "linux", "data": b64(MINE)}),
            "already exists",
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "broken", "os_type": "linux", "data": b64("{{ if .X }")}),
            "line 1",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "empty", "os_type": "linux", "data": ""}),
            "empty",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "mac", "os_type": "macos", "data": b64(MINE)}),
            "os_type",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "os_type": "linux", "forge_type": "gitlab", "data": b64(MINE)}),
            "forge_type",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "bad\nname", "os_type": "linux", "data": b64(MINE)}),
            "name",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, b) = h.send(Method::POST, "/api/v1/templates", Some(body)).await;
        Harness::assert_error(got, &b, status, needle);
    }
    let linux = h.get("/api/v1/templates?osType=linux").await;
    assert_eq!(linux.as_array().unwrap().len(), 2);
    let mine = h.get("/api/v1/templates?partialName=MY-").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(h.get("/api/v1/templates?forgeType=gitea").await, json!([]));
    let updated = h
        .send(
            Method::PUT,
            "/api/v1/templates/3",
            Some(json!({"name": "my-linux-2", "data": b64("#!/bin/sh\necho v2\n")})),
        )
        .await
        .1;
    assert_eq!(updated["name"], "my-linux-2");
    assert_eq!(updated["description"], "ours", "absent fields are kept");
    assert_eq!(text_of(&updated), "#!/bin/sh\necho v2\n");
    let (status, b) = h
        .send(
            Method::PUT,
            "/api/v1/templates/3",
            Some(json!({"data": b64("{{ end }}")})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "invalid template");
    let (status, _) = h.send(Method::DELETE, "/api/v1/templates/3", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.send(Method::GET, "/api/v1/templates/3", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pools_use_the_system_template_unless_given_one_that_fits() {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("mkulke", "garm-playground", "secret").await;
    let uri = format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap());
    let pool = h.post(&uri, Harness::pool_body()).await;
    assert_eq!(
        (pool["template_id"].as_u64(), pool["template_name"].as_str()),
        (Some(2), Some("github_linux"))
    );
    let windows = h
        .post(
            "/api/v1/templates",
            json!({"name": "win", "os_type": "windows", "data": b64("Write-Host {{ .RunnerName }}")}),
        )
        .await;
    let mut body = Harness::pool_body();
    body["template_id"] = windows["id"].clone();
    let (status, b) = h.send(Method::POST, &uri, Some(body.clone())).await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "template_id");
    body["template_id"] = json!(404);
    let (status, _) = h.send(Method::POST, &uri, Some(body.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mine = h
        .post(
            "/api/v1/templates",
            json!({"name": "mine", "os_type": "linux", "data": b64(MINE)}),
        )
        .await;
    body["template_id"] = mine["id"].clone();
    body["runner_prefix"] = json!("second");
    let second = h.post(&uri, body).await;
    assert_eq!(second["template_name"], "mine");
    // In use: not deletable until the pool is gone.
    let (status, b) = h
        .send(Method::DELETE, &format!("/api/v1/templates/{}", mine["id"]), None)
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "used by pools");
    let (status, _) = h
        .send(
            Method::DELETE,
            &format!("/api/v1/pools/{}", second["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .send(Method::DELETE, &format!("/api/v1/templates/{}", mine["id"]), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}
