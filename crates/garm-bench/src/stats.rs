//! Percentiles and process statistics read from `/proc`.

use serde_json::{json, Value};
use std::time::Duration;

/// Nearest-rank percentile of `sorted` (ascending); 0 for an empty slice.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `{n, p50, p99, p999, max}` of `values` (any order), rounded to 0.01.
pub fn summary(values: &[f64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    json!({
        "n": sorted.len(),
        "p50": round2(percentile(&sorted, 0.50)),
        "p99": round2(percentile(&sorted, 0.99)),
        "p999": round2(percentile(&sorted, 0.999)),
        "max": round2(sorted.last().copied().unwrap_or(0.0)),
    })
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What `/proc/<pid>` says about one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proc {
    pub rss_kb: u64,
    /// Peak resident set since the process started (`VmHWM`).
    pub hwm_kb: u64,
    /// User plus system time of the process, in clock ticks.
    pub ticks: u64,
    /// The same for its children that it has waited for (provider processes).
    pub child_ticks: u64,
}

impl Proc {
    /// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`; `None` once the process is gone.
    pub fn read(pid: u32) -> Option<Proc> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which may contain spaces, start at field 3 (state).
        let fields: Vec<u64> = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
        Some(Proc {
            rss_kb: kb("VmRSS:"),
            hwm_kb: kb("VmHWM:"),
            ticks: field(14) + field(15),
            child_ticks: field(16) + field(17),
        })
    }

    /// Several processes as one: CPU ticks added up, memory the largest process's.
    pub fn sum(procs: impl IntoIterator<Item = Proc>) -> Proc {
        procs.into_iter().fold(Proc::default(), |acc, p| Proc {
            rss_kb: acc.rss_kb.max(p.rss_kb),
            hwm_kb: acc.hwm_kb.max(p.hwm_kb),
            ticks: acc.ticks + p.ticks,
            child_ticks: acc.child_ticks + p.child_ticks,
        })
    }

    pub fn rss_mb(&self) -> f64 {
        round2(self.rss_kb as f64 / 1024.0)
    }

    pub fn hwm_mb(&self) -> f64 {
        round2(self.hwm_kb as f64 / 1024.0)
    }
}

/// CPU clock ticks so far of each PostgreSQL backend serving database `database` (the
/// process title names the database), by process id.
pub fn postgres_backend_ticks(database: &str) -> std::collections::HashMap<u32, u64> {
    let mut out = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&cmdline);
        if title.starts_with("postgres: ") && title.split_whitespace().any(|w| w == database) {
            if let Some(p) = Proc::read(pid) {
                out.insert(pid, p.ticks);
            }
        }
    }
    out
}

/// Cores the backends in `after` used since `before` (a backend new since then counts whole).
pub fn postgres_cores(
    before: &std::collections::HashMap<u32, u64>,
    after: &std::collections::HashMap<u32, u64>,
    elapsed: Duration,
) -> f64 {
    let ticks: u64 = after
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum();
    round3(ticks as f64 / clock_ticks() / elapsed.as_secs_f64().max(1e-9))
}

/// Busy clock ticks of the whole machine so far (`/proc/stat`: everything but idle and iowait).
pub fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = cpu.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal: skip idle (3) and iowait (4).
    fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum()
}

/// Cores that processes other than garm (with its providers) and garm-bench used meanwhile:
/// a measure of how quiet the machine was.
pub fn others_cores(busy: (u64, u64), garm: (&Proc, &Proc), bench: (&Proc, &Proc), elapsed: Duration) -> f64 {
    let total = busy.1.saturating_sub(busy.0);
    let garm = (garm.1.ticks + garm.1.child_ticks).saturating_sub(garm.0.ticks + garm.0.child_ticks);
    let bench = bench.1.ticks.saturating_sub(bench.0.ticks);
    let secs = elapsed.as_secs_f64().max(1e-9);
    round3(total.saturating_sub(garm + bench) as f64 / clock_ticks() / secs)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless told otherwise).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Cores used between two readings `elapsed` apart: `(own, own + children)`.
pub fn cores(before: &Proc, after: &Proc, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let hz = clock_ticks();
    let own = after.ticks.saturating_sub(before.ticks) as f64 / hz / secs;
    let children = after.child_ticks.saturating_sub(before.child_ticks) as f64 / hz / secs;
    (round3(own), round3(own + children))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 0.999), 100.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn summed_processes_add_cpu_and_keep_the_largest_memory() {
        let a = Proc {
            rss_kb: 10,
            hwm_kb: 20,
            ticks: 3,
            child_ticks: 1,
        };
        let b = Proc {
            rss_kb: 30,
            hwm_kb: 15,
            ticks: 4,
            child_ticks: 2,
        };
        let s = Proc::sum([a, b]);
        assert_eq!((s.rss_kb, s.hwm_kb, s.ticks, s.child_ticks), (30, 20, 7, 3));
    }

    #[test]
    fn this_process_can_be_read() {
        let me = Proc::read(std::process::id()).expect("/proc/self exists on Linux");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb);
    }
}
