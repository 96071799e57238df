//! The keys `config.toml` may have, and the walk that finds the ones it should not (warned
//! about at startup, since garm ignores them silently).

/// The keys each table of the file may have, by dotted path (`provider` for every `[[provider]]`);
/// a table not listed here is not looked into. Keep in step with the `*Section` structs above
/// (`every_known_key_is_read` in the tests checks that each leaf named here is read).
/// `[attestation]` is not listed: unknown keys there are refused outright.
pub(crate) const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "default",
            "logging",
            "metrics",
            "jwt_auth",
            "apiserver",
            "database",
            "proxy",
            "provider",
            "pool_manager",
            "attestation",
        ],
    ),
    (
        "default",
        &[
            "enable_webhook_management",
            "debug_server",
            "callback_url",
            "metadata_url",
            "webhook_url",
            "log_file",
            "enable_log_streamer",
            "lease_ttl",
        ],
    ),
    (
        "logging",
        &[
            "log_file",
            "enable_log_streamer",
            "log_format",
            "log_level",
            "log_source",
        ],
    ),
    ("metrics", &["enable", "disable_auth", "period"]),
    ("jwt_auth", &["secret", "time_to_live"]),
    (
        "apiserver",
        &[
            "bind",
            "port",
            "use_tls",
            "cors_origins",
            "tls",
            "webui",
            "header_read_timeout",
            "idle_timeout",
            "tls_handshake_timeout",
            "max_connections",
            "trusted_proxies",
        ],
    ),
    ("apiserver.tls", &["certificate", "key"]),
    ("apiserver.webui", &["enable"]),
    ("database", &["backend", "passphrase", "debug", "sqlite3", "postgresql"]),
    ("database.sqlite3", &["db_file", "busy_timeout_seconds"]),
    (
        "database.postgresql",
        &["url", "username", "password", "hostname", "database", "port", "sslmode"],
    ),
    ("proxy", &["http_proxy", "https_proxy", "no_proxy"]),
    (
        "provider",
        &["name", "provider_type", "description", "disable_jit_config", "external"],
    ),
    (
        "provider.external",
        &[
            "provider_executable",
            "provider_dir",
            "config_file",
            "interface_version",
            "environment_variables",
            "exec_timeout_seconds",
        ],
    ),
    (
        "pool_manager",
        &[
            "resync_interval",
            "idle_resync_interval",
            "scale_down_grace",
            "orphan_scan_interval",
            "provider_scan_interval",
            "forge_poll_share",
            "missed_webhook_scan_interval",
            "missed_webhook_scan_max_interval",
            "queued_job_check_after",
        ],
    ),
];

/// Appends the dotted names of the keys of `table` (at `path`) that [`KNOWN_KEYS`] lacks.
pub(super) fn unknown_keys(table: &toml::Table, path: &str, out: &mut Vec<String>) {
    let Some((_, known)) = KNOWN_KEYS.iter().find(|(section, _)| *section == path) else {
        return;
    };
    for (key, value) in table {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if !known.contains(&key.as_str()) {
            out.push(here);
            continue;
        }
        match value {
            toml::Value::Table(inner) => unknown_keys(inner, &here, out),
            toml::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let toml::Value::Table(inner) = item {
                        let mut found = Vec::new();
                        unknown_keys(inner, &here, &mut found);
                        // `provider.external.x` reads better as `provider[1].external.x`.
                        out.extend(
                            found
                                .into_iter()
                                .map(|key| key.replacen(&here, &format!("{here}[{index}]"), 1)),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
