//! Property tests: the label matcher and pool ordering never panic and keep their rules for
//! any labels, including empty, whitespace, non-ASCII and case-variant ones.

use super::*;
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,12}",
        ".{0,16}",
        Just("self-hosted".to_string()),
        Just("Linux".to_string()),
        Just("X64".to_string()),
        Just(" linux ".to_string()),
        Just("ǅ".to_string()),
    ]
}

fn flip_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn matching_never_panics_and_an_empty_job_matches_nothing(job in prop::collection::vec(label(), 0..8), tags in prop::collection::vec(label(), 0..8)) {
        let matched = job_matches_pool(&job, &tags);
        if job.is_empty() {
            prop_assert!(!matched);
        }
    }

    #[test]
    fn a_pool_with_every_job_label_matches_whatever_else_it_has(
        job in prop::collection::vec("[a-zA-Z0-9_.-]{1,12}", 1..8),
        extra in prop::collection::vec(label(), 0..5),
        flip in any::<bool>(),
    ) {
        let mut tags: Vec<String> = job.iter().map(|l| if flip { flip_case(l) } else { l.clone() }).collect();
        tags.extend(extra);
        prop_assert!(job_matches_pool(&job, &tags), "ASCII case does not matter, extra tags do not hurt");
    }

    #[test]
    fn a_job_label_the_pool_lacks_prevents_a_match(
        job in prop::collection::vec("[a-z0-9]{1,8}", 1..6),
        tags in prop::collection::vec("[a-z0-9]{1,8}", 0..6),
    ) {
        let missing = job.iter().any(|l| !tags.iter().any(|t| t.eq_ignore_ascii_case(l)));
        prop_assert_eq!(job_matches_pool(&job, &tags), !missing);
    }

    #[test]
    fn ordering_is_a_permutation_led_by_the_highest_priority(
        priorities in prop::collection::vec(0u32..4, 0..10),
        turn in any::<usize>(),
        pack in any::<bool>(),
    ) {
        let pools: Vec<(usize, u32)> = priorities.iter().copied().enumerate().collect();
        let balancer = if pack { BalancerType::Pack } else { BalancerType::Roundrobin };
        let ordered = order_candidates(&pools, balancer, turn);
        let mut sorted = ordered.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..pools.len()).collect::<Vec<_>>());
        if let Some(first) = ordered.first() {
            let top = priorities.iter().max().copied().unwrap_or(0);
            prop_assert_eq!(priorities[*first], top);
        }
        let prios: Vec<u32> = ordered.iter().map(|i| priorities[*i]).collect();
        prop_assert!(prios.windows(2).all(|w| w[0] >= w[1]), "priority never rises: {:?}", prios);
    }
}
