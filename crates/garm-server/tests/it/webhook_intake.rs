//! Webhook intake under adverse conditions: a briefly locked database, repeated deliveries.

use crate::{Harness, PASSPHRASE};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use garm_store::{Sealer, Store};
use serde_json::{json, Value};
use sqlx::Connection;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const SECRET: &str = "WebhookSecretForIntakeTests";

fn payload(job_id: i64) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/github/webhooks/workflow_job/dotcom-05-queued.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    value["action"] = json!("queued");
    value["repository"]["name"] = json!("widgets");
    value["repository"]["owner"]["login"] = json!("acme");
    value["repository"]["html_url"] = json!("https://github.com/acme/widgets");
    value["workflow_job"]["id"] = json!(job_id);
    value["workflow_job"]["html_url"] = json!(format!("https://github.com/acme/widgets/actions/runs/1/job/{job_id}"));
    value["workflow_job"]["labels"] = json!(["self-hosted", "azure-cvm"]);
    serde_json::to_vec(&value).unwrap()
}

async fn deliver(h: &Harness, body: Vec<u8>, guid: &str, hook: &str) -> StatusCode {
    let signature = garm_forge::webhook::sign_sha256(SECRET.as_bytes(), &body);
    deliver_signed(h, body, guid, hook, &[("x-hub-signature-256", signature)]).await
}

async fn deliver_signed(
    h: &Harness,
    body: Vec<u8>,
    guid: &str,
    hook: &str,
    signatures: &[(&str, String)],
) -> StatusCode {
    let mut req = Request::builder()
        .method("POST")
        .uri("/webhooks")
        .header("content-type", "application/json")
        .header("x-github-event", "workflow_job")
        .header("x-github-delivery", guid)
        .header("x-github-hook-id", hook)
        .header("x-github-hook-installation-target-type", "repository");
    for (name, value) in signatures {
        req = req.header(*name, value);
    }
    let req = req.body(Body::from(body)).unwrap();
    h.router.clone().oneshot(req).await.unwrap().status()
}

async fn jobs_recorded(h: &Harness) -> usize {
    h.get("/api/v1/jobs").await.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_delivery_signed_only_with_the_legacy_sha1_header_is_refused_and_recorded_nowhere() {
    let (h, _store) = setup().await;
    let body = payload(4_200_000_101);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET.as_bytes());
    let digest: String = ring::hmac::sign(&key, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sha1 = format!("sha1={digest}");
    let status = deliver_signed(&h, body.clone(), "guid-sha1", "7", &[("x-hub-signature", sha1)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The SHA-256 digest without its `sha256=` prefix is not a signature either.
    let bare = garm_forge::webhook::sign_sha256(SECRET.as_bytes(), &body)
        .trim_start_matches("sha256=")
        .to_owned();
    let status = deliver_signed(&h, body.clone(), "guid-bare", "7", &[("x-hub-signature-256", bare)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(jobs_recorded(&h).await, 0, "nothing was recorded");
    // The same body, properly signed, is accepted.
    assert_eq!(deliver(&h, body, "guid-ok", "7").await, StatusCode::OK);
    assert_eq!(jobs_recorded(&h).await, 1);
}

async fn setup() -> (Harness, Store) {
    let h = Harness::ready().await;
    h.add_pat("garm", "ghp_IntakeTestToken000000000000000000000").await;
    let repo = h.add_repo("acme", "widgets", SECRET).await;
    h.post(
        &format!("/api/v1/repositories/{}/pools", repo["id"].as_str().unwrap()),
        Harness::pool_body(),
    )
    .await;
    let store = Store::connect(
        &format!("sqlite://{}", h.dir.join("garm.db").display()),
        Sealer::new(PASSPHRASE),
    )
    .await
    .unwrap();
    (h, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_for_a_moment_delays_a_webhook_but_loses_nothing() {
    let (h, store) = setup().await;
    // Another process takes the write lock for a moment (a backup, an operator's sqlite3 shell).
    let url = format!("sqlite://{}", h.dir.join("garm.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut other).await.unwrap();
    let h = std::sync::Arc::new(h);
    let sender = {
        let h = h.clone();
        tokio::spawn(async move {
            let status = deliver(&h, payload(4_200_000_001), "guid-locked", "7").await;
            (status, Instant::now())
        })
    };
    // The lock is held well below the 10 s busy timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sender.is_finished(), "the webhook waited for the lock");
    let released = Instant::now();
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let (status, answered) = sender.await.unwrap();
    assert_eq!(status, StatusCode::OK, "the webhook was accepted, not refused");
    assert!(answered >= released, "it was answered after the lock was released");
    let job = store.job(4_200_000_001).await.unwrap().expect("the job was recorded");
    assert_eq!(job.status, "queued");
    assert_eq!(store.deliveries_seen(&["7:guid-locked".into()]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_delivery_key_is_recorded_per_hook_after_its_job() {
    let (h, store) = setup().await;
    assert_eq!(
        deliver(&h, payload(4_200_000_002), "guid-shared", "7").await,
        StatusCode::OK
    );
    let first = store.job(4_200_000_002).await.unwrap().unwrap();
    assert_eq!(
        deliver(&h, payload(4_200_000_002), "guid-shared", "7").await,
        StatusCode::OK
    );
    let again = store.job(4_200_000_002).await.unwrap().unwrap();
    assert_eq!(first.updated_at, again.updated_at, "a redelivery changes nothing");
    // GitHub shares one GUID among the deliveries of an event to several hooks.
    assert_eq!(
        deliver(&h, payload(4_200_000_002), "guid-shared", "8").await,
        StatusCode::OK
    );
    let seen = store
        .deliveries_seen(&["7:guid-shared".into(), "8:guid-shared".into()])
        .await
        .unwrap();
    assert_eq!(seen.len(), 2, "each hook's delivery is its own");
    // A refused delivery (bad signature) leaves no key, so reconciliation may ask for it again.
    let body = payload(4_200_000_003);
    let req = Request::builder()
        .method("POST")
        .uri("/webhooks")
        .header("x-github-event", "workflow_job")
        .header("x-github-delivery", "guid-forged")
        .header("x-github-hook-id", "7")
        .header("x-github-hook-installation-target-type", "repository")
        .header("x-hub-signature-256", garm_forge::webhook::sign_sha256(b"wrong", &body))
        .body(Body::from(body))
        .unwrap();
    assert_eq!(
        h.router.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(store
        .deliveries_seen(&["7:guid-forged".into()])
        .await
        .unwrap()
        .is_empty());
    assert!(store.job(4_200_000_003).await.unwrap().is_none());
}
