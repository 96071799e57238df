//! The GitHub client against an in-test server answering with the REST description's examples.

use chrono::{TimeDelta, Utc};
use garm_forge::github::{Auth, DeliveryFilter, GithubClient, GithubEndpoint, Removed, RunnerStatus, Scope};
use garm_forge::{ForgeError, Secret};
use serde_json::{json, Value};

use crate::support::{error_body, example, testdata, FakeGithub, Reply, Seen};

const PAT: &str = "ghp_test_only_token";

pub fn endpoint(api_base_url: &str) -> GithubEndpoint {
    GithubEndpoint {
        api_base_url: api_base_url.parse().unwrap(),
        base_url: "https://github.com".parse().unwrap(),
        ca_cert_bundle: None,
    }
}

pub fn pat_client(server: &FakeGithub) -> GithubClient {
    GithubClient::new(
        endpoint(server.origin()),
        Auth::Pat {
            token: Secret::new(PAT),
        },
    )
    .unwrap()
}

pub fn repo() -> Scope {
    Scope::Repository {
        owner: "octo-org".into(),
        name: "octo-repo".into(),
    }
}

pub fn org() -> Scope {
    Scope::Organization("octo-org".into())
}

pub fn runners_page(seen: &Seen) -> Reply {
    Reply::json(200, &example("/repos/{owner}/{repo}/actions/runners", "get", "200"))
        .header("x-ratelimit-remaining", "4999")
        .header(
            "x-ratelimit-reset",
            (Utc::now() + TimeDelta::hours(1)).timestamp().to_string(),
        )
        .header("x-github-request-id", format!("{}:1", seen.path))
}

#[tokio::test]
async fn pat_is_sent_as_bearer_with_githubs_headers() {
    let server = FakeGithub::start(runners_page).await;
    let runners = pat_client(&server).list_runners(&repo()).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/repos/octo-org/octo-repo/actions/runners");
    assert_eq!(request.query, "per_page=100");
    assert_eq!(request.header("authorization"), format!("Bearer {PAT}"));
    assert_eq!(request.header("accept"), "application/vnd.github+json");
    assert_eq!(request.header("x-github-api-version"), "2022-11-28");
    assert!(request.header("user-agent").starts_with("garm-rs/"));

    assert_eq!(runners.len(), 2);
    assert_eq!(runners[0].id, 23);
    assert_eq!(runners[0].name, "linux_runner");
    assert_eq!(runners[0].os, "linux");
    assert_eq!(runners[0].status, RunnerStatus::Online);
    assert!(runners[0].busy);
    assert_eq!(runners[0].labels, ["self-hosted", "X64", "Linux"]);
    assert_eq!(runners[1].status, RunnerStatus::Offline);
    assert_eq!(runners[1].labels, ["self-hosted", "X64", "macOS", "no-gpu"]);
}

#[tokio::test]
async fn runner_list_follows_the_next_link_across_two_pages() {
    let server = FakeGithub::start(|seen| {
        let mut page = example("/orgs/{org}/actions/runners", "get", "200");
        if seen.query.contains("page=2") {
            for runner in page["runners"].as_array_mut().unwrap() {
                runner["id"] = json!(runner["id"].as_i64().unwrap() + 100);
            }
            return Reply::json(200, &page).header(
                "link",
                format!(
                    r#"<{0}{1}?per_page=100&page=1>; rel="prev", <{0}{1}?per_page=100&page=1>; rel="first""#,
                    seen.origin, seen.path
                ),
            );
        }
        Reply::json(200, &page).header(
            "link",
            format!(
                r#"<{0}{1}?per_page=100&page=2>; rel="next", <{0}{1}?per_page=100&page=2>; rel="last""#,
                seen.origin, seen.path
            ),
        )
    })
    .await;
    let runners = pat_client(&server).list_runners(&org()).await.unwrap();
    let ids: Vec<i64> = runners.iter().map(|runner| runner.id).collect();
    assert_eq!(ids, [23, 24, 123, 124]);
    let queries: Vec<String> = server.seen().into_iter().map(|seen| seen.query).collect();
    assert_eq!(queries, ["per_page=100", "per_page=100&page=2"]);
}

#[tokio::test]
async fn ghes_api_prefix_is_kept_when_joining_paths() {
    let server = FakeGithub::start(runners_page).await;
    let client = GithubClient::new(
        endpoint(&format!("{}/api/v3", server.origin())),
        Auth::Pat {
            token: Secret::new(PAT),
        },
    )
    .unwrap();
    client
        .list_runners(&Scope::Enterprise("octo-corp".into()))
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/api/v3/enterprises/octo-corp/actions/runners"), 1);
}

#[tokio::test]
async fn remove_runner_maps_404_to_gone_and_422_to_busy() {
    let server = FakeGithub::start(|seen| match seen.path.rsplit('/').next().unwrap() {
        "1" => Reply::empty(204),
        "2" => Reply::json(404, &error_body("Not Found")),
        "3" => Reply::json(
            422,
            &error_body("Bad request - Runner \"busy\" is still running a job\""),
        ),
        _ => Reply::json(401, &error_body("Bad credentials")),
    })
    .await;
    let client = pat_client(&server);
    assert_eq!(client.remove_runner(&repo(), 1).await.unwrap(), Removed::Deleted);
    assert_eq!(client.remove_runner(&repo(), 2).await.unwrap(), Removed::Gone);
    let busy = client.remove_runner(&repo(), 3).await.unwrap_err();
    assert!(matches!(busy, ForgeError::RunnerBusy), "{busy:?}");
    let unauthorized = client.remove_runner(&repo(), 4).await.unwrap_err();
    assert!(unauthorized.is_unauthorized(), "{unauthorized:?}");
    assert!(!unauthorized.is_retryable());
    assert_eq!(server.count("DELETE", "/repos/octo-org/octo-repo/actions/runners/1"), 1);
}

#[tokio::test]
async fn registration_token_keeps_its_secret_out_of_debug_output() {
    let server = FakeGithub::start(|seen| {
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/orgs/octo-org/actions/runners/registration-token");
        Reply::json(
            201,
            &example("/orgs/{org}/actions/runners/registration-token", "post", "201"),
        )
    })
    .await;
    let token = pat_client(&server).create_registration_token(&org()).await.unwrap();
    assert_eq!(token.token.expose(), "LLBF3JGZDX3P5PMEXLND6TS6FCWO6");
    assert_eq!(token.expires_at.to_rfc3339(), "2020-01-22T20:13:35.123+00:00");
    assert!(!format!("{token:?}").contains("LLBF3"));
}

#[tokio::test]
async fn jit_config_sends_the_runner_spec_and_maps_conflicts_and_validation() {
    let server = FakeGithub::start(|seen| match seen.json()["name"].as_str().unwrap() {
        "taken" => Reply::json(
            409,
            &error_body("Already exists - A runner with the name taken already exists."),
        ),
        "bad" => Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "documentation_url": "https://docs.github.com/rest",
                "errors": ["labels must have between 1 and 100 items"],
            }),
        ),
        _ => Reply::json(
            201,
            &example(
                "/repos/{owner}/{repo}/actions/runners/generate-jitconfig",
                "post",
                "201",
            ),
        ),
    })
    .await;
    let client = pat_client(&server);
    let labels = vec!["garm".to_owned(), "ubuntu".to_owned()];
    let jit = client
        .generate_jit_config(&repo(), "New runner", 1, &labels, "_work")
        .await
        .unwrap();
    assert_eq!(jit.runner_id, 23);
    assert_eq!(jit.runner_name, "New runner");
    assert_eq!(jit.encoded_jit_config.expose(), "abc123");
    assert!(!format!("{jit:?}").contains("abc123"));
    let request = &server.seen()[0];
    assert_eq!(
        request.path,
        "/repos/octo-org/octo-repo/actions/runners/generate-jitconfig"
    );
    assert_eq!(
        request.json(),
        json!({"name": "New runner", "runner_group_id": 1, "labels": ["garm", "ubuntu"], "work_folder": "_work"})
    );

    let conflict = client
        .generate_jit_config(&repo(), "taken", 1, &labels, "_work")
        .await
        .unwrap_err();
    assert!(matches!(conflict, ForgeError::Conflict { .. }), "{conflict:?}");
    let invalid = client
        .generate_jit_config(&repo(), "bad", 1, &[], "_work")
        .await
        .unwrap_err();
    match invalid {
        ForgeError::Validation { message } => {
            assert!(message.contains("between 1 and 100"), "{message}")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn downloads_groups_jobs_and_rate_limits_decode_the_documented_examples() {
    let server = FakeGithub::start(|seen| {
        let (path, status): (&str, u16) = match seen.path.as_str() {
            "/orgs/octo-org/actions/runners/downloads" => ("/orgs/{org}/actions/runners/downloads", 200),
            "/orgs/octo-org/actions/runner-groups" => ("/orgs/{org}/actions/runner-groups", 200),
            "/enterprises/octo-corp/actions/runner-groups" => ("/enterprises/{enterprise}/actions/runner-groups", 200),
            "/repos/octo-org/octo-repo/actions/jobs/399444496" => ("/repos/{owner}/{repo}/actions/jobs/{job_id}", 200),
            "/rate_limit" => ("/rate_limit", 200),
            other => panic!("unexpected request to {other}"),
        };
        Reply::json(status, &example(path, "get", &status.to_string()))
    })
    .await;
    let client = pat_client(&server);

    let downloads = client.list_runner_downloads(&org()).await.unwrap();
    assert_eq!(downloads.len(), 5);
    assert_eq!(
        (downloads[1].os.as_str(), downloads[1].architecture.as_str()),
        ("linux", "x64")
    );
    assert!(downloads[1]
        .download_url
        .ends_with("actions-runner-linux-x64-2.164.0.tar.gz"));

    let groups = client.list_runner_groups(&org()).await.unwrap();
    let names: Vec<&str> = groups.iter().map(|group| group.name.as_str()).collect();
    assert_eq!(names, ["Default", "octo-runner-group", "expensive-hardware"]);
    assert!(groups[0].default && !groups[1].default && groups[1].inherited);
    let enterprise = client
        .list_runner_groups(&Scope::Enterprise("octo-corp".into()))
        .await
        .unwrap();
    assert_eq!(enterprise[0].name, "Default");
    assert!(client.list_runner_groups(&repo()).await.unwrap().is_empty());

    let job = client
        .get_workflow_job("octo-org", "octo-repo", 399444496)
        .await
        .unwrap();
    assert_eq!(job.id, 399444496);
    assert_eq!(job.run_id, 29679449);
    assert_eq!(job.status, "completed");
    assert_eq!(job.conclusion.as_deref(), Some("success"));
    assert_eq!(job.endpoint_base_url().as_deref(), Some("https://github.com"));

    let limits = client.rate_limit().await.unwrap();
    let core = limits.core().unwrap();
    assert_eq!((core.limit, core.remaining), (5000, 4999));
    assert_eq!(limits.resources["actions_runner_registration"].limit, 10000);

    // The repository group list is answered without a request.
    assert_eq!(server.seen().len(), 5);
}

/// The documented answer for a hook request: the list, one hook, or a created hook, of a repository or organization.
fn hook_example(seen: &Seen, status: &str) -> Value {
    let base = if seen.path.starts_with("/orgs/") {
        "/orgs/{org}/hooks"
    } else {
        "/repos/{owner}/{repo}/hooks"
    };
    match seen.method.as_str() {
        "POST" => example(base, "post", status),
        _ if seen.path.ends_with("/hooks") => example(base, "get", status),
        _ => example(&format!("{base}/{{hook_id}}"), "get", status),
    }
}

#[tokio::test]
async fn hooks_are_created_for_workflow_jobs_as_json_and_read_back() {
    let server = FakeGithub::start(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", path) if path.ends_with("/pings") => Reply::empty(204),
        ("POST", _) => Reply::json(201, &hook_example(seen, "201")),
        ("DELETE", path) if path.ends_with("/404") => Reply::json(404, &error_body("Not Found")),
        ("DELETE", _) => Reply::empty(204),
        ("GET", path) if path.ends_with("/404") => Reply::json(404, &error_body("Not Found")),
        ("GET", _) => Reply::json(200, &hook_example(seen, "200")),
        _ => Reply::empty(405),
    })
    .await;
    let client = pat_client(&server);
    let secret = Secret::new("hook-secret");

    let hook = client
        .create_hook(&repo(), "https://garm.example.com/webhooks/abc", &secret, false)
        .await
        .unwrap();
    assert_eq!(hook.id, 12345678);
    assert_eq!(hook.content_type.as_deref(), Some("json"));
    assert!(!hook.insecure_ssl);
    let created = server.seen()[0].json();
    assert_eq!(
        created,
        json!({
            "name": "web",
            "active": true,
            "events": ["workflow_job"],
            "config": {
                "url": "https://garm.example.com/webhooks/abc",
                "content_type": "json",
                "secret": "hook-secret",
                "insecure_ssl": "0",
            },
        })
    );

    let hooks = client.list_hooks(&repo()).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url.as_deref(), Some("https://example.com/webhook"));
    let org_hook = client.get_hook(&org(), 1).await.unwrap();
    assert_eq!(org_hook.url.as_deref(), Some("http://example.com"));
    assert!(org_hook.active);
    let missing = client.get_hook(&org(), 404).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");

    client.ping_hook(&org(), 1).await.unwrap();
    assert_eq!(server.count("POST", "/orgs/octo-org/hooks/1/pings"), 1);
    assert_eq!(client.delete_hook(&repo(), 12345678).await.unwrap(), Removed::Deleted);
    assert_eq!(client.delete_hook(&repo(), 404).await.unwrap(), Removed::Gone);

    let before = server.seen().len();
    let err = client
        .list_hooks(&Scope::Enterprise("octo-corp".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Unsupported { .. }), "{err:?}");
    assert_eq!(server.seen().len(), before);
}

#[tokio::test]
async fn server_and_transport_failures_are_retryable() {
    let server = FakeGithub::start(|_| Reply::json(502, &error_body("Server Error"))).await;
    let err = pat_client(&server).list_runners(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Server { status: 502 }), "{err:?}");
    assert!(err.is_retryable());

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = GithubClient::new(
        endpoint(&origin),
        Auth::Pat {
            token: Secret::new(PAT),
        },
    )
    .unwrap();
    let err = client.list_runners(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(!format!("{err:?} {err}").contains(PAT));
}

#[tokio::test]
async fn a_malformed_answer_is_a_decode_error() {
    let server = FakeGithub::start(|_| Reply::json(200, &json!({"unexpected": true}))).await;
    let err = pat_client(&server).list_runners(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Decode { .. }), "{err:?}");
}

#[test]
fn ca_bundle_is_accepted_when_it_holds_certificates() {
    let mut with_ca = endpoint("https://ghes.example.com/api/v3");
    with_ca.ca_cert_bundle = Some(testdata("test-only-ca.pem"));
    let pat = || Auth::Pat {
        token: Secret::new(PAT),
    };
    GithubClient::new(with_ca.clone(), pat()).unwrap();

    with_ca.ca_cert_bundle = Some(b"not a certificate".to_vec());
    let err = GithubClient::new(with_ca, pat()).unwrap_err();
    assert!(matches!(err, ForgeError::InvalidConfig { .. }), "{err:?}");
}

#[tokio::test]
async fn hook_deliveries_are_listed_failed_only_with_the_next_cursor_and_redelivered() {
    let server = FakeGithub::start(|seen| {
        if seen.method == "POST" {
            return Reply::json(202, &json!({}));
        }
        let mut page = example("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries", "get", "200");
        page[0]["status_code"] = json!(0);
        page[0]["status"] = json!("failed to connect to host");
        Reply::json(200, &page).header(
            "link",
            format!(
                r#"<{}{}?per_page=50&status=failure&cursor=v1_77>; rel="next""#,
                seen.origin, seen.path
            ),
        )
    })
    .await;
    let client = pat_client(&server);
    let page = client
        .list_hook_deliveries(&repo(), 7, DeliveryFilter::Failed, Some("v1_99"), 50)
        .await
        .unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("v1_77"));
    assert!(!page.deliveries.is_empty());
    let first = &page.deliveries[0];
    assert!(first.id > 0 && !first.guid.is_empty(), "{first:?}");
    assert!(!first.succeeded());
    let seen = server.seen();
    assert_eq!(seen[0].path, "/repos/octo-org/octo-repo/hooks/7/deliveries");
    assert_eq!(seen[0].query, "per_page=50&status=failure&cursor=v1_99");

    client.redeliver_hook_delivery(&org(), 7, first.id).await.unwrap();
    assert_eq!(
        server.count(
            "POST",
            &format!("/orgs/octo-org/hooks/7/deliveries/{}/attempts", first.id)
        ),
        1
    );
    let err = client
        .list_hook_deliveries(&Scope::Enterprise("e".into()), 7, DeliveryFilter::All, None, 10)
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Unsupported { .. }), "{err:?}");
}
