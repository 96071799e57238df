//! Unit tests of the budget and of choosing deliveries to redeliver.

use super::*;

fn failed(id: i64, guid: &str, status_code: i64, minutes_ago: i64) -> ForgeDelivery {
    ForgeDelivery {
        id,
        guid: guid.into(),
        delivered_at: Some(now() - chrono::TimeDelta::minutes(minutes_ago)),
        event: "workflow_job".into(),
        action: Some("queued".into()),
        status_code,
        succeeded: false,
    }
}

fn now() -> DateTime<Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

const RETRY: Duration = Duration::from_secs(60);

#[test]
fn only_unrecorded_repairable_workflow_job_deliveries_are_chosen_oldest_first() {
    let mut ping = failed(9, "g-ping", 0, 1);
    ping.event = "ping".into();
    let mut ok = failed(8, "g-ok", 200, 1);
    ok.succeeded = true;
    let list = vec![
        ping,
        ok,
        failed(7, "g-new", 502, 1),
        failed(6, "g-401", 401, 1),
        failed(5, "g-seen-keyed", 0, 1),
        failed(4, "g-seen-plain", 0, 1),
        failed(3, "g-old", 0, 25 * 60),
        failed(2, "g-new", 0, 2),
    ];
    let seen: HashSet<String> = ["7:g-seen-keyed".to_string(), "g-seen-plain".to_string()].into();
    let chosen = to_redeliver(&list, 7, &seen, &HashMap::new(), now(), RETRY);
    let ids: Vec<i64> = chosen.iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        vec![2],
        "one per GUID, the oldest attempt; 4xx, old, seen and non-job ones skipped"
    );
}

#[test]
fn a_delivery_is_asked_for_again_only_after_the_retry_period_and_at_most_five_times() {
    let list = vec![failed(1, "g", 0, 1)];
    let none = HashSet::new();
    let recent: HashMap<String, Asked> = [(
        "g".to_string(),
        Asked {
            times: 1,
            last: now() - chrono::TimeDelta::seconds(10),
        },
    )]
    .into();
    assert!(to_redeliver(&list, 7, &none, &recent, now(), RETRY).is_empty());
    let due: HashMap<String, Asked> = [(
        "g".to_string(),
        Asked {
            times: 4,
            last: now() - chrono::TimeDelta::seconds(61),
        },
    )]
    .into();
    assert_eq!(to_redeliver(&list, 7, &none, &due, now(), RETRY).len(), 1);
    let spent: HashMap<String, Asked> = [(
        "g".to_string(),
        Asked {
            times: MAX_ASKS,
            last: now() - chrono::TimeDelta::hours(1),
        },
    )]
    .into();
    assert!(to_redeliver(&list, 7, &none, &spent, now(), RETRY).is_empty());
}

fn open(limit: u64, remaining: u64) -> ForgeRateLimit {
    ForgeRateLimit {
        limit: Some(limit),
        remaining: Some(remaining),
        reset_at: None,
        blocked_until: None,
    }
}

#[test]
fn the_budget_is_a_share_of_the_hourly_limit() {
    let start = Instant::now();
    let mut budget = Budget::new(start);
    // 10% of 5000 an hour: 500 an hour, at most 41 at once.
    let taken = (0..100).filter(|_| budget.take(start, 0.1, open(5000, 5000))).count();
    assert_eq!(taken, 41);
    // Refills at 500 an hour: 36 s give 5 more.
    let later = start + Duration::from_secs(36);
    let more = (0..100).filter(|_| budget.take(later, 0.1, open(5000, 5000))).count();
    assert_eq!(more, 5);
    // Over an hour, never more than the share plus one burst.
    let mut budget = Budget::new(start);
    let mut total = 0;
    for second in 0..3600 {
        let at = start + Duration::from_secs(second);
        while budget.take(at, 0.1, open(5000, 5000)) {
            total += 1;
        }
    }
    assert!((500..=541).contains(&total), "{total}");
}

#[test]
fn the_budget_is_closed_while_limited_or_low_and_when_the_share_is_zero() {
    let start = Instant::now();
    let mut budget = Budget::new(start);
    assert!(
        !budget.take(start, 0.1, open(5000, 499)),
        "the last tenth is for provisioning"
    );
    assert!(budget.take(start, 0.1, open(5000, 500)));
    assert!(
        budget.take(start, 1.0, open(5000, 4000)),
        "a full share still works while quota remains"
    );
    let blocked = ForgeRateLimit {
        blocked_until: Some(Utc::now()),
        ..open(5000, 5000)
    };
    assert!(!budget.take(start, 0.1, blocked));
    assert!(!budget.take(start, 0.0, open(5000, 5000)));
    let unknown = ForgeRateLimit::default();
    assert!(budget.take(start, 0.1, unknown), "unknown limits assume GitHub's 5000");
}

#[test]
fn hook_urls_match_without_case_or_trailing_slash() {
    assert!(same_url(
        "https://Garm.example.com/webhooks/ID/",
        "https://garm.example.com/webhooks/id"
    ));
    assert!(!same_url("", ""));
    assert!(!same_url(
        "https://garm.example.com/webhooks",
        "https://garm.example.com/webhooks/id"
    ));
}
