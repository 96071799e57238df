//! Missed-webhook reconciliation: failed deliveries are redelivered within the budget, and
//! queued jobs are looked up on the forge.

use crate::support::{World, CONTROLLER_WEBHOOK};
use chrono::Utc;
use garm_forge::webhook::WorkflowJob;
use garm_model::RunnerStatus;
use garm_pool::{missed, ForgeDelivery, ForgeHook, ForgeRateLimit, Settings};
use garm_store::JobRecord;
use std::time::Duration;

fn failed(id: i64, guid: &str, status_code: i64) -> ForgeDelivery {
    ForgeDelivery {
        id,
        guid: guid.into(),
        delivered_at: Some(Utc::now()),
        event: "workflow_job".into(),
        action: Some("queued".into()),
        status_code,
        succeeded: false,
    }
}

async fn with_hook(settings: Settings) -> World {
    let w = World::new(settings).await;
    let url = format!("{CONTROLLER_WEBHOOK}/{}", w.ctx.controller_id);
    w.forge.state().hooks = vec![
        ForgeHook {
            id: 3,
            url: "https://someone-else.example.com/hook".into(),
            events: vec!["push".into()],
            active: true,
            insecure_ssl: false,
        },
        ForgeHook {
            id: 7,
            url,
            events: vec!["workflow_job".into()],
            active: true,
            insecure_ssl: false,
        },
    ];
    w
}

#[tokio::test]
async fn failed_deliveries_we_never_recorded_are_redelivered_once_oldest_first() {
    let w = with_hook(Settings::default()).await;
    {
        let mut forge = w.forge.state();
        // Newest first, as GitHub lists them; 105 and 101 share a GUID (a failed redelivery).
        forge.failed = vec![
            failed(106, "g-seen", 0),
            failed(105, "g-a", 0),
            failed(104, "g-refused", 401),
            failed(103, "g-b", 503),
            failed(101, "g-a", 0),
        ];
    }
    w.ctx.store.record_delivery("7:g-seen").await.unwrap();
    missed::scan(&w.ctx).await;
    assert_eq!(
        w.forge.state().redelivered,
        vec![101, 103],
        "unrecorded, repairable deliveries, one per GUID, oldest first"
    );
    // The next pass within the retry period asks for nothing again.
    missed::scan(&w.ctx).await;
    assert_eq!(w.forge.state().redelivered.len(), 2);
    assert_eq!(
        w.forge.state().calls.iter().filter(|c| **c == "hooks").count(),
        1,
        "our hook's id is cached"
    );
}

#[tokio::test]
async fn reconciliation_stays_within_its_share_of_the_rate_limit() {
    let w = with_hook(Settings {
        forge_poll_share: 0.01,
        ..Settings::default()
    })
    .await;
    {
        let mut forge = w.forge.state();
        // 1% of 1200 an hour is 12 an hour: a bucket of at most three requests.
        forge.rate = ForgeRateLimit {
            limit: Some(1200),
            remaining: Some(1200),
            reset_at: None,
            blocked_until: None,
        };
        forge.failed = (0..50).map(|n| failed(1000 - n, &format!("g-{n}"), 0)).collect();
    }
    missed::scan(&w.ctx).await;
    let calls = w.forge.state().calls.len();
    assert!(calls <= 3, "spent {calls} requests with a budget of three");
    assert!(!w.forge.state().redelivered.is_empty() || calls == 3);
    missed::scan(&w.ctx).await;
    assert_eq!(w.forge.state().calls.len(), calls, "the bucket refills at 12 an hour");

    let w = with_hook(Settings::default()).await;
    {
        let mut forge = w.forge.state();
        forge.failed = vec![failed(5, "g-x", 0)];
        forge.rate = ForgeRateLimit {
            limit: Some(5000),
            remaining: Some(300),
            reset_at: None,
            blocked_until: None,
        };
    }
    missed::scan(&w.ctx).await;
    assert!(
        w.forge.state().calls.is_empty(),
        "with less than a tenth of the limit left, reconciliation sends nothing"
    );
    {
        let mut forge = w.forge.state();
        forge.rate = ForgeRateLimit {
            limit: Some(5000),
            remaining: Some(5000),
            reset_at: None,
            blocked_until: Some(Utc::now() + chrono::Duration::minutes(5)),
        };
    }
    missed::scan(&w.ctx).await;
    assert!(w.forge.state().calls.is_empty(), "nothing while rate limited");
    let off = with_hook(Settings {
        forge_poll_share: 0.0,
        ..Settings::default()
    })
    .await;
    off.forge.state().failed = vec![failed(5, "g-x", 0)];
    missed::scan(&off.ctx).await;
    assert!(off.forge.state().calls.is_empty(), "a zero share turns it off");
}

#[tokio::test]
async fn older_pages_are_read_across_passes() {
    let w = with_hook(Settings {
        missed_webhook_scan: Duration::from_millis(1),
        ..Settings::default()
    })
    .await;
    {
        let mut forge = w.forge.state();
        forge.page = 2;
        forge.failed = (0..7).map(|n| failed(100 - n, &format!("g-{n}"), 0)).collect();
    }
    for _ in 0..4 {
        missed::scan(&w.ctx).await;
    }
    let mut asked = w.forge.state().redelivered.clone();
    asked.sort();
    assert_eq!(
        asked,
        vec![94, 95, 96, 97, 98, 99, 100],
        "every failed delivery was found"
    );
}

fn job(id: i64, entity: &str) -> JobRecord {
    JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        action: "queued".into(),
        status: "queued".into(),
        labels: vec!["self-hosted".into(), "linux".into()],
        repository_name: "widgets".into(),
        repository_owner: "acme".into(),
        workflow_run_url: "https://github.com/acme/widgets/actions/runs/1".into(),
        repo_id: Some(entity.into()),
        ..Default::default()
    }
}

fn forge_job(id: i64, status: &str, runner: Option<&str>) -> WorkflowJob {
    serde_json::from_value(serde_json::json!({
        "id": id, "run_id": 1, "status": status,
        "conclusion": if status == "completed" { "success" } else { "" },
        "labels": ["self-hosted", "linux"], "runner_name": runner, "runner_id": runner.map(|_| 12),
        "html_url": format!("https://github.com/acme/widgets/actions/runs/1/job/{id}"),
    }))
    .unwrap()
}

#[tokio::test]
async fn queued_jobs_whose_webhooks_were_lost_are_looked_up_and_recorded() {
    let w = with_hook(Settings {
        queued_job_check_after: Duration::from_millis(200),
        ..Settings::default()
    })
    .await;
    let entity = w.entity.id.clone();
    let runner = w.instance("garm-ran-it", 12, RunnerStatus::Active, false).await;
    for id in [1, 2, 3] {
        w.ctx.store.put_job(&job(id, &entity)).await.unwrap();
    }
    {
        let mut forge = w.forge.state();
        forge.jobs.insert(1, forge_job(1, "completed", Some(&runner.name)));
        forge.jobs.insert(2, forge_job(2, "queued", None));
        // Job 3 is gone from the forge.
    }
    missed::scan(&w.ctx).await;
    assert_eq!(
        lookups(&w),
        0,
        "jobs younger than queued_job_check_after are not asked about"
    );
    let started = std::time::Instant::now();
    while lookups(&w) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the jobs were never looked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        missed::scan(&w.ctx).await;
    }
    let done = w.ctx.store.job(1).await.unwrap().unwrap();
    assert_eq!(done.status, "completed");
    let instance = w.ctx.store.instance(&runner.name).await.unwrap();
    assert_eq!(
        instance.status,
        garm_model::InstanceStatus::PendingDelete,
        "the instance that ran it is cleaned up"
    );
    assert_eq!(w.ctx.store.job(2).await.unwrap().unwrap().status, "queued");
    assert!(
        w.ctx.store.job(3).await.unwrap().is_none(),
        "a job the forge lost is forgotten"
    );
    missed::scan(&w.ctx).await;
    assert_eq!(lookups(&w), 3, "a job is asked about at most once per period");
}

fn lookups(w: &World) -> usize {
    w.forge.state().calls.iter().filter(|c| **c == "workflow_job").count()
}
