//! Matching a job's `runs-on` labels to pool tags, and ordering candidate pools.

use serde::{Deserialize, Serialize};

/// How an entity spreads jobs over pools of equal priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BalancerType {
    #[default]
    Roundrobin,
    Pack,
}

impl BalancerType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Roundrobin => "roundrobin",
            Self::Pack => "pack",
        }
    }

    /// Empty means the default (round robin), as in garm.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" | "roundrobin" => Ok(Self::Roundrobin),
            "pack" => Ok(Self::Pack),
            other => Err(format!(
                "invalid pool balancer type {other:?} (expected roundrobin or pack)"
            )),
        }
    }
}

/// A pool matches iff every job label is one of its tags, compared case-insensitively.
/// `self-hosted` is not implicit. Unlike garm, duplicate or case-variant labels in the
/// job do not prevent a match: the label *set* is compared.
pub fn job_matches_pool<S: AsRef<str>, T: AsRef<str>>(job_labels: &[S], pool_tags: &[T]) -> bool {
    if job_labels.is_empty() {
        return false;
    }
    job_labels.iter().all(|label| {
        pool_tags
            .iter()
            .any(|tag| tag.as_ref().eq_ignore_ascii_case(label.as_ref().trim()))
    })
}

/// Orders matching pools: priority descending, ties in the given (stable) order; with
/// round robin, the tie group of the highest priority is rotated by `turn`.
pub fn order_candidates<P: Clone>(pools: &[(P, u32)], balancer: BalancerType, turn: usize) -> Vec<P> {
    let mut sorted: Vec<(usize, &(P, u32))> = pools.iter().enumerate().collect();
    sorted.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    let mut out: Vec<P> = sorted.iter().map(|(_, (p, _))| p.clone()).collect();
    if balancer == BalancerType::Roundrobin && !sorted.is_empty() {
        let top = sorted[0].1 .1;
        let n_top = sorted.iter().take_while(|(_, (_, prio))| *prio == top).count();
        out[..n_top].rotate_left(turn % n_top);
    }
    out
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_label_must_be_a_pool_tag() {
        let tags = ["self-hosted", "Linux", "azure-cvm"];
        assert!(job_matches_pool(&["linux", "self-hosted"], &tags));
        assert!(!job_matches_pool(&["linux", "gpu"], &tags));
    }

    #[test]
    fn self_hosted_is_not_implicit() {
        assert!(!job_matches_pool(&["self-hosted", "linux"], &["linux"]));
    }

    #[test]
    fn a_job_without_labels_matches_nothing() {
        let none: [&str; 0] = [];
        assert!(!job_matches_pool(&none, &["linux"]));
    }

    #[test]
    fn case_variant_duplicates_still_match() {
        assert!(job_matches_pool(&["linux", "LINUX"], &["linux"]));
    }

    #[test]
    fn higher_priority_pools_come_first() {
        let pools = [("a", 1), ("b", 10), ("c", 5)];
        assert_eq!(order_candidates(&pools, BalancerType::Pack, 3), vec!["b", "c", "a"]);
    }

    #[test]
    fn round_robin_rotates_only_the_top_priority_group() {
        let pools = [("a", 5), ("b", 5), ("c", 1)];
        assert_eq!(
            order_candidates(&pools, BalancerType::Roundrobin, 0),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            order_candidates(&pools, BalancerType::Roundrobin, 1),
            vec!["b", "a", "c"]
        );
        assert_eq!(order_candidates(&pools, BalancerType::Pack, 1), vec!["a", "b", "c"]);
    }

    #[test]
    fn balancer_type_parses_empty_as_round_robin() {
        assert_eq!(BalancerType::parse("").unwrap(), BalancerType::Roundrobin);
        assert!(BalancerType::parse("random").is_err());
    }
}
