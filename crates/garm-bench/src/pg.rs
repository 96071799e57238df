//! The PostgreSQL server the replica measurement runs on: `GARM_TEST_POSTGRES_URL` when set,
//! else the throwaway cluster `.ci/postgres.sh` starts; a fresh database per run.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The admin URL of a server that takes `CREATE DATABASE`.
pub fn server() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("GARM_TEST_POSTGRES_URL") {
        if !url.trim().is_empty() {
            return Ok(url.trim().to_owned());
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed (GARM_TEST_POSTGRES_URL unset): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `psql` on the PATH, else the newest one of the Debian packages.
fn psql() -> PathBuf {
    let on_path = Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("psql");
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("psql"))
}

/// Runs `sql` on the database `url` names; returns what it printed, trimmed.
pub fn query(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new(psql())
        .args([url, "-qtAc", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run(admin: &str, sql: &str) -> anyhow::Result<()> {
    query(admin, sql).map(drop)
}

/// A database created for one run, dropped with it.
pub struct Database {
    admin: String,
    pub name: String,
    pub url: String,
    pub keep: bool,
}

impl Database {
    /// Creates `garm_bench_<random>` on the server `admin` points at.
    pub fn create(admin: &str, keep: bool) -> anyhow::Result<Self> {
        let name = format!("garm_bench_{}", uuid::Uuid::new_v4().simple());
        run(admin, &format!("CREATE DATABASE {name}"))?;
        // Keep the query string (e.g. `?sslmode=...`) of the admin URL, if any.
        let (base, query) = admin
            .split_once('?')
            .map_or((admin, String::new()), |(b, q)| (b, format!("?{q}")));
        let (server, _) = base
            .rsplit_once('/')
            .context("the PostgreSQL URL ends in a database name")?;
        Ok(Self {
            admin: admin.to_owned(),
            url: format!("{server}/{name}{query}"),
            name,
            keep,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("garm-bench: kept database {}", self.name);
            return;
        }
        if let Err(err) = run(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("garm-bench: {err:#}");
        }
    }
}
