//! The provider's TOML config file (`GARM_PROVIDER_CONFIG_FILE`): engine socket, network, images, labels, flavors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reserved::RESERVED_LABEL_PREFIX;

/// The engine socket when the config names none.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The network mode when the config names none: containers share the host's network.
pub const DEFAULT_NETWORK_MODE: &str = "host";

/// How the provider reaches the Docker engine and shapes the containers it creates.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The engine's Unix socket (a `unix://` prefix in the file is accepted and dropped).
    pub socket: PathBuf,
    /// Docker's `HostConfig.NetworkMode`: `host`, `bridge`, `none` or a network name.
    pub network_mode: String,
    /// The image for pools whose `image` is empty.
    pub default_image: Option<String>,
    /// Runs containers as this user (`name`, `uid` or `uid:gid`) instead of the image's.
    pub user: Option<String>,
    /// Runs Docker's init (tini) as PID 1, which reaps the runner's orphaned processes.
    pub init: bool,
    /// How long a deleted container gets to stop before it is killed.
    pub stop_timeout_seconds: u32,
    /// Timeout of each Engine API request.
    pub api_timeout_seconds: u64,
    /// Extra labels for every container (never `garm.*`, which the provider owns).
    pub labels: BTreeMap<String, String>,
    /// Pool flavor name → resource limits.
    pub flavors: BTreeMap<String, Flavor>,
}

/// The resource limits of one flavor; a limit left out is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flavor {
    /// CPUs the container may use (Docker's `--cpus`), fractions allowed.
    pub cpus: Option<f64>,
    /// Memory limit in MiB (Docker's `--memory`).
    pub memory_mb: Option<u64>,
}

impl Flavor {
    /// `HostConfig.NanoCpus`: CPUs in units of 10⁻⁹.
    pub fn nano_cpus(&self) -> Option<i64> {
        // Invariant: `Config::parse` checked that `cpus` is positive and at most `MAX_CPUS`.
        self.cpus.map(|cpus| (cpus * 1e9).round() as i64)
    }

    /// `HostConfig.Memory` in bytes.
    pub fn memory_bytes(&self) -> Option<i64> {
        // Invariant: `Config::parse` checked that `memory_mb` is at most `MAX_MEMORY_MB`.
        self.memory_mb.map(|mb| (mb * 1024 * 1024) as i64)
    }
}

/// More CPUs than any machine has; a guard against typos and overflow.
const MAX_CPUS: f64 = 4096.0;
/// 1 PiB; a guard against typos and overflow.
const MAX_MEMORY_MB: u64 = 1 << 30;
/// Docker refuses memory limits below 6 MiB.
const MIN_MEMORY_MB: u64 = 6;

/// The config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the provider config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse the provider config file {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// A pool names a flavor the config does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flavor {name:?}: the provider config defines {}", known_flavors(.known))]
pub struct UnknownFlavor {
    pub name: String,
    pub known: Vec<String>,
}

fn known_flavors(known: &[String]) -> String {
    if known.is_empty() {
        "no flavors (add a [flavors.<name>] table)".to_owned()
    } else {
        known
            .iter()
            .map(|name| format!("{name:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    socket: Option<String>,
    network_mode: Option<String>,
    default_image: Option<String>,
    user: Option<String>,
    init: Option<bool>,
    stop_timeout_seconds: Option<u32>,
    api_timeout_seconds: Option<u64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    flavors: BTreeMap<String, Flavor>,
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// `None` for a missing or blank value.
fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|err| match err {
            ParseError::Toml(source) => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            ParseError::Config(err) => err,
        })
    }

    /// Parses and checks the text of a config file.
    fn parse(text: &str) -> Result<Config, ParseError> {
        let raw: Raw = toml::from_str(text).map_err(ParseError::Toml)?;
        let socket = non_blank(raw.socket).unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
        let socket = PathBuf::from(socket.strip_prefix("unix://").unwrap_or(&socket));
        if !socket.is_absolute() {
            return Err(invalid("socket", "must be an absolute path to a Unix socket").into());
        }
        for (name, value) in &raw.labels {
            if name.is_empty() || name.starts_with(RESERVED_LABEL_PREFIX) {
                return Err(invalid(
                    format!("labels.{name}"),
                    format!("label names must be non-empty and must not start with {RESERVED_LABEL_PREFIX:?}"),
                )
                .into());
            }
            if value.contains('\0') {
                return Err(invalid(format!("labels.{name}"), "contains a NUL character").into());
            }
        }
        for (name, flavor) in &raw.flavors {
            check_flavor(name, flavor)?;
        }
        let stop_timeout_seconds = raw.stop_timeout_seconds.unwrap_or(5);
        if stop_timeout_seconds > i32::MAX as u32 {
            return Err(invalid("stop_timeout_seconds", "is too large").into());
        }
        let api_timeout_seconds = raw.api_timeout_seconds.unwrap_or(120);
        if api_timeout_seconds == 0 {
            return Err(invalid("api_timeout_seconds", "must be at least 1").into());
        }
        Ok(Config {
            socket,
            network_mode: non_blank(raw.network_mode).unwrap_or_else(|| DEFAULT_NETWORK_MODE.to_owned()),
            default_image: non_blank(raw.default_image),
            user: non_blank(raw.user),
            init: raw.init.unwrap_or(true),
            stop_timeout_seconds,
            api_timeout_seconds,
            labels: raw.labels,
            flavors: raw.flavors,
        })
    }

    /// The limits of flavor `name`.
    pub fn flavor(&self, name: &str) -> Result<&Flavor, UnknownFlavor> {
        self.flavors.get(name).ok_or_else(|| UnknownFlavor {
            name: name.to_owned(),
            known: self.flavors.keys().cloned().collect(),
        })
    }
}

fn check_flavor(name: &str, flavor: &Flavor) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(invalid("flavors", "flavor names must not be empty"));
    }
    if let Some(cpus) = flavor.cpus {
        if !(cpus > 0.0 && cpus <= MAX_CPUS) {
            return Err(invalid(
                format!("flavors.{name}.cpus"),
                format!("must be greater than 0 and at most {MAX_CPUS}"),
            ));
        }
    }
    if let Some(memory_mb) = flavor.memory_mb {
        if !(MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&memory_mb) {
            return Err(invalid(
                format!("flavors.{name}.memory_mb"),
                format!("must be between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} (MiB)"),
            ));
        }
    }
    Ok(())
}

/// Why `Config::parse` failed, before the file name is known.
#[derive(Debug)]
enum ParseError {
    Toml(toml::de::Error),
    Config(ConfigError),
}

impl From<ConfigError> for ParseError {
    fn from(err: ConfigError) -> Self {
        ParseError::Config(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text).map_err(|err| match err {
            ParseError::Toml(err) => err.to_string(),
            ParseError::Config(err) => err.to_string(),
        })
    }

    #[test]
    fn an_empty_file_means_host_networking_on_the_default_socket() {
        let config = parse("").unwrap();
        assert_eq!(config.socket, PathBuf::from("/var/run/docker.sock"));
        assert_eq!(config.network_mode, "host");
        assert_eq!(config.default_image, None);
        assert!(config.init);
        assert_eq!(config.stop_timeout_seconds, 5);
        assert!(config.flavors.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            r#"
            socket = "unix:///run/user/1000/docker.sock"
            network_mode = "garm-runners"
            default_image = "garm-rs/runner:latest"
            user = "1001:1001"
            init = false
            stop_timeout_seconds = 2
            api_timeout_seconds = 30

            [labels]
            "com.example.team" = "ci"

            [flavors.small]
            cpus = 1.5
            memory_mb = 2048

            [flavors.unlimited]
            "#,
        )
        .unwrap();
        assert_eq!(config.socket, PathBuf::from("/run/user/1000/docker.sock"));
        assert_eq!(config.network_mode, "garm-runners");
        assert_eq!(config.default_image.as_deref(), Some("garm-rs/runner:latest"));
        assert_eq!(config.user.as_deref(), Some("1001:1001"));
        assert!(!config.init);
        assert_eq!(config.stop_timeout_seconds, 2);
        assert_eq!(config.api_timeout_seconds, 30);
        assert_eq!(config.labels["com.example.team"], "ci");
        let small = config.flavor("small").unwrap();
        assert_eq!(small.nano_cpus(), Some(1_500_000_000));
        assert_eq!(small.memory_bytes(), Some(2048 * 1024 * 1024));
        let unlimited = config.flavor("unlimited").unwrap();
        assert_eq!((unlimited.nano_cpus(), unlimited.memory_bytes()), (None, None));
    }

    #[test]
    fn an_unknown_flavor_names_the_known_ones() {
        let config = parse("[flavors.small]\ncpus = 1\n[flavors.large]\ncpus = 4\n").unwrap();
        let err = config.flavor("medium").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown flavor "medium": the provider config defines "large", "small""#
        );
        let err = parse("").unwrap().flavor("").unwrap_err();
        assert!(err.to_string().contains("no flavors"), "{err}");
    }

    #[test]
    fn mistakes_are_reported_with_their_key() {
        let cases = [
            ("netwrok_mode = \"host\"", "unknown field `netwrok_mode`"),
            ("socket = \"docker.sock\"", "config key `socket`"),
            ("[labels]\n\"garm.pool-id\" = \"x\"", "config key `labels.garm.pool-id`"),
            ("[flavors.small]\ncpus = 0", "config key `flavors.small.cpus`"),
            ("[flavors.small]\ncpus = -1.0", "config key `flavors.small.cpus`"),
            ("[flavors.small]\nmemory_mb = 1", "config key `flavors.small.memory_mb`"),
            ("[flavors.small]\nmemory = 1", "unknown field `memory`"),
            ("api_timeout_seconds = 0", "config key `api_timeout_seconds`"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
