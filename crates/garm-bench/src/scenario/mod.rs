//! The measurements, each on its own fresh garm.

pub mod intake;
pub mod latency;
pub mod replicas;
pub mod scale;
pub mod scaleset;
pub mod wrk;

use crate::stats::{self, Proc};
use crate::world::World;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Labels of the pool jobs are served from.
pub const TAGS: &[&str] = &["self-hosted", "linux", "bench"];

/// How big and how long each measurement is.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub intake_duration: Duration,
    pub intake_connections: Vec<usize>,
    /// Upper bound on requests per intake run, whatever the duration.
    pub intake_max_requests: u64,
    /// `max_runners` of the pool matched intake jobs go to.
    pub intake_pool_max: u32,
    pub single_jobs: usize,
    pub single_jobs_default_age: usize,
    /// Also time a job that an idle runner could take, with the default minimum job age.
    pub idle_runner_demo: bool,
    pub bursts: Vec<usize>,
    /// The burst after which memory is read (the "100 queued jobs" figure).
    pub memory_burst: usize,
    pub repos: usize,
    pub pools_per_repo: usize,
    pub instances_per_pool: Vec<u32>,
    /// Replica counts of the PostgreSQL intake measurement, one fresh database each.
    pub replica_counts: Vec<usize>,
    /// Length of each replica intake run.
    pub replica_duration: Duration,
    /// Requests in flight during a replica intake run.
    pub replica_connections: usize,
    /// Jobs announced to a scale set at once, one fresh garm each.
    pub scale_set_jobs: Vec<usize>,
    /// CPU is read at half of this and at its end.
    pub idle_window: Duration,
    pub settle: Duration,
    /// How long to wait for a quiet machine before each fresh garm (0: do not wait).
    pub wait_quiet: Duration,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            intake_duration: Duration::from_secs(20),
            intake_connections: vec![16, 64],
            intake_max_requests: 2_000_000,
            intake_pool_max: 100,
            single_jobs: 30,
            single_jobs_default_age: 3,
            idle_runner_demo: true,
            bursts: vec![50, 100, 1000],
            memory_burst: 100,
            repos: 100,
            pools_per_repo: 10,
            instances_per_pool: vec![1, 10],
            replica_counts: vec![1, 2, 3],
            replica_duration: Duration::from_secs(20),
            replica_connections: 16,
            scale_set_jobs: vec![1, 1000],
            idle_window: Duration::from_secs(60),
            settle: Duration::from_secs(5),
            wait_quiet: Duration::ZERO,
        }
    }

    pub fn quick() -> Self {
        Self {
            intake_duration: Duration::from_secs(2),
            intake_connections: vec![4, 16],
            intake_max_requests: 50_000,
            intake_pool_max: 10,
            single_jobs: 3,
            single_jobs_default_age: 2,
            idle_runner_demo: false,
            bursts: vec![5, 20],
            memory_burst: 20,
            repos: 2,
            pools_per_repo: 5,
            instances_per_pool: vec![1, 3],
            replica_counts: vec![1, 2, 3],
            replica_duration: Duration::from_secs(1),
            replica_connections: 16,
            scale_set_jobs: vec![1, 20],
            idle_window: Duration::from_secs(2),
            settle: Duration::from_secs(1),
            wait_quiet: Duration::ZERO,
        }
    }
}

/// On a shared machine, waits (at most `limit`) until other processes use under a quarter of
/// a core over 3 s; returns how long it waited. Call it when no garm of ours runs.
pub async fn wait_quiet(limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        let busy = stats::machine_busy_ticks();
        let me = Proc::read(std::process::id()).unwrap_or_default();
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let others = stats::others_cores(
            (busy, stats::machine_busy_ticks()),
            (&Proc::default(), &Proc::default()),
            (&me, &Proc::read(std::process::id()).unwrap_or_default()),
            window.elapsed(),
        );
        if others < 0.25 {
            break;
        }
        eprintln!("garm-bench: other processes use {others} cores; waiting for a quieter machine");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    start.elapsed()
}

/// Resident memory now, and CPU and GitHub and provider calls over an idle window.
pub async fn idle(world: &mut World, window: Duration) -> Value {
    let rss = world.proc().rss_mb();
    world.calls.poll();
    let mark = world.calls.calls.len();
    let github = world.proxy.counts();
    let start = Instant::now();
    let first = world.proc();
    let bench_first = Proc::read(std::process::id()).unwrap_or_default();
    let busy_first = stats::machine_busy_ticks();
    tokio::time::sleep(window / 2).await;
    let half = world.proc();
    let half_elapsed = start.elapsed();
    tokio::time::sleep(window - window / 2).await;
    let end = world.proc();
    let elapsed = start.elapsed();
    let others = stats::others_cores(
        (busy_first, stats::machine_busy_ticks()),
        (&first, &end),
        (&bench_first, &Proc::read(std::process::id()).unwrap_or_default()),
        elapsed,
    );
    world.calls.poll();
    let provider_calls = world.calls.calls.len() - mark;
    let (cpu_half, _) = stats::cores(&first, &half, half_elapsed);
    let (cpu, cpu_with_children) = stats::cores(&first, &end, elapsed);
    json!({
        "rss_mb": rss,
        "window_s": elapsed.as_secs_f64().round(),
        "cpu_cores_first_half": cpu_half,
        "cpu_cores": cpu,
        "cpu_cores_with_providers": cpu_with_children,
        "other_processes_cpu_cores": others,
        "provider_calls": provider_calls,
        "github_calls": crate::proxy::delta(&github, &world.proxy.counts()).values().sum::<u64>(),
    })
}

/// Samples the resident memory of `pid` every 100 ms until stopped; returns the highest.
pub struct RssSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(Proc::read(pid).map(|p| p.rss_kb).unwrap_or(0));
                tokio::select! {
                    _ = &mut stopped => return peak,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        Self { stop, task }
    }

    /// The peak in MB.
    pub async fn finish(self) -> f64 {
        let _ = self.stop.send(());
        stats::round2(self.task.await.unwrap_or(0) as f64 / 1024.0)
    }
}
