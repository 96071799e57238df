//! Test switches: dropped, duplicated, delayed and reordered deliveries; 5xx and Retry-After answers.

use std::time::{Duration, Instant};

use garm_fake_github::SwitchesPatch;
use serde_json::json;

use crate::webhooks::{create_hook, job_actions, setup};

fn patch() -> SwitchesPatch {
    SwitchesPatch::default()
}

#[tokio::test]
async fn dropped_deliveries_never_arrive_but_are_logged() {
    let (fake, api, receiver) = setup().await;
    let hook = create_hook(&api, "/repos/acme/app", &receiver.url, "s", "json").await;
    receiver.wait_for(1).await;
    fake.state().update_switches(&SwitchesPatch {
        drop_next: Some(1),
        ..patch()
    });
    fake.state()
        .enqueue_job("acme", "app", &["a"], Duration::ZERO, "success")
        .unwrap();
    fake.state()
        .enqueue_job("acme", "app", &["b"], Duration::ZERO, "success")
        .unwrap();
    let received = receiver.wait_for(2).await;
    assert_eq!(
        received[1].payload["workflow_job"]["labels"],
        json!(["b"]),
        "the first job's queued was dropped"
    );
    let log = fake.state().deliveries();
    let dropped: Vec<_> = log.iter().filter(|d| d.dropped).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].status_code, 0);
    let listed = api
        .get(&format!("/repos/acme/app/hooks/{hook}/deliveries?status=failure"))
        .await;
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "GitHub shows it as a failed delivery"
    );
    assert_eq!(fake.state().switches().drop_next, 0);
    fake.state().update_switches(&SwitchesPatch {
        drop_share: Some(1.0),
        ..patch()
    });
    fake.state()
        .enqueue_job("acme", "app", &["c"], Duration::ZERO, "success")
        .unwrap();
    fake.state()
        .wait_for(Duration::from_secs(5), |s| (s.deliveries().len() == 4).then_some(()))
        .await
        .expect("logged");
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn duplicated_deliveries_arrive_twice_with_the_same_guid() {
    let (fake, api, receiver) = setup().await;
    create_hook(&api, "/repos/acme/app", &receiver.url, "s", "json").await;
    receiver.wait_for(1).await;
    fake.state().update_switches(&SwitchesPatch {
        duplicate_next: Some(1),
        ..patch()
    });
    fake.state()
        .enqueue_job("acme", "app", &["a"], Duration::ZERO, "success")
        .unwrap();
    let received = receiver.wait_for(3).await;
    let actions = job_actions(&received);
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0], actions[1]);
    assert_eq!(received[1].raw, received[2].raw);
}

#[tokio::test]
async fn reordered_deliveries_arrive_in_reverse_and_delays_hold_them_back() {
    let (fake, api, receiver) = setup().await;
    create_hook(&api, "/repos/acme/app", &receiver.url, "s", "json").await;
    receiver.wait_for(1).await;
    fake.state().update_switches(&SwitchesPatch {
        reorder_next: Some(2),
        ..patch()
    });
    let first = fake
        .state()
        .enqueue_job("acme", "app", &["a"], Duration::ZERO, "success")
        .unwrap();
    let second = fake
        .state()
        .enqueue_job("acme", "app", &["b"], Duration::ZERO, "success")
        .unwrap();
    let received = receiver.wait_for(3).await;
    assert_eq!(received[1].payload["workflow_job"]["id"], second.id);
    assert_eq!(received[2].payload["workflow_job"]["id"], first.id);

    fake.state().update_switches(&SwitchesPatch {
        delay_ms: Some(400),
        ..patch()
    });
    let started = Instant::now();
    fake.state().cancel_job(first.id).unwrap();
    let received = receiver.wait_for(4).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(received[3].action(), "completed");
}

#[tokio::test]
async fn server_errors_and_retry_after_answer_the_next_calls_then_stop() {
    let (fake, api, _receiver) = setup().await;
    let switches = fake.state().update_switches(&SwitchesPatch {
        fail_next: Some(2),
        fail_status: Some(502),
        ..patch()
    });
    assert_eq!(switches.fail_next, 2);
    assert_eq!(api.get("/orgs/acme").await.status, 502);
    assert_eq!(api.get("/orgs/acme").await.status, 502);
    assert_eq!(api.get("/orgs/acme").await.status, 200);
    fake.state().update_switches(&SwitchesPatch {
        retry_after_next: Some(1),
        retry_after_secs: Some(7),
        ..patch()
    });
    let limited = api.get("/orgs/acme").await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("retry-after"), Some("7"));
    fake.state().update_switches(&SwitchesPatch {
        retry_after_next: Some(1),
        rate_limit_status: Some(429),
        ..patch()
    });
    assert_eq!(api.get("/orgs/acme").await.status, 429, "GitHub may answer 429 too");
    assert!(limited.body["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    assert_eq!(api.get("/orgs/acme").await.status, 200);
}

#[tokio::test]
async fn the_control_api_drives_the_same_switches_jobs_and_state() {
    let (fake, _api, receiver) = setup().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_fake/{path}", fake.url());
    let put = http
        .patch(control("switches"))
        .json(&json!({"fail_next": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.json::<serde_json::Value>().await.unwrap()["fail_next"], 1);
    assert_eq!(fake.state().switches().fail_next, 1);
    let bad = http
        .patch(control("switches"))
        .json(&json!({"no_such_switch": 1}))
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error());
    let hook = json!({"scope": {"kind": "repo", "owner": "acme", "repo": "app"}, "url": receiver.url, "secret": "s"});
    assert!(http
        .post(control("hooks"))
        .json(&hook)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let job = json!({"owner": "acme", "repo": "app", "labels": ["x"], "run_for_ms": 10, "conclusion": "success"});
    let created = http.post(control("jobs")).json(&job).send().await.unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    receiver.wait_for(1).await;
    let deliveries: serde_json::Value = http
        .get(control("deliveries?event=workflow_job"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries[0]["payload"]["workflow_job"]["id"], created["id"]);
    assert_eq!(deliveries[0]["action"], "queued");
    let state: serde_json::Value = http.get(control("state")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["jobs"][0]["status"], "queued");
    let unknown = json!({"owner": "acme", "repo": "nothing", "labels": ["x"]});
    assert_eq!(
        http.post(control("jobs"))
            .json(&unknown)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
}

#[tokio::test]
async fn every_rest_request_is_logged_and_a_revoked_pat_gets_401() {
    let (fake, api, _receiver) = setup().await;
    assert_eq!(api.get("/orgs/acme").await.status, 200);
    fake.state().update_switches(&SwitchesPatch {
        exhaust_rate_limit_secs: Some(60),
        ..patch()
    });
    assert_eq!(api.get("/orgs/acme").await.status, 403);
    let log = fake.state().requests();
    let statuses: Vec<(String, String, u16)> = log
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("GET".to_owned(), "/orgs/acme".to_owned(), 200),
            ("GET".to_owned(), "/orgs/acme".to_owned(), 403)
        ]
    );
    let token = "ghp_all";
    assert_eq!(log[0].credential_tail.as_deref(), Some("hp_all"));
    fake.state().update_switches(&SwitchesPatch {
        exhaust_rate_limit_secs: Some(0),
        ..patch()
    });
    assert!(fake.state().revoke_pat(token));
    let refused = api.get("/orgs/acme").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["message"], "Bad credentials");
    assert!(!fake.state().revoke_pat(token), "already revoked");
}
