//! The local profiles file (`~/.local/share/garm-cli/config.toml`) that remembers garm installations.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

/// The whole profiles file, in garm-cli's TOML layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub active_manager: String,
    /// Kept only so that saving does not drop a setting the Go CLI wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub editor_use_vim: Option<bool>,
    #[serde(default, rename = "manager")]
    pub managers: Vec<Manager>,
}

/// One garm installation: where it is and the bearer token for it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    pub name: String,
    pub base_url: String,
    pub bearer_token: String,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("bearer_token", &"***")
            .finish()
    }
}

/// The folder holding the profiles file, below `home`.
pub fn config_dir(home: &Path) -> PathBuf {
    if cfg!(windows) {
        // On Windows `home` is `%APPDATA%`.
        home.join("garm-cli")
    } else {
        home.join(".local").join("share").join("garm-cli")
    }
}

/// The profiles file, below `home`.
pub fn config_path(home: &Path) -> PathBuf {
    config_dir(home).join("config.toml")
}

/// The folder that `config_dir` is relative to: `$HOME` (`%APPDATA%` on Windows).
pub fn home_from_env() -> anyhow::Result<PathBuf> {
    let var = if cfg!(windows) { "APPDATA" } else { "HOME" };
    match std::env::var_os(var) {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => bail!("fetching home folder: {var} is not set"),
    }
}

impl Config {
    /// Reads the profiles file below `home`; a missing file is an empty config.
    pub fn load(home: &Path) -> anyhow::Result<Config> {
        let path = config_path(home);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", path.display()));
            }
        };
        toml::from_str(&text).with_context(|| format!("decoding {}", path.display()))
    }

    /// Writes the profiles file below `home` (folder mode 0710, file mode 0600 on Unix).
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let dir = config_dir(home);
        create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = config_path(home);
        let text = toml::to_string(self).context("encoding config")?;
        write_private_file(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }

    pub fn has_manager(&self, name: &str) -> bool {
        !name.is_empty() && self.managers.iter().any(|m| m.name == name)
    }

    /// The active profile, or the first one when `active_manager` names none (as garm-cli does).
    pub fn active(&self) -> Option<&Manager> {
        self.managers
            .iter()
            .find(|m| m.name == self.active_manager)
            .or_else(|| self.managers.first())
    }

    /// Adds a profile and makes it the active one; fails if the name is taken.
    pub fn add(&mut self, manager: Manager) -> anyhow::Result<()> {
        if self.has_manager(&manager.name) {
            bail!(
                "a manager with name {} already exists in your local config",
                manager.name
            );
        }
        self.active_manager = manager.name.clone();
        self.managers.push(manager);
        Ok(())
    }

    /// Makes `name` the active profile.
    pub fn switch(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.has_manager(name) {
            bail!("a profile with name {name} does not exist");
        }
        self.active_manager = name.to_string();
        Ok(())
    }

    /// Removes `name`; if it was active, the first remaining profile becomes active.
    pub fn delete(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.has_manager(name) {
            bail!("a profile with name {name} does not exist");
        }
        self.managers.retain(|m| m.name != name);
        if self.active_manager == name {
            self.active_manager = self.managers.first().map(|m| m.name.clone()).unwrap_or_default();
        }
        Ok(())
    }

    /// Replaces the bearer token of profile `name`.
    pub fn set_token(&mut self, name: &str, token: &str) -> anyhow::Result<()> {
        match self.managers.iter_mut().find(|m| m.name == name) {
            Some(manager) => {
                manager.bearer_token = token.to_string();
                Ok(())
            }
            None => bail!("profile {name} not found"),
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o710).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // The mode above only applies to new files; tighten an existing one too.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(data)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    fs::File::create(path)?.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_home(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "garm-cli-test-{}-{}-{}",
            test,
            std::process::id(),
            rand::random::<u32>()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn manager(name: &str) -> Manager {
        Manager {
            name: name.to_string(),
            base_url: format!("https://{name}.example.com"),
            bearer_token: format!("token-{name}"),
        }
    }

    #[test]
    fn missing_file_loads_as_empty_config() {
        let home = temp_home("missing");
        let config = Config::load(&home).unwrap();
        assert!(config.managers.is_empty());
        assert!(config.active().is_none());
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn saved_config_loads_back_identically_in_garm_layout() {
        let home = temp_home("roundtrip");
        let mut config = Config::default();
        config.add(manager("dev")).unwrap();
        config.add(manager("prod")).unwrap();
        config.switch("dev").unwrap();
        config.save(&home).unwrap();

        let text = fs::read_to_string(config_path(&home)).unwrap();
        assert!(text.starts_with("active_manager = \"dev\""), "{text}");
        assert!(text.contains("[[manager]]"), "{text}");
        assert!(text.contains("bearer_token = \"token-prod\""), "{text}");

        let loaded = Config::load(&home).unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded.active().unwrap().name, "dev");
        fs::remove_dir_all(home).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn profile_file_and_folder_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = temp_home("modes");
        let mut config = Config::default();
        config.add(manager("dev")).unwrap();
        config.save(&home).unwrap();
        let dir_mode = fs::metadata(config_dir(&home)).unwrap().permissions().mode();
        let file_mode = fs::metadata(config_path(&home)).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o710);
        assert_eq!(file_mode & 0o777, 0o600);
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn go_written_file_with_editor_setting_survives_a_round_trip() {
        let home = temp_home("go");
        fs::create_dir_all(config_dir(&home)).unwrap();
        let text = "active_manager = \"b\"\neditor_use_vim = true\n\n[[manager]]\nname = \"a\"\nbase_url = \"http://a\"\nbearer_token = \"t\"\n\n[[manager]]\nname = \"b\"\nbase_url = \"http://b/garm\"\nbearer_token = \"u\"\n";
        fs::write(config_path(&home), text).unwrap();
        let config = Config::load(&home).unwrap();
        assert_eq!(config.editor_use_vim, Some(true));
        assert_eq!(config.active().unwrap().base_url, "http://b/garm");
        config.save(&home).unwrap();
        assert_eq!(Config::load(&home).unwrap(), config);
        fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let mut config = Config::default();
        config.add(manager("dev")).unwrap();
        let err = config.add(manager("dev")).unwrap_err();
        assert!(err.to_string().contains("already exists"));
        assert_eq!(config.managers.len(), 1);
    }

    #[test]
    fn deleting_the_active_profile_activates_the_first_remaining_one() {
        let mut config = Config::default();
        config.add(manager("a")).unwrap();
        config.add(manager("b")).unwrap();
        config.add(manager("c")).unwrap();
        assert_eq!(config.active_manager, "c");
        config.delete("c").unwrap();
        assert_eq!(config.active_manager, "a");
        config.delete("b").unwrap();
        assert_eq!(config.active_manager, "a");
        config.delete("a").unwrap();
        assert_eq!(config.active_manager, "");
        assert!(config.delete("a").is_err());
    }

    #[test]
    fn unknown_active_manager_falls_back_to_the_first_profile() {
        let config = Config {
            active_manager: "gone".into(),
            editor_use_vim: None,
            managers: vec![manager("x"), manager("y")],
        };
        assert_eq!(config.active().unwrap().name, "x");
    }

    #[test]
    fn set_token_replaces_only_the_named_profile() {
        let mut config = Config::default();
        config.add(manager("a")).unwrap();
        config.add(manager("b")).unwrap();
        config.set_token("a", "new").unwrap();
        assert_eq!(config.managers[0].bearer_token, "new");
        assert_eq!(config.managers[1].bearer_token, "token-b");
        assert!(config.set_token("zzz", "t").is_err());
        assert!(!format!("{:?}", config.managers[0]).contains("new"));
    }
}
