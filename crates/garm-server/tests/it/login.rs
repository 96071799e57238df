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
