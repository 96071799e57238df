//! The web UI's forms beyond pools and entities, in-process: scale sets, templates,
//! proxies, GitHub App credentials and entity webhooks. Each goes through the REST API's
//! handler, so what the form did is checked through the API, and each refuses a POST
//! without the session's CSRF token.

use crate::webui::{hidden_csrf, location, log_in, request, with_ui};
use crate::{Harness, PASSPHRASE};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A form body from pairs, percent-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A scale set row as if the Actions service had created it (service id 0: garm then
/// never calls the service for it), so edit, toggle and delete can run without a fake.
async fn add_scale_set(h: &Harness, repo_id: &str) -> i64 {
    let store = garm_store::Store::connect(
        &format!("sqlite://{}", h.dir.join("garm.db").display()),
        garm_store::Sealer::new(PASSPHRASE),
    )
    .await
    .unwrap();
    let pool = garm_store::NewPool {
        entity_id: repo_id.into(),
        provider_name: "azure_external".into(),
        runner_prefix: "garm".into(),
        max_runners: 4,
        min_idle_runners: 0,
        bootstrap_timeout: 20,
        image: "ubuntu".into(),
        flavor: "Standard_D2s_v5".into(),
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        enabled: true,
        extra_specs: None,
        runner_group: "Default".into(),
        enable_shell: false,
        priority: 0,
        template_id: None,
        proxy_id: None,
        tags: vec![],
    };
    let set = garm_store::NewScaleSet {
        name: "ui-set".into(),
        service_id: 0,
        runner_group_id: 1,
        disable_update: false,
        state: "created".into(),
    };
    store.create_scale_set(&pool, &set).await.unwrap().id
}

#[tokio::test]
async fn scale_sets_are_created_edited_toggled_and_deleted_through_the_api_handlers() {
    let mut h = with_ui().await;
    h.init().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let repo_id = repo["id"].as_str().unwrap().to_string();
    let cookie = log_in(&h).await;

    // Create: the API's validation answers before the Actions service is asked.
    let new = request(
        &h,
        Method::GET,
        &format!("/ui/scalesets/new?entity={repo_id}"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(new.body.contains("<label for=\"f-name\">Name</label>"), "{}", new.body);
    assert!(
        new.body.contains(&format!("<option value=\"{repo_id}\" selected>")),
        "{}",
        new.body
    );
    let csrf = hidden_csrf(&new.body);
    let fields = |max: &str| {
        vec![
            ("entity", repo_id.clone()),
            ("name", "ui-made".to_string()),
            ("provider_name", "azure_external".to_string()),
            ("image", "ubuntu".to_string()),
            ("flavor", "Standard_D2s_v5".to_string()),
            ("os_type", "linux".to_string()),
            ("os_arch", "amd64".to_string()),
            ("max_runners", max.to_string()),
            ("min_idle_runners", "0".to_string()),
            ("enabled", "true".to_string()),
        ]
    };
    let body = |csrf: &str, max: &str| {
        let mut pairs: Vec<(&str, String)> = fields(max);
        pairs.push(("_csrf", csrf.to_string()));
        form(&pairs.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
    };
    let a = request(&h, Method::POST, "/ui/scalesets", &cookie, Some(&body("bad", "3"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let (status, api_said) = h
        .send(
            Method::POST,
            &format!("/api/v1/repositories/{repo_id}/scalesets"),
            Some(json!({"name": "ui-made", "provider_name": "azure_external", "image": "ubuntu", "flavor": "Standard_D2s_v5", "os_type": "linux", "os_arch": "amd64", "max_runners": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{api_said}");
    let a = request(&h, Method::POST, "/ui/scalesets", &cookie, Some(&body(&csrf, "0"))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("max_runners: cannot be 0"), "{}", a.body);
    assert!(
        a.body.contains("value=\"ui-made\""),
        "what was typed is kept: {}",
        a.body
    );
    assert_eq!(h.get("/api/v1/scalesets").await, json!([]), "nothing was created");

    // Edit, disable, delete a scale set the service knows.
    let id = add_scale_set(&h, &repo_id).await;
    let shown = request(&h, Method::GET, &format!("/ui/scalesets/{id}"), &cookie, None).await;
    assert!(shown.body.contains("<h1>Scale set ui-set</h1>"), "{}", shown.body);
    assert!(
        shown.body.contains(&format!("href=\"/ui/scalesets/{id}/edit\"")),
        "{}",
        shown.body
    );
    let edit = request(&h, Method::GET, &format!("/ui/scalesets/{id}/edit"), &cookie, None).await;
    assert!(edit.body.contains("name=\"max_runners\" value=\"4\""), "{}", edit.body);
    let edited = |max: &str, min: &str| {
        form(&[
            ("_csrf", csrf.as_str()),
            ("name", "ui-set"),
            ("image", "ubuntu-24.04"),
            ("flavor", "Standard_D2s_v5"),
            ("os_type", "linux"),
            ("os_arch", "amd64"),
            ("max_runners", max),
            ("min_idle_runners", min),
            ("runner_bootstrap_timeout", "20"),
            ("runner_prefix", "garm"),
            ("runner_group", "Default"),
            ("enabled", "true"),
        ])
    };
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}"),
        &cookie,
        Some(&edited("7", "9")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains("min_idle_runners"),
        "the API's sizing error: {}",
        a.body
    );
    assert_eq!(h.get(&format!("/api/v1/scalesets/{id}")).await["max_runners"], 4);
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}"),
        &cookie,
        Some(&edited("7", "1")),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let api: Value = h.get(&format!("/api/v1/scalesets/{id}")).await;
    assert_eq!(api["max_runners"], 7, "{api}");
    assert_eq!(api["image"], "ubuntu-24.04", "{api}");

    let ask = request(&h, Method::GET, &format!("/ui/scalesets/{id}/delete"), &cookie, None).await;
    assert!(ask.body.contains("<h1>Delete scale set ui-set?</h1>"), "{}", ask.body);
    let only = form(&[("_csrf", csrf.as_str())]);
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}/delete"),
        &cookie,
        Some(&only),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains("Not deleted: scale set is enabled; disable it first"),
        "{}",
        a.body
    );
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}/toggle"),
        &cookie,
        Some("_csrf=x"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(h.get(&format!("/api/v1/scalesets/{id}")).await["enabled"], true);
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}/toggle"),
        &cookie,
        Some(&only),
    )
    .await;
    assert_eq!(location(&a), format!("/ui/scalesets/{id}"));
    let api = h.get(&format!("/api/v1/scalesets/{id}")).await;
    assert_eq!(api["enabled"].as_bool(), None, "disabled (the API omits false): {api}");
    assert_eq!(api["name"], "ui-set");
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/scalesets/{id}/delete"),
        &cookie,
        Some(&only),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (status, _) = h.send(Method::GET, &format!("/api/v1/scalesets/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the scale set is gone");
}

fn csrf_of(page: &crate::webui::Answer) -> String {
    hidden_csrf(&page.body)
}

#[tokio::test]
async fn templates_are_added_edited_and_deleted_and_system_ones_stay_read_only() {
    let mut h = with_ui().await;
    h.init().await;
    let cookie = log_in(&h).await;
    let list = request(&h, Method::GET, "/ui/templates", &cookie, None).await;
    assert!(list.body.contains("system (read-only)"), "{}", list.body);
    let csrf = csrf_of(&list);
    let system = h.get("/api/v1/templates").await;
    let system_id = system[0]["id"].as_i64().unwrap();
    let shown = request(&h, Method::GET, &format!("/ui/templates/{system_id}"), &cookie, None).await;
    assert!(shown.body.contains("System templates are read-only"), "{}", shown.body);
    assert!(
        !shown.body.contains("Save template"),
        "no form for a system template: {}",
        shown.body
    );
    // A POST anyway is refused by the API, with its message.
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/templates/{system_id}"),
        &cookie,
        Some(&form(&[("_csrf", &csrf), ("name", "mine"), ("data", "#!/bin/sh\n")])),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("system templates cannot be changed"), "{}", a.body);
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/templates/{system_id}/delete"),
        &cookie,
        Some(&form(&[("_csrf", &csrf)])),
    )
    .await;
    assert!(
        a.body.contains("Not deleted: system templates cannot be deleted"),
        "{}",
        a.body
    );

    let add = |data: &str, token: &str| {
        form(&[
            ("_csrf", token),
            ("name", "ui-linux"),
            ("description", "from the UI"),
            ("os_type", "linux"),
            ("forge_type", "github"),
            ("data", data),
        ])
    };
    let a = request(
        &h,
        Method::POST,
        "/ui/templates",
        &cookie,
        Some(&add("#!/bin/sh\necho hi\n", "x")),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = request(
        &h,
        Method::POST,
        "/ui/templates",
        &cookie,
        Some(&add("{{ .Broken ", &csrf)),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("data: invalid template"), "{}", a.body);
    assert!(a.body.contains("{{ .Broken"), "what was typed is kept: {}", a.body);
    let a = request(
        &h,
        Method::POST,
        "/ui/templates",
        &cookie,
        Some(&add("#!/bin/sh\r\necho {{ .RunnerName }}\r\n", &csrf)),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let id: i64 = location(&a).rsplit('/').next().unwrap().parse().unwrap();
    let api = h.get(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(api["name"], "ui-linux", "{api}");
    assert_eq!(api["description"], "from the UI");
    let edit = form(&[
        ("_csrf", &csrf),
        ("name", "ui-linux-2"),
        ("description", "edited"),
        ("data", "#!/bin/sh\necho two\n"),
    ]);
    let a = request(&h, Method::POST, &format!("/ui/templates/{id}"), &cookie, Some(&edit)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let shown = request(&h, Method::GET, &format!("/ui/templates/{id}"), &cookie, None).await;
    assert!(shown.body.contains("echo two"), "{}", shown.body);
    assert_eq!(h.get(&format!("/api/v1/templates/{id}")).await["name"], "ui-linux-2");
    let ask = request(&h, Method::GET, &format!("/ui/templates/{id}/delete"), &cookie, None).await;
    assert!(
        ask.body.contains("<h1>Delete template ui-linux-2?</h1>"),
        "{}",
        ask.body
    );
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/templates/{id}/delete"),
        &cookie,
        Some(&form(&[("_csrf", &csrf)])),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (status, _) = h.send(Method::GET, &format!("/api/v1/templates/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn proxies_are_added_edited_and_deleted_and_the_password_never_shown() {
    let mut h = with_ui().await;
    h.init().await;
    let cookie = log_in(&h).await;
    let list = request(&h, Method::GET, "/ui/proxies", &cookie, None).await;
    let csrf = csrf_of(&list);
    let secret = "Pr0xy-Secret-Value";
    let add = |name: &str, url: &str| {
        form(&[
            ("_csrf", &csrf),
            ("name", name),
            ("description", "corp"),
            ("http_proxy", url),
            ("https_proxy", url),
            ("no_proxy", "localhost"),
            ("username", "svc"),
            ("password", secret),
        ])
    };
    let (status, api_said) = h
        .send(
            Method::POST,
            "/api/v1/proxies",
            Some(json!({"name": "bad", "http_proxy": "ftp://nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{api_said}");
    let a = request(
        &h,
        Method::POST,
        "/ui/proxies",
        &cookie,
        Some(&add("bad", "ftp://nope")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let said = api_said["details"]
        .as_str()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| api_said["error"].as_str().unwrap());
    assert!(
        a.body.contains(&garm_server::ui::e(said).to_string()),
        "the API's message {said:?}: {}",
        a.body
    );
    assert!(!a.body.contains(secret), "the password is not echoed: {}", a.body);
    let a = request(
        &h,
        Method::POST,
        "/ui/proxies",
        &cookie,
        Some(&add("corp", "http://proxy.corp:3128")),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let id: i64 = location(&a).rsplit('/').next().unwrap().parse().unwrap();
    let shown = request(&h, Method::GET, &format!("/ui/proxies/{id}"), &cookie, None).await;
    assert!(shown.body.contains("Password: stored (not shown)."), "{}", shown.body);
    assert!(!shown.body.contains(secret), "{}", shown.body);
    assert!(
        shown.body.contains("value=\"http://proxy.corp:3128\""),
        "{}",
        shown.body
    );
    // Editing with the password left empty keeps it.
    let edit = form(&[
        ("_csrf", &csrf),
        ("name", "corp"),
        ("http_proxy", "http://proxy2.corp:3128"),
        ("https_proxy", "http://proxy2.corp:3128"),
        ("username", "svc"),
        ("password", ""),
    ]);
    let a = request(&h, Method::POST, &format!("/ui/proxies/{id}"), &cookie, Some(&edit)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        h.get(&format!("/api/v1/proxies/{id}")).await["http_proxy"],
        "http://proxy2.corp:3128"
    );
    let shown = request(&h, Method::GET, &format!("/ui/proxies/{id}"), &cookie, None).await;
    assert!(
        shown.body.contains("Password: stored (not shown)."),
        "kept: {}",
        shown.body
    );
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/proxies/{id}/delete"),
        &cookie,
        Some("_csrf=no"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = request(
        &h,
        Method::POST,
        &format!("/ui/proxies/{id}/delete"),
        &cookie,
        Some(&form(&[("_csrf", &csrf)])),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(h.get("/api/v1/proxies").await, json!([]));
}

#[tokio::test]
async fn github_app_credentials_are_added_and_the_key_never_echoed() {
    let mut h = with_ui().await;
    h.init().await;
    let cookie = log_in(&h).await;
    let page = request(&h, Method::GET, "/ui/credentials", &cookie, None).await;
    assert!(
        page.body
            .contains("<label for=\"f-private_key\">Private key (PEM)</label>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-fill=\"f-private_key\""), "{}", page.body);
    let csrf = csrf_of(&page);
    let key = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../garm-forge/tests/testdata/test-only-app-key.pem"),
    )
    .unwrap();
    let body = |token: &str, key: &str| {
        form(&[
            ("_csrf", token),
            ("app_name", "ui-app"),
            ("app_description", "an App"),
            ("app_endpoint", "github.com"),
            ("app_id", "123"),
            ("installation_id", "456"),
            ("private_key", key),
        ])
    };
    let a = request(
        &h,
        Method::POST,
        "/ui/credentials/app",
        &cookie,
        Some(&body("nope", &key)),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let not_pkcs1 = "-----BEGIN PRIVATE KEY-----\nTUlJQ2VnSUJBREFOQmdrcWhraUc5dzBC\n-----END PRIVATE KEY-----\n";
    let a = request(
        &h,
        Method::POST,
        "/ui/credentials/app",
        &cookie,
        Some(&body(&csrf, not_pkcs1)),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("value=\"ui-app\""), "the name is kept: {}", a.body);
    assert!(
        !a.body.contains("TUlJQ2VnSUJBREFOQmdrcWhraUc5dzBC"),
        "the key is not echoed: {}",
        a.body
    );
    assert_eq!(h.get("/api/v1/github/credentials").await, json!([]));
    let a = request(
        &h,
        Method::POST,
        "/ui/credentials/app",
        &cookie,
        Some(&body(&csrf, &key.replace('\n', "\r\n"))),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let listed = h.get("/api/v1/github/credentials").await;
    assert_eq!(listed[0]["name"], "ui-app", "{listed}");
    assert_eq!(listed[0]["auth-type"], "app", "{listed}");
    let page = request(&h, Method::GET, "/ui/credentials", &cookie, None).await;
    assert!(page.body.contains("<td>ui-app</td>"), "{}", page.body);
    let key_line = key.lines().nth(1).unwrap();
    assert!(!page.body.contains(key_line), "the key is never shown");
}

/// The webhook forms refuse a POST without the session's token before GitHub is asked
/// (the end-to-end test `webui_forms` drives them against the fake GitHub), and exist
/// for repositories and organizations only, as the API's `/webhook` routes do.
#[tokio::test]
async fn webhook_forms_need_the_csrf_token_and_exist_where_the_api_routes_do() {
    let mut h = with_ui().await;
    h.init().await;
    h.add_pat("garm", "ghp_x").await;
    let repo = h.add_repo("acme", "widgets", "s3cret").await;
    let id = repo["id"].as_str().unwrap();
    let cookie = log_in(&h).await;
    let page = request(&h, Method::GET, &format!("/ui/repositories/{id}"), &cookie, None).await;
    assert!(
        page.body.contains(&format!("href=\"/ui/repositories/{id}/webhook\"")),
        "{}",
        page.body
    );
    for path in [
        format!("/ui/repositories/{id}/webhook"),
        format!("/ui/repositories/{id}/webhook/delete"),
    ] {
        let a = request(&h, Method::POST, &path, &cookie, Some("_csrf=forged")).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
    }
    let a = request(&h, Method::GET, &format!("/ui/enterprises/{id}/webhook"), &cookie, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

/// The dashboard draws one chart per latency histogram `/metrics` exports, each with its
/// text alternative (the end-to-end browser test checks one with real observations).
#[tokio::test]
async fn the_dashboard_charts_the_latency_histograms_with_text_alternatives() {
    let mut h = with_ui().await;
    h.init().await;
    let cookie = log_in(&h).await;
    let page = request(&h, Method::GET, "/ui/", &cookie, None).await;
    let body = &page.body;
    assert!(body.contains("<h2 id=\"h-latency\">Latency</h2>"), "{body}");
    for (n, name) in [
        "garm_job_queued_to_in_progress_seconds",
        "garm_job_queued_to_instance_created_seconds",
        "garm_provider_create_seconds",
        "garm_instance_created_to_runner_idle_seconds",
    ]
    .iter()
    .enumerate()
    {
        assert!(body.contains(&format!("<code>{name}</code>")), "{name}: {body}");
        assert!(
            body.contains(&format!("role=\"img\" aria-labelledby=\"chart-{n}-t chart-{n}-sum\"")),
            "{body}"
        );
        assert!(
            body.contains(&format!("<span id=\"chart-{n}-sum\">no observations yet</span>")),
            "{body}"
        );
    }
    assert_eq!(body.matches("<figure class=\"chart\">").count(), 4);
    assert_eq!(body.matches("<summary>Bucket counts</summary>").count(), 4);
}
