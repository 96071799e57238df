//! `/metrics` against its documentation: every family `docs/metrics.md` lists (garm's and ours)
//! is served with its type and labels, and nothing else is.

use garm_e2e::{wait_for, ProviderSpec, World};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};

/// A documented family: type and labels in order.
#[derive(Debug)]
struct Documented {
    kind: String,
    labels: Vec<String>,
}

/// The rows of the tables in `docs/metrics.md`: `| `name` | type | `a`, `b` | … |`.
fn documented() -> BTreeMap<String, Documented> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let page = std::fs::read_to_string(&path).expect("docs/metrics.md");
    let mut out = BTreeMap::new();
    for line in page.lines().filter(|l| l.starts_with("| `garm_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels = if cells[3] == "—" {
            Vec::new()
        } else {
            cells[3].split(", ").map(|l| l.trim_matches('`').to_string()).collect()
        };
        let previous = out.insert(
            name.clone(),
            Documented {
                kind: cells[2].to_string(),
                labels,
            },
        );
        assert!(previous.is_none(), "{name} is listed twice");
    }
    out
}

/// A sample line's family name and label names, in order (values may hold `,`, `"` and `}`).
fn sample(line: &str) -> (String, Vec<String>) {
    let Some((name, rest)) = line.split_once('{') else {
        return (
            line.split_whitespace().next().unwrap_or_default().to_string(),
            Vec::new(),
        );
    };
    let mut labels = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "a quoted value in {line}");
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
        labels.push(key);
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            other => panic!("unexpected {other:?} in {line}"),
        }
    }
    (name.to_string(), labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_metric_is_served_with_its_type_and_labels() {
    let docs = documented();
    assert_eq!(
        docs.keys().filter(|n| !n.ends_with("_seconds")).count(),
        35,
        "garm's 30 families, our 2 missed-webhook counters and the 3 lease families"
    );
    let world = World::start(&[SANDBOX]).await.unwrap();
    let api = &world.garm.api;
    for kind in ["organizations", "enterprises"] {
        api.call(
            "POST",
            &format!("/api/v1/{kind}"),
            Some(json!({"name": "acme", "credentials_name": "fake-pat", "webhook_secret": world.secret})),
        )
        .await
        .unwrap();
    }
    let pool = world.add_pool("sandbox", json!({})).await.unwrap();
    let job = world.queue(&["self-hosted", "linux", "e2e"], Duration::from_millis(300));
    wait_for("the job to complete", Duration::from_secs(90), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    // An idle runner, so that a runner series exists when /metrics is read.
    api.call(
        "PUT",
        &format!("/api/v1/pools/{pool}"),
        Some(json!({"min_idle_runners": 1})),
    )
    .await
    .unwrap();
    wait_for("an idle runner", Duration::from_secs(90), async || {
        let instances = api.instances().await;
        instances
            .iter()
            .any(|i| i["status"] == "running" && i["runner_status"] == "idle")
            .then_some(())
    })
    .await;
    // The rate limit is known once GitHub has answered a call made with the credentials.
    let metrics = wait_for("the rate limit gauges", Duration::from_secs(30), async || {
        let text = api.metrics().await;
        text.contains("garm_github_rate_limit_limit{").then_some(text)
    })
    .await;

    let mut typed = BTreeSet::new();
    for line in metrics.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line["# TYPE ".len()..].split_whitespace();
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        let doc = docs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is served but not documented"));
        assert_eq!(doc.kind, kind, "type of {name}");
        assert!(metrics.contains(&format!("# HELP {name} ")), "{name} has a help line");
        assert!(typed.insert(name.to_string()), "{name} has one TYPE line");
    }
    let missing: Vec<&String> = docs.keys().filter(|n| !typed.contains(*n)).collect();
    assert!(missing.is_empty(), "documented but not served: {missing:?}");

    let mut with_samples = BTreeSet::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, mut labels) = sample(line);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| series.strip_suffix(s))
            .find(|f| docs.get(*f).is_some_and(|d| d.kind == "histogram"))
            .unwrap_or(&series)
            .to_string();
        let doc = docs
            .get(&family)
            .unwrap_or_else(|| panic!("undocumented sample {line}"));
        if series.ends_with("_bucket") && doc.kind == "histogram" {
            assert_eq!(labels.pop().as_deref(), Some("le"), "{line}");
        }
        assert_eq!(labels, doc.labels, "labels of {line}");
        with_samples.insert(family);
    }
    // What this story cannot produce: failures, scale sets, missed webhooks.
    let not_exercised = [
        "garm_runner_errors_total",
        "garm_github_errors_total",
        "garm_scaleset_info",
        "garm_scaleset_status",
        "garm_scaleset_max_runners",
        "garm_scaleset_min_idle_runners",
        "garm_scaleset_desired_runner_count",
        "garm_scaleset_bootstrap_timeout",
        "garm_scaleset_message_to_create_seconds",
        "garm_webhook_redeliveries_requested_total",
        "garm_queued_job_checks_total",
        // One garm on SQLite: no replicas, no leases (crates/garm-e2e/tests/e2e/replicas.rs).
        "garm_leases_held",
        "garm_leases_acquired_total",
        "garm_leases_lost_total",
    ];
    let silent: Vec<&String> = docs
        .keys()
        .filter(|n| !with_samples.contains(*n) && !not_exercised.contains(&n.as_str()))
        .collect();
    assert!(silent.is_empty(), "no sample for {silent:?} in:\n{metrics}");
    assert!(
        metrics.contains("garm_github_operations_total{operation=\"GetEntityJITConfig\",scope=\"Repository\"}"),
        "{metrics}"
    );
    for kind in ["organization", "enterprise"] {
        assert!(
            metrics.contains(&format!("garm_{kind}_info{{name=\"acme\",id=\"")),
            "{kind}: {metrics}"
        );
    }
}
