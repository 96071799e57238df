//! Property tests: any configuration text is accepted or refused with an error naming the
//! problem, and never panics the parser.

use garm_server::config::{parse_go_duration, Config};
use proptest::prelude::*;

const BASE: &[(&str, &str, &str)] = &[
    ("jwt_auth", "secret", "\"pK8w2Vb7Qz1Lm4Xr9Ts6Yh3Nd5Fg0Jc2Ua8Ee7Ri1Oo\""),
    ("jwt_auth", "time_to_live", "\"8760h\""),
    ("apiserver", "bind", "\"127.0.0.1\""),
    ("apiserver", "port", "9997"),
    ("database", "backend", "\"sqlite3\""),
    ("database", "passphrase", "\"tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0\""),
    ("database.sqlite3", "db_file", "\"/tmp/garm-props.db\""),
    ("logging", "log_level", "\"info\""),
    ("logging", "log_format", "\"text\""),
    ("metrics", "period", "\"60s\""),
    ("pool_manager", "resync_interval", "\"5s\""),
    ("pool_manager", "orphan_scan_interval", "\"1m\""),
    ("pool_manager", "forge_poll_share", "0.1"),
    ("pool_manager", "missed_webhook_scan_interval", "\"30s\""),
    ("pool_manager", "queued_job_check_after", "\"10m\""),
    ("apiserver", "cors_origins", "[\"*\"]"),
];

fn render(replace: Option<(usize, &str)>) -> String {
    let mut sections: Vec<&str> = Vec::new();
    for (section, _, _) in BASE {
        if !sections.contains(section) {
            sections.push(section);
        }
    }
    let mut out = String::new();
    for section in sections {
        out.push_str(&format!("[{section}]\n"));
        for (index, (s, key, value)) in BASE.iter().enumerate() {
            if *s != section {
                continue;
            }
            let value = match replace {
                Some((i, new)) if i == index => new,
                _ => value,
            };
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

/// A TOML value: strings (often duration-like), huge and negative numbers, floats, arrays.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,20}".prop_map(|s| format!("{s:?}")),
        "[0-9]{1,30}(ns|us|ms|s|m|h|d|)".prop_map(|s| format!("{s:?}")),
        "-?[0-9.]{1,12}[hms]?[0-9.]{0,6}[hms]?".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("TOML floats are finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        prop::collection::vec("[a-z*:/.]{0,10}", 0..4).prop_map(|v| format!("{v:?}")),
        Just("{}".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_parsed_or_refused_without_panicking(text in "(?s).{0,400}") {
        let _ = Config::parse(&text);
    }

    #[test]
    fn any_value_for_any_key_is_parsed_or_refused_with_the_key_named(index in 0..BASE.len(), value in toml_value()) {
        let text = render(Some((index, &value)));
        if let Err(err) = Config::parse(&text) {
            prop_assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn any_duration_text_is_parsed_or_refused_without_panicking(text in "(?s).{0,40}", digits in "[0-9]{1,40}(\\.[0-9]{0,20})?(ns|us|ms|s|m|h)") {
        let _ = parse_go_duration(&text);
        let _ = parse_go_duration(&digits);
    }

    #[test]
    fn whole_units_parse_exactly(n in 0u64..1_000_000, unit in prop_oneof![Just(("s", 1u64)), Just(("m", 60)), Just(("h", 3600))]) {
        let parsed = parse_go_duration(&format!("{n}{}", unit.0));
        prop_assert_eq!(parsed, Some(std::time::Duration::from_secs(n * unit.1)));
    }
}

#[test]
fn the_base_config_is_valid() {
    let config = Config::parse(&render(None)).unwrap();
    assert_eq!(config.pool_manager.forge_poll_share, 0.1);
    assert_eq!(
        config.pool_manager.missed_webhook_scan,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(
        config.pool_manager.queued_job_check_after,
        std::time::Duration::from_secs(600)
    );
    // Unset, the provider scan is six orphan scans; the idle safety net and the longest
    // delivery-log period default to five minutes.
    assert_eq!(config.pool_manager.provider_scan, std::time::Duration::from_secs(360));
    assert_eq!(config.pool_manager.idle_resync, std::time::Duration::from_secs(300));
    assert_eq!(
        config.pool_manager.missed_webhook_scan_max,
        std::time::Duration::from_secs(300)
    );
    let err = Config::parse(&render(Some((12, "1.5")))).unwrap_err();
    assert!(err.to_string().contains("pool_manager.forge_poll_share"), "{err}");
}
