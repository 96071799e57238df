//! Reading garm's `/metrics` text: counters by label and histogram quantiles.

use std::collections::BTreeMap;

/// `name{labels} value` lines of one metric, by their label text (`{operation="X"}`).
pub fn series(text: &str, name: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let (labels, value) = inner.split_once("} ")?;
                    (labels.to_owned(), value)
                }
                None => (String::new(), rest.strip_prefix(' ')?),
            };
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The cumulative buckets `(le, count)` of histogram `name`, `+Inf` last.
pub fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = series(text, &format!("{name}_bucket"))
        .into_iter()
        .filter_map(|(labels, count)| {
            let le = labels.strip_prefix("le=\"")?.strip_suffix('"')?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, count))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Observations between two snapshots of the same histogram.
pub fn delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, n)| {
            let old = before.iter().find(|(l, _)| l == le).map(|(_, c)| *c).unwrap_or(0.0);
            (*le, n - old)
        })
        .collect()
}

/// The `q` quantile, interpolated linearly inside its bucket as Prometheus does; `None` if empty.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let width = count - lower.1;
            let into = if width > 0.0 { (rank - lower.1) / width } else { 1.0 };
            return Some(lower.0 + (le - lower.0) * into);
        }
        lower = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 5\nh_bucket{le=\"1\"} 10\nh_bucket{le=\"+Inf\"} 10\nh_sum 3\nh_count 10\nc{operation=\"X\"} 4\n";

    #[test]
    fn histogram_quantiles_interpolate_within_the_bucket() {
        let b = buckets(TEXT, "h");
        assert_eq!(b.len(), 3);
        assert!((quantile(&b, 0.5).unwrap() - 0.1).abs() < 1e-9);
        assert!((quantile(&b, 0.75).unwrap() - 0.55).abs() < 1e-9);
        assert_eq!(series(TEXT, "c").get("operation=\"X\""), Some(&4.0));
    }
}
