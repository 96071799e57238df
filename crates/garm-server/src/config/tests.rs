//! Config parsing and validation tests.

use super::*;

const SECRET: &str = "pK8w2Vb7Qz1Lm4Xr9Ts6Yh3Nd5Fg0Jc2Ua8Ee7Ri1Oo";
const PASS: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";

fn sample(extra: &str) -> String {
    format!(
        r#"
[default]
enable_webhook_management = true

[logging]
log_format = "json"
log_level = "debug"

[metrics]
enable = true
period = "30s"

[jwt_auth]
secret = "{SECRET}"
time_to_live = "8760h"

[apiserver]
bind = "0.0.0.0"
port = 9997
use_tls = false

[database]
backend = "sqlite3"
passphrase = "{PASS}"
  [database.sqlite3]
  db_file = "/tmp/garm.db"

[[provider]]
name = "azure_external"
provider_type = "external"
description = "Azure confidential VMs"
  [provider.external]
  provider_executable = "/bin/true"
  environment_variables = ["AZURE_"]
  interface_version = "v0.1.1"
{extra}
"#
    )
}

#[test]
fn a_complete_config_parses() {
    let cfg = Config::parse(&sample("")).unwrap();
    assert_eq!(cfg.port, 9997);
    assert_eq!(cfg.jwt_ttl, Duration::from_secs(8760 * 3600));
    assert_eq!(cfg.metrics_period, Duration::from_secs(30));
    assert_eq!(cfg.logging.format, LogFormat::Json);
    assert_eq!(cfg.database_url, "sqlite:///tmp/garm.db");
    let provider = cfg.provider("azure_external").unwrap();
    assert_eq!(provider.interface_version, "v0.1.1");
    assert_eq!(provider.environment_variables, ["AZURE_"]);
    assert!(cfg.enable_webhook_management);
}

fn error_key(text: &str) -> String {
    Config::parse(text).unwrap_err().key
}

#[test]
fn missing_keys_are_named() {
    assert_eq!(error_key(&sample("").replace("port = 9997", "")), "apiserver.port");
    assert_eq!(
        error_key(&sample("").replace(&format!("secret = \"{SECRET}\""), "")),
        "jwt_auth.secret"
    );
    assert_eq!(
        error_key(&sample("").replace("backend = \"sqlite3\"", "")),
        "database.backend"
    );
    assert_eq!(
        error_key(&sample("").replace("db_file = \"/tmp/garm.db\"", "")),
        "database.sqlite3.db_file"
    );
}

#[test]
fn invalid_values_are_named() {
    assert_eq!(
        error_key(&sample("").replace("bind = \"0.0.0.0\"", "bind = \"localhost\"")),
        "apiserver.bind"
    );
    assert_eq!(
        error_key(&sample("").replace("port = 9997", "port = 70000")),
        "apiserver.port"
    );
    assert_eq!(error_key(&sample("").replace(PASS, "short")), "database.passphrase");
    assert_eq!(error_key(&sample("").replace(SECRET, "password")), "jwt_auth.secret");
    assert_eq!(
        error_key(&sample("").replace("8760h", "a year")),
        "jwt_auth.time_to_live"
    );
    assert_eq!(
        error_key(&sample("").replace("\"/tmp/garm.db\"", "\"relative.db\"")),
        "database.sqlite3.db_file"
    );
    assert_eq!(
        error_key(&sample("").replace("v0.1.1", "v9")),
        "provider[0].external.interface_version"
    );
    assert_eq!(
        error_key(&sample("").replace("/bin/true", "/does/not/exist")),
        "provider[0].external.provider_executable"
    );
    assert_eq!(
        error_key(&sample("").replace("log_level = \"debug\"", "log_level = \"loud\"")),
        "logging.log_level"
    );
}

#[test]
fn a_type_error_names_the_key_and_its_line() {
    let text = sample("").replace("port = 9997", "port = \"x\"");
    let line = text.lines().position(|l| l.starts_with("port = ")).unwrap() + 1;
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.key, "apiserver.port", "{err}");
    assert_eq!(err.line, Some(line), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("config key `apiserver.port` at line {line}: ")),
        "{err}"
    );
    // Inside an array of tables the index is part of the key.
    let text = sample("").replace("description = \"Azure confidential VMs\"", "description = 7");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.key, "provider[0].description", "{err}");
    // A plain syntax error has no key but still a line.
    let err = Config::parse("[apiserver]\nport = = 1\n").unwrap_err();
    assert_eq!((err.key.as_str(), err.line), ("", Some(2)), "{err}");
}

#[test]
fn a_minimal_example_with_a_bad_port_reads_as_the_issue_asks() {
    let err = Config::parse("[apiserver]\nport = \"abc\"\n").unwrap_err();
    assert_eq!(err.key, "apiserver.port");
    assert_eq!(err.line, Some(2));
}

#[test]
fn postgres_can_be_given_as_fields_or_url() {
    let pg = sample(
        "[database.postgresql]\nusername = \"garm\"\npassword = \"p@ss\"\nhostname = \"db\"\ndatabase = \"garm\"",
    )
    .replace("backend = \"sqlite3\"", "backend = \"postgresql\"");
    assert_eq!(
        Config::parse(&pg).unwrap().database_url,
        "postgres://garm:p%40ss@db:5432/garm?sslmode=prefer"
    );
    let pg = sample("[database.postgresql]\nurl = \"postgres://u@h/db\"")
        .replace("backend = \"sqlite3\"", "backend = \"postgres\"");
    assert_eq!(Config::parse(&pg).unwrap().database_url, "postgres://u@h/db");
}

#[test]
fn short_token_lifetimes_are_raised_to_a_day() {
    let cfg = Config::parse(&sample("").replace("8760h", "1h")).unwrap();
    assert_eq!(cfg.jwt_ttl, Duration::from_secs(86400));
}

#[test]
fn go_durations_parse() {
    assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_go_duration("10"), None);
    assert_eq!(parse_go_duration("5d"), None);
}

#[test]
fn unknown_keys_are_collected_with_their_place() {
    assert!(Config::parse(&sample("")).unwrap().unknown_keys.is_empty());
    let text = sample("bogus = 1\n[[github]]\nname = \"old-style credentials\"\n")
        .replace("use_tls = false", "use_tls = false\nuse_tsl = true")
        .replace("[metrics]", "[metrics]\nenabled = true");
    let cfg = Config::parse(&text).unwrap();
    assert_eq!(
        cfg.unknown_keys,
        [
            "apiserver.use_tsl",
            "github",
            "metrics.enabled",
            "provider[0].external.bogus"
        ]
    );
}

/// Every leaf key [`KNOWN_KEYS`] names is read by the parser: given a table instead of its
/// value, parsing fails and names that key. A key listed but never read would pass silently.
#[test]
fn every_known_key_is_read() {
    let base: toml::Table = sample("").parse().unwrap();
    let sections: Vec<&str> = KNOWN_KEYS.iter().map(|(section, _)| *section).collect();
    let mut checked = 0;
    for (section, keys) in KNOWN_KEYS.iter().filter(|(section, _)| !section.is_empty()) {
        for key in *keys {
            let dotted = format!("{section}.{key}");
            if sections.contains(&dotted.as_str()) {
                continue; // a sub-table, checked through its own keys
            }
            let mut doc = base.clone();
            let mut table = &mut doc;
            for part in section.split('.') {
                let entry = table
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                table = match entry {
                    toml::Value::Array(items) => items[0].as_table_mut().unwrap(),
                    other => other.as_table_mut().unwrap(),
                };
            }
            let mut not_a_value = toml::Table::new();
            not_a_value.insert("x".into(), toml::Value::Integer(1));
            table.insert(key.to_string(), toml::Value::Table(not_a_value));
            let err = Config::parse(&toml::to_string(&doc).unwrap()).expect_err(&dotted);
            assert!(err.key.ends_with(key), "{dotted}: {err}");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn trusted_proxies_are_addresses_or_ranges() {
    let cfg = Config::parse(&sample("").replace(
        "use_tls = false",
        "use_tls = false\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\", \"::1\"]",
    ))
    .unwrap();
    let shown: Vec<String> = cfg.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    assert!(Config::parse(&sample("")).unwrap().trusted_proxies.is_empty());
    let err = Config::parse(&sample("").replace("use_tls = false", "use_tls = false\ntrusted_proxies = [\"caddy\"]"))
        .unwrap_err();
    assert_eq!(err.key, "apiserver.trusted_proxies");
    assert!(err.message.contains("\"caddy\""), "{err}");
}

#[test]
fn the_log_streamer_is_off_unless_asked_for_in_logging_or_default() {
    assert!(!Config::parse(&sample("")).unwrap().logging.streamer);
    let on = sample("").replace("[logging]\n", "[logging]\nenable_log_streamer = true\n");
    assert!(Config::parse(&on).unwrap().logging.streamer);
    // The deprecated `[default]` key is a fallback; `[logging]` wins when both are set.
    let fallback = sample("").replace("[default]\n", "[default]\nenable_log_streamer = true\n");
    assert!(Config::parse(&fallback).unwrap().logging.streamer);
    let both = fallback.replace("[logging]\n", "[logging]\nenable_log_streamer = false\n");
    assert!(!Config::parse(&both).unwrap().logging.streamer);
}

#[test]
fn the_lease_ttl_defaults_to_fifteen_seconds_and_refuses_less_than_one() {
    assert_eq!(Config::parse(&sample("")).unwrap().lease_ttl, Duration::from_secs(15));
    let set = sample("").replace("[default]\n", "[default]\nlease_ttl = \"4s\"\n");
    assert_eq!(Config::parse(&set).unwrap().lease_ttl, Duration::from_secs(4));
    let short = sample("").replace("[default]\n", "[default]\nlease_ttl = \"200ms\"\n");
    assert_eq!(Config::parse(&short).unwrap_err().key, "default.lease_ttl");
    let garbage = sample("").replace("[default]\n", "[default]\nlease_ttl = \"soon\"\n");
    assert_eq!(Config::parse(&garbage).unwrap_err().key, "default.lease_ttl");
}
