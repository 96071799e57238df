//! Login throttling and timing: a guesser slows only itself, the owner gets in from
//! elsewhere, and an unknown username costs as much as a wrong password.

use crate::auth_matrix::login_from;
use crate::{Harness, PASSWORD};
use axum::http::StatusCode;
use garm_server::login_limit::{PER_ADDRESS, PER_PAIR};
use std::time::{Duration, Instant};

const ATTACKER: [u8; 4] = [198, 51, 100, 7];
const OWNER: [u8; 4] = [203, 0, 113, 5];

#[tokio::test]
async fn a_guesser_cannot_lock_the_owner_out_from_another_address() {
    let h = Harness::ready().await;
    for attempt in 0..PER_PAIR {
        let (status, body, _) = login_from(&h, "admin", "wrong", Some(ATTACKER)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {body}");
    }
    // The guesser is throttled, with garm's error body and a Retry-After...
    let (status, body, retry) = login_from(&h, "admin", PASSWORD, Some(ATTACKER)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "Too Many Requests");
    assert!(body["details"].as_str().unwrap().contains("try again in"), "{body}");
    let secs: u64 = retry.expect("a Retry-After header").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // ...but the right password from another address still works, and so does another user.
    let (status, body, _) = login_from(&h, "admin", PASSWORD, Some(OWNER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].is_string());
    let (status, _, _) = login_from(&h, "someone", "wrong", Some(ATTACKER)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_address_guessing_many_usernames_is_throttled_for_all_of_them() {
    let h = Harness::ready().await;
    for n in 0..PER_ADDRESS {
        let (status, _, _) = login_from(&h, &format!("user{n}"), "wrong", Some(ATTACKER)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let (status, _, _) = login_from(&h, "admin", PASSWORD, Some(ATTACKER)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body, _) = login_from(&h, "admin", PASSWORD, Some(OWNER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn median_login_time(h: &Harness, username: &str, from: u8) -> Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let (status, _, _) = login_from(h, username, "not-the-password", Some([192, 0, 2, from])).await;
        times.push(start.elapsed());
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    times.sort();
    times[1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_username_takes_as_long_as_a_wrong_password() {
    let h = Harness::ready().await;
    // Warm both paths once (the stand-in hash is made on first use outside `garm`'s main).
    login_from(&h, "nobody-warmup", "x", Some([192, 0, 2, 99])).await;
    let wrong_password = median_login_time(&h, "admin", 1).await;
    let unknown_user = median_login_time(&h, "nobody-at-all", 2).await;
    // Both pay one bcrypt verification; without the stand-in hash the unknown user was
    // answered 10 to 50 times faster.
    assert!(
        unknown_user.as_secs_f64() >= wrong_password.as_secs_f64() * 0.5,
        "unknown user {unknown_user:?} vs wrong password {wrong_password:?}"
    );
}

const PROXY: [u8; 4] = [127, 0, 0, 1];

/// A login arriving from `peer` with `X-Forwarded-For: forwarded`.
async fn login_via(h: &Harness, password: &str, peer: [u8; 4], forwarded: &str) -> axum::http::StatusCode {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .method(axum::http::Method::POST)
        .uri("/api/v1/auth/login")
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(Body::from(
            serde_json::json!({"username": "admin", "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((peer, 40000))));
    h.router.clone().oneshot(req).await.unwrap().status()
}

/// Harness::ready with `[apiserver] trusted_proxies` set.
async fn behind_proxy(trusted: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = crate::config_text(&dir).replace("port = 9997", &format!("port = 9997\ntrusted_proxies = {trusted}"));
    let config = garm_server::config::Config::parse(&text).unwrap();
    let (app, _rx) = garm_server::build(config).await.unwrap();
    let mut h = Harness {
        router: garm_server::service(app),
        dir,
        token: String::new(),
    };
    h.init().await;
    h
}

/// Behind Caddy every request comes from 127.0.0.1: with the proxy trusted, a guesser is
/// throttled by its own (forwarded) address and the owner behind the same proxy still gets in.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let h = behind_proxy(r#"["127.0.0.1/32"]"#).await;
    for attempt in 0..PER_PAIR {
        let status = login_via(&h, "wrong", PROXY, "198.51.100.7").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    assert_eq!(
        login_via(&h, PASSWORD, PROXY, "198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The guesser cannot escape by putting another address first: the proxy appended its own.
    assert_eq!(
        login_via(&h, PASSWORD, PROXY, "203.0.113.5, 198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(login_via(&h, PASSWORD, PROXY, "203.0.113.5").await, StatusCode::OK);
    // A client that is not the proxy is counted by its own address, whatever it claims.
    for _ in 0..PER_PAIR {
        login_via(&h, "wrong", ATTACKER, "203.0.113.5").await;
    }
    assert_eq!(login_via(&h, PASSWORD, PROXY, "203.0.113.5").await, StatusCode::OK);
    assert_eq!(
        login_via(&h, PASSWORD, ATTACKER, "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Without trusted proxies the header is never believed: everyone behind the proxy is one
/// address, which is why the deployment behind Caddy sets `trusted_proxies`.
#[tokio::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let h = behind_proxy("[]").await;
    for _ in 0..PER_PAIR {
        login_via(&h, "wrong", PROXY, "198.51.100.7").await;
    }
    assert_eq!(
        login_via(&h, PASSWORD, PROXY, "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
