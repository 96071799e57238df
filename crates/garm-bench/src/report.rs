//! The machine description and the Markdown table of the results, next to garm's figures.

use serde_json::{json, Value};

/// `nproc`, memory, CPU model and kernel of this machine.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "cpu_model": model,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

/// The value at a `/`-separated path (array indices as numbers), if any.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(v, |v, key| match key.parse::<usize>() {
        Ok(i) => v.get(i),
        Err(_) => v.get(key),
    })
}

fn num(v: &Value, path: &str) -> Option<f64> {
    at(v, path).and_then(Value::as_f64)
}

fn fmt(x: Option<f64>, unit: &str) -> String {
    match x {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}{unit}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}{unit}"),
        Some(x) => format!("{x:.2}{unit}"),
        None => "n/a".into(),
    }
}

fn intake_row(r: &Value, labels: &str, connections: usize) -> Option<String> {
    let run = r
        .get("intake")?
        .as_array()?
        .iter()
        .find(|i| i["labels"] == labels && i["connections"] == connections)?;
    Some(format!(
        "{}/s, p50 {} p99 {} p99.9 {}, {} cores, peak {}",
        fmt(num(run, "requests_per_s"), ""),
        ms(num(run, "latency_ms/p50")),
        ms(num(run, "latency_ms/p99")),
        ms(num(run, "latency_ms/p999")),
        fmt(num(run, "server_cpu_cores"), ""),
        fmt(num(run, "server_rss_peak_mb"), " MB"),
    ))
}

/// Milliseconds, or seconds from 1,000 ms on.
fn ms(x: Option<f64>) -> String {
    match x {
        Some(x) if x >= 1000.0 => fmt(Some(x / 1000.0), " s"),
        x => fmt(x, " ms"),
    }
}

/// `a % / b % of a core` for an idle window's first half and the whole of it.
fn idle_cpu(window: &Value) -> String {
    format!(
        "{} / {} of a core",
        fmt(num(window, "cpu_cores_first_half").map(|x| x * 100.0), " %"),
        fmt(num(window, "cpu_cores").map(|x| x * 100.0), " %")
    )
}

/// The comparison table (Markdown) for `results`.
pub fn table(r: &Value) -> String {
    let mut rows: Vec<(String, String, &str, String)> = Vec::new();
    let mut row = |what: &str, garm: &str, ours: Option<String>| {
        let target = target_for(what);
        rows.push((what.into(), garm.into(), target, ours.unwrap_or_else(|| "n/a".into())));
    };
    let mut conns_sorted: Vec<usize> = r["intake"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["connections"].as_u64())
                .map(|c| c as usize)
                .collect()
        })
        .unwrap_or_default();
    conns_sorted.sort_unstable();
    conns_sorted.dedup();
    for labels in ["unmatched", "matched"] {
        for &c in &conns_sorted {
            let garm = if c == 16 && labels == "unmatched" {
                "~500/s, p99 ~50 ms, 1.2 cores"
            } else {
                ""
            };
            row(
                &format!("Webhook intake, {c} connections, {labels} labels"),
                garm,
                intake_row(r, labels, c),
            );
        }
    }
    let l = &r["latency"];
    let p50_p99 = |path: &str| {
        Some(format!(
            "p50 {} p99 {}",
            ms(num(l, &format!("{path}/p50"))),
            ms(num(l, &format!("{path}/p99")))
        ))
    };
    row(
        "Queued webhook → CreateInstance, single job, minimum job age 0",
        "8–10 s",
        p50_p99("single_min_job_age_0/queued_to_create_ms"),
    );
    row(
        "Queued webhook → CreateInstance, single job, minimum job age 30 s, no idle runner",
        "39 s",
        p50_p99("single_min_job_age_30/queued_to_create_ms"),
    );
    row(
        "Queued webhook → CreateInstance, minimum job age 30 s, one idle runner that never takes it",
        "",
        num(l, "idle_runner_min_job_age_30/queued_to_create_s").map(|x| fmt(Some(x), " s")),
    );
    for b in l["bursts"].as_array().into_iter().flatten() {
        let n = b["jobs"].as_u64().unwrap_or(0);
        row(
            &format!("Burst of {n} jobs: first webhook → last CreateInstance"),
            if n == 1000 { "~100 s" } else { "" },
            Some(format!(
                "{} ({}/s; per job p50 {} p99 {})",
                fmt(num(b, "first_webhook_to_last_create_ms").map(|x| x / 1000.0), " s"),
                fmt(num(b, "creates_per_s"), ""),
                ms(num(b, "per_job_queued_to_create_ms_estimate/p50")),
                ms(num(b, "per_job_queued_to_create_ms_estimate/p99")),
            )),
        );
    }
    row(
        "Completed webhook → DeleteInstance, single job",
        "3–7 s",
        p50_p99("single_min_job_age_0/completed_to_delete_ms"),
    );
    for b in l["bursts"].as_array().into_iter().flatten() {
        let n = b["jobs"].as_u64().unwrap_or(0);
        row(
            &format!("Burst of {n} completed webhooks: first → last DeleteInstance"),
            "",
            Some(format!(
                "{} ({} instances created again for jobs that had completed)",
                ms(num(b, "first_completed_to_last_delete_ms")),
                num(b, "extra_creates_while_completing").unwrap_or(0.0)
            )),
        );
    }
    let github = &l["github_calls"];
    row(
        "GitHub API calls per served job",
        "~1 (JIT config)",
        num(github, "per_job").map(|total| {
            let routes: Vec<String> = github["per_job_by_route"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, n)| n.as_f64().unwrap_or(0.0) >= 0.01)
                .map(|(route, n)| format!("{} `{route}`", fmt(n.as_f64(), "")))
                .collect();
            format!("{} ({})", fmt(Some(total), ""), routes.join(", "))
        }),
    );
    row(
        "Resident memory, idle (1 repository, 2 pools)",
        "52 MB",
        num(l, "idle/rss_mb").map(|x| fmt(Some(x), " MB")),
    );
    row(
        "CPU, idle (1 repository, 2 pools), first 30 s / whole window",
        "",
        Some(idle_cpu(&l["idle"])),
    );
    row(
        "Resident memory after a burst of queued jobs (instances alive)",
        "",
        num(l, "rss_after_burst_mb").map(|x| fmt(Some(x), " MB")),
    );
    let peak = [
        num(l, "rss_peak_mb"),
        r["intake"].as_array().and_then(|a| {
            a.iter()
                .filter_map(|i| i["server_rss_peak_mb"].as_f64())
                .reduce(f64::max)
        }),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::max);
    row(
        "Peak resident memory under load (intake and bursts)",
        "spikes to 550 MB",
        peak.map(|x| fmt(Some(x), " MB")),
    );
    let s = &r["scale"];
    let pools = num(s, "pools").unwrap_or(0.0);
    row(
        &format!("{pools} pools, no instances: memory, idle CPU first 30 s / whole window"),
        "",
        Some(format!(
            "{}, {}",
            fmt(num(s, "idle_no_instances/rss_mb"), " MB"),
            idle_cpu(&s["idle_no_instances"])
        )),
    );
    for w in s["with_instances"].as_array().into_iter().flatten() {
        let n = w["instances"].as_u64().unwrap_or(0);
        let garm = if n == 1000 { "130–220 MB, 7–10 %" } else { "" };
        row(
            &format!("{n} instances across {pools} pools: memory, idle CPU first 30 s / whole window"),
            garm,
            Some(format!(
                "{}, {} (seeded in {})",
                fmt(num(w, "rss_mb"), " MB"),
                idle_cpu(w),
                fmt(num(w, "seeding_s"), " s")
            )),
        );
    }
    let restart = &s["restart"];
    let n = num(restart, "instances").unwrap_or(0.0);
    row(
        &format!("Restart with {n} instances: API answers"),
        "0.8 s (1,000 instances)",
        num(restart, "api_answers_s").map(|x| fmt(Some(x), " s")),
    );
    row(
        &format!("Restart with {n} instances: reconciliation runs (first provider call; every pool listed)"),
        "1.6–3.5 s before its pool manager runs",
        Some(format!(
            "{}; {}",
            fmt(num(restart, "first_provider_call_s"), " s"),
            fmt(num(restart, "every_pool_listed_s"), " s")
        )),
    );
    row(
        &format!("Restart with {n} instances: a job queued when the API answers → CreateInstance"),
        "",
        num(restart, "job_queued_at_api_answer_to_create_s").map(|x| fmt(Some(x), " s")),
    );
    for set in r["scaleset"].as_array().into_iter().flatten() {
        let n = num(set, "jobs").unwrap_or(0.0);
        row(
            &format!(
                "Scale set: a message with {n} assigned jobs → {n} CreateInstance calls (from queueing on the fake)"
            ),
            "",
            num(set, "queued_to_last_create_s").map(|x| fmt(Some(x), " s")),
        );
        row(
            &format!("Scale set, {n} jobs: GitHub REST + Actions service calls per job (polls and acks included)"),
            "",
            num(set, "calls_per_job").map(|x| {
                format!(
                    "{x} ({} REST, {} Actions)",
                    num(set, "github_rest_calls").unwrap_or(0.0),
                    num(set, "actions_calls").unwrap_or(0.0)
                )
            }),
        );
    }
    for run in r["replicas"].as_array().into_iter().flatten() {
        let n = run["replicas"].as_u64().unwrap_or(0);
        let what = if run["database"] == "sqlite" {
            format!(
                "Intake for the replica comparison: 1 process on SQLite, {} connections",
                run["connections"]
            )
        } else {
            format!(
                "Intake, {n} replica{} on one PostgreSQL, {} connections round robin",
                if n == 1 { "" } else { "s" },
                run["connections"]
            )
        };
        let pg = num(run, "postgres_backends_cpu_cores")
            .map(|c| format!(", PostgreSQL {} cores", fmt(Some(c), "")))
            .unwrap_or_default();
        row(
            &what,
            "",
            Some(format!(
                "{}/s, p50 {} p99 {}, garm {} cores{pg}, other processes {} cores",
                fmt(num(run, "requests_per_s"), ""),
                ms(num(run, "latency_ms/p50")),
                ms(num(run, "latency_ms/p99")),
                fmt(num(run, "server_cpu_cores"), ""),
                fmt(num(run, "other_processes_cpu_cores"), ""),
            )),
        );
    }
    let mut out =
        String::from("| Measure | garm (Go), from the issue | target (issue 8) | garm-rs |\n|---|---|---|---|\n");
    for (what, garm, target, ours) in rows {
        out.push_str(&format!("| {what} | {garm} | {target} | {ours} |\n"));
    }
    out
}

/// Issue 8's target for a row of the table, if it sets one (matched on the row's wording).
fn target_for(what: &str) -> &'static str {
    const TARGETS: &[(&str, &str)] = &[
        ("Webhook intake, 16 connections", "≥ 10,000/s, p99 < 10 ms"),
        ("CreateInstance, single job, minimum job age 0", "p50 < 20 ms"),
        ("Burst of 1000 jobs", "< 2 s"),
        ("Completed webhook → DeleteInstance, single job", "< 50 ms"),
        ("GitHub API calls per served job", "≤ 1"),
        ("Resident memory, idle", "< 15 MB"),
        ("1000 instances across", "< 0.5 % of a core"),
        ("10000 instances across", "< 100 MB"),
        ("instances: API answers", "< 100 ms"),
    ];
    TARGETS
        .iter()
        .find(|(prefix, _)| what.contains(prefix))
        .map_or("", |(_, target)| target)
}
