//! The test provider's TOML config file (`GARM_PROVIDER_CONFIG_FILE`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use garm_provider_protocol::Command;
use serde::Deserialize;

/// Where instances live and which commands misbehave on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// One JSON record per instance, plus the create attempt counter.
    pub state_dir: PathBuf,
    /// One work directory per instance.
    pub sandbox_dir: PathBuf,
    /// Commands that exit 1 without doing anything.
    pub fail_on: Vec<Command>,
    /// Commands that sleep until killed.
    pub hang_on: Vec<Command>,
    /// Commands that print something that is not JSON and exit 0.
    pub garbage_on: Vec<Command>,
    /// Commands that crash: the process aborts (killed by `SIGABRT`, no exit code).
    pub crash_on: Vec<Command>,
    /// What `CreateInstance` does after it created the instance: `fail` (exit 1), `crash`
    /// (abort), `garbage` (print non-JSON, exit 0) or `hang`; the instance is left behind.
    pub after_create: Option<Misbehaviour>,
    /// The first this many creates fail (counted across processes in `state_dir`).
    pub fail_create_times: u32,
    /// Whether `CreateInstance` runs `extra_specs.runner_install_template`.
    pub run_userdata: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    state_dir: PathBuf,
    sandbox_dir: PathBuf,
    #[serde(default)]
    fail_on: Vec<String>,
    #[serde(default)]
    hang_on: Vec<String>,
    #[serde(default)]
    garbage_on: Vec<String>,
    #[serde(default)]
    crash_on: Vec<String>,
    #[serde(default)]
    after_create: Option<String>,
    #[serde(default)]
    fail_create_times: u32,
    #[serde(default)]
    run_userdata: bool,
}

impl Config {
    /// Reads `path`; relative directories are taken relative to the config file's directory.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let raw: Raw = toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
        let base = std::path::absolute(path)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(Config {
            state_dir: base.join(raw.state_dir),
            sandbox_dir: base.join(raw.sandbox_dir),
            fail_on: commands("fail_on", &raw.fail_on)?,
            hang_on: commands("hang_on", &raw.hang_on)?,
            garbage_on: commands("garbage_on", &raw.garbage_on)?,
            crash_on: commands("crash_on", &raw.crash_on)?,
            after_create: raw
                .after_create
                .as_deref()
                .map(|text| text.parse().with_context(|| "invalid after_create".to_string()))
                .transpose()?,
            fail_create_times: raw.fail_create_times,
            run_userdata: raw.run_userdata,
        })
    }
}

/// A way for a command to go wrong after it did its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    Fail,
    Crash,
    Garbage,
    Hang,
}

impl std::str::FromStr for Misbehaviour {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "fail" => Self::Fail,
            "crash" => Self::Crash,
            "garbage" => Self::Garbage,
            "hang" => Self::Hang,
            other => anyhow::bail!("{other:?} is not fail, crash, garbage or hang"),
        })
    }
}

fn commands(key: &str, names: &[String]) -> anyhow::Result<Vec<Command>> {
    names
        .iter()
        .map(|name| {
            name.parse::<Command>()
                .with_context(|| format!("invalid entry in {key}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<Config> {
        let path = std::env::temp_dir().join(format!("garm-test-provider-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        let res = Config::load(&path);
        std::fs::remove_file(&path).unwrap();
        res
    }

    #[test]
    fn switches_name_commands_and_directories_resolve_next_to_the_file() {
        let config = load(
            r#"
            state_dir = "state"
            sandbox_dir = "/srv/sandboxes"
            fail_on = ["DeleteInstance"]
            hang_on = ["CreateInstance", "ListInstances"]
            fail_create_times = 2
            run_userdata = true
            "#,
        )
        .unwrap();
        assert_eq!(config.state_dir, std::env::temp_dir().join("state"));
        assert_eq!(config.sandbox_dir, PathBuf::from("/srv/sandboxes"));
        assert_eq!(config.fail_on, [Command::DeleteInstance]);
        assert_eq!(config.hang_on, [Command::CreateInstance, Command::ListInstances]);
        assert!(config.garbage_on.is_empty());
        assert_eq!(config.fail_create_times, 2);
        assert!(config.run_userdata);
    }

    #[test]
    fn typos_are_errors() {
        let base = "state_dir = \"s\"\nsandbox_dir = \"b\"\n";
        assert!(load(&format!("{base}fail_on = [\"Create\"]")).is_err());
        assert!(load(&format!("{base}run_user_data = true")).is_err());
        assert!(load("state_dir = \"s\"").is_err());
        assert!(load(&format!("{base}after_create = \"explode\"")).is_err());
        assert_eq!(
            load(&format!("{base}after_create = \"hang\"")).unwrap().after_create,
            Some(Misbehaviour::Hang)
        );
    }
}
