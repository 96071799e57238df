//! The web UI in headless Chromium: first run, login, credentials, a repository and the
//! seed's confidential pool through the forms; a job going from queued to done; the reason
//! of a job no pool matches; deleting the pool. Assertions read what the page shows, and
//! what the UI did is checked through the REST API too (one source of truth).
//!
//! Screenshots go to a temporary folder, and to `docs/web-ui/` when `GARM_UI_SCREENSHOTS=1`.

use garm_e2e::browser::Browser;
use garm_e2e::{bin, metric, wait_for, Api, Garm, ProviderSpec, TempDir, PASSWORD, PAT};
use garm_fake_github::{FakeConfig, FakeGithub, PatSpec};
use serde_json::json;
use std::time::Duration;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const WAIT: Duration = Duration::from_secs(60);

struct Shots {
    dir: TempDir,
    keep: bool,
}

impl Shots {
    async fn take(&self, browser: &Browser, name: &str) {
        let png = browser.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot of {name} is a PNG");
        std::fs::write(self.dir.0.join(format!("{name}.png")), &png).expect("write screenshot");
        if self.keep {
            let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/web-ui");
            std::fs::create_dir_all(&docs).expect("docs/web-ui");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("write docs screenshot");
        }
    }
}

/// Clicks the submit button of the page's (first) form in `<main>`.
async fn submit(b: &Browser) {
    b.click("main form.form button[type=submit]").await.expect("submit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_up_garm_and_watches_jobs_in_the_browser() {
    let browser = Browser::start().await.unwrap_or_else(|err| panic!("{err:#}"));
    let shots = Shots {
        dir: TempDir::new("webui-shots"),
        keep: std::env::var("GARM_UI_SCREENSHOTS").is_ok_and(|v| v == "1"),
    };
    let fake = FakeGithub::start(FakeConfig {
        runner_binary: bin("garm-fake-runner"),
        pats: vec![PatSpec::new(PAT, &["repo", "admin:org"])],
        long_poll: Duration::from_secs(5),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    fake.state().add_org("acme");
    fake.state().add_repo("acme", "widgets");
    let garm = Garm::start_with(&[SANDBOX], "[apiserver.webui]\nenable = true\n")
        .await
        .unwrap();
    let base = garm.url();

    // First run: `/` leads to the UI, which asks for the administrator.
    browser.goto(&format!("{base}/")).await.unwrap();
    let text = browser.wait_text("Welcome to garm", WAIT).await.unwrap();
    assert!(browser.url().await.unwrap().ends_with("/ui/first-run"), "{text}");
    shots.take(&browser, "first-run").await;
    browser.fill("#f-username", "admin").await.unwrap();
    browser.fill("#f-email", "admin@example.com").await.unwrap();
    browser.fill("#f-password", "password").await.unwrap();
    submit(&browser).await;
    browser.wait_text("password is too weak", WAIT).await.unwrap();
    browser.fill("#f-password", PASSWORD).await.unwrap();
    submit(&browser).await;
    browser.wait_text("The admin user was created", WAIT).await.unwrap();

    // Login: a wrong password is refused, the right one opens the dashboard.
    browser.fill("#f-username", "admin").await.unwrap();
    browser.fill("#f-password", "not-the-password").await.unwrap();
    submit(&browser).await;
    browser.wait_text("Wrong username or password.", WAIT).await.unwrap();
    shots.take(&browser, "login").await;
    browser.fill("#f-password", PASSWORD).await.unwrap();
    submit(&browser).await;
    browser.wait_text("No job is waiting.", WAIT).await.unwrap();
    let cookie = browser.script("return document.cookie").await.unwrap();
    assert!(
        !cookie.as_str().unwrap_or_default().contains("garm_ui="),
        "the session cookie is HttpOnly: {cookie}"
    );

    // The API sees the administrator and the URLs the first-run form set.
    let mut api = Api::new(&base);
    let token = api
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "admin", "password": PASSWORD})),
        )
        .await
        .unwrap();
    api.token = token["token"].as_str().unwrap().to_string();
    let info = api.call("GET", "/api/v1/controller-info", None).await.unwrap();
    assert_eq!(info["metadata_url"], format!("{base}/api/v1/metadata"));

    // Endpoint and credentials through the forms.
    browser.goto(&format!("{base}/ui/endpoints")).await.unwrap();
    browser.fill("#f-name", "fake").await.unwrap();
    browser.fill("#f-description", "fake GitHub").await.unwrap();
    browser.fill("#f-base_url", fake.url()).await.unwrap();
    browser.fill("#f-api_base_url", fake.api_url()).await.unwrap();
    browser.fill("#f-upload_base_url", fake.api_url()).await.unwrap();
    submit(&browser).await;
    browser.wait_text("fake GitHub", WAIT).await.unwrap();
    browser.goto(&format!("{base}/ui/credentials")).await.unwrap();
    browser.fill("#f-name", "fake-pat").await.unwrap();
    browser.select("#f-endpoint", "fake").await.unwrap();
    browser.fill("#f-token", PAT).await.unwrap();
    submit(&browser).await;
    let text = browser.wait_text("fake-pat", WAIT).await.unwrap();
    assert!(text.contains("pat"), "{text}");
    assert!(!text.contains(PAT), "the token is never shown");
    let creds = api.call("GET", "/api/v1/github/credentials", None).await.unwrap();
    assert_eq!(
        creds[0]["name"], "fake-pat",
        "the API sees the UI's credentials at once"
    );

    // The repository, and the fake's hook pointing at garm.
    let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
    browser.goto(&format!("{base}/ui/repositories")).await.unwrap();
    browser.fill("#f-owner", "acme").await.unwrap();
    browser.fill("#f-name", "widgets").await.unwrap();
    browser.select("#f-credentials_name", "fake-pat").await.unwrap();
    browser.fill("#f-webhook_secret", &secret).await.unwrap();
    submit(&browser).await;
    browser.wait_text("repository acme/widgets", WAIT).await.unwrap();
    let repos = api.call("GET", "/api/v1/repositories", None).await.unwrap();
    assert_eq!(repos.as_array().map(Vec::len), Some(1));
    let info = api.call("GET", "/api/v1/controller-info", None).await.unwrap();
    fake.state().add_hook(
        &garm_fake_github::Scope::Repo {
            owner: "acme".into(),
            repo: "widgets".into(),
        },
        info["controller_webhook_url"].as_str().unwrap(),
        Some(&secret),
        "json",
    );

    // The seed's confidential pool; the API's validation answers in the form first.
    browser.click("main a.button").await.unwrap();
    browser.wait_text("Add a pool", WAIT).await.unwrap();
    browser.select("#f-provider_name", "sandbox").await.unwrap();
    browser.fill("#f-image", "local").await.unwrap();
    browser.fill("#f-flavor", "Standard_DC2as_v5").await.unwrap();
    browser.fill("#f-tags", "self-hosted, linux, e2e").await.unwrap();
    browser
        .fill("#f-extra_specs", "{\"confidential\": true}")
        .await
        .unwrap();
    browser.fill("#f-min_idle_runners", "5").await.unwrap();
    browser.fill("#f-max_runners", "4").await.unwrap();
    submit(&browser).await;
    let text = browser.wait_text("min_idle_runners", WAIT).await.unwrap();
    assert!(text.contains("max_runners"), "the API's sizing check: {text}");
    browser.fill("#f-min_idle_runners", "0").await.unwrap();
    submit(&browser).await;
    let text = browser.wait_text("Standard_DC2as_v5", WAIT).await.unwrap();
    assert!(
        text.contains("\"confidential\":true") || text.contains("\"confidential\": true"),
        "{text}"
    );
    let pools = api.call("GET", "/api/v1/pools", None).await.unwrap();
    let pool_id = pools[0]["id"].as_str().expect("the API sees the pool").to_string();
    let pool = api
        .call("GET", &format!("/api/v1/pools/{pool_id}"), None)
        .await
        .unwrap();
    assert_eq!(pool["flavor"], "Standard_DC2as_v5");
    assert_eq!(pool["extra_specs"], json!({"confidential": true}));
    assert_eq!(pool["enabled"], true);
    shots.take(&browser, "pool").await;

    // garm-cli sees the UI's pool, and the UI sees garm-cli's change to it.
    let home = TempDir::new("webui-cli");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin("garm-cli"))
            .args(args)
            .env("HOME", &home.0)
            .output()
            .expect("garm-cli runs");
        assert!(
            out.status.success(),
            "garm-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&[
        "profile",
        "add",
        "--name",
        "ui",
        "--url",
        &base,
        "--username",
        "admin",
        "--password",
        PASSWORD,
    ]);
    let listed = cli(&["pool", "list", "--all"]);
    assert!(listed.contains(&pool_id), "{listed}");
    cli(&["pool", "update", &pool_id, "--max-runners", "3"]);
    browser.wait_text("of max 3", WAIT).await.unwrap();

    // Disabled, the pool leaves a queued job waiting, and the dashboard says why, live.
    browser.click("form[action$=\"/toggle\"] button").await.unwrap();
    browser.wait_text("disabled", WAIT).await.unwrap();
    let pool = api
        .call("GET", &format!("/api/v1/pools/{pool_id}"), None)
        .await
        .unwrap();
    // garm omits `enabled` when false.
    assert_ne!(pool["enabled"], true, "the API sees the pool disabled: {pool}");
    browser.goto(&format!("{base}/ui/")).await.unwrap();
    browser.wait_text("No job is waiting.", WAIT).await.unwrap();
    let job = fake
        .state()
        .enqueue_job(
            "acme",
            "widgets",
            &["self-hosted", "linux", "e2e"],
            Duration::from_secs(8),
            "success",
        )
        .unwrap()
        .id;
    let unmatched = fake
        .state()
        .enqueue_job(
            "acme",
            "widgets",
            &["self-hosted", "gpu-xl"],
            Duration::from_secs(1),
            "success",
        )
        .unwrap()
        .id;
    // No reload: the page refreshes itself.
    let text = browser
        .wait_text(&format!("the matching pool is disabled ({pool_id})"), WAIT)
        .await
        .unwrap();
    assert!(text.contains(&format!("job-{job}")), "{text}");
    let text = browser.wait_text("no pool matches these labels", WAIT).await.unwrap();
    assert!(text.contains(&format!("job-{unmatched}")), "{text}");
    let text = browser
        .wait_text(
            "no enabled pool of acme/widgets matches labels [self-hosted, gpu-xl]",
            WAIT,
        )
        .await
        .unwrap();
    assert!(
        text.contains("2 queued jobs") || text.contains("2\nqueued jobs"),
        "{text}"
    );
    shots.take(&browser, "dashboard").await;

    // Enabled again, the job runs and completes; the jobs page follows it.
    browser.goto(&format!("{base}/ui/pools/{pool_id}")).await.unwrap();
    browser.click("form[action$=\"/toggle\"] button").await.unwrap();
    browser.wait_text("Disable", WAIT).await.unwrap();
    let instance = wait_for("an instance for the job", WAIT, async || {
        api.instances()
            .await
            .first()
            .and_then(|i| i["name"].as_str().map(str::to_string))
    })
    .await;
    browser.goto(&format!("{base}/ui/instances/{instance}")).await.unwrap();
    browser.wait_text("Status messages", WAIT).await.unwrap();
    // The bootstrap story, as the runner reports it, refreshing live.
    browser.wait_text("runner", WAIT).await.unwrap();
    shots.take(&browser, "instance").await;
    browser.goto(&format!("{base}/ui/jobs")).await.unwrap();
    wait_for("the job to complete on the fake", Duration::from_secs(90), async || {
        (fake.state().job(job).map(|j| j.status.as_str().to_string()).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let text = browser.wait_text("completed success", WAIT).await.unwrap();
    assert!(text.contains(&format!("job-{job}")), "{text}");
    assert!(text.contains(&instance), "the jobs page names the runner: {text}");
    shots.take(&browser, "jobs").await;

    // The dashboard's latency charts draw the histograms /metrics exports.
    let observed = metric(&api.metrics().await, "garm_job_queued_to_in_progress_seconds_count") as u64;
    assert!(observed >= 1, "the job's wait was observed");
    browser.goto(&format!("{base}/ui/")).await.unwrap();
    let text = browser.wait_text("Job queued to in progress", WAIT).await.unwrap();
    let summary = if observed == 1 {
        "1 observation; median ≤".to_string()
    } else {
        format!("{observed} observations; median ≤")
    };
    assert!(text.contains(&summary), "{text}");
    let charts = browser
        .script("return document.querySelectorAll('figure.chart svg[role=img] rect').length")
        .await
        .unwrap();
    assert_eq!(charts, json!(4 * 17), "four charts of 17 buckets");
    browser
        .script("document.getElementById('h-latency').scrollIntoView(); return null")
        .await
        .unwrap();
    shots.take(&browser, "latency").await;

    // Deleting the pool, once its runner is gone.
    wait_for("the instance to be deleted", WAIT, async || {
        api.instances().await.is_empty().then_some(())
    })
    .await;
    browser.goto(&format!("{base}/ui/pools")).await.unwrap();
    browser.wait_text(&pool_id, WAIT).await.unwrap();
    shots.take(&browser, "pools").await;
    browser.goto(&format!("{base}/ui/pools/{pool_id}")).await.unwrap();
    browser.click("form[action$=\"/delete\"] button").await.unwrap();
    let text = browser.wait_text("0 of 0 pools", WAIT).await.unwrap();
    assert!(!text.contains(&pool_id), "{text}");
    let pools = api.call("GET", "/api/v1/pools", None).await.unwrap();
    assert_eq!(pools.as_array().map(Vec::len), Some(0), "the API sees the pool gone");

    // Logout ends the session: the dashboard asks for a login again.
    browser.click("header form button").await.unwrap();
    browser.wait_text("Log in to garm", WAIT).await.unwrap();
    browser.goto(&format!("{base}/ui/jobs")).await.unwrap();
    browser.wait_text("Log in to garm", WAIT).await.unwrap();
    drop(garm);
}
