//! The web UI's forms that reach GitHub, against the real `garm` and the fake GitHub over
//! plain HTTP (the browser test covers the pages themselves): the controller's webhook
//! shown, removed and installed again from the repository's webhook page, and a scale set
//! created through the form (the fake Actions service is asked), disabled and deleted.
//! Each step is checked on the fake and through the REST API.

use garm_e2e::{ProviderSpec, World, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};

fn hidden_csrf(body: &str) -> String {
    let at = body.find("name=\"_csrf\" value=\"").expect("a CSRF field") + "name=\"_csrf\" value=\"".len();
    body[at..at + body[at..].find('"').unwrap()].to_string()
}

fn first_cookie(resp: &reqwest::Response) -> String {
    resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A logged-in browser without a browser: the session cookie and its CSRF token.
struct Ui {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

struct Answer {
    status: u16,
    location: String,
    body: String,
}

impl Ui {
    async fn log_in(base: String) -> Ui {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = http.get(format!("{base}/ui/login")).send().await.unwrap();
        let pre = first_cookie(&page);
        let csrf = hidden_csrf(&page.text().await.unwrap());
        let resp = http
            .post(format!("{base}/ui/login"))
            .header(COOKIE, pre)
            .form(&[("_csrf", csrf.as_str()), ("username", "admin"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "logged in");
        let cookie = first_cookie(&resp);
        let mut ui = Ui {
            http,
            base,
            cookie,
            csrf: String::new(),
        };
        ui.csrf = hidden_csrf(&ui.get("/ui/").await.body);
        ui
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        Answer {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut form: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webui_forms_manage_the_webhook_and_scale_sets_on_github() {
    let world = World::start_with(&[SANDBOX], "[apiserver.webui]\nenable = true\n")
        .await
        .unwrap();
    let api = &world.garm.api;
    let ui = Ui::log_in(world.garm.url()).await;
    let repo_page = format!("/ui/repositories/{}", world.repo_id);
    let hook_page = format!("{repo_page}/webhook");

    // The webhook World installed is shown as GitHub has it.
    let page = ui.get(&repo_page).await;
    assert!(page.body.contains(&format!("href=\"{hook_page}\"")), "{}", page.body);
    let page = ui.get(&hook_page).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let hooks = world.fake.state().hooks();
    assert_eq!(hooks.len(), 1);
    assert!(page.body.contains("<h2>Installed on GitHub</h2>"), "{}", page.body);
    assert!(
        page.body.contains(&format!("<code>{}</code>", hooks[0].url)),
        "{}",
        page.body
    );
    assert!(page.body.contains("<dd>workflow_job</dd>"), "{}", page.body);
    // Installing twice: the API's conflict, on the page.
    let a = ui.post(&hook_page, &[]).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(a.body.contains("already installed"), "{}", a.body);
    // Removing asks first, then the hook is gone on GitHub.
    let ask = ui.get(&format!("{hook_page}/delete")).await;
    assert!(
        ask.body.contains("<h1>Delete the webhook of acme/widgets?</h1>"),
        "{}",
        ask.body
    );
    let a = ui.post(&format!("{hook_page}/delete"), &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(world.fake.state().hooks().is_empty(), "removed on GitHub");
    let page = ui.get(&hook_page).await;
    assert!(
        page.body
            .contains("Not installed: no webhook of this controller is installed."),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Install webhook</button>"), "{}", page.body);
    let a = ui.post(&hook_page, &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location, hook_page);
    let hooks = world.fake.state().hooks();
    assert_eq!(hooks.len(), 1, "installed again");
    let shown = api
        .call("GET", &format!("/api/v1/repositories/{}/webhook", world.repo_id), None)
        .await
        .unwrap();
    assert_eq!(shown["url"], hooks[0].url.as_str());

    // A scale set through the form: created on the Actions service and in garm.
    let new = ui.get(&format!("/ui/scalesets/new?entity={}", world.repo_id)).await;
    assert_eq!(new.status, 200, "{}", new.body);
    let a = ui
        .post(
            "/ui/scalesets",
            &[
                ("entity", world.repo_id.as_str()),
                ("name", "ui-scale-set"),
                ("provider_name", "sandbox"),
                ("image", "local"),
                ("flavor", "small"),
                ("os_type", "linux"),
                ("os_arch", "amd64"),
                ("min_idle_runners", "0"),
                ("max_runners", "2"),
                ("runner_bootstrap_timeout", "20"),
                ("runner_prefix", "garm"),
                ("labels", "ui-extra"),
                ("enabled", "true"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = a.location.rsplit('/').next().unwrap().to_string();
    let remote = world
        .fake
        .state()
        .scale_set_by_name("ui-scale-set")
        .expect("the Actions service has the scale set");
    assert!(remote.labels.iter().any(|l| l == "ui-extra"), "{:?}", remote.labels);
    let listed = api.call("GET", "/api/v1/scalesets", None).await.unwrap();
    assert_eq!(listed[0]["name"], "ui-scale-set", "{listed}");
    assert_eq!(listed[0]["scale_set_id"], remote.id, "{listed}");
    let page = ui.get(&format!("/ui/scalesets/{id}")).await;
    assert!(page.body.contains("<h1>Scale set ui-scale-set</h1>"), "{}", page.body);
    // Disable, then delete: gone from the service and from garm.
    let a = ui.post(&format!("/ui/scalesets/{id}/toggle"), &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = ui.post(&format!("/ui/scalesets/{id}/delete"), &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        world.fake.state().scale_set_by_name("ui-scale-set").is_none(),
        "deleted on the Actions service"
    );
    assert_eq!(
        api.call("GET", "/api/v1/scalesets", None).await.unwrap(),
        serde_json::json!([])
    );
}
