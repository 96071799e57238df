//! Every operation of the OpenAPI subsets, called on the fake, answers with its documented schema.

use std::time::Duration;

use garm_fake_github::runner::Listener;
use garm_fake_github::{FakeHandle, PatSpec, Scope};
use serde_json::{json, Value};

use crate::schema::{self, Doc};
use crate::support::{self, app_jwt, Api, Receiver, ALL_SCOPES, APP_ID};

/// Calls every operation (successes and the documented failures) through `api`.
async fn walk(fake: &FakeHandle, api: &Api, jwt_api: &Api) {
    let state = fake.state();
    let receiver = Receiver::start().await;
    for (scope, path) in [
        (Scope::repo("acme", "app"), "/repos/acme/app"),
        (Scope::org("acme"), "/orgs/acme"),
        (Scope::enterprise("octo-corp"), "/enterprises/octo-corp"),
    ] {
        assert_eq!(
            api.post(&format!("{path}/actions/runners/registration-token"), json!({}))
                .await
                .status,
            201
        );
        assert_eq!(
            api.post(&format!("{path}/actions/runners/remove-token"), json!({}))
                .await
                .status,
            201
        );
        let downloads = api.get(&format!("{path}/actions/runners/downloads")).await;
        assert_eq!(downloads.status, 200);
        let jit = |name: &str, group: u64, labels: Value| json!({"name": name, "runner_group_id": group, "labels": labels, "work_folder": "_work"});
        let created = api
            .post(
                &format!("{path}/actions/runners/generate-jitconfig"),
                jit("contract-1", 1, json!(["x"])),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        api.post(
            &format!("{path}/actions/runners/generate-jitconfig"),
            jit("contract-2", 1, json!(["y"])),
        )
        .await;
        assert_eq!(
            api.post(
                &format!("{path}/actions/runners/generate-jitconfig"),
                jit("contract-1", 1, json!(["x"]))
            )
            .await
            .status,
            409
        );
        assert_eq!(
            api.post(
                &format!("{path}/actions/runners/generate-jitconfig"),
                jit("contract-3", 1, json!([]))
            )
            .await
            .status,
            422
        );
        assert_eq!(
            api.post(
                &format!("{path}/actions/runners/generate-jitconfig"),
                jit("contract-3", 99, json!(["x"]))
            )
            .await
            .status,
            404
        );
        let listed = api.get(&format!("{path}/actions/runners?per_page=1")).await;
        assert_eq!(listed.status, 200);
        assert!(listed.header("link").is_some());
        let id = created.body["runner"]["id"].as_u64().expect("runner id");
        assert_eq!(api.get(&format!("{path}/actions/runners/{id}")).await.status, 200);
        assert_eq!(api.get(&format!("{path}/actions/runners/999999")).await.status, 404);
        assert_eq!(api.delete(&format!("{path}/actions/runners/{id}")).await.status, 204);
        if !matches!(scope, Scope::Repo { .. }) {
            assert_eq!(api.get(&format!("{path}/actions/runner-groups")).await.status, 200);
            assert_eq!(api.get(&format!("{path}/actions/runner-groups/1")).await.status, 200);
            assert_eq!(api.get(&format!("{path}/actions/runner-groups/2")).await.status, 200);
        }
    }

    // A busy runner cannot be deleted (422), as on GitHub.
    let created = api
        .post(
            "/repos/acme/app/actions/runners/generate-jitconfig",
            json!({"name": "busy", "runner_group_id": 1, "labels": ["busy"]}),
        )
        .await;
    let mut listener =
        Listener::from_jit(created.body["encoded_jit_config"].as_str().expect("blob")).expect("valid blob");
    listener.connect().await.expect("connects");
    let job = state
        .enqueue_job("acme", "app", &["busy"], Duration::ZERO, "success")
        .expect("job");
    let request = listener
        .poll(Duration::from_secs(2))
        .await
        .expect("poll")
        .expect("a job");
    let id = created.body["runner"]["id"].as_u64().expect("id");
    assert_eq!(
        api.delete(&format!("/repos/acme/app/actions/runners/{id}"))
            .await
            .status,
        422
    );
    assert_eq!(
        api.get(&format!("/repos/acme/app/actions/jobs/{}", job.id))
            .await
            .status,
        200
    );
    listener
        .complete(request.job_id, &request.conclusion)
        .await
        .expect("completes");
    assert_eq!(
        api.get(&format!("/repos/acme/app/actions/jobs/{}", job.id))
            .await
            .status,
        200
    );
    assert_eq!(api.get("/repos/acme/app/actions/jobs/1").await.status, 404);

    for path in ["/repos/acme/app", "/orgs/acme"] {
        let hook = json!({"name": "web", "active": true, "events": ["workflow_job"], "config": {"url": receiver.url, "content_type": "json", "secret": "s3cret", "insecure_ssl": "0"}});
        let created = api.post(&format!("{path}/hooks"), hook.clone()).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(api.post(&format!("{path}/hooks"), hook).await.status, 422);
        assert_eq!(
            api.post(&format!("{path}/hooks"), json!({"config": {}})).await.status,
            422
        );
        let id = created.body["id"].as_u64().expect("hook id");
        assert_eq!(api.get(&format!("{path}/hooks")).await.status, 200);
        assert_eq!(api.get(&format!("{path}/hooks/{id}")).await.status, 200);
        assert_eq!(
            api.post(&format!("{path}/hooks/{id}/pings"), json!({})).await.status,
            204
        );
        state
            .wait_for(Duration::from_secs(10), |s| {
                (s.deliveries().iter().filter(|d| d.hook_id == id).count() >= 2).then_some(())
            })
            .await
            .expect("pings delivered");
        let deliveries = api.get(&format!("{path}/hooks/{id}/deliveries")).await;
        assert_eq!(deliveries.status, 200);
        assert_eq!(
            api.get(&format!("{path}/hooks/{id}/deliveries?status=nonsense"))
                .await
                .status,
            422
        );
        assert_eq!(
            api.get(&format!("{path}/hooks/{id}/deliveries?cursor=abc"))
                .await
                .status,
            400
        );
        let delivery = deliveries.body[0]["id"].as_u64().expect("delivery id");
        assert_eq!(
            api.post(&format!("{path}/hooks/{id}/deliveries/{delivery}/attempts"), json!({}))
                .await
                .status,
            202
        );
        assert_eq!(api.delete(&format!("{path}/hooks/{id}")).await.status, 204);
        assert_eq!(api.get(&format!("{path}/hooks/{id}")).await.status, 404);
        assert_eq!(api.delete(&format!("{path}/hooks/{id}")).await.status, 404);
        assert_eq!(
            api.post(&format!("{path}/hooks/{id}/pings"), json!({})).await.status,
            404
        );
    }
    assert_eq!(api.get("/orgs/nobody/hooks").await.status, 404);
    assert_eq!(
        api.post("/orgs/nobody/hooks", json!({"config": {"url": "http://x"}}))
            .await
            .status,
        404
    );
    assert_eq!(api.get("/repos/acme/nothing/hooks").await.status, 404);

    assert_eq!(api.get("/repos/acme/app").await.status, 200);
    assert_eq!(api.get("/repos/alice/tool").await.status, 200);
    assert_eq!(api.get("/repos/acme/nothing").await.status, 404);
    assert_eq!(api.get("/orgs/acme").await.status, 200);
    assert_eq!(api.get("/orgs/nothing").await.status, 404);
    assert_eq!(api.get("/rate_limit").await.status, 200);

    let installation = state.add_installation(APP_ID, "acme", None);
    state.add_installation(APP_ID, "octo-corp", None);
    assert_eq!(jwt_api.get("/app").await.status, 200);
    assert_eq!(jwt_api.get("/app/installations").await.status, 200);
    assert_eq!(
        jwt_api
            .get(&format!("/app/installations/{}", installation.id))
            .await
            .status,
        200
    );
    assert_eq!(jwt_api.get("/app/installations/1").await.status, 404);
    let path = format!("/app/installations/{}/access_tokens", installation.id);
    assert_eq!(jwt_api.post(&path, json!({})).await.status, 201);
    assert_eq!(jwt_api.post(&path, json!({"repositories": ["app"]})).await.status, 201);
    assert_eq!(
        jwt_api.post(&path, json!({"repositories": ["nothing"]})).await.status,
        422
    );
    assert_eq!(
        jwt_api
            .post("/app/installations/1/access_tokens", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(api.post(&path, json!({})).await.status, 401);
    assert_eq!(jwt_api.get("/repos/acme/app/installation").await.status, 200);
    assert_eq!(jwt_api.get("/repos/alice/tool/installation").await.status, 404);
    assert_eq!(jwt_api.get("/orgs/acme/installation").await.status, 200);
    assert_eq!(jwt_api.get("/enterprises/octo-corp/installation").await.status, 200);
    assert_eq!(
        api.as_token("ghp_unknown")
            .get("/repos/acme/app/actions/runners")
            .await
            .status,
        401
    );
    let pings = receiver.received();
    assert!(pings.iter().filter(|r| r.event() == "ping").count() >= 4, "{pings:?}");
}

async fn seeded() -> FakeHandle {
    let fake = support::start().await;
    fake.state().add_org_in_enterprise("acme", "octo-corp");
    fake.state().add_runner_group(&Scope::org("acme"), "gpu", "selected");
    fake.state()
        .add_runner_group(&Scope::enterprise("octo-corp"), "big", "all");
    fake.state().add_pat(PatSpec::new("ghp_contract", ALL_SCOPES));
    fake
}

fn assert_covered(doc: &Doc, api: &Api, jwt_api: &Api) {
    let mut seen = api.seen.lock().unwrap().clone();
    seen.extend(jwt_api.seen.lock().unwrap().iter().cloned());
    let missing: Vec<String> = doc
        .operation_ids()
        .into_iter()
        .filter(|id| !seen.iter().any(|s| s.starts_with(&format!("{id} 2"))))
        .collect();
    assert!(
        missing.is_empty(),
        "operations never answered successfully: {missing:?}\nseen: {seen:?}"
    );
}

#[tokio::test]
async fn every_operation_answers_with_its_schema_at_the_root() {
    let fake = seeded().await;
    let api = Api::new(&fake, Some("ghp_contract"));
    let jwt_api = Api::new(&fake, Some(&app_jwt(json!(APP_ID.to_string()), -30, 500)));
    walk(&fake, &api, &jwt_api).await;
    assert_covered(schema::ghec(), &api, &jwt_api);
}

#[tokio::test]
async fn every_operation_answers_with_its_schema_under_api_v3() {
    let fake = seeded().await;
    let base = format!("{}/api/v3", fake.url());
    let api = Api::with(&base, schema::ghes(), Some("ghp_contract"));
    let jwt_api = Api::with(&base, schema::ghes(), Some(&app_jwt(json!(APP_ID), -30, 500)));
    walk(&fake, &api, &jwt_api).await;
    assert_covered(schema::ghes(), &api, &jwt_api);
}
