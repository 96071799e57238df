//! Pools.

use crate::Harness;
use axum::http::{Method, StatusCode};
use serde_json::json;

async fn repo(h: &Harness) -> String {
    h.add_pat("garm", "ghp_x").await;
    h.add_repo("mkulke", "garm-playground", "secret").await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_documented_confidential_pool_is_created_with_every_field() {
    let h = Harness::ready().await;
    let id = repo(&h).await;
    let pool = h
        .post(&format!("/api/v1/repositories/{id}/pools"), Harness::pool_body())
        .await;
    assert_eq!(pool["provider_name"], "azure_external");
    assert_eq!(pool["flavor"], "Standard_DC2as_v5");
    assert_eq!(
        pool["image"],
        "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest"
    );
    assert_eq!(pool["max_runners"], 4);
    assert!(pool.get("min_idle_runners").is_none(), "zero is omitted");
    assert_eq!(pool["runner_bootstrap_timeout"], 20, "0 means the default 20");
    assert_eq!(pool["runner_prefix"], "garm");
    assert_eq!(pool["extra_specs"], json!({"confidential": true}));
    assert_eq!(pool["enabled"], true);
    assert_eq!(pool["enable_shell"], false);
    assert_eq!(pool["generation"], 0);
    assert_eq!(pool["repo_id"], id.as_str());
    assert_eq!(pool["repo_name"], "mkulke/garm-playground");
    assert_eq!(pool["endpoint"]["name"], "github.com");
    let tags: Vec<&str> = pool["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["self-hosted", "azure-cvm", "ubuntu-2204"]);
    assert!(pool["tags"][0]["id"].as_str().unwrap().len() == 36);
    let pool_id = pool["id"].as_str().unwrap();

    let listed = h.get("/api/v1/pools").await;
    assert_eq!(listed[0]["id"], pool_id);
    assert!(listed[0].get("extra_specs").is_none(), "lists do not load extra specs");
    let single = h.get(&format!("/api/v1/pools/{pool_id}")).await;
    assert_eq!(single["extra_specs"], json!({"confidential": true}));
    assert_eq!(
        h.get(&format!("/api/v1/repositories/{id}/pools/{pool_id}")).await["id"],
        pool_id
    );
    assert_eq!(h.get(&format!("/api/v1/pools/{pool_id}/instances")).await, json!([]));
}

#[tokio::test]
async fn invalid_pools_are_refused_naming_the_field_and_nothing_is_stored() {
    let h = Harness::ready().await;
    let id = repo(&h).await;
    let uri = format!("/api/v1/repositories/{id}/pools");
    let cases = [
        (json!({"provider_name": "nope"}), "provider_name"),
        (json!({"provider_name": ""}), "provider_name"),
        (json!({"min_idle_runners": 5, "max_runners": 4}), "min_idle_runners"),
        (json!({"max_runners": 0}), "max_runners"),
        (json!({"tags": []}), "tags"),
        (json!({"image": ""}), "image"),
        (json!({"flavor": ""}), "flavor"),
        (json!({"os_type": "macos"}), "os_type"),
        (json!({"os_arch": "i386"}), "os_arch"),
        // Names and labels by the rules GitHub and the provider protocol imply.
        (json!({"runner_prefix": "../evil"}), "runner_prefix"),
        (json!({"runner_prefix": "a\nb"}), "runner_prefix"),
        (json!({"runner_prefix": "x".repeat(10_000)}), "runner_prefix"),
        (json!({"image": "../../etc/passwd"}), "image"),
        (json!({"image": "ubuntu\u{0}"}), "image"),
        (json!({"image": "img\u{1b}[31m"}), "image"),
        (json!({"flavor": "Standard\u{202E}5v"}), "flavor"),
        (json!({"flavor": "f\nExtra: header"}), "flavor"),
        (json!({"tags": ["self-hosted", "bad\nlabel"]}), "tags"),
        (json!({"tags": ["a,b"]}), "tags"),
        (json!({"tags": ["t".repeat(10_000)]}), "tags"),
        (
            json!({"tags": (0..10_000).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
    ];
    for (patch, field) in cases {
        let mut body = Harness::pool_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, b) = h.send(Method::POST, &uri, Some(body)).await;
        Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, field);
    }
    let broken = Harness::pool_body()
        .to_string()
        .replace("{\"confidential\":true}", "{confidential: true}");
    let (status, _) = h
        .raw(Method::POST, &uri, Some(broken), Some(&format!("Bearer {}", h.token)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(h.get("/api/v1/pools").await, json!([]));
    let (status, _) = h
        .send(
            Method::POST,
            "/api/v1/repositories/00000000-0000-0000-0000-000000000000/pools",
            Some(Harness::pool_body()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn updates_are_validated_like_creates() {
    let h = Harness::ready().await;
    let id = repo(&h).await;
    let pool = h
        .post(&format!("/api/v1/repositories/{id}/pools"), Harness::pool_body())
        .await;
    let uri = format!("/api/v1/pools/{}", pool["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"runner_prefix": "pre fix"}), "runner_prefix"),
        (json!({"image": ".."}), "image"),
        (json!({"flavor": "\u{2066}x"}), "flavor"),
        (json!({"tags": ["ok", "not ok"]}), "tags"),
    ] {
        let (status, b) = h.send(Method::PUT, &uri, Some(body)).await;
        Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, field);
    }
    let after = h.get(&uri).await;
    assert_eq!(after["image"], pool["image"]);
    assert_eq!(after["runner_prefix"], pool["runner_prefix"]);
}

#[tokio::test]
async fn pool_updates_apply_only_what_is_sent() {
    let h = Harness::ready().await;
    let id = repo(&h).await;
    let pool = h
        .post(&format!("/api/v1/repositories/{id}/pools"), Harness::pool_body())
        .await;
    let pool_id = pool["id"].as_str().unwrap();
    // garm-cli sends enable_shell: null when the flag is not given.
    let updated = h
        .send(
            Method::PUT,
            &format!("/api/v1/pools/{pool_id}"),
            Some(json!({"min_idle_runners": 2, "enable_shell": null})),
        )
        .await
        .1;
    assert_eq!(updated["min_idle_runners"], 2);
    assert_eq!(updated["flavor"], "Standard_DC2as_v5");
    assert_eq!(updated["generation"], 0, "sizing does not change the generation");
    let updated = h
        .send(
            Method::PUT,
            &format!("/api/v1/repositories/{id}/pools/{pool_id}"),
            Some(json!({"flavor": "Standard_DC4as_v5", "tags": ["gpu"]})),
        )
        .await
        .1;
    assert_eq!(updated["generation"], 1);
    assert_eq!(updated["tags"][0]["name"], "gpu");
    let (status, b) = h
        .send(
            Method::PUT,
            &format!("/api/v1/pools/{pool_id}"),
            Some(json!({"min_idle_runners": 9})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "min_idle_runners");
    let (status, b) = h
        .send(
            Method::PUT,
            &format!("/api/v1/pools/{pool_id}"),
            Some(json!({"runner_bootstrap_timeout": 0})),
        )
        .await;
    Harness::assert_error(status, &b, StatusCode::BAD_REQUEST, "runner_bootstrap_timeout");
    assert_eq!(
        h.get(&format!("/api/v1/pools/{pool_id}")).await["min_idle_runners"],
        2,
        "refused updates change nothing"
    );
    let (status, _) = h
        .send(
            Method::GET,
            &format!("/api/v1/organizations/{id}/pools/{pool_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A pool and a scale set are created through the same shape checks: every shape a pool is
/// refused for, a scale set is refused for too, with the same message, before the Actions
/// service is asked for anything, and neither is stored.
#[tokio::test]
async fn scale_sets_refuse_the_shapes_pools_refuse_with_the_same_words() {
    let h = Harness::ready().await;
    let id = repo(&h).await;
    let cases = [
        (json!({"provider_name": "nope"}), "provider_name"),
        (json!({"provider_name": ""}), "provider_name"),
        (json!({"min_idle_runners": 5, "max_runners": 4}), "min_idle_runners"),
        (json!({"image": ""}), "image"),
        (json!({"flavor": ""}), "flavor"),
        (json!({"image": "../../etc/passwd"}), "image"),
        (json!({"flavor": "f\nExtra: header"}), "flavor"),
        (json!({"runner_prefix": "../evil"}), "runner_prefix"),
        (json!({"os_type": "macos"}), "os_type"),
        (json!({"os_arch": "i386"}), "os_arch"),
        (
            json!({"extra_specs": {"confidential": true, "attestation": {"requird": true}}}),
            "unknown field `requird`",
        ),
        (
            json!({"os_type": "windows", "extra_specs": {"confidential": true, "attestation": {"required": true}}}),
            "linux pools only",
        ),
    ];
    for (patch, needle) in cases {
        let mut pool = Harness::pool_body();
        let mut scale_set = Harness::pool_body();
        scale_set.as_object_mut().unwrap().remove("tags");
        scale_set["name"] = json!("shape-check");
        for (k, v) in patch.as_object().unwrap() {
            pool[k] = v.clone();
            scale_set[k] = v.clone();
        }
        let (status, refused_pool) = h
            .send(Method::POST, &format!("/api/v1/repositories/{id}/pools"), Some(pool))
            .await;
        Harness::assert_error(status, &refused_pool, StatusCode::BAD_REQUEST, needle);
        let (status, refused_set) = h
            .send(
                Method::POST,
                &format!("/api/v1/repositories/{id}/scalesets"),
                Some(scale_set),
            )
            .await;
        Harness::assert_error(status, &refused_set, StatusCode::BAD_REQUEST, needle);
        assert_eq!(refused_pool["details"], refused_set["details"], "{patch}");
    }
    assert_eq!(h.get("/api/v1/pools").await, json!([]));
    assert_eq!(h.get("/api/v1/scalesets").await, json!([]));
}
