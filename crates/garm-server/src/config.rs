//! garm's `config.toml`: parsing and validation, naming the offending key on error.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, naming the key (`section.key`) and, where the file says it, its line.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub key: String,
    /// 1-based line of the offending value, for errors found while reading the file.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.key.is_empty(), self.line) {
            (false, Some(line)) => write!(f, "config key `{}` at line {line}: {}", self.key, self.message),
            (false, None) => write!(f, "config key `{}`: {}", self.key, self.message),
            (true, Some(line)) => write!(f, "config file, line {line}: {}", self.message),
            (true, None) => write!(f, "config file: {}", self.message),
        }
    }
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        line: None,
        message: message.into(),
    }
}

/// A TOML syntax or type error: the dotted key it concerns (`apiserver.port`,
/// `provider[0].name`; empty for a syntax error outside any value) and its line.
fn read_error(text: &str, err: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let line = inner
        .span()
        .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
    ConfigError {
        key: if path == "." { String::new() } else { path },
        line,
        message: inner.message().to_string(),
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct DefaultSection {
    pub enable_webhook_management: bool,
    pub debug_server: bool,
    pub callback_url: Option<String>,
    pub metadata_url: Option<String>,
    pub webhook_url: Option<String>,
    pub log_file: Option<String>,
    pub enable_log_streamer: Option<bool>,
    /// Go duration; how long a replica's leases outlive its last renewal.
    pub lease_ttl: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct LoggingSection {
    pub log_file: Option<String>,
    pub enable_log_streamer: Option<bool>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub log_source: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MetricsSection {
    pub enable: bool,
    pub disable_auth: bool,
    pub period: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct JwtSection {
    pub secret: Option<String>,
    pub time_to_live: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TlsSection {
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct WebUiSection {
    pub enable: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ApiServerSection {
    pub bind: Option<String>,
    pub port: Option<i64>,
    pub use_tls: bool,
    pub cors_origins: Vec<String>,
    pub tls: TlsSection,
    pub webui: WebUiSection,
    /// Ours: connection limits (Go durations and a count); see [`Connections`].
    pub header_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub tls_handshake_timeout: Option<String>,
    pub max_connections: Option<i64>,
    /// Ours: proxies whose `X-Forwarded-For` names the client (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SqliteSection {
    pub db_file: Option<PathBuf>,
    pub busy_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PostgresSection {
    /// Ours: a full `postgres://` URL, instead of the fields below.
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub hostname: Option<String>,
    pub database: Option<String>,
    pub port: Option<u16>,
    pub sslmode: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct DatabaseSection {
    pub backend: Option<String>,
    pub passphrase: Option<String>,
    pub debug: bool,
    pub sqlite3: SqliteSection,
    pub postgresql: PostgresSection,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ExternalSection {
    pub provider_executable: Option<PathBuf>,
    pub provider_dir: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub interface_version: Option<String>,
    pub environment_variables: Vec<String>,
    pub exec_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ProviderSection {
    pub name: Option<String>,
    pub provider_type: Option<String>,
    pub description: String,
    pub disable_jit_config: bool,
    pub external: ExternalSection,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ProxySection {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

/// Ours (garm has no such section): timings of the pool manager.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PoolManagerSection {
    pub resync_interval: Option<String>,
    pub idle_resync_interval: Option<String>,
    pub scale_down_grace: Option<String>,
    pub orphan_scan_interval: Option<String>,
    pub provider_scan_interval: Option<String>,
    /// Share (0..=1) of each credentials' rate limit missed-webhook reconciliation may spend.
    pub forge_poll_share: Option<f64>,
    pub missed_webhook_scan_interval: Option<String>,
    pub missed_webhook_scan_max_interval: Option<String>,
    pub queued_job_check_after: Option<String>,
}

/// Ours: remote attestation of confidential runners (see docs/attestation.md).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationSection {
    /// The `garm-attest` binary served to instances; default: next to the `garm` executable.
    pub tool_path: Option<PathBuf>,
    /// How long an issued nonce can be answered (Go duration, default 10m).
    pub nonce_ttl: Option<String>,
    /// TEST ONLY: issue this nonce (UTF-8 text) to every instance, so captured evidence can
    /// be replayed. Refused unless `i_understand_this_disables_replay_protection = true`.
    pub test_fixed_nonce: Option<String>,
    /// TEST ONLY: the same as hex, for nonces that are not text.
    pub test_fixed_nonce_hex: Option<String>,
    pub i_understand_this_disables_replay_protection: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    attestation: AttestationSection,
    pool_manager: PoolManagerSection,
    default: DefaultSection,
    logging: LoggingSection,
    metrics: MetricsSection,
    jwt_auth: JwtSection,
    apiserver: ApiServerSection,
    database: DatabaseSection,
    proxy: ProxySection,
    provider: Vec<ProviderSection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    pub level: String,
    pub source: bool,
    /// `enable_log_streamer` (`[logging]`, else the deprecated `[default]` key): serve the log
    /// on `/api/v1/ws/logs`.
    pub streamer: bool,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub description: String,
    pub disable_jit_config: bool,
    pub executable: PathBuf,
    pub config_file: Option<PathBuf>,
    pub interface_version: String,
    pub environment_variables: Vec<String>,
    pub exec_timeout: Option<Duration>,
}

/// `[attestation]`, validated.
#[derive(Debug, Clone, Default)]
pub struct Attestation {
    pub tool_path: Option<PathBuf>,
    pub nonce_ttl: Duration,
    /// A fixed nonce for replaying captured evidence in tests; `None` in production.
    pub fixed_nonce: Option<Vec<u8>>,
}

fn attestation(raw: &AttestationSection) -> Result<Attestation, ConfigError> {
    let nonce_ttl = match raw.nonce_ttl.as_deref() {
        None | Some("") => Duration::from_secs(600),
        Some(text) => match parse_go_duration(text) {
            Some(d) if d >= Duration::from_secs(1) => d,
            _ => {
                return Err(bad(
                    "attestation.nonce_ttl",
                    format!("{text:?} is not a duration of at least 1s"),
                ))
            }
        },
    };
    let fixed_nonce = match (&raw.test_fixed_nonce, &raw.test_fixed_nonce_hex) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(bad(
                "attestation.test_fixed_nonce",
                "set test_fixed_nonce or test_fixed_nonce_hex, not both",
            ))
        }
        (Some(text), None) => Some(text.as_bytes().to_vec()),
        (None, Some(hex_text)) => {
            Some(hex::decode(hex_text).map_err(|_| bad("attestation.test_fixed_nonce_hex", "is not hex"))?)
        }
    };
    if let Some(nonce) = &fixed_nonce {
        if !raw.i_understand_this_disables_replay_protection {
            return Err(bad(
                "attestation.test_fixed_nonce",
                "a fixed nonce lets anyone replay captured evidence; it is for tests only and needs attestation.i_understand_this_disables_replay_protection = true",
            ));
        }
        if nonce.is_empty() || nonce.len() > 64 {
            return Err(bad(
                "attestation.test_fixed_nonce",
                "a TPM quote nonce is 1 to 64 bytes",
            ));
        }
    }
    Ok(Attestation {
        tool_path: raw.tool_path.clone().filter(|p| !p.as_os_str().is_empty()),
        nonce_ttl,
        fixed_nonce,
    })
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub attestation: Attestation,
    pub enable_webhook_management: bool,
    pub logging: Logging,
    pub metrics_enable: bool,
    pub metrics_disable_auth: bool,
    pub metrics_period: Duration,
    pub jwt_secret: String,
    pub jwt_ttl: Duration,
    pub bind: IpAddr,
    pub port: u16,
    pub tls: Option<Tls>,
    pub connections: Connections,
    pub cors_origins: Vec<String>,
    pub webui: bool,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    pub passphrase: String,
    pub providers: Vec<Provider>,
    pub proxy: ProxySection,
    pub pool_manager: PoolManagerTimings,
    /// `[default] lease_ttl`: on PostgreSQL, how long a replica's leases outlive its last
    /// renewal (default 15 s); a replica that stops renewing loses its work this long after.
    pub lease_ttl: Duration,
    /// `[apiserver] trusted_proxies`: requests from these take the client's address from
    /// `X-Forwarded-For` (see [`crate::client_addr`]).
    pub trusted_proxies: Vec<crate::client_addr::IpRange>,
    /// Keys in the file that garm-rs does not know (`apiserver.bnid`), ignored; `garm` warns
    /// about each at startup.
    pub unknown_keys: Vec<String>,
}

/// How long the listener waits for slow or idle clients, and how many it serves at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// A request's headers must arrive whole within this, counted from the connection's
    /// start or from the first byte of a request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request for this long is closed, and so is one on
    /// which nothing moves either way for this long (a stalled body, a client that stops
    /// reading its response).
    pub idle_timeout: Duration,
    /// A TLS handshake must be done within this.
    pub tls_handshake_timeout: Duration,
    /// Connections served at once; further ones are closed at once.
    pub max_connections: usize,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

fn connections(raw: &ApiServerSection) -> Result<Connections, ConfigError> {
    let defaults = Connections::default();
    let duration = |key: &str, value: &Option<String>, default: Duration| -> Result<Duration, ConfigError> {
        match value.as_deref() {
            None | Some("") => Ok(default),
            Some(text) => match parse_go_duration(text) {
                Some(d) if d >= Duration::from_millis(100) => Ok(d),
                Some(_) => Err(bad(key, format!("{text:?} is shorter than 100ms"))),
                None => Err(bad(key, format!("{text:?} is not a duration such as 10s"))),
            },
        }
    };
    let max_connections = match raw.max_connections {
        None => defaults.max_connections,
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            return Err(bad(
                "apiserver.max_connections",
                format!("{n} is not between 1 and 1000000"),
            ))
        }
    };
    Ok(Connections {
        header_read_timeout: duration(
            "apiserver.header_read_timeout",
            &raw.header_read_timeout,
            defaults.header_read_timeout,
        )?,
        idle_timeout: duration("apiserver.idle_timeout", &raw.idle_timeout, defaults.idle_timeout)?,
        tls_handshake_timeout: duration(
            "apiserver.tls_handshake_timeout",
            &raw.tls_handshake_timeout,
            defaults.tls_handshake_timeout,
        )?,
        max_connections,
    })
}

/// `[pool_manager]`, validated.
#[derive(Debug, Clone)]
pub struct PoolManagerTimings {
    pub resync: Duration,
    pub idle_resync: Duration,
    pub scale_down_grace: Duration,
    pub orphan_scan: Duration,
    pub provider_scan: Duration,
    pub forge_poll_share: f64,
    pub missed_webhook_scan: Duration,
    pub missed_webhook_scan_max: Duration,
    pub queued_job_check_after: Duration,
}

/// Parses a Go duration string (`8760h`, `1h30m`, `60s`, `500ms`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    // Too large (or not finite) for a Duration: refused, not a panic.
    Duration::try_from_secs_f64(total).ok()
}

/// Which of the configuration's secrets (JWT secret, database passphrase) are strong,
/// checked together: one short-lived process for all (see [`crate::strength`]).
struct Strong(Vec<(String, bool)>);

impl Strong {
    fn of(raw: &RawConfig) -> Self {
        let secrets: Vec<&str> = [raw.jwt_auth.secret.as_deref(), raw.database.passphrase.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        let checks: Vec<(&str, &[&str])> = secrets.iter().map(|s| (*s, &[][..])).collect();
        let verdicts = crate::strength::strong_all(&checks);
        Self(secrets.iter().map(|s| (*s).to_owned()).zip(verdicts).collect())
    }

    fn check(&self, text: &str) -> bool {
        match self.0.iter().find(|(secret, _)| secret == text) {
            Some((_, verdict)) => *verdict,
            None => crate::strength::strong(text, &[]),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| bad("--config", format!("cannot read {}: {err}", path.display())))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|err| read_error(text, err))?;
        let mut config = Self::validate(raw)?;
        // The file parsed above, so it is a TOML table.
        if let Ok(table) = text.parse::<toml::Table>() {
            unknown_keys(&table, "", &mut config.unknown_keys);
        }
        Ok(config)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let logging = validate::logging(&raw)?;
        validate::urls(&raw)?;
        let metrics_period = validate::metrics_period(&raw)?;
        let strong = Strong::of(&raw);
        let (jwt_secret, jwt_ttl) = validate::jwt(&raw, &strong)?;
        let (bind, port, tls) = validate::listener(&raw)?;
        let connections = connections(&raw.apiserver)?;
        let (database_url, passphrase) = validate::database(&raw, &strong)?;
        let providers = validate::providers(&raw)?;
        let (pool_manager, lease_ttl) = validate::timings(&raw)?;

        Ok(Self {
            attestation: attestation(&raw.attestation)?,
            pool_manager,
            lease_ttl,
            enable_webhook_management: raw.default.enable_webhook_management,
            logging,
            metrics_enable: raw.metrics.enable,
            metrics_disable_auth: raw.metrics.disable_auth,
            metrics_period,
            jwt_secret,
            jwt_ttl,
            bind,
            port,
            tls,
            connections,
            cors_origins: raw.apiserver.cors_origins.clone(),
            webui: raw.apiserver.webui.enable,
            database_url,
            passphrase,
            providers,
            proxy: raw.proxy.clone(),
            trusted_proxies: raw
                .apiserver
                .trusted_proxies
                .iter()
                .map(|entry| {
                    crate::client_addr::IpRange::parse(entry).ok_or_else(|| {
                        bad(
                            "apiserver.trusted_proxies",
                            format!("{entry:?} is not an IP address or a CIDR range such as 127.0.0.1/32"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            unknown_keys: Vec::new(),
        })
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }
}

fn postgres_url(pg: &PostgresSection) -> Result<String, ConfigError> {
    if let Some(url) = pg.url.clone().filter(|u| !u.is_empty()) {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad("database.postgresql.url", "must start with postgres://"));
        }
        return Ok(url);
    }
    let field = |k: &str, v: &Option<String>| {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(&format!("database.postgresql.{k}"), "missing"))
    };
    let user = field("username", &pg.username)?;
    let password = field("password", &pg.password)?;
    let host = field("hostname", &pg.hostname)?;
    let database = field("database", &pg.database)?;
    let sslmode = pg.sslmode.clone().unwrap_or_else(|| "prefer".into());
    if !["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(&sslmode.as_str()) {
        return Err(bad(
            "database.postgresql.sslmode",
            format!("{sslmode:?} is not a valid sslmode"),
        ));
    }
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Ok(format!(
        "postgres://{}:{}@{host}:{}/{database}?sslmode={sslmode}",
        enc(&user),
        enc(&password),
        pg.port.unwrap_or(5432)
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

mod keys;
mod validate;

use keys::unknown_keys;
#[cfg(test)]
use keys::KNOWN_KEYS;

#[cfg(test)]
mod tests;
