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
