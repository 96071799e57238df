//! REST behaviour: pagination, rate limits, PAT scopes, User-Agent, JIT configuration content.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use garm_fake_github::{FakeConfig, FakeHandle, PatSpec, SwitchesPatch};
use serde_json::{json, Value};

use crate::schema;
use crate::support::{self, Api, ALL_SCOPES};

async fn with_pat(config: FakeConfig) -> (FakeHandle, Api) {
    let fake = support::start_with(config).await;
    fake.state().add_pat(PatSpec::new("ghp_all", ALL_SCOPES));
    let api = Api::new(&fake, Some("ghp_all"));
    (fake, api)
}

async fn jit(api: &Api, name: &str, labels: Value) -> Value {
    let reply = api
        .post(
            "/repos/acme/app/actions/runners/generate-jitconfig",
            json!({"name": name, "runner_group_id": 1, "labels": labels}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

fn links(header: Option<&str>) -> BTreeMap<String, String> {
    header
        .unwrap_or_default()
        .split(", ")
        .filter_map(|part| {
            let (url, rel) = part.split_once("; rel=")?;
            Some((
                rel.trim_matches('"').to_owned(),
                url.trim_matches(|c| c == '<' || c == '>').to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn runner_lists_are_paged_by_per_page_with_link_headers() {
    let (fake, api) = with_pat(support::config()).await;
    for n in 0..5 {
        jit(&api, &format!("page-{n}"), json!(["x"])).await;
    }
    let first = api.get("/repos/acme/app/actions/runners?per_page=2").await;
    assert_eq!(first.body["total_count"], 5);
    assert_eq!(first.body["runners"].as_array().unwrap().len(), 2);
    let rels = links(first.header("link"));
    assert_eq!(rels.keys().cloned().collect::<Vec<_>>(), vec!["last", "next"]);
    assert!(
        rels["next"].ends_with("/repos/acme/app/actions/runners?per_page=2&page=2"),
        "{rels:?}"
    );
    assert!(rels["last"].ends_with("page=3"));
    let last = api.get("/repos/acme/app/actions/runners?per_page=2&page=3").await;
    assert_eq!(last.body["runners"].as_array().unwrap().len(), 1);
    let rels = links(last.header("link"));
    assert_eq!(rels.keys().cloned().collect::<Vec<_>>(), vec!["first", "prev"]);
    let single = api.get("/repos/acme/app/actions/runners").await;
    assert!(single.header("link").is_none(), "one page has no Link");
    assert_eq!(single.body["runners"].as_array().unwrap().len(), 5);

    let ghes = Api::with(&format!("{}/api/v3", fake.url()), schema::ghes(), Some("ghp_all"));
    let paged = ghes.get("/repos/acme/app/actions/runners?per_page=1&page=2").await;
    let rels = links(paged.header("link"));
    assert!(
        rels["next"].starts_with(&format!("{}/api/v3/repos/acme/app/actions/runners?", fake.url())),
        "{rels:?}"
    );
    let named = api.get("/repos/acme/app/actions/runners?name=page-3").await;
    assert_eq!(named.body["total_count"], 1);
    assert_eq!(named.body["runners"][0]["name"], "page-3");
}

#[tokio::test]
async fn every_answer_counts_against_the_primary_rate_limit_until_it_runs_out() {
    let config = FakeConfig {
        rate_limit: 3,
        ..support::config()
    };
    let (_fake, api) = with_pat(config).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let reply = api.get("/repos/acme/app/actions/runners").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("x-ratelimit-resource"), Some("core"));
        let reset: i64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset > chrono::Utc::now().timestamp());
        remaining.push(reply.header("x-ratelimit-remaining").unwrap().to_owned());
        assert!(reply.header("x-github-request-id").is_some());
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let refused = api.get("/repos/acme/app/actions/runners").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(refused.body["message"].as_str().unwrap().contains("rate limit"));
    // `/rate_limit` is not charged and tells the same story.
    let overview = api.get("/rate_limit").await;
    assert_eq!(overview.status, 200);
    assert_eq!(overview.body["resources"]["core"]["remaining"], 0);
    assert_eq!(overview.body["rate"]["used"], 3);
}

#[tokio::test]
async fn the_exhaustion_switch_empties_the_limit_until_its_reset() {
    let (fake, api) = with_pat(support::config()).await;
    let switches = fake.state().update_switches(&SwitchesPatch {
        exhaust_rate_limit_secs: Some(120),
        ..Default::default()
    });
    let until = switches.rate_limit_exhausted_until.expect("set");
    let refused = api.get("/orgs/acme").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-reset"), Some(until.to_string().as_str()));
    assert_eq!(api.get("/rate_limit").await.body["resources"]["core"]["reset"], until);
    fake.state().update_switches(&SwitchesPatch {
        exhaust_rate_limit_secs: Some(0),
        ..Default::default()
    });
    assert_eq!(api.get("/orgs/acme").await.status, 200);
}

#[tokio::test]
async fn tokens_need_the_documented_scopes() {
    let fake = support::start().await;
    let repo_only = fake.state().new_pat(&["repo"]);
    let org_admin = fake.state().new_pat(&["admin:org"]);
    let api = Api::new(&fake, Some(&repo_only));
    let ok = api.get("/repos/acme/app/actions/runners").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-oauth-scopes"), Some("repo"));
    assert_eq!(
        api.get("/repos/acme/app/hooks").await.status,
        200,
        "repo grants repository hooks"
    );
    let forbidden = api.get("/orgs/acme/actions/runners").await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.header("x-accepted-oauth-scopes"),
        Some("admin:org, manage_runners:org")
    );
    let api = api.as_token(&org_admin);
    assert_eq!(
        api.post("/orgs/acme/actions/runners/registration-token", json!({}))
            .await
            .status,
        201
    );
    assert_eq!(
        api.get("/orgs/acme/hooks").await.status,
        403,
        "org hooks need admin:org_hook"
    );
    assert_eq!(api.get("/repos/acme/app/actions/runners").await.status, 403);
    let unknown = api.as_token("ghp_nope").get("/orgs/acme").await;
    assert_eq!(
        (unknown.status, unknown.body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    let anonymous = Api::new(&fake, None);
    assert_eq!(
        anonymous.get("/repos/acme/app").await.status,
        200,
        "public repositories are readable"
    );
    let refused = anonymous.get("/repos/acme/app/actions/runners").await;
    assert_eq!(
        (refused.status, refused.body["message"].as_str()),
        (401, Some("Requires authentication"))
    );
    assert_eq!(
        anonymous.get("/repos/acme/app").await.header("x-ratelimit-limit"),
        Some("60")
    );
}

#[tokio::test]
async fn requests_without_a_user_agent_are_refused() {
    let fake = support::start().await;
    let status = reqwest::Client::new()
        .get(format!("{}/orgs/acme", fake.url()))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 403);
}

#[tokio::test]
async fn a_jit_configuration_decodes_into_the_three_runner_files() {
    let (fake, api) = with_pat(support::config()).await;
    let reply = jit(&api, "jit-files", json!(["gpu", "GPU", "big"])).await;
    let runner = &reply["runner"];
    assert_eq!(
        (runner["status"].as_str(), runner["busy"].as_bool()),
        (Some("offline"), Some(false))
    );
    assert!(runner["version"].is_null(), "no version until it connects");
    let names: Vec<&str> = runner["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names, vec!["self-hosted", "Linux", "X64", "gpu", "big"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let outer: BTreeMap<String, String> =
        serde_json::from_slice(&b64.decode(reply["encoded_jit_config"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(
        outer.keys().cloned().collect::<Vec<_>>(),
        vec![".credentials", ".credentials_rsaparams", ".runner"]
    );
    let file = |name: &str| -> Value { serde_json::from_slice(&b64.decode(&outer[name]).unwrap()).unwrap() };
    let settings = file(".runner");
    assert_eq!(settings["agentId"], runner["id"]);
    assert_eq!(settings["agentName"], "jit-files");
    assert_eq!(settings["poolId"], 1);
    assert_eq!(settings["ephemeral"], true);
    assert_eq!(settings["workFolder"], "_work");
    assert_eq!(settings["gitHubUrl"], format!("{}/acme/app", fake.url()));
    assert!(settings["serverUrl"].as_str().unwrap().starts_with(fake.url()));
    let credentials = file(".credentials");
    assert_eq!(credentials["scheme"], "OAuth");
    assert!(credentials["data"]["clientId"].is_string() && credentials["data"]["authorizationUrl"].is_string());
    let rsa = file(".credentials_rsaparams");
    for key in ["d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"] {
        assert!(rsa[key].is_string(), "{key}");
    }
    let listed = api.get("/repos/acme/app/actions/runners").await;
    assert_eq!(listed.body["runners"][0]["name"], "jit-files", "listed at once");
}

#[tokio::test]
async fn jit_runners_that_never_connect_are_removed_after_their_ttl() {
    let config = FakeConfig {
        jit_unused_ttl: Some(Duration::from_millis(300)),
        ..support::config()
    };
    let (fake, api) = with_pat(config).await;
    jit(&api, "never-used", json!(["x"])).await;
    let gone = fake
        .state()
        .wait_for(Duration::from_secs(5), |s| s.runners().is_empty().then_some(()))
        .await;
    assert!(gone.is_some(), "the unused JIT runner is still there");
}
