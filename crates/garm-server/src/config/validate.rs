//! The checks behind `Config::validate`, one function per part of the file; each error names
//! the key it refuses (`bad`).

use super::*;

/// `[logging]` (with the `[default]` keys garm also reads).
pub(super) fn logging(raw: &RawConfig) -> Result<Logging, ConfigError> {
    let level = raw.logging.log_level.clone().unwrap_or_else(|| "info".into());
    if !["debug", "info", "warn", "error"].contains(&level.as_str()) {
        return Err(bad(
            "logging.log_level",
            format!("{level:?} is not one of debug, info, warn, error"),
        ));
    }
    let format = match raw.logging.log_format.as_deref().unwrap_or("text") {
        "text" | "" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => return Err(bad("logging.log_format", format!("{other:?} is not text or json"))),
    };
    let logging = Logging {
        file: raw
            .logging
            .log_file
            .clone()
            .or(raw.default.log_file.clone())
            .filter(|f| !f.is_empty())
            .map(PathBuf::from),
        format,
        level,
        source: raw.logging.log_source,
        streamer: raw
            .logging
            .enable_log_streamer
            .or(raw.default.enable_log_streamer)
            .unwrap_or(false),
    };
    Ok(logging)
}

/// The controller URLs of `[default]`, when given, must parse.
pub(super) fn urls(raw: &RawConfig) -> Result<(), ConfigError> {
    for (key, value) in [
        ("default.callback_url", &raw.default.callback_url),
        ("default.metadata_url", &raw.default.metadata_url),
        ("default.webhook_url", &raw.default.webhook_url),
    ] {
        if let Some(v) = value {
            url::Url::parse(v).map_err(|err| bad(key, format!("invalid URL: {err}")))?;
        }
    }
    Ok(())
}

/// `[metrics] period` (60 s by default).
pub(super) fn metrics_period(raw: &RawConfig) -> Result<Duration, ConfigError> {
    let metrics_period = match raw.metrics.period.as_deref() {
        None | Some("") => Duration::from_secs(60),
        Some(p) => parse_go_duration(p).ok_or_else(|| bad("metrics.period", format!("{p:?} is not a duration")))?,
    };
    Ok(metrics_period)
}

/// `[jwt_auth]`: a strong secret and a time to live of at least a day.
pub(super) fn jwt(raw: &RawConfig, strong: &Strong) -> Result<(String, Duration), ConfigError> {
    let jwt_secret = raw
        .jwt_auth
        .secret
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("jwt_auth.secret", "missing"))?;
    if !strong.check(&jwt_secret) {
        return Err(bad("jwt_auth.secret", "too weak: use a long random string"));
    }
    let ttl_text = raw
        .jwt_auth
        .time_to_live
        .clone()
        .ok_or_else(|| bad("jwt_auth.time_to_live", "missing"))?;
    let jwt_ttl = parse_go_duration(&ttl_text)
        .ok_or_else(|| {
            bad(
                "jwt_auth.time_to_live",
                format!("{ttl_text:?} is not a duration such as 8760h"),
            )
        })?
        .max(Duration::from_secs(24 * 3600));
    Ok((jwt_secret, jwt_ttl))
}

/// `[apiserver]`'s address, port and TLS files.
pub(super) fn listener(raw: &RawConfig) -> Result<(IpAddr, u16, Option<Tls>), ConfigError> {
    let bind_text = raw
        .apiserver
        .bind
        .clone()
        .ok_or_else(|| bad("apiserver.bind", "missing"))?;
    let bind: IpAddr = bind_text
        .parse()
        .map_err(|_| bad("apiserver.bind", format!("{bind_text:?} is not an IP address")))?;
    let port = raw.apiserver.port.ok_or_else(|| bad("apiserver.port", "missing"))?;
    if !(1..=65535).contains(&port) {
        return Err(bad("apiserver.port", format!("{port} is not between 1 and 65535")));
    }
    let tls = if raw.apiserver.use_tls {
        let certificate = raw
            .apiserver
            .tls
            .certificate
            .clone()
            .ok_or_else(|| bad("apiserver.tls.certificate", "missing while use_tls is true"))?;
        let key = raw
            .apiserver
            .tls
            .key
            .clone()
            .ok_or_else(|| bad("apiserver.tls.key", "missing while use_tls is true"))?;
        for (k, p) in [("apiserver.tls.certificate", &certificate), ("apiserver.tls.key", &key)] {
            if !p.is_file() {
                return Err(bad(k, format!("{} does not exist", p.display())));
            }
        }
        Some(Tls { certificate, key })
    } else {
        None
    };
    Ok((bind, port as u16, tls))
}

/// `[database]`: the backend's URL and the 32-character passphrase.
pub(super) fn database(raw: &RawConfig, strong: &Strong) -> Result<(String, String), ConfigError> {
    let db = &raw.database;
    let passphrase = db
        .passphrase
        .clone()
        .ok_or_else(|| bad("database.passphrase", "missing"))?;
    if passphrase.chars().count() != 32 {
        return Err(bad("database.passphrase", "must be exactly 32 characters"));
    }
    if !strong.check(&passphrase) {
        return Err(bad("database.passphrase", "too weak: use 32 random characters"));
    }
    let database_url = match db.backend.as_deref() {
        None | Some("") => return Err(bad("database.backend", "missing (sqlite3 or postgresql)")),
        Some("sqlite3") => {
            let file = db
                .sqlite3
                .db_file
                .clone()
                .ok_or_else(|| bad("database.sqlite3.db_file", "missing"))?;
            if !file.is_absolute() {
                return Err(bad("database.sqlite3.db_file", "must be an absolute path"));
            }
            match file.parent() {
                Some(parent) if parent.is_dir() => {}
                _ => {
                    return Err(bad(
                        "database.sqlite3.db_file",
                        format!("the directory of {} does not exist", file.display()),
                    ))
                }
            }
            format!("sqlite://{}", file.display())
        }
        Some("postgresql") | Some("postgres") => postgres_url(&db.postgresql)?,
        Some(other) => {
            return Err(bad(
                "database.backend",
                format!("{other:?} is not sqlite3 or postgresql"),
            ))
        }
    };
    Ok((database_url, passphrase))
}

/// Every `[[provider]]`: an external executable, named once.
pub(super) fn providers(raw: &RawConfig) -> Result<Vec<Provider>, ConfigError> {
    let mut providers: Vec<Provider> = Vec::new();
    for (index, p) in raw.provider.iter().enumerate() {
        let key = |k: &str| format!("provider[{index}].{k}");
        let name = p
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(&key("name"), "missing"))?;
        if providers.iter().any(|q| q.name == name) {
            return Err(bad(&key("name"), format!("duplicate provider name {name:?}")));
        }
        match p.provider_type.as_deref() {
            Some("external") => {}
            Some(other) => {
                return Err(bad(
                    &key("provider_type"),
                    format!("{other:?} is not supported (only external)"),
                ))
            }
            None => return Err(bad(&key("provider_type"), "missing")),
        }
        let ext = &p.external;
        let executable = match (&ext.provider_executable, &ext.provider_dir) {
            (Some(exe), _) => exe.clone(),
            (None, Some(dir)) => dir.join("garm-external-provider"),
            (None, None) => return Err(bad(&key("external.provider_executable"), "missing")),
        };
        if !executable.is_absolute() {
            return Err(bad(&key("external.provider_executable"), "must be an absolute path"));
        }
        if !is_executable(&executable) {
            return Err(bad(
                &key("external.provider_executable"),
                format!("{} does not exist or is not executable", executable.display()),
            ));
        }
        if let Some(cfg) = &ext.config_file {
            if !cfg.is_absolute() || !cfg.is_file() {
                return Err(bad(
                    &key("external.config_file"),
                    format!("{} must be an absolute path to an existing file", cfg.display()),
                ));
            }
        }
        let interface_version = match ext.interface_version.as_deref() {
            None | Some("") | Some("v0.1.0") => "v0.1.0",
            Some("v0.1.1") => "v0.1.1",
            Some(other) => {
                return Err(bad(
                    &key("external.interface_version"),
                    format!("{other:?} is not v0.1.0 or v0.1.1"),
                ))
            }
        };
        providers.push(Provider {
            name,
            description: p.description.clone(),
            disable_jit_config: p.disable_jit_config,
            executable,
            config_file: ext.config_file.clone(),
            interface_version: interface_version.into(),
            environment_variables: ext.environment_variables.clone(),
            exec_timeout: (ext.exec_timeout_seconds > 0).then(|| Duration::from_secs(ext.exec_timeout_seconds)),
        });
    }
    Ok(providers)
}

/// `[pool_manager]`'s timings and `[default] lease_ttl`.
pub(super) fn timings(raw: &RawConfig) -> Result<(PoolManagerTimings, Duration), ConfigError> {
    let timing = |key: &str, value: &Option<String>, default: u64| -> Result<Duration, ConfigError> {
        match value.as_deref() {
            None | Some("") => Ok(Duration::from_secs(default)),
            Some(text) => parse_go_duration(text).ok_or_else(|| bad(key, format!("{text:?} is not a duration"))),
        }
    };
    let pm = &raw.pool_manager;
    let resync = timing("pool_manager.resync_interval", &pm.resync_interval, 5)?.max(Duration::from_millis(100));
    let orphan_scan =
        timing("pool_manager.orphan_scan_interval", &pm.orphan_scan_interval, 300)?.max(Duration::from_secs(1));
    let missed_webhook_scan = timing(
        "pool_manager.missed_webhook_scan_interval",
        &pm.missed_webhook_scan_interval,
        30,
    )?
    .max(Duration::from_secs(1));
    let pool_manager = PoolManagerTimings {
        resync,
        idle_resync: timing("pool_manager.idle_resync_interval", &pm.idle_resync_interval, 300)?.max(resync),
        scale_down_grace: timing("pool_manager.scale_down_grace", &pm.scale_down_grace, 300)?,
        orphan_scan,
        // Unset: six orphan scans (30 minutes with the default orphan scan).
        provider_scan: match pm.provider_scan_interval.as_deref() {
            None | Some("") => orphan_scan.saturating_mul(6),
            Some(_) => timing("pool_manager.provider_scan_interval", &pm.provider_scan_interval, 0)?,
        }
        .max(orphan_scan),
        forge_poll_share: match pm.forge_poll_share {
            None => 0.1,
            Some(share) if (0.0..=1.0).contains(&share) => share,
            Some(share) => {
                return Err(bad(
                    "pool_manager.forge_poll_share",
                    format!("{share} is not between 0 and 1"),
                ))
            }
        },
        missed_webhook_scan,
        missed_webhook_scan_max: timing(
            "pool_manager.missed_webhook_scan_max_interval",
            &pm.missed_webhook_scan_max_interval,
            300,
        )?
        .max(missed_webhook_scan),
        queued_job_check_after: timing("pool_manager.queued_job_check_after", &pm.queued_job_check_after, 600)?,
    };
    let lease_ttl = timing("default.lease_ttl", &raw.default.lease_ttl, 15)?;
    if lease_ttl < Duration::from_secs(1) {
        return Err(bad(
            "default.lease_ttl",
            "a lease lasts at least 1s (it is renewed every third of it)",
        ));
    }
    Ok((pool_manager, lease_ttl))
}
