//! The dashboard's latency charts: inline SVG bar charts drawn on the server from the same
//! histograms `/metrics` exports (`garm_pool::metrics`), one bar per bucket. Each chart has
//! a text alternative: a title and description for screen readers, a visible summary
//! (observations, median, 95th percentile, mean) and the bucket counts as a table.

use super::html::e;
use garm_pool::metrics::HistogramView;
use std::fmt::Write;

/// What each histogram measures, in words.
fn title(name: &str) -> &str {
    match name {
        "garm_job_queued_to_in_progress_seconds" => "Job queued to in progress",
        "garm_job_queued_to_instance_created_seconds" => "Job queued to instance created",
        "garm_provider_create_seconds" => "Provider create call",
        "garm_instance_created_to_runner_idle_seconds" => "Instance created to runner idle",
        other => other,
    }
}

/// "5ms", "2.5s", "2m".
pub fn bound_label(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round())
    } else if seconds < 60.0 {
        format!("{seconds}s")
    } else {
        format!("{}m", seconds / 60.0)
    }
}

/// The bucket bound at or below which a fraction `q` of the observations lie, as text.
pub fn quantile(h: &HistogramView, q: f64) -> String {
    let want = (q * h.count as f64).ceil().max(1.0) as u64;
    match h.cumulative.iter().position(|c| *c >= want) {
        Some(i) => format!("≤ {}", bound_label(h.bounds[i])),
        None => format!("> {}", bound_label(*h.bounds.last().unwrap_or(&0.0))),
    }
}

/// Per-bucket counts (not cumulative), with the `+Inf` bucket last.
fn per_bucket(h: &HistogramView) -> Vec<(String, u64)> {
    let mut out = Vec::with_capacity(h.bounds.len() + 1);
    let mut below = 0;
    for (bound, cum) in h.bounds.iter().zip(&h.cumulative) {
        out.push((format!("≤ {}", bound_label(*bound)), cum.saturating_sub(below)));
        below = *cum;
    }
    let last = h.bounds.last().copied().unwrap_or(0.0);
    out.push((format!("> {}", bound_label(last)), h.count.saturating_sub(below)));
    out
}

const W: f64 = 360.0;
const H: f64 = 120.0;
const BASE: f64 = 100.0;

/// One chart with its text alternative; `n` makes the element ids unique on the page.
pub fn chart(out: &mut String, n: usize, h: &HistogramView) {
    let name = title(&h.name);
    let summary = if h.count == 0 {
        "no observations yet".to_string()
    } else {
        format!(
            "{} observation{}; median {}, 95th percentile {}, mean {:.2}s",
            h.count,
            if h.count == 1 { "" } else { "s" },
            quantile(h, 0.5),
            quantile(h, 0.95),
            h.sum / h.count as f64
        )
    };
    let _ = write!(
        out,
        "<figure class=\"chart\"><figcaption><b>{}</b> <code>{}</code><br><span id=\"chart-{n}-sum\">{}</span></figcaption>",
        e(name),
        e(&h.name),
        e(&summary)
    );
    let bars = per_bucket(h);
    let max = bars.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let step = W / bars.len() as f64;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-labelledby=\"chart-{n}-t chart-{n}-sum\"><title id=\"chart-{n}-t\">{}: observations per latency bucket</title><line x1=\"0\" y1=\"{BASE}\" x2=\"{W}\" y2=\"{BASE}\" class=\"axis\"/>",
        e(name)
    );
    for (i, (label, count)) in bars.iter().enumerate() {
        let height = (*count as f64 / max) * (BASE - 10.0);
        let x = i as f64 * step + 1.0;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" class=\"bar\"><title>{}: {count}</title></rect>",
            BASE - height,
            step - 2.0,
            e(label)
        );
        // Every third bound, and the overflow bucket at the right edge (right-aligned).
        let last = i + 1 == bars.len();
        if last || (i % 3 == 0 && i + 2 < bars.len()) {
            let (tx, anchor) = if last {
                (W - 1.0, " style=\"text-anchor: end\"")
            } else {
                (x + (step - 2.0) / 2.0, "")
            };
            let _ = write!(
                out,
                "<text x=\"{tx:.1}\" y=\"{}\" class=\"tick\"{anchor}>{}</text>",
                BASE + 12.0,
                e(label.trim_start_matches("≤ "))
            );
        }
    }
    out.push_str("</svg><details><summary>Bucket counts</summary><table><caption>");
    let _ = write!(
        out,
        "{}</caption><thead><tr><th scope=\"col\">Latency</th><th scope=\"col\">Observations</th></tr></thead><tbody>",
        e(name)
    );
    for (label, count) in &bars {
        let _ = write!(out, "<tr><td>{}</td><td>{count}</td></tr>", e(label));
    }
    out.push_str("</tbody></table></details></figure>");
}

/// The dashboard's "Latency" section with every histogram garm records.
pub fn latency_section(out: &mut String, histograms: &[HistogramView]) {
    out.push_str("<section aria-labelledby=\"h-latency\"><h2 id=\"h-latency\">Latency</h2><p>The histograms <code>/metrics</code> exports, since garm started.</p><div class=\"charts\">");
    for (n, h) in histograms.iter().enumerate() {
        chart(out, n, h);
    }
    out.push_str("</div></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(cumulative: Vec<u64>, count: u64, sum: f64) -> HistogramView {
        const B: &[f64] = &[0.5, 1.0, 60.0];
        HistogramView {
            name: "garm_provider_create_seconds".into(),
            bounds: B,
            cumulative,
            sum,
            count,
        }
    }

    #[test]
    fn bars_are_per_bucket_and_the_summary_reads_the_quantiles() {
        let h = view(vec![1, 3, 3], 4, 100.0);
        assert_eq!(
            per_bucket(&h),
            vec![
                ("≤ 500ms".to_string(), 1),
                ("≤ 1s".to_string(), 2),
                ("≤ 1m".to_string(), 0),
                ("> 1m".to_string(), 1)
            ]
        );
        assert_eq!(quantile(&h, 0.5), "≤ 1s");
        assert_eq!(quantile(&h, 0.95), "> 1m");
        let mut out = String::new();
        chart(&mut out, 7, &h);
        assert!(
            out.contains("4 observations; median ≤ 1s, 95th percentile &gt; 1m, mean 25.00s"),
            "{out}"
        );
        assert!(out.contains("aria-labelledby=\"chart-7-t chart-7-sum\""), "{out}");
        assert_eq!(out.matches("<rect ").count(), 4, "{out}");
        assert!(out.contains("<tr><td>≤ 1s</td><td>2</td></tr>"), "{out}");
    }

    #[test]
    fn an_empty_histogram_says_so() {
        let mut out = String::new();
        chart(&mut out, 0, &view(vec![0, 0, 0], 0, 0.0));
        assert!(out.contains("no observations yet"), "{out}");
        assert!(!out.contains("NaN"), "{out}");
        let mut out = String::new();
        chart(&mut out, 1, &view(vec![0, 1, 1], 1, 0.7));
        assert!(out.contains("1 observation; median ≤ 1s"), "{out}");
    }
}
