//! Group commit: many deliveries recorded in one transaction keep intake's rules.

use crate::support::World;
use garm_forge::webhook::{JobAction, Repository, WorkflowJob, WorkflowJobEvent};
use garm_model::{InstanceStatus, RunnerStatus};
use garm_pool::intake::{self, Done, Item, Outcome, Owner};
use garm_pool::Settings;

fn event(w: &World, id: i64, action: JobAction, labels: &[&str], runner: &str) -> WorkflowJobEvent {
    let job: WorkflowJob = serde_json::from_value(serde_json::json!({
        "id": id,
        "run_id": 7,
        "status": action.as_str(),
        "name": "build",
        "labels": labels,
        "runner_name": runner,
    }))
    .unwrap();
    WorkflowJobEvent {
        action,
        job,
        repository: Repository {
            name: w.entity.name.clone(),
            owner_login: w.entity.owner.clone(),
            full_name: format!("{}/{}", w.entity.owner, w.entity.name),
            html_url: format!("https://github.com/{}/{}", w.entity.owner, w.entity.name),
        },
        organization_login: None,
        enterprise_slug: None,
        installation_id: None,
    }
}

fn item(w: &World, ev: WorkflowJobEvent, key: Option<&str>) -> Item {
    Item {
        owner: Owner::Ours(w.entity.clone()),
        event: ev,
        key: key.map(str::to_string),
        view: None,
    }
}

#[tokio::test]
async fn a_batch_keeps_redeliveries_order_and_runner_states() {
    let w = World::new(Settings::default()).await;
    let runner = w.instance("garm-runner-1", 5, RunnerStatus::Idle, false).await;
    let ok = &["self-hosted", "linux"];
    let items = vec![
        item(&w, event(&w, 1, JobAction::Queued, ok, ""), Some("7:a")),
        // The same delivery again, in the same batch: nothing changes.
        item(&w, event(&w, 1, JobAction::Queued, ok, ""), Some("7:a")),
        // Job 2 finished on our runner, then its older `queued` arrives.
        item(&w, event(&w, 2, JobAction::Completed, ok, &runner.name), Some("7:b")),
        item(&w, event(&w, 2, JobAction::Queued, ok, ""), Some("7:c")),
        // No pool serves these labels: recorded with the reason.
        item(&w, event(&w, 3, JobAction::Queued, &["gpu"], ""), None),
        // The same facts under another key: unchanged.
        item(&w, event(&w, 1, JobAction::Queued, ok, ""), Some("8:a")),
    ];
    let started = std::time::Instant::now();
    let done: Vec<Done> = intake::record_batch(&w.ctx, items)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // One transaction, not a fallback after waiting for the connection it holds.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(done[0], Done::Recorded(Outcome::Recorded { .. })));
    assert_eq!(done[1], Done::Redelivery);
    assert!(matches!(done[2], Done::Recorded(Outcome::Recorded { .. })));
    assert_eq!(done[3], Done::Recorded(Outcome::Stale));
    assert!(matches!(&done[4], Done::Recorded(Outcome::Recorded { reason }) if reason.contains("no enabled pool")));
    assert_eq!(done[5], Done::Recorded(Outcome::Unchanged));

    let store = &w.ctx.store;
    assert_eq!(store.job(1).await.unwrap().unwrap().status, "queued");
    let two = store.job(2).await.unwrap().unwrap();
    assert_eq!(
        two.action,
        JobAction::Completed,
        "an older action never overwrites a newer one"
    );
    assert_eq!(two.instance_name.as_deref(), Some(runner.name.as_str()));
    let instance = store.instance(&runner.name).await.unwrap();
    assert_eq!(instance.runner_status, RunnerStatus::Terminated);
    assert_eq!(instance.status, InstanceStatus::PendingDelete);
    assert!(store.job(3).await.unwrap().unwrap().reason.contains("no enabled pool"));
    let keys: Vec<String> = ["7:a", "7:b", "7:c", "8:a"].map(String::from).to_vec();
    assert_eq!(store.deliveries_seen(&keys).await.unwrap().len(), 4);

    // A second batch sees the first one's keys.
    let again = intake::record_batch(
        &w.ctx,
        vec![
            item(&w, event(&w, 1, JobAction::Queued, ok, ""), Some("7:a")),
            item(&w, event(&w, 4, JobAction::Queued, ok, ""), Some("7:d")),
        ],
    )
    .await;
    assert_eq!(again[0].as_ref().unwrap(), &Done::Redelivery);
    assert!(store.job(4).await.unwrap().is_some());
}
