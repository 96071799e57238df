//! The intake measurement with `wrk` as the load generator instead of garm-bench's own
//! (`GARM_BENCH_INTAKE_WRK=wrk`, or the path of a wrk binary): the same fresh garm, pool and
//! payload, sent by `wrk/queued.lua`, which gives every request its own job id, delivery id
//! and HMAC-SHA256. A second opinion on the numbers that does not share code with the harness.

use super::{RssSampler, Sizes};
use crate::stats::{self, Proc};
use crate::webhook::Hooks;
use crate::world::World;
use anyhow::Context;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

/// Job ids each wrk thread may use (the script gives thread `n` the `n`-th billion).
const IDS_PER_THREAD: u64 = 1_000_000_000;
/// wrk threads: one per core of the 2-core machine the figures are for.
const THREADS: usize = 2;

pub async fn load(
    world: &mut World,
    hooks: &Hooks,
    wrk: &str,
    connections: usize,
    sizes: &Sizes,
) -> anyhow::Result<Value> {
    let wrk = if wrk == "1" { "wrk" } else { wrk };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk/queued.lua");
    let (template, placeholder) = hooks.queued_template();
    anyhow::ensure!(
        placeholder == "4242424242424242",
        "wrk/queued.lua expects another placeholder"
    );
    let body = world.dir.join("wrk-body.json");
    std::fs::write(&body, template).with_context(|| format!("writing {}", body.display()))?;
    let first_id = world.job_ids(IDS_PER_THREAD * THREADS as u64).start;
    let secs = sizes.intake_duration.as_secs().max(1);
    world.calls.poll();
    let mark = world.calls.calls.len();
    let sampler = RssSampler::start(world.garm.pid());
    let before = world.proc();
    let bench_before = Proc::read(std::process::id()).unwrap_or_default();
    let busy_before = stats::machine_busy_ticks();
    let start = Instant::now();
    let output = tokio::process::Command::new(wrk)
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{}", connections.max(THREADS)))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(world.webhook_url())
        .env("GARM_WRK_BODY", &body)
        .env("GARM_WRK_SECRET", hooks.secret())
        .env("GARM_WRK_FIRST_ID", first_id.to_string())
        .output()
        .await
        .with_context(|| format!("running {wrk}"))?;
    let elapsed = start.elapsed();
    let after = world.proc();
    let bench_after = Proc::read(std::process::id()).unwrap_or_default();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // wrk is garm-bench's child: its CPU is in the children's ticks once it has been waited for.
    let with_wrk = |p: &Proc| Proc {
        ticks: p.ticks + p.child_ticks,
        ..*p
    };
    let others = stats::others_cores(
        (busy_before, stats::machine_busy_ticks()),
        (&before, &after),
        (&with_wrk(&bench_before), &with_wrk(&bench_after)),
        elapsed,
    );
    let peak = sampler.finish().await;
    world.calls.poll();
    let creates = world.calls.since(mark, "CreateInstance").count();
    let (cpu, cpu_with_children) = stats::cores(&before, &after, elapsed);
    let hz = stats::clock_ticks();
    let wrk_cpu = (bench_after.child_ticks - bench_before.child_ticks) as f64 / hz / elapsed.as_secs_f64();
    let parsed = parse(&text).with_context(|| format!("reading wrk's output: {text}"))?;
    Ok(json!({
        "load_generator": "wrk",
        "connections": connections,
        "duration_s": stats::round2(elapsed.as_secs_f64()),
        "requests": parsed.requests,
        "errors": parsed.errors,
        "requests_per_s": parsed.per_second,
        "latency_ms": {"p50": parsed.p50_ms, "p99": parsed.p99_ms},
        "server_cpu_cores": cpu,
        "server_cpu_cores_with_providers": cpu_with_children,
        "server_rss_peak_mb": peak,
        "server_rss_end_mb": after.rss_mb(),
        "load_generator_and_fake_cpu_cores": stats::round2(wrk_cpu),
        "other_processes_cpu_cores": others,
        "instances_created": creates,
    }))
}

struct Parsed {
    requests: u64,
    errors: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Reads the figures out of wrk's report (`--latency` adds the percentile lines).
fn parse(text: &str) -> Option<Parsed> {
    let words = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())?;
    let errors = words("Non-2xx or 3xx responses:")
        .and_then(|w| w.last().and_then(|n| n.parse::<u64>().ok()))
        .unwrap_or(0)
        + words("Socket errors:").map_or(0, |w| {
            w.iter()
                .filter_map(|n| n.trim_end_matches(',').parse::<u64>().ok())
                .sum()
        });
    let per_second = words("Requests/sec:")?.get(1)?.parse().ok()?;
    Some(Parsed {
        requests,
        errors,
        per_second,
        p50_ms: duration_ms(words("50%")?.get(1)?)?,
        p99_ms: duration_ms(words("99%")?.get(1)?)?,
    })
}

/// wrk's durations: `812.00us`, `2.31ms`, `1.02s`.
fn duration_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    Some(stats::round2(number.parse::<f64>().ok()? * factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let text = "Running 5s test @ http://127.0.0.1:1/webhooks\n  2 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     2.10ms    1.00ms  20.00ms   90.00%\n  Latency Distribution\n     50%  812.00us\n     75%    2.00ms\n     90%    3.00ms\n     99%    9.50ms\n  40000 requests in 5.00s, 4.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:   8000.50\nTransfer/sec:    800.00KB\n";
        let p = parse(text).expect("parses");
        assert_eq!(p.requests, 40000);
        assert_eq!(p.errors, 3);
        assert_eq!(p.per_second, 8000.5);
        assert_eq!(p.p50_ms, 0.81);
        assert_eq!(p.p99_ms, 9.5);
        assert_eq!(duration_ms("1.5s"), Some(1500.0));
    }
}
