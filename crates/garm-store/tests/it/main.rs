//! Store conformance suite: every test runs on SQLite, and on PostgreSQL when
//! `GARM_TEST_POSTGRES_URL` points at a server where we may create databases.

mod batch;
mod conformance;
mod import;
mod leases;
mod scalesets;

use garm_store::{Sealer, Store};

pub const PASSPHRASE: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";

/// A fresh, empty database on the named backend, with its URL.
pub struct Fresh {
    pub store: Store,
    pub url: String,
    _dir: Option<TempDir>,
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("garm-store-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub async fn fresh(backend: &str) -> Option<Fresh> {
    match backend {
        "sqlite" => {
            let dir = temp_dir();
            let url = format!("sqlite://{}", dir.0.join("garm.db").display());
            let store = Store::connect(&url, Sealer::new(PASSPHRASE)).await.unwrap();
            Some(Fresh {
                store,
                url,
                _dir: Some(dir),
            })
        }
        _ => {
            let admin = std::env::var("GARM_TEST_POSTGRES_URL").ok()?;
            let name = format!("garm_test_{}", uuid::Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            let url = format!("{base}/{name}");
            let store = Store::connect(&url, Sealer::new(PASSPHRASE)).await.unwrap();
            Some(Fresh { store, url, _dir: None })
        }
    }
}

/// Declares one test per backend for an async fn taking a `Fresh`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::fresh("sqlite").await.unwrap()).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                match $crate::fresh("postgres").await {
                    Some(f) => super::$name(f).await,
                    None => eprintln!("GARM_TEST_POSTGRES_URL unset: skipping the PostgreSQL run of {}", stringify!($name)),
                }
            })*
        }
    };
}
