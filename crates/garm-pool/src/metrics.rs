//! Counters and histograms in Prometheus text format (garm's names, plus latency
//! histograms garm lacks). Gauges of objects are computed by the server at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.total += 1;
    }

    fn render(&self, name: &str, out: &mut String) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                self.counts.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.total);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.total);
    }
}

/// garm's `scope` label of a GitHub call: the kind of entity it was made for.
pub fn scope(kind: garm_store::EntityKind) -> &'static str {
    match kind {
        garm_store::EntityKind::Repository => "Repository",
        garm_store::EntityKind::Organization => "Organization",
        garm_store::EntityKind::Enterprise => "Enterprise",
    }
}

/// The latency histograms garm records, in the order the dashboard shows them.
pub const LATENCY_HISTOGRAMS: [&str; 4] = [
    "garm_job_queued_to_in_progress_seconds",
    "garm_job_queued_to_instance_created_seconds",
    "garm_provider_create_seconds",
    "garm_instance_created_to_runner_idle_seconds",
];

/// One histogram as `/metrics` exports it: per bucket bound (seconds) the cumulative
/// count of observations at or below it; `count` is the `+Inf` bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramView {
    pub name: String,
    pub bounds: &'static [f64],
    pub cumulative: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// The process's metrics; cheap to update from any task.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), f64>>,
    histograms: Mutex<BTreeMap<String, Histogram>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    pub fn inc(&self, name: &str, pairs: &[(&str, &str)]) {
        let mut c = self.counters.lock().expect("metrics lock");
        *c.entry((name.to_string(), labels(pairs))).or_default() += 1.0;
    }

    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> f64 {
        self.counters
            .lock()
            .expect("metrics lock")
            .get(&(name.to_string(), labels(pairs)))
            .copied()
            .unwrap_or(0.0)
    }

    pub fn observe(&self, name: &str, value: Duration) {
        self.histograms
            .lock()
            .expect("metrics lock")
            .entry(name.to_string())
            .or_default()
            .observe(value.as_secs_f64());
    }

    /// `garm_webhook_received{valid,reason}`.
    pub fn webhook(&self, valid: bool, reason: &str) {
        self.inc(
            "garm_webhook_received",
            &[("valid", if valid { "true" } else { "false" }), ("reason", reason)],
        );
    }

    /// `garm_runner_operations_total` / `garm_runner_errors_total`.
    pub fn provider_call(&self, operation: &str, provider: &str, ok: bool) {
        self.inc(
            "garm_runner_operations_total",
            &[("operation", operation), ("provider", provider)],
        );
        if !ok {
            self.inc(
                "garm_runner_errors_total",
                &[("operation", operation), ("provider", provider)],
            );
        }
    }

    /// `garm_github_operations_total` / `garm_github_errors_total`, labelled with the operation
    /// and, as garm does, the scope of the entity the call was made for ([`scope`]).
    pub fn forge_call(&self, operation: &str, scope: &str, ok: bool, _elapsed: Duration) {
        let pairs = [("operation", operation), ("scope", scope)];
        self.inc("garm_github_operations_total", &pairs);
        if !ok {
            self.inc("garm_github_errors_total", &pairs);
        }
    }

    pub fn observe_create(&self, elapsed: Duration) {
        self.observe("garm_provider_create_seconds", elapsed);
    }
    pub fn observe_queued_to_created(&self, elapsed: Duration) {
        self.observe("garm_job_queued_to_instance_created_seconds", elapsed);
    }
    pub fn observe_created_to_idle(&self, elapsed: Duration) {
        self.observe("garm_instance_created_to_runner_idle_seconds", elapsed);
    }
    pub fn observe_queued_to_in_progress(&self, elapsed: Duration) {
        self.observe("garm_job_queued_to_in_progress_seconds", elapsed);
    }

    /// The samples of one counter or histogram family (no `# HELP`/`# TYPE` lines); nothing if
    /// it has none yet.
    pub fn render_samples(&self, name: &str, out: &mut String) {
        for ((family, lbls), value) in self.counters.lock().expect("metrics lock").iter() {
            if family == name {
                let _ = writeln!(out, "{name}{lbls} {value}");
            }
        }
        if let Some(h) = self.histograms.lock().expect("metrics lock").get(name) {
            h.render(name, out);
        }
    }

    /// Names of the counter and histogram families that have samples.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .counters
            .lock()
            .expect("metrics lock")
            .keys()
            .map(|(name, _)| name.clone())
            .collect();
        names.extend(self.histograms.lock().expect("metrics lock").keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// A histogram's current buckets (all zero before its first observation).
    pub fn histogram(&self, name: &str) -> HistogramView {
        let all = self.histograms.lock().expect("metrics lock");
        let h = all.get(name);
        HistogramView {
            name: name.to_string(),
            bounds: BUCKETS,
            cumulative: (0..BUCKETS.len())
                .map(|i| h.and_then(|h| h.counts.get(i).copied()).unwrap_or(0))
                .collect(),
            sum: h.map_or(0.0, |h| h.sum),
            count: h.map_or(0, |h| h.total),
        }
    }

    /// Counters and histograms in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let counters = self.counters.lock().expect("metrics lock");
        let mut last = "";
        for ((name, lbls), value) in counters.iter() {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{lbls} {value}");
        }
        drop(counters);
        for (name, h) in self.histograms.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "# TYPE {name} histogram");
            h.render(name, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_view_has_the_exported_buckets() {
        let m = Metrics::default();
        assert_eq!(m.histogram("garm_provider_create_seconds").count, 0);
        m.observe_create(Duration::from_millis(40));
        m.observe_create(Duration::from_secs(700));
        let v = m.histogram("garm_provider_create_seconds");
        assert_eq!(
            (v.count, v.bounds.len(), v.cumulative.len()),
            (2, BUCKETS.len(), BUCKETS.len())
        );
        assert_eq!(v.cumulative[2], 0, "le 0.025");
        assert_eq!(v.cumulative[3], 1, "le 0.05");
        assert_eq!(*v.cumulative.last().unwrap(), 1, "700 s is only in +Inf");
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("garm_provider_create_seconds_bucket{le=\"0.05\"} 1"));
    }

    #[test]
    fn counters_and_histograms_render_in_text_format() {
        let m = Metrics::default();
        m.webhook(true, "");
        m.webhook(true, "");
        m.provider_call("CreateInstance", "azure", false);
        m.observe_queued_to_created(Duration::from_millis(30));
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("garm_webhook_received{valid=\"true\",reason=\"\"} 2"),
            "{out}"
        );
        assert!(out.contains("garm_runner_errors_total{operation=\"CreateInstance\",provider=\"azure\"} 1"));
        assert!(out.contains("garm_job_queued_to_instance_created_seconds_bucket{le=\"0.05\"} 1"));
        assert!(out.contains("garm_job_queued_to_instance_created_seconds_bucket{le=\"0.025\"} 0"));
        assert!(out.contains("garm_job_queued_to_instance_created_seconds_count 1"));
    }
}
