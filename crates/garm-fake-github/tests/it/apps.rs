//! GitHub App authentication: the JWT window, installation tokens and their expiry.

use std::time::Duration;

use garm_fake_github::FakeConfig;
use serde_json::json;

use crate::support::{self, app_jwt, Api, APP_ID};

#[tokio::test]
async fn app_jwts_are_checked_for_signature_issuer_and_time_window() {
    let fake = support::start().await;
    let api = Api::new(&fake, None);
    let status = |token: String| {
        let api = api.as_token(&token);
        async move { api.get("/app").await.status }
    };
    assert_eq!(
        status(app_jwt(json!(APP_ID.to_string()), -60, 540)).await,
        200,
        "iss as a string"
    );
    assert_eq!(status(app_jwt(json!(APP_ID), -60, 540)).await, 200, "iss as a number");
    assert_eq!(
        status(app_jwt(json!("Iv1.testclient"), 0, 600)).await,
        200,
        "iss as the client id"
    );
    assert_eq!(
        status(app_jwt(json!(APP_ID), 0, 11 * 60)).await,
        401,
        "exp more than 10 minutes ahead"
    );
    assert_eq!(status(app_jwt(json!(APP_ID), -700, -10)).await, 401, "expired");
    assert_eq!(
        status(app_jwt(json!(APP_ID), 300, 500)).await,
        401,
        "issued in the future"
    );
    assert_eq!(status(app_jwt(json!(999), -60, 500)).await, 401, "unknown App");
    let mut tampered: Vec<char> = app_jwt(json!(APP_ID), -60, 500).chars().collect();
    let middle = tampered.len() - 20;
    tampered[middle] = if tampered[middle] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    assert_eq!(status(tampered).await, 401, "bad signature");
    let jwt = api.as_token(&app_jwt(json!(APP_ID), -60, 500));
    assert_eq!(
        jwt.get("/repos/acme/app/actions/runners").await.status,
        401,
        "a JWT is only for /app endpoints"
    );
    let pat = fake.state().new_pat(&["repo"]);
    let refused = api.as_token(&pat).get("/app").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["message"], "A JSON web token could not be decoded");
}

#[tokio::test]
async fn installation_tokens_act_for_their_account_and_expire() {
    let config = FakeConfig {
        installation_token_lifetime: Duration::from_millis(1500),
        ..support::config()
    };
    let fake = support::start_with(config).await;
    let installation = fake.state().add_installation(APP_ID, "acme", None);
    let jwt = Api::new(&fake, Some(&app_jwt(json!(APP_ID), -60, 500)));
    let issued = jwt
        .post(
            &format!("/app/installations/{}/access_tokens", installation.id),
            json!({}),
        )
        .await;
    assert_eq!(issued.status, 201);
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"));
    let expires = chrono::DateTime::parse_from_rfc3339(issued.body["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now());
    let api = Api::new(&fake, Some(&token));
    assert_eq!(api.get("/repos/acme/app/actions/runners").await.status, 200);
    assert_eq!(
        api.post("/orgs/acme/actions/runners/registration-token", json!({}))
            .await
            .status,
        201
    );
    assert_eq!(api.get("/orgs/acme/hooks").await.status, 200);
    assert_eq!(
        api.get("/repos/alice/tool/actions/runners").await.status,
        403,
        "not this installation's"
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let expired = api.get("/repos/acme/app/actions/runners").await;
    assert_eq!(
        (expired.status, expired.body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
}

#[tokio::test]
async fn an_installation_on_selected_repositories_covers_only_those() {
    let fake = support::start().await;
    let installation = fake
        .state()
        .add_installation(APP_ID, "acme", Some(vec!["acme/lib".to_owned()]));
    let jwt = Api::new(&fake, Some(&app_jwt(json!(APP_ID), -60, 500)));
    assert_eq!(
        jwt.get("/repos/acme/lib/installation").await.body["id"],
        installation.id
    );
    assert_eq!(jwt.get("/repos/acme/app/installation").await.status, 404);
    let issued = jwt
        .post(
            &format!("/app/installations/{}/access_tokens", installation.id),
            json!({}),
        )
        .await;
    assert_eq!(issued.body["repository_selection"], "selected");
    assert_eq!(issued.body["repositories"][0]["full_name"], "acme/lib");
    let api = Api::new(&fake, issued.body["token"].as_str());
    assert_eq!(api.get("/repos/acme/lib/actions/runners").await.status, 200);
    assert_eq!(api.get("/repos/acme/app/actions/runners").await.status, 403);
}
