//! GitHub App credentials: the App JWT, the installation token exchange and its cache.

use chrono::{TimeDelta, Utc};
use garm_forge::github::{Auth, GithubClient};
use garm_forge::Secret;
use serde_json::json;

use crate::github::{endpoint, repo, runners_page};
use crate::support::{error_body, example, testdata, FakeGithub, Reply, Seen};

const APP_ID: u64 = 12345;
const INSTALLATION: u64 = 678;
const TOKENS_PATH: &str = "/app/installations/678/access_tokens";

fn app_client(server: &FakeGithub) -> GithubClient {
    let pem = String::from_utf8(testdata("test-only-app-key.pem")).unwrap();
    GithubClient::new(
        endpoint(server.origin()),
        Auth::App {
            app_id: APP_ID,
            installation_id: INSTALLATION,
            private_key_pem: Secret::new(pem),
        },
    )
    .unwrap()
}

#[derive(serde::Deserialize)]
struct AppClaims {
    iss: String,
    iat: i64,
    exp: i64,
}

/// Answers the token exchange (checking the App JWT) and runner lists; `token_lifetime` sets `expires_at`.
fn app_server(token_lifetime: TimeDelta) -> impl Fn(&Seen) -> Reply + Send + Sync {
    let public_key = jsonwebtoken::DecodingKey::from_rsa_pem(&testdata("test-only-app-key.pub.pem")).unwrap();
    move |seen| {
        if seen.path == TOKENS_PATH {
            assert_eq!(seen.method, "POST");
            let jwt = seen.header("authorization").strip_prefix("Bearer ").unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_required_spec_claims(&["exp", "iat", "iss"]);
            let claims = jsonwebtoken::decode::<AppClaims>(jwt, &public_key, &validation)
                .expect("the App JWT verifies with the App's public key")
                .claims;
            let now = Utc::now().timestamp();
            assert_eq!(claims.iss, APP_ID.to_string());
            assert!((now - 65..=now - 55).contains(&claims.iat), "iat {}", claims.iat);
            assert!((now + 530..=now + 545).contains(&claims.exp), "exp {}", claims.exp);
            let mut token = example("/app/installations/{installation_id}/access_tokens", "post", "201");
            token["expires_at"] = json!((Utc::now() + token_lifetime).to_rfc3339());
            return Reply::json(201, &token);
        }
        let token = example("/app/installations/{installation_id}/access_tokens", "post", "201");
        let expected = format!("Bearer {}", token["token"].as_str().unwrap());
        if seen.header("authorization") != expected {
            return Reply::json(401, &error_body("Bad credentials"));
        }
        runners_page(seen)
    }
}

#[tokio::test]
async fn app_credentials_exchange_a_jwt_for_a_cached_installation_token() {
    let server = FakeGithub::start(app_server(TimeDelta::hours(1))).await;
    let client = app_client(&server);
    client.list_runners(&repo()).await.unwrap();
    client.list_runners(&repo()).await.unwrap();
    assert_eq!(server.count("POST", TOKENS_PATH), 1);
    assert_eq!(server.count("GET", "/repos/octo-org/octo-repo/actions/runners"), 2);
    assert!(!format!("{client:?}").contains("BEGIN"), "{client:?}");
}

#[tokio::test]
async fn installation_token_is_replaced_within_five_minutes_of_expiry() {
    let server = FakeGithub::start(app_server(TimeDelta::minutes(4))).await;
    let client = app_client(&server);
    client.list_runners(&repo()).await.unwrap();
    client.list_runners(&repo()).await.unwrap();
    assert_eq!(server.count("POST", TOKENS_PATH), 2);
}

#[tokio::test]
async fn a_401_drops_the_cached_installation_token() {
    let reject_next = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reject_next.clone();
    let inner = app_server(TimeDelta::hours(1));
    let server = FakeGithub::start(move |seen| {
        if seen.path != TOKENS_PATH && flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Reply::json(401, &error_body("Bad credentials"));
        }
        inner(seen)
    })
    .await;
    let client = app_client(&server);
    client.list_runners(&repo()).await.unwrap();
    reject_next.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = client.list_runners(&repo()).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    client.list_runners(&repo()).await.unwrap();
    assert_eq!(server.count("POST", TOKENS_PATH), 2);
}

#[tokio::test]
async fn an_unknown_installation_is_not_found() {
    let server = FakeGithub::start(|_| Reply::json(404, &error_body("Not Found"))).await;
    let err = app_client(&server).list_runners(&repo()).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(server.count("GET", "/repos/octo-org/octo-repo/actions/runners"), 0);
}
