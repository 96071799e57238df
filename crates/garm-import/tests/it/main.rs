//! Imports the database the real garm made (`shared/fixtures/garm-db`) and checks garm-rs's
//! store against the fixture's README, manifest and API snapshot.

mod fixture;
mod postgres;
mod safety;
mod variants;

use garm_import::{SourceDatabase, SourceSpec};
use garm_store::{Sealer, Store};
use std::path::{Path, PathBuf};

/// garm-rs's passphrase in these tests (garm's is in the fixture).
pub const OUR_PASSPHRASE: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";
pub const GARM_PASSPHRASE: &str = "9LpkqtBpbSYD2oArCTKlhEl9PiUXVRtY";

/// `shared/fixtures/garm-db`, next to the workspace (or `GARM_DB_FIXTURE_DIR`).
pub fn fixture_dir() -> PathBuf {
    match std::env::var("GARM_DB_FIXTURE_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/garm-db"),
    }
}

pub fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture_dir().join("manifest.json")).unwrap()).unwrap()
}

pub fn snapshot() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture_dir().join("api-snapshot.json")).unwrap()).unwrap()
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

pub fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("garm-import-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A copy of the fixture's `garm.db` in `dir` (the shared copy is read-only).
pub fn copy_fixture(dir: &Path) -> PathBuf {
    let to = dir.join("garm.db");
    std::fs::copy(fixture_dir().join("garm.db"), &to).unwrap();
    to
}

pub fn spec(db: &Path) -> SourceSpec {
    SourceSpec {
        database: SourceDatabase::Sqlite(db.to_path_buf()),
        passphrase: GARM_PASSPHRASE.into(),
    }
}

/// A fresh garm-rs SQLite store in `dir`.
pub async fn target(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("garm-rs.db").display());
    Store::connect(&url, Sealer::new(OUR_PASSPHRASE)).await.unwrap()
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
