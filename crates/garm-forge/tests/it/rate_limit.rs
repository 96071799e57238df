//! Rate limits: remembered from every answer, and no request sent while they say to wait.

use chrono::{TimeDelta, Utc};
use garm_forge::ForgeError;

use crate::github::{org, pat_client, repo};
use crate::support::{error_body, example, FakeGithub, Reply};

#[tokio::test]
async fn exhausted_rate_limit_blocks_the_next_call_without_sending_it() {
    let reset = Utc::now() + TimeDelta::minutes(10);
    let server = FakeGithub::start(move |_| {
        Reply::json(200, &example("/repos/{owner}/{repo}/actions/runners", "get", "200"))
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset.timestamp().to_string())
    })
    .await;
    let client = pat_client(&server);
    client.list_runners(&repo()).await.unwrap();
    let state = client.rate_limit_state();
    assert_eq!(state.remaining, Some(0));
    assert_eq!(state.limit, Some(5000));
    assert_eq!(state.reset_at.map(|time| time.timestamp()), Some(reset.timestamp()));

    let err = client.create_registration_token(&repo()).await.unwrap_err();
    assert_eq!(
        err.rate_limited_until().map(|time| time.timestamp()),
        Some(reset.timestamp())
    );
    assert!(err.is_retryable());
    assert_eq!(server.seen().len(), 1, "the blocked call must not reach the server");
}

#[tokio::test]
async fn a_reset_in_the_past_does_not_block() {
    let reset = Utc::now() - TimeDelta::seconds(5);
    let server = FakeGithub::start(move |_| {
        Reply::json(200, &example("/repos/{owner}/{repo}/actions/runners", "get", "200"))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset.timestamp().to_string())
    })
    .await;
    let client = pat_client(&server);
    client.list_runners(&repo()).await.unwrap();
    client.list_runners(&repo()).await.unwrap();
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn retry_after_on_a_secondary_limit_is_honoured() {
    let server = FakeGithub::start(|_| {
        Reply::json(
            403,
            &error_body("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
        )
        .header("retry-after", "120")
        .header("x-ratelimit-remaining", "4000")
    })
    .await;
    let client = pat_client(&server);
    let before = Utc::now();
    let err = client.list_runners(&org()).await.unwrap_err();
    let until = err.rate_limited_until().expect("rate limited");
    assert!(until >= before + TimeDelta::seconds(119) && until <= Utc::now() + TimeDelta::seconds(121));
    assert_eq!(client.rate_limit_state().not_before, Some(until));

    let again = client.list_runners(&org()).await.unwrap_err();
    assert_eq!(again.rate_limited_until(), Some(until));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_429_with_no_remaining_holds_until_reset() {
    let reset = Utc::now() + TimeDelta::minutes(3);
    let server = FakeGithub::start(move |_| {
        Reply::json(429, &error_body("API rate limit exceeded"))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset.timestamp().to_string())
    })
    .await;
    let err = pat_client(&server).rate_limit().await.unwrap_err();
    assert_eq!(
        err.rate_limited_until().map(|time| time.timestamp()),
        Some(reset.timestamp())
    );
}

#[tokio::test]
async fn a_plain_403_is_forbidden_not_rate_limited() {
    let server = FakeGithub::start(|_| Reply::json(403, &error_body("Must have admin rights to Repository."))).await;
    let client = pat_client(&server);
    let err = client.list_runners(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Forbidden), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(client.rate_limit_state().not_before, None);
}
