//! Instance records on disk: one JSON file per instance in `state_dir/instances`, plus the create counter.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use garm_provider_protocol::ProviderInstance;
use serde::{Deserialize, Serialize};

/// What the provider remembers about one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub instance: ProviderInstance,
    pub controller_id: String,
    pub pool_id: String,
    /// The install script's process group, if one was started.
    pub install_pgid: Option<i32>,
}

/// The records under one state directory.
pub struct Store {
    instances: PathBuf,
    attempts: PathBuf,
}

impl Store {
    pub fn open(state_dir: &Path) -> anyhow::Result<Store> {
        let store = Store {
            instances: state_dir.join("instances"),
            attempts: state_dir.join("create-attempts"),
        };
        for dir in [&store.instances, &store.attempts] {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(store)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.instances.join(format!("{name}.json"))
    }

    /// The record of `name`, if there is one (names that cannot be file names have none).
    pub fn get(&self, name: &str) -> anyhow::Result<Option<Record>> {
        if !is_safe_name(name) {
            return Ok(None);
        }
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).with_context(|| format!("corrupt record {}", path.display()))?,
            )),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the record atomically (other provider processes may read it concurrently).
    pub fn put(&self, record: &Record) -> anyhow::Result<()> {
        let name = &record.instance.name;
        anyhow::ensure!(is_safe_name(name), "{name:?} cannot be used as an instance name");
        let path = self.path(name);
        let temp = self.instances.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&temp, serde_json::to_vec_pretty(record)?)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        std::fs::rename(&temp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(err) if err.kind() != ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// Every record, ordered by name.
    pub fn all(&self) -> anyhow::Result<Vec<Record>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.instances)? {
            let file_name = entry?.file_name();
            let file_name = file_name.to_string_lossy();
            if let Some(name) = file_name.strip_suffix(".json").filter(|name| is_safe_name(name)) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let mut records = Vec::new();
        for name in names {
            // A record deleted meanwhile by another process is simply gone.
            records.extend(self.get(&name)?);
        }
        Ok(records)
    }

    /// Counts one more create attempt and returns its number (1 for the first), safely across processes.
    pub fn next_create_attempt(&self) -> anyhow::Result<u32> {
        for attempt in 1.. {
            let marker = self.attempts.join(attempt.to_string());
            match OpenOptions::new().write(true).create_new(true).open(&marker) {
                Ok(_) => return Ok(attempt),
                Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err).with_context(|| format!("cannot create {}", marker.display())),
            }
        }
        unreachable!("the attempt counter is unbounded")
    }
}

/// Whether `name` can be used as a file and directory name without escaping its parent.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_state_directory() {
        assert!(is_safe_name("garm-k3v9q2wz8d1a"));
        for bad in ["", "..", ".hidden", "a/b", "../etc/passwd", "a b"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn records_round_trip_and_attempts_count_up() {
        let dir = std::env::temp_dir().join(format!("garm-test-provider-store-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir).unwrap();
        let record = Record {
            instance: ProviderInstance {
                name: "garm-1".into(),
                provider_id: "garm-1".into(),
                ..Default::default()
            },
            controller_id: "c".into(),
            pool_id: "p".into(),
            install_pgid: Some(42),
        };
        store.put(&record).unwrap();
        assert_eq!(store.get("garm-1").unwrap(), Some(record.clone()));
        assert_eq!(store.all().unwrap(), [record]);
        store.remove("garm-1").unwrap();
        assert_eq!(store.get("garm-1").unwrap(), None);
        assert_eq!(store.get("../garm-1").unwrap(), None);
        assert_eq!(store.next_create_attempt().unwrap(), 1);
        assert_eq!(store.next_create_attempt().unwrap(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
