//! Offline checks of the deployment files: Terraform, Dockerfile and the image's scripts.

mod dockerfile;
mod group;
mod scripts;
mod terraform;
mod terraform_postgres;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// A file of the workspace, as text.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

/// Whether `program` is on `PATH`; prints why a check is skipped when it is not.
pub fn have(program: &str, check: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    if !found {
        println!("skipping {check}: {program} is not installed");
    }
    found
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let unique = format!(
            "garm-deploy-check-{what}-{}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        );
        let dir = std::env::temp_dir().join(unique.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', ""));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
