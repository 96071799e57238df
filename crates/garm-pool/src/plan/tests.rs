//! Unit tests of the planners.

use super::*;
use chrono::Duration as Span;
use garm_store::TagRecord;

fn now() -> DateTime<Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn pool(id: &str, min: u32, max: u32, tags: &[&str]) -> PoolRecord {
    PoolRecord {
        id: id.into(),
        entity_id: "e".into(),
        provider_name: "p".into(),
        runner_prefix: "garm".into(),
        max_runners: max,
        min_idle_runners: min,
        bootstrap_timeout: 20,
        image: "i".into(),
        flavor: "f".into(),
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        enabled: true,
        extra_specs: None,
        runner_group: String::new(),
        enable_shell: false,
        generation: 0,
        priority: 0,
        template_id: None,
        proxy_id: None,
        scale_set_id: None,
        tags: tags
            .iter()
            .map(|t| TagRecord {
                id: t.to_string(),
                name: t.to_string(),
            })
            .collect(),
        created_at: now(),
        updated_at: now(),
    }
}

fn inst(name: &str, status: InstanceStatus, runner: RunnerStatus, minutes_ago: i64) -> InstanceRecord {
    InstanceRecord {
        id: name.into(),
        name: name.into(),
        pool_id: "p1".into(),
        provider_id: None,
        agent_id: 0,
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![],
        status,
        runner_status: runner,
        provider_fault: String::new(),
        create_attempt: 1,
        token_fetched: false,
        jit_config: None,
        runner_group: String::new(),
        extra_labels: vec![],
        generation: 0,
        callback_url: String::new(),
        metadata_url: String::new(),
        heartbeat: now(),
        created_at: now() - Span::minutes(minutes_ago),
        updated_at: now() - Span::minutes(minutes_ago),
    }
}

fn view(pool: PoolRecord, instances: Vec<InstanceRecord>) -> PoolView {
    PoolView {
        pool,
        instances,
        queued_matching: 0,
        queued_ids: HashSet::new(),
        inflight: HashSet::new(),
        backing_off: HashSet::new(),
        scale_set_target: None,
        now: now(),
    }
}

#[test]
fn idle_deficit_is_capped_by_max_runners() {
    let v = view(
        pool("p1", 5, 3, &["linux"]),
        vec![inst("a", InstanceStatus::Running, RunnerStatus::Active, 1)],
    );
    assert_eq!(pool_steps(&v), vec![Step::Create { count: 2 }]);
}

fn pool_steps(v: &PoolView) -> Vec<Step> {
    super::pool(v, &Settings::default())
}

#[test]
fn busy_runners_do_not_count_as_idle() {
    let v = view(
        pool("p1", 2, 10, &["linux"]),
        vec![
            inst("a", InstanceStatus::Running, RunnerStatus::Active, 1),
            inst("b", InstanceStatus::Running, RunnerStatus::Idle, 1),
        ],
    );
    assert_eq!(pool_steps(&v), vec![Step::Create { count: 1 }]);
}

#[test]
fn a_disabled_pool_creates_nothing_but_still_deletes() {
    let mut p = pool("p1", 2, 10, &["linux"]);
    p.enabled = false;
    let v = view(
        p,
        vec![inst("a", InstanceStatus::PendingDelete, RunnerStatus::Terminated, 1)],
    );
    assert_eq!(pool_steps(&v), vec![Step::Delete { name: "a".into() }]);
}

#[test]
fn transitions_in_flight_are_left_alone() {
    let mut v = view(
        pool("p1", 0, 10, &["linux"]),
        vec![inst("a", InstanceStatus::PendingCreate, RunnerStatus::Pending, 0)],
    );
    assert_eq!(pool_steps(&v), vec![Step::Provision { name: "a".into() }]);
    v.inflight.insert("a".into());
    assert!(pool_steps(&v).is_empty());
}

#[test]
fn failed_creates_are_retried_until_the_attempts_run_out() {
    let mut failed = inst("a", InstanceStatus::Error, RunnerStatus::Pending, 1);
    let mut v = view(pool("p1", 0, 10, &["linux"]), vec![failed.clone()]);
    assert_eq!(pool_steps(&v), vec![Step::Retry { name: "a".into() }]);
    v.backing_off.insert("a".into());
    assert!(pool_steps(&v).is_empty(), "backoff delays the retry");
    failed.create_attempt = 5;
    let v = view(pool("p1", 0, 10, &["linux"]), vec![failed.clone()]);
    assert!(pool_steps(&v).is_empty(), "no sixth attempt, and not yet timed out");
    failed.updated_at = now() - Span::minutes(30);
    let v = view(pool("p1", 0, 10, &["linux"]), vec![failed]);
    assert!(matches!(&pool_steps(&v)[..], [Step::Reap { .. }]));
}

#[test]
fn a_runner_that_never_comes_up_is_reaped_after_the_bootstrap_timeout() {
    let v = view(
        pool("p1", 0, 10, &["linux"]),
        vec![
            inst("young", InstanceStatus::Running, RunnerStatus::Installing, 5),
            inst("old", InstanceStatus::Running, RunnerStatus::Pending, 21),
        ],
    );
    let steps = pool_steps(&v);
    assert_eq!(steps.len(), 1);
    assert!(matches!(&steps[0], Step::Reap { name, .. } if name == "old"));
}

#[test]
fn an_instance_left_creating_by_a_crash_is_recovered() {
    let v = view(
        pool("p1", 0, 10, &["linux"]),
        vec![inst("a", InstanceStatus::Creating, RunnerStatus::Pending, 1)],
    );
    assert_eq!(pool_steps(&v), vec![Step::Interrupted { name: "a".into() }]);
}

#[test]
fn surplus_idle_runners_are_scaled_down_after_the_grace_period_half_at_a_time() {
    let mut instances = vec![];
    for n in 0..4 {
        instances.push(inst(
            &format!("old{n}"),
            InstanceStatus::Running,
            RunnerStatus::Idle,
            10 + n,
        ));
    }
    instances.push(inst("fresh", InstanceStatus::Running, RunnerStatus::Idle, 1));
    let v = view(pool("p1", 1, 10, &["linux"]), instances);
    let steps = pool_steps(&v);
    // Five idle, one to keep: a surplus of four, half of it (two) now, oldest first.
    assert_eq!(
        steps,
        vec![
            Step::ScaleDown { name: "old3".into() },
            Step::ScaleDown { name: "old2".into() }
        ]
    );
}

#[test]
fn idle_runners_wanted_by_queued_jobs_are_kept() {
    let mut v = view(
        pool("p1", 0, 10, &["linux"]),
        vec![inst("a", InstanceStatus::Running, RunnerStatus::Idle, 30)],
    );
    v.queued_matching = 1;
    assert!(pool_steps(&v).is_empty());
}

fn job(id: i64, labels: &[&str], seconds_ago: i64) -> JobRecord {
    JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        status: "queued".into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        created_at: Some(now() - Span::seconds(seconds_ago)),
        ..Default::default()
    }
}

fn entity(pools: Vec<(PoolRecord, Vec<InstanceRecord>)>, queued: Vec<JobRecord>) -> EntityView {
    EntityView {
        display_name: "o/r".into(),
        balancer: BalancerType::Roundrobin,
        pools,
        queued,
        min_job_age: Duration::from_secs(30),
        now: now(),
        turn: 0,
        max_create_attempts: 5,
    }
}

#[test]
fn a_queued_job_without_idle_capacity_gets_an_instance_at_once() {
    let v = entity(
        vec![(pool("p1", 0, 4, &["self-hosted", "linux"]), vec![])],
        vec![job(1, &["self-hosted", "linux"], 0)],
    );
    assert_eq!(verdicts(&v), vec![(1, JobVerdict::Create { pool_id: "p1".into() })]);
}

#[test]
fn a_young_job_waits_for_an_idle_runner_and_an_old_one_does_not() {
    let idle = inst("a", InstanceStatus::Running, RunnerStatus::Idle, 1);
    let v = entity(
        vec![(pool("p1", 1, 4, &["linux"]), vec![idle.clone()])],
        vec![job(1, &["linux"], 5), job(2, &["linux"], 5)],
    );
    assert_eq!(
        verdicts(&v),
        vec![
            (1, JobVerdict::Covered),
            (2, JobVerdict::Create { pool_id: "p1".into() })
        ],
        "one idle runner covers one job; the second gets its own instance"
    );
    let v = entity(
        vec![(pool("p1", 1, 4, &["linux"]), vec![idle])],
        vec![job(1, &["linux"], 60)],
    );
    assert_eq!(verdicts(&v), vec![(1, JobVerdict::Create { pool_id: "p1".into() })]);
}

#[test]
fn jobs_that_match_no_pool_say_why() {
    let v = entity(
        vec![(pool("p1", 0, 4, &["linux"]), vec![])],
        vec![job(1, &["self-hosted", "gpu"], 0)],
    );
    let steps = verdicts(&v);
    assert!(
        matches!(&steps[0], (1, JobVerdict::Waits { reason }) if reason.contains("no enabled pool") && reason.contains("gpu"))
    );
}

#[test]
fn a_burst_never_plans_more_than_max_runners() {
    let queued: Vec<JobRecord> = (0..200).map(|n| job(n, &["linux"], 0)).collect();
    let existing = vec![inst("busy", InstanceStatus::Running, RunnerStatus::Active, 1)];
    let v = entity(vec![(pool("p1", 0, 10, &["linux"]), existing)], queued);
    let steps = verdicts(&v);
    let creates = steps
        .iter()
        .filter(|s| matches!(s, (_, JobVerdict::Create { .. })))
        .count();
    assert_eq!(creates, 9);
    assert!(matches!(steps.last().unwrap(), (199, JobVerdict::Waits { reason }) if reason == super::WAITING_FOR_ROOM));
}

#[test]
fn a_job_with_a_runner_on_its_way_is_not_served_twice() {
    let mut spawned = inst("a", InstanceStatus::Creating, RunnerStatus::Pending, 0);
    spawned.extra_labels = vec![crate::job_label(7)];
    let v = entity(
        vec![(pool("p1", 0, 4, &["linux"]), vec![spawned])],
        vec![job(7, &["linux"], 100)],
    );
    assert_eq!(verdicts(&v), vec![(7, JobVerdict::Claimed)]);
}

#[test]
fn higher_priority_pools_are_filled_first_and_round_robin_rotates_ties() {
    let mut high = pool("high", 0, 1, &["linux"]);
    high.priority = 10;
    let low_a = pool("a", 0, 10, &["linux"]);
    let low_b = pool("b", 0, 10, &["linux"]);
    let v = entity(
        vec![(low_a, vec![]), (high, vec![]), (low_b, vec![])],
        (0..3).map(|n| job(n, &["linux"], 0)).collect(),
    );
    let pools: Vec<garm_model::PoolId> = verdicts(&v)
        .into_iter()
        .filter_map(|s| match s {
            (_, JobVerdict::Create { pool_id }) => Some(pool_id),
            _ => None,
        })
        .collect();
    assert_eq!(pools[0], "high");
    assert_ne!(pools[1], pools[2], "ties alternate");
}

#[test]
fn a_failed_create_whose_runner_already_ran_its_job_is_removed_not_retried() {
    let v = view(
        pool("p1", 0, 10, &["linux"]),
        vec![inst("a", InstanceStatus::Error, RunnerStatus::Terminated, 0)],
    );
    assert_eq!(
        pool_steps(&v),
        vec![Step::Reap {
            name: "a".into(),
            reason: "runner terminated".into()
        }]
    );
}

#[test]
fn a_job_whose_instance_failed_to_create_waits_for_the_retry_instead_of_a_second_instance() {
    let mut failed = inst("a", InstanceStatus::Error, RunnerStatus::Pending, 0);
    failed.extra_labels = vec![crate::job_label(7)];
    let mut j = JobRecord {
        workflow_job_id: 7,
        scaleset_job_id: None,
        labels: vec!["linux".into()],
        status: "queued".into(),
        ..Default::default()
    };
    j.created_at = Some(now() - Span::minutes(5));
    let steps = verdicts(&entity(
        vec![(pool("p1", 0, 10, &["linux"]), vec![failed.clone()])],
        vec![j.clone()],
    ));
    assert_eq!(steps, vec![(7, JobVerdict::Claimed)]);
    // Out of attempts: the job gets a new instance.
    failed.create_attempt = 5;
    let steps = verdicts(&entity(vec![(pool("p1", 0, 10, &["linux"]), vec![failed])], vec![j]));
    assert_eq!(steps, vec![(7, JobVerdict::Create { pool_id: "p1".into() })]);
}

#[test]
fn a_job_whose_runner_just_finished_it_is_not_served_again_while_the_completion_is_recorded() {
    // The `completed` webhook marked the instance before its job row says completed.
    let mut done = inst("a", InstanceStatus::PendingDelete, RunnerStatus::Terminated, 0);
    done.extra_labels = vec![crate::job_label(7)];
    let steps = verdicts(&entity(
        vec![(pool("p1", 0, 10, &["linux"]), vec![done.clone()])],
        vec![job(7, &["linux"], 100)],
    ));
    assert_eq!(steps, vec![(7, JobVerdict::Claimed)]);
    // Long after (the job really is still queued, e.g. its runner took another job): served.
    done.updated_at = now() - Span::minutes(1);
    let steps = verdicts(&entity(
        vec![(pool("p1", 0, 10, &["linux"]), vec![done])],
        vec![job(7, &["linux"], 100)],
    ));
    assert_eq!(steps, vec![(7, JobVerdict::Create { pool_id: "p1".into() })]);
}

#[test]
fn a_runner_whose_job_started_elsewhere_takes_the_next_queued_job_instead_of_a_new_instance() {
    // Job 1's runner "b" took job 2 (runners are interchangeable), so "a", made for job 1,
    // is free while job 2 still reads queued: "a" is its runner, not a new instance.
    let mut a = inst("a", InstanceStatus::Running, RunnerStatus::Installing, 0);
    a.extra_labels = vec![crate::job_label(1)];
    let steps = verdicts(&entity(
        vec![(pool("p1", 0, 10, &["linux"]), vec![a.clone()])],
        vec![job(2, &["linux"], 100)],
    ));
    assert_eq!(steps, vec![(2, JobVerdict::Covered)]);
    // One such runner serves one job: the second queued job gets an instance.
    let steps = verdicts(&entity(
        vec![(pool("p1", 0, 10, &["linux"]), vec![a])],
        vec![job(2, &["linux"], 100), job(3, &["linux"], 100)],
    ));
    assert_eq!(
        steps,
        vec![
            (2, JobVerdict::Covered),
            (3, JobVerdict::Create { pool_id: "p1".into() })
        ]
    );
}

#[test]
fn the_scale_set_target_is_garms_rule() {
    assert_eq!(super::scale_set_target(1, 3, 10), 4);
    assert_eq!(super::scale_set_target(2, 200, 10), 10, "never above max_runners");
    assert_eq!(super::scale_set_target(1, -5, 10), 1, "a negative count is zero");
    assert_eq!(super::scale_set_target(0, 0, 10), 0);
}

#[test]
fn a_scale_set_counts_every_instance_and_ignores_idle_headroom() {
    // Two busy, one leaving: with a target of 4 one more is created; idle counting plays no part.
    let mut v = view(
        pool("s1", 0, 10, &["linux-x64"]),
        vec![
            inst("a", InstanceStatus::Running, RunnerStatus::Active, 1),
            inst("b", InstanceStatus::Running, RunnerStatus::Active, 1),
            inst("c", InstanceStatus::PendingDelete, RunnerStatus::Terminated, 1),
        ],
    );
    v.scale_set_target = Some(4);
    let steps = pool_steps(&v);
    assert!(steps.contains(&Step::Create { count: 1 }), "{steps:?}");
    v.scale_set_target = Some(3);
    assert!(!pool_steps(&v).iter().any(|s| matches!(s, Step::Create { .. })));
}

#[test]
fn a_scale_set_above_its_target_removes_idle_runners_counting_those_leaving() {
    let mut v = view(
        pool("s1", 0, 10, &["linux-x64"]),
        vec![
            inst("old", InstanceStatus::Running, RunnerStatus::Idle, 30),
            inst("new", InstanceStatus::Running, RunnerStatus::Idle, 1),
            inst("busy", InstanceStatus::Running, RunnerStatus::Active, 1),
            inst("gone", InstanceStatus::Deleting, RunnerStatus::Terminated, 1),
        ],
    );
    // Four instances, target 2: one is already leaving, so one idle runner goes, oldest first
    // and without the pools' grace period.
    v.scale_set_target = Some(2);
    let downs: Vec<Step> = pool_steps(&v)
        .into_iter()
        .filter(|s| matches!(s, Step::ScaleDown { .. }))
        .collect();
    assert_eq!(downs, vec![Step::ScaleDown { name: "old".into() }]);
    v.scale_set_target = Some(4);
    assert!(!pool_steps(&v).iter().any(|s| matches!(s, Step::ScaleDown { .. })));
}

/// The plan's verdicts in job id order.
fn verdicts(v: &EntityView) -> Vec<(i64, JobVerdict)> {
    jobs(v).verdicts.into_iter().collect()
}

#[test]
fn every_queued_job_gets_one_verdict_keyed_by_its_id_whatever_the_order() {
    let idle = inst("a", InstanceStatus::Running, RunnerStatus::Idle, 1);
    let queued = vec![
        job(30, &["linux"], 5),
        job(10, &["gpu"], 5),
        job(20, &["linux"], 5),
        job(40, &[], 5),
    ];
    let plan = jobs(&entity(vec![(pool("p1", 1, 4, &["linux"]), vec![idle])], queued));
    assert_eq!(plan.verdicts.len(), 4);
    assert_eq!(
        plan.verdicts[&30],
        JobVerdict::Covered,
        "the oldest queued job takes the idle runner"
    );
    assert_eq!(plan.verdicts[&20], JobVerdict::Create { pool_id: "p1".into() });
    assert!(matches!(&plan.verdicts[&10], JobVerdict::Waits { reason } if reason.contains("matches labels [gpu]")));
    assert_eq!(
        plan.verdicts[&40],
        JobVerdict::Waits {
            reason: "the job has no labels".into()
        }
    );
    assert_eq!(plan.turn, 1);
}

#[test]
fn the_reason_intake_records_is_the_one_the_plan_gives() {
    let mut off = pool("off", 0, 4, &["gpu"]);
    off.enabled = false;
    let on = pool("on", 0, 4, &["linux"]);
    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(super::unserved_reason("acme", [&off, &on], &labels(&["linux"])), None);
    assert_eq!(
        super::unserved_reason("acme", [&off, &on], &labels(&["self-hosted", "gpu"])).as_deref(),
        Some("no enabled pool of acme matches labels [self-hosted, gpu]"),
        "a disabled pool serves nothing"
    );
    assert_eq!(
        super::unserved_reason("acme", [&on], &[]).as_deref(),
        Some("the job has no labels")
    );
    // The pool pass counts matching jobs by tags alone, enabled or not.
    let queued = vec![job(1, &["gpu"], 0), job(2, &["linux"], 0), job(3, &["GPU"], 0)];
    assert_eq!(super::queued_matching(&off, &queued), 2);
    assert_eq!(JobVerdict::Claimed.reason(), None);
    assert_eq!(JobVerdict::Covered.reason(), Some(""));
}
