//! Replicas: `/healthz`, `/readyz`, the leases in the API and in `/metrics`.

use crate::{config_text, Harness};
use axum::http::{Method, StatusCode};
use std::time::Duration;

#[tokio::test]
async fn health_and_readiness_need_no_token_and_leases_need_an_admin() {
    let h = Harness::ready().await;
    assert_eq!(
        h.raw(Method::GET, "/healthz", None, None).await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        h.raw(Method::GET, "/readyz", None, None).await,
        (StatusCode::OK, "ready\n".into())
    );
    let (status, _) = h.call(Method::GET, "/api/v1/leases", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A single SQLite process holds no leases: it does all the work unfenced.
    assert_eq!(h.get("/api/v1/leases").await, serde_json::json!([]));
}

/// A replica on PostgreSQL: its leases are listed, counted in `/metrics`, and `/readyz` turns
/// 503 when the database goes away while `/healthz` stays 200.
#[tokio::test]
async fn a_replica_on_postgres_shows_its_leases_and_is_unready_without_its_database() {
    let Ok(admin) = std::env::var("GARM_TEST_POSTGRES_URL") else {
        eprintln!("GARM_TEST_POSTGRES_URL unset: skipping");
        return;
    };
    let name = format!("garm_replicas_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0.to_string();
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = config_text(&dir)
        .replace("backend = \"sqlite3\"", "backend = \"postgresql\"")
        .replace(
            "[database.sqlite3]",
            &format!("[database.postgresql]\nurl = \"{base}/{name}\"\n[database.sqlite3]"),
        )
        + "\n[metrics]\nenable = true\ndisable_auth = true\n";
    let config = garm_server::config::Config::parse(&text).unwrap();
    let (app, _rx) = garm_server::build(config).await.unwrap();
    let mut h = Harness {
        router: garm_server::service(app.clone()),
        dir,
        token: String::new(),
    };
    h.init().await;
    h.add_pat("garm", "ghp_token").await;
    let repo = h.add_repo("mkulke", "garm-playground", "whsec_one").await;
    let fence = app.pool.store.fence().cloned().expect("PostgreSQL replicas are fenced");
    garm_pool::leases::round(&app.pool, &fence, Duration::from_secs(15))
        .await
        .unwrap();

    let leases = h.get("/api/v1/leases").await;
    let names: Vec<&str> = leases
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    let entity = format!("entity:{}", repo["id"].as_str().unwrap());
    assert_eq!(names, [entity.as_str(), &format!("replica:{}", fence.holder())]);
    for l in leases.as_array().unwrap() {
        assert_eq!(l["holder"], fence.holder());
        assert_eq!(
            (l["token"].as_i64(), l["expired"].as_bool(), l["held_here"].as_bool()),
            (Some(1), Some(false), Some(true))
        );
        let expires = chrono::DateTime::parse_from_rfc3339(l["expires_at"].as_str().unwrap()).unwrap();
        let left = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
        assert!((10..=16).contains(&left), "{left}");
    }
    let (status, metrics) = h.raw(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(&format!("garm_leases_held{{replica=\"{}\"}} 2", fence.holder())),
        "{metrics}"
    );

    // The database goes away (every connection killed): not ready, still alive.
    sqlx::Executor::execute(&mut conn, format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    let (status, body) = h.raw(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(h.raw(Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
}
