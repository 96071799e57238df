//! Scale set runners: JIT configurations, the simulated runner taking only its scale set's
//! job, the agents API, and webhooks for scale set jobs.

use std::time::Duration;

use base64::Engine as _;
use garm_fake_github::runner::Listener;
use garm_fake_github::{ScaleSetJobStatus, Scope};
use serde_json::{json, Value};

use crate::scaleset_client::{config, jobs_of, Svc};
use crate::support::{self, Receiver};

/// Strict, padded standard base64 (as garm decodes it).
fn strict(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 4, 0, "padded base64");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("standard base64")
}

#[tokio::test]
async fn a_jit_runner_takes_only_its_scale_sets_assigned_job_then_goes_away() {
    let fake = support::start_with(config()).await;
    let state = fake.state();
    let receiver = Receiver::start().await;
    state.add_hook(&Scope::org("acme"), &receiver.url, Some("s"), "json");
    let svc = Svc::connect(&fake, &Scope::org("acme")).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let jit = format!("_apis/runtime/runnerscalesets/{sid}/generatejitconfig");
    let made = svc
        .call("POST", &jit, Some(json!({"name": "garm-abc", "workFolder": "_work"})))
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let runner = &made.body["runner"];
    let runner_id = runner["id"].as_u64().unwrap();
    assert_eq!(runner["runnerScaleSetId"].as_u64(), Some(sid));
    assert_eq!(
        (runner["status"].as_str(), runner["busy"].as_bool()),
        (Some("offline"), Some(false))
    );

    // Both levels are padded standard base64; the three files are those the runner reads.
    let blob = made.body["encodedJITConfig"].as_str().unwrap();
    let files: serde_json::Map<String, Value> = serde_json::from_slice(&strict(blob)).unwrap();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, [".credentials", ".credentials_rsaparams", ".runner"]);
    let settings: Value = serde_json::from_slice(&strict(files[".runner"].as_str().unwrap())).unwrap();
    assert_eq!(settings["agentId"].as_u64(), Some(runner_id));
    assert_eq!(settings["agentName"], "garm-abc");
    assert_eq!(settings["ephemeral"], true);
    let credentials: Value = serde_json::from_slice(&strict(files[".credentials"].as_str().unwrap())).unwrap();
    assert_eq!(credentials["scheme"], "OAuth");

    let duplicate = svc
        .call("POST", &jit, Some(json!({"name": "garm-abc", "workFolder": "_work"})))
        .await;
    assert_eq!(duplicate.status, 409);
    assert!(duplicate.body["typeName"]
        .as_str()
        .unwrap()
        .contains("AgentExistsException"));
    let stats = state.scale_set_statistics(sid).unwrap();
    assert_eq!(
        (
            stats["totalRegisteredRunners"].as_u64(),
            stats["totalIdleRunners"].as_u64()
        ),
        (Some(1), Some(0))
    );

    let session = svc.open_session(sid).await;
    assert_eq!(
        session.poll(0, Some("0")).await.status,
        202,
        "capacity 0: nothing is assigned"
    );
    let mut listener = Listener::from_jit(blob).unwrap();
    listener.connect().await.expect("the JIT runner connects");
    let plain = state
        .enqueue_job("acme", "app", &["self-hosted"], Duration::ZERO, "success")
        .unwrap();
    let job = state
        .enqueue_job("acme", "app", &["linux-x64"], Duration::from_millis(200), "success")
        .unwrap();
    assert!(
        listener.poll(Duration::from_millis(500)).await.unwrap().is_none(),
        "neither the plain job nor the unassigned scale set job"
    );
    assert_eq!(state.scale_set_job(job.id).unwrap().status, ScaleSetJobStatus::Queued);

    // Capacity 1: the job is assigned, and the scale set's runner takes it.
    let envelope = session.next(0, Some("1"), 2).await;
    let mut last = envelope["messageId"].as_u64().unwrap();
    let mut seen = jobs_of(&envelope);
    let request = listener.poll(Duration::from_secs(2)).await.unwrap().expect("the job");
    assert_eq!(request.job_id, job.id);
    let busy = svc
        .call(
            "DELETE",
            &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
            None,
        )
        .await;
    assert_eq!(busy.status, 400);
    assert!(busy.body["typeName"]
        .as_str()
        .unwrap()
        .contains("JobStillRunningException"));
    let listed = svc
        .call("GET", "_apis/distributedtask/pools/0/agents?agentName=garm-abc", None)
        .await;
    assert_eq!(listed.body["count"], 1);
    assert_eq!(listed.body["value"][0]["busy"], true);
    assert_eq!(listed.body["value"][0]["status"], "online");
    listener.complete(job.id, "success").await.unwrap();

    while seen.len() < 3 {
        let envelope = session.next(last, Some("1"), 3).await;
        last = envelope["messageId"].as_u64().unwrap();
        seen.extend(jobs_of(&envelope));
    }
    let kinds: Vec<&str> = seen.iter().map(|m| m["messageType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["JobAssigned", "JobStarted", "JobCompleted"]);
    assert_eq!(
        (seen[1]["runnerId"].as_u64(), seen[1]["runnerName"].as_str()),
        (Some(runner_id), Some("garm-abc"))
    );
    assert!(seen[1]["runnerAssignTime"].is_string());
    assert_eq!(seen[2]["result"], "succeeded");
    assert!(seen[2]["finishTime"].is_string());

    // Ephemeral: gone after its job; the plain job is still waiting for a plain runner.
    assert!(state.runner(runner_id).is_none());
    let gone = svc
        .call(
            "GET",
            &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    assert!(gone.body["typeName"]
        .as_str()
        .unwrap()
        .contains("AgentNotFoundException"));
    let again = svc
        .call(
            "DELETE",
            &format!("_apis/distributedtask/pools/0/agents/{runner_id}"),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(state.job(plain.id).unwrap().status, garm_fake_github::JobStatus::Queued);
    let routed = state.scale_set_job(job.id).unwrap();
    assert_eq!(
        (routed.status, routed.runner_id),
        (ScaleSetJobStatus::Completed, Some(runner_id))
    );

    // Scale set jobs still produce workflow_job webhooks like any other.
    let received = receiver.wait_for(4).await;
    let actions: Vec<(String, u64)> = received
        .iter()
        .map(|r| (r.action().to_owned(), r.payload["workflow_job"]["id"].as_u64().unwrap()))
        .collect();
    for action in ["queued", "in_progress", "completed"] {
        assert!(
            actions.contains(&(action.to_owned(), job.id)),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn idle_runners_are_removed_and_unused_jit_runners_expire() {
    let mut config = config();
    config.jit_unused_ttl = Some(Duration::from_millis(500));
    let fake = support::start_with(config).await;
    let svc = Svc::connect(&fake, &Scope::org("acme")).await;
    let sid = svc.create_set("linux-x64", &[]).await;
    let jit = format!("_apis/runtime/runnerscalesets/{sid}/generatejitconfig");
    let a = svc
        .call("POST", &jit, Some(json!({"name": "a", "workFolder": ""})))
        .await;
    let id = a.body["runner"]["id"].as_u64().unwrap();
    let all = svc.call("GET", "_apis/distributedtask/pools/0/agents", None).await;
    assert_eq!(all.body["count"], 1);
    let removed = svc
        .call("DELETE", &format!("_apis/distributedtask/pools/0/agents/{id}"), None)
        .await;
    assert_eq!(removed.status, 204);
    let b = svc
        .call("POST", &jit, Some(json!({"name": "b", "workFolder": "_work"})))
        .await;
    let b_id = b.body["runner"]["id"].as_u64().unwrap();
    let expired = fake
        .state()
        .wait_for(Duration::from_secs(5), |s| s.runner(b_id).is_none().then_some(()))
        .await;
    assert!(expired.is_some(), "a JIT runner that never connects is removed");
}
