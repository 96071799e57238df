//! The runner scale set API, driven as a listener drives it: exchange, scale sets,
//! sessions, the message queue, acquisition and errors.

use std::time::Duration;

use garm_fake_github::{AssignMode, ScaleSetJobStatus, Scope};
use serde_json::json;

use crate::scaleset_client::{claims, config, exchange, jobs_of, types_of, Svc};
use crate::support;

fn org() -> Scope {
    Scope::org("acme")
}

#[tokio::test]
async fn the_exchange_answers_a_tenant_url_and_an_admin_jwt_at_both_roots() {
    let fake = support::start_with(config()).await;
    let token = fake.state().registration_token(&org());
    let config_url = format!("{}/acme", fake.url());
    let root = exchange(fake.url(), &token, &config_url).await;
    let ghes = exchange(&format!("{}/api/v3", fake.url()), &token, &config_url).await;
    for reply in [&root, &ghes] {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let url = reply.body["url"].as_str().unwrap();
        assert!(url.starts_with(fake.url()) && url.contains("/_fake/actions/tenant/") && url.ends_with('/'));
        let exp = claims(reply.body["token"].as_str().unwrap())["exp"]
            .as_i64()
            .expect("numeric exp");
        let left = exp - chrono::Utc::now().timestamp();
        assert!((3500..=3600).contains(&left), "one hour by default, got {left}");
    }
    assert_eq!(root.body["url"], ghes.body["url"], "one tenant per scope");
    let other = exchange(fake.url(), "not-a-token", &config_url).await;
    assert_eq!(other.status, 401);
    let repo = exchange(
        fake.url(),
        &fake.state().registration_token(&Scope::repo("acme", "app")),
        &format!("{}/acme/app", fake.url()),
    )
    .await;
    assert_ne!(repo.body["url"], root.body["url"], "another scope, another tenant");
    assert_eq!(fake.state().actions_call_counts()["runner-registration"], 4);
}

#[tokio::test]
async fn scale_sets_are_created_found_updated_and_deleted() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let groups = svc
        .call("GET", "_apis/runtime/runnergroups/?groupName=Default", None)
        .await;
    assert_eq!(groups.status, 200);
    assert_eq!(groups.body["count"], 1);
    assert_eq!(groups.body["value"][0]["id"], 1);
    assert_eq!(groups.body["value"][0]["isDefaultGroup"], true);
    assert!(groups.headers.contains_key("activityid"), "ActivityId on every answer");

    let body = json!({"name": "linux x64", "runnerGroupId": 1, "labels": [{"type": "", "name": "gpu"}],
        "runnerSetting": {"ephemeral": true, "disableUpdate": true}, "createdOn": "0001-01-01T00:00:00Z"});
    let created = svc
        .call("POST", "_apis/runtime/runnerscalesets", Some(body.clone()))
        .await;
    assert_eq!(created.status, 200, "exactly 200: {}", created.text);
    let id = created.body["id"].as_u64().unwrap();
    assert_eq!(
        created.body["RunnerSetting"]["disableUpdate"], true,
        "RunnerSetting accepted in any case"
    );
    assert_eq!(created.body["runnerGroupName"], "Default");
    assert_eq!(
        created.body["labels"],
        json!([{"type": "System", "name": "linux x64"}, {"type": "System", "name": "gpu"}])
    );
    assert!(created.body["statistics"]["totalAssignedJobs"].is_number());

    let duplicate = svc.call("POST", "_apis/runtime/runnerscalesets", Some(body)).await;
    assert_eq!(duplicate.status, 400);
    assert!(duplicate.type_name().starts_with("GitHub.Actions.Runtime.WebApi."));

    // Names are form-encoded by the client (`+` for the space); the lookup decodes them.
    let found = svc
        .call(
            "GET",
            "_apis/runtime/runnerscalesets?name=linux+x64&runnerGroupId=1",
            None,
        )
        .await;
    assert_eq!((found.status, found.body["count"].as_u64()), (200, Some(1)));
    assert_eq!(found.body["value"][0]["id"].as_u64(), Some(id));
    let none = svc
        .call(
            "GET",
            "_apis/runtime/runnerscalesets?name=linux+x64&runnerGroupId=2",
            None,
        )
        .await;
    assert_eq!(none.body["count"], 0);

    // Trailing and doubled slashes are ignored; the api-version may come first.
    let by_id = svc
        .raw(
            "GET",
            &format!(
                "{}/_apis//runtime/runnerscalesets/{id}/?api-version=6.0-preview",
                svc.url
            ),
            Some(&svc.token),
            None,
        )
        .await;
    assert_eq!((by_id.status, by_id.body["name"].as_str()), (200, Some("linux x64")));
    let no_version = svc
        .raw(
            "GET",
            &format!("{}_apis/runtime/runnerscalesets/{id}", svc.url),
            Some(&svc.token),
            None,
        )
        .await;
    assert_eq!(no_version.status, 400, "api-version is required");
    let anonymous = svc
        .raw(
            "GET",
            &svc.full(&format!("_apis/runtime/runnerscalesets/{id}")),
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);

    let patched = svc
        .call(
            "PATCH",
            &format!("_apis/runtime/runnerscalesets/{id}"),
            Some(json!({"name": "linux-x64-v2", "RunnerSetting": {}, "createdOn": "0001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "linux-x64-v2");
    assert_eq!(
        patched.body["labels"][0]["name"], "linux-x64-v2",
        "the name label follows"
    );
    assert_eq!(
        patched.body["RunnerSetting"]["disableUpdate"], true,
        "absent members are kept"
    );

    let deleted = svc
        .call("DELETE", &format!("_apis/runtime/runnerscalesets/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    let gone = svc
        .call("GET", &format!("_apis/runtime/runnerscalesets/{id}"), None)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.type_name(),
        "GitHub.Actions.Runtime.WebApi.RunnerScaleSetNotFoundException, GitHub.Actions.Runtime.WebApi"
    );
    assert!(gone.body["message"].is_string());

    // Another scope's admin token does not reach this tenant.
    let other = Svc::connect(&fake, &Scope::repo("acme", "app")).await;
    let foreign = other
        .raw(
            "GET",
            &svc.full("_apis/runtime/runnerscalesets"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(foreign.status, 401);
}

#[tokio::test]
async fn one_session_per_scale_set_with_refresh_and_delete() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;
    assert_eq!(session.body["runnerScaleSet"]["id"].as_u64(), Some(sid));
    assert_eq!(session.body["ownerName"], "test-listener");
    assert_eq!(session.body["statistics"]["totalAssignedJobs"], 0);
    assert!(session.queue_url.starts_with("http://") && session.queue_url.contains('?'));
    assert!(claims(&session.queue_token)["exp"].is_i64());

    let second = svc
        .call(
            "POST",
            &format!("_apis/runtime/runnerscalesets/{sid}/sessions"),
            Some(json!({"ownerName": "another"})),
        )
        .await;
    assert_eq!(second.status, 409);
    assert!(second.type_name().contains("RunnerScaleSetSessionConflictException"));
    assert!(second.body["message"].as_str().unwrap().contains("linux-x64"));

    let refreshed = svc
        .call(
            "PATCH",
            &format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", session.id),
            None,
        )
        .await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body["runnerScaleSet"]["id"].as_u64(), Some(sid));
    assert!(refreshed.body["statistics"].is_object());
    assert_ne!(
        refreshed.body["messageQueueAccessToken"],
        session.body["messageQueueAccessToken"]
    );

    let sessions = fake.state().scale_set_sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].owner.as_str(), sessions[0].refreshes),
        ("test-listener", 1)
    );

    let path = format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", session.id);
    assert_eq!(svc.call("DELETE", &path, None).await.status, 204);
    let again = svc.call("DELETE", &path, None).await;
    assert_eq!(again.status, 400);
    assert!(again.type_name().contains("RunnerScaleSetSessionExpiredException"));
    assert_eq!(svc.call("PATCH", &path, None).await.status, 404);
    // The scale set is free again.
    svc.open_session(sid).await;
}

#[tokio::test]
async fn a_queued_job_becomes_a_job_assigned_message_with_cursor_and_redelivery() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;

    let started = std::time::Instant::now();
    let idle = session.poll(0, Some("10")).await;
    assert_eq!((idle.status, idle.text.as_str()), (202, ""));
    assert!(started.elapsed() >= Duration::from_millis(900), "the poll is held");
    assert_eq!(fake.state().scale_set(sid).unwrap().last_capacity, Some(10));

    let job = fake
        .state()
        .enqueue_job("acme", "app", &["Linux-X64"], Duration::from_millis(10), "success")
        .unwrap();
    let envelope = session.next(0, Some("10"), 3).await;
    assert_eq!(envelope["messageType"], "RunnerScaleSetJobMessages");
    let id = envelope["messageId"].as_u64().unwrap();
    let messages = jobs_of(&envelope);
    assert_eq!(messages.len(), 1);
    let assigned = &messages[0];
    assert_eq!(assigned["messageType"], "JobAssigned");
    assert_eq!(assigned["repositoryName"], "app");
    assert_eq!(assigned["ownerName"], "acme");
    assert_eq!(assigned["requestLabels"], json!(["Linux-X64"]));
    assert!(assigned["jobId"].is_string() && assigned["runnerRequestId"].is_u64());
    assert_eq!(assigned["workflowRunId"].as_u64(), Some(job.run_id));
    assert!(assigned["scaleSetAssignTime"].is_string() && assigned.get("finishTime").is_none());
    assert_eq!(envelope["statistics"]["totalAssignedJobs"], 1);
    assert_eq!(envelope["statistics"]["totalRunningJobs"], 0);

    // Not acknowledged: delivered again without a cursor, never at or below the cursor.
    let again = session.next(0, Some("10"), 1).await;
    assert_eq!(again["messageId"].as_u64(), Some(id));
    assert_eq!(session.poll(id, Some("10")).await.status, 202);
    assert_eq!(session.ack(id).await, 204);
    assert_eq!(
        session.poll(0, Some("10")).await.status,
        202,
        "acknowledged messages are gone"
    );
    let set = fake.state().scale_set(sid).unwrap();
    assert_eq!(set.acknowledged_message_ids(), vec![id]);
    assert!(set.pending_message_ids().is_empty());
    let routed = fake.state().scale_set_job(job.id).unwrap();
    assert_eq!(
        (routed.status, routed.scale_set_id),
        (ScaleSetJobStatus::Assigned, Some(sid))
    );
    let counts = fake.state().actions_call_counts();
    assert_eq!(counts["message.get"], 5);
    assert_eq!(counts["message.delete"], 1);
    let log = fake.state().actions_calls();
    let ack = log.iter().find(|c| c.endpoint == "message.delete").unwrap();
    assert_eq!((ack.auth_scheme.as_deref(), ack.status), (Some("Bearer"), 204));
}

#[tokio::test]
async fn the_capacity_header_caps_assignments_and_is_validated() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;
    assert_eq!(session.poll(0, Some("-1")).await.status, 400);
    assert_eq!(session.poll(0, Some("many")).await.status, 400);
    assert_eq!(session.poll(0, Some("1")).await.status, 202);
    let state = fake.state();
    let a = state
        .enqueue_job("acme", "app", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let b = state
        .enqueue_job("acme", "lib", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let envelope = session.next(0, Some("1"), 2).await;
    assert_eq!(types_of(&envelope), vec!["JobAssigned"]);
    assert_eq!(envelope["statistics"]["totalAssignedJobs"], 1);
    assert_eq!(state.scale_set_job(a.id).unwrap().status, ScaleSetJobStatus::Assigned);
    assert_eq!(state.scale_set_job(b.id).unwrap().status, ScaleSetJobStatus::Queued);
    // Raising the capacity lets the second one in.
    let id = envelope["messageId"].as_u64().unwrap();
    let next = session.next(id, Some("2"), 2).await;
    assert_eq!(types_of(&next), vec!["JobAssigned"]);
    assert_eq!(next["statistics"]["totalAssignedJobs"], 2);
    assert!(next["messageId"].as_u64().unwrap() > id);
}

#[tokio::test]
async fn acquire_mode_offers_jobs_and_assigns_only_after_acquirejobs() {
    let fake = support::start_with(config()).await;
    fake.state().set_assign_mode(AssignMode::Acquire);
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;
    let path = format!("_apis/runtime/runnerscalesets/{sid}/acquirablejobs");
    assert_eq!(svc.call("GET", &path, None).await.status, 204, "nothing to acquire yet");
    let job = fake
        .state()
        .enqueue_job("acme", "app", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let envelope = session.next(0, Some("5"), 2).await;
    let messages = jobs_of(&envelope);
    assert_eq!(types_of(&envelope), vec!["JobAvailable"]);
    let request_id = messages[0]["runnerRequestId"].as_u64().unwrap();
    let acquire_url = messages[0]["acquireJobUrl"].as_str().unwrap().to_owned();
    assert!(acquire_url.ends_with(&format!("runnerscalesets/{sid}/acquirejobs")));
    assert_eq!(envelope["statistics"]["totalAvailableJobs"], 1);
    assert_eq!(envelope["statistics"]["totalAssignedJobs"], 0);
    let acquirable = svc.call("GET", &path, None).await;
    assert_eq!(acquirable.status, 200);
    assert_eq!(
        acquirable.body["value"][0]["runnerRequestId"].as_u64(),
        Some(request_id)
    );

    let acquire = format!("_apis/runtime/runnerscalesets/{sid}/acquirejobs");
    let with_admin = svc.call("POST", &acquire, Some(json!([request_id]))).await;
    assert_eq!(with_admin.status, 401, "acquirejobs wants the queue token");
    let acquired = svc
        .raw(
            "POST",
            &svc.full(&acquire),
            Some(&session.queue_token),
            Some(json!([request_id, 424242])),
        )
        .await;
    assert_eq!(acquired.status, 200, "{}", acquired.text);
    assert_eq!(acquired.body, json!({"count": 1, "value": [request_id]}));
    let twice = svc
        .raw(
            "POST",
            &svc.full(&acquire),
            Some(&session.queue_token),
            Some(json!([request_id])),
        )
        .await;
    assert_eq!(twice.body["count"], 0, "already taken");

    let id = envelope["messageId"].as_u64().unwrap();
    let next = session.next(id, Some("5"), 2).await;
    assert_eq!(types_of(&next), vec!["JobAssigned"]);
    assert_eq!(next["statistics"]["totalAssignedJobs"], 1);
    assert_eq!(next["statistics"]["totalAcquiredJobs"], 1);
    let routed = fake.state().scale_set_job(job.id).unwrap();
    assert!(routed.acquired);
    assert_eq!(fake.state().scale_set(sid).unwrap().acquired, vec![request_id]);
}

#[tokio::test]
async fn abandoned_sessions_expire_and_expired_queue_tokens_get_401() {
    let mut config = config();
    config.scale_sets.session_idle_timeout = Duration::from_millis(600);
    let fake = support::start_with(config).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let first = svc.open_session(sid).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = svc.open_session(sid).await;
    let path = format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", first.id);
    let stale = svc.call("DELETE", &path, None).await;
    assert_eq!(stale.status, 400);
    assert!(stale.type_name().contains("RunnerScaleSetSessionExpiredException"));
    assert_eq!(
        first.poll(0, None).await.status,
        401,
        "the expired session's token is dead"
    );

    assert!(fake.state().expire_queue_token(&second.id));
    assert_eq!(second.poll(0, Some("1")).await.status, 401);
    let refreshed = svc
        .call(
            "PATCH",
            &format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", second.id),
            None,
        )
        .await;
    assert_eq!(refreshed.status, 200);
    let renewed = crate::scaleset_client::Session::from(&refreshed.body);
    assert_eq!(renewed.poll(0, Some("1")).await.status, 202);

    assert!(fake.state().evict_scale_set_session(&second.id));
    let evicted = svc
        .call(
            "PATCH",
            &format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", second.id),
            None,
        )
        .await;
    assert_eq!(evicted.status, 404, "refresh of an evicted session");
}

#[tokio::test]
async fn a_scale_set_deleted_server_side_answers_404_to_session_creation() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;
    assert!(fake.state().delete_scale_set(sid));
    let create = svc
        .call(
            "POST",
            &format!("_apis/runtime/runnerscalesets/{sid}/sessions"),
            Some(json!({"ownerName": "x"})),
        )
        .await;
    assert_eq!(create.status, 404);
    assert!(create.type_name().contains("RunnerScaleSetNotFoundException"));
    assert_eq!(session.poll(0, None).await.status, 401);
    let lookup = svc
        .call(
            "GET",
            "_apis/runtime/runnerscalesets?name=linux-x64&runnerGroupId=1",
            None,
        )
        .await;
    assert_eq!(lookup.body["count"], 0);
    // Recreating it works, and a job with its label waits for it instead of a plain runner.
    let again = svc.create_set("linux-x64", &[]).await;
    assert_ne!(again, sid);
}

#[tokio::test]
async fn message_ids_increase_across_sessions_and_faults_are_injected() {
    let fake = support::start_with(config()).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let state = fake.state();
    let session = svc.open_session(sid).await;
    state
        .enqueue_job("acme", "app", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let first = session.next(0, Some("5"), 2).await["messageId"].as_u64().unwrap();
    assert_eq!(session.ack(first).await, 204);
    let path = format!("_apis/runtime/runnerscalesets/{sid}/sessions/{}", session.id);
    assert_eq!(svc.call("DELETE", &path, None).await.status, 204);

    // 5xx bursts on chosen endpoints, with Retry-After on 503.
    state.fail_actions(&["session.create"], 2, 503);
    let create = format!("_apis/runtime/runnerscalesets/{sid}/sessions");
    for _ in 0..2 {
        let failed = svc.call("POST", &create, Some(json!({"ownerName": "x"}))).await;
        assert_eq!(failed.status, 503);
        assert_eq!(failed.headers.get("retry-after").unwrap(), "1");
    }
    let session = svc.open_session(sid).await;

    // Statistics-only and foreign messages, duplicates, 401s.
    let stats_only = state
        .inject_scale_set_message(sid, "RunnerScaleSetJobMessages", "")
        .unwrap();
    assert!(stats_only > first, "ids increase per scale set across sessions");
    let envelope = session.next(first, Some("5"), 1).await;
    assert_eq!(
        (envelope["messageId"].as_u64(), envelope["body"].as_str()),
        (Some(stats_only), Some(""))
    );
    assert!(envelope["statistics"].is_object());
    let foreign = state.inject_scale_set_message(sid, "SomethingNew", "{}").unwrap();
    let envelope = session.next(stats_only, Some("5"), 1).await;
    assert_eq!(
        (envelope["messageId"].as_u64(), envelope["messageType"].as_str()),
        (Some(foreign), Some("SomethingNew"))
    );

    state.update_actions_faults(&garm_fake_github::ActionsFaultsPatch {
        duplicate_next: Some(1),
        queue_unauthorized_next: Some(1),
        bom: Some(true),
        ..Default::default()
    });
    assert_eq!(session.poll(foreign, Some("5")).await.status, 401);
    state
        .enqueue_job("acme", "app", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let a = session.next(foreign, Some("5"), 2).await;
    let raw = session.poll(foreign, Some("5")).await;
    assert!(raw.text.starts_with('\u{feff}'), "the BOM switch prefixes answers");
    let b = session.next(a["messageId"].as_u64().unwrap(), Some("5"), 1).await;
    assert_ne!(a["messageId"], b["messageId"]);
    assert_eq!(a["body"], b["body"], "the duplicate carries the same job messages");
    assert_eq!(fake.state().actions_faults().duplicate_next, 0);
}

#[tokio::test]
async fn jobs_go_only_to_scale_sets_in_scope_and_reorder_splits_batches() {
    let fake = support::start_with(config()).await;
    let state = fake.state();
    let repo_svc = Svc::connect(&fake, &Scope::repo("acme", "app")).await;
    let sid = repo_svc.create_set("repo-set", &["extra"]).await;
    let elsewhere = state
        .enqueue_job("acme", "lib", &["repo-set"], Duration::ZERO, "success")
        .unwrap();
    let here = state
        .enqueue_job("acme", "app", &["REPO-SET", "extra"], Duration::ZERO, "success")
        .unwrap();
    let partial = state
        .enqueue_job("acme", "app", &["repo-set", "missing"], Duration::ZERO, "success")
        .unwrap();
    assert!(state.scale_set_job(elsewhere.id).is_none(), "another repository's job");
    assert!(state.scale_set_job(partial.id).is_none(), "every label must match");
    assert_eq!(state.scale_set_job(here.id).unwrap().scale_set_id, Some(sid));

    state.add_org_in_enterprise("acme", "bigco");
    let ent_svc = Svc::connect(&fake, &Scope::enterprise("bigco")).await;
    let ent = ent_svc.create_set("ent-set", &[]).await;
    state.update_actions_faults(&garm_fake_github::ActionsFaultsPatch {
        reorder_next: Some(1),
        ..Default::default()
    });
    let one = state
        .enqueue_job("acme", "lib", &["ent-set"], Duration::ZERO, "success")
        .unwrap();
    let two = state
        .enqueue_job("acme", "lib", &["ent-set"], Duration::ZERO, "success")
        .unwrap();
    assert_eq!(state.scale_set_job(one.id).unwrap().scale_set_id, Some(ent));
    let session = ent_svc.open_session(ent).await;
    let first = session.next(0, None, 1).await;
    let second = session.next(first["messageId"].as_u64().unwrap(), None, 1).await;
    let job_of = |e: &serde_json::Value| jobs_of(e)[0]["workflowRunId"].as_u64().unwrap();
    assert_eq!(
        (job_of(&first), job_of(&second)),
        (two.run_id, one.run_id),
        "reversed, one per message"
    );
}

#[tokio::test]
async fn unacquired_assignments_are_withdrawn_and_requeued_at_most_max_rounds() {
    let mut config = config();
    config.scale_sets.reassign_after = Some(Duration::from_millis(300));
    config.scale_sets.max_rounds = 2;
    let fake = support::start_with(config).await;
    let svc = Svc::connect(&fake, &org()).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let session = svc.open_session(sid).await;
    let job = fake
        .state()
        .enqueue_job("acme", "app", &["linux-x64"], Duration::ZERO, "success")
        .unwrap();
    let mut last = 0;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let envelope = session.next(last, Some("5"), 3).await;
        last = envelope["messageId"].as_u64().unwrap();
        seen.extend(jobs_of(&envelope));
    }
    let kinds: Vec<&str> = seen.iter().map(|m| m["messageType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["JobAssigned", "JobCompleted", "JobAssigned"]);
    assert_eq!(
        (seen[1]["result"].as_str(), seen[1]["runnerId"].as_u64()),
        (Some("canceled"), Some(0))
    );
    assert_eq!(seen[1]["runnerName"], "");
    assert_ne!(
        seen[0]["runnerRequestId"], seen[2]["runnerRequestId"],
        "a new request per round"
    );
    assert_eq!(seen[0]["jobId"], seen[2]["jobId"], "the same job");
    // The last round is never withdrawn.
    assert_eq!(session.poll(last, Some("5")).await.status, 202);
    let routed = fake.state().scale_set_job(job.id).unwrap();
    assert_eq!((routed.round, routed.status), (2, ScaleSetJobStatus::Assigned));
}
