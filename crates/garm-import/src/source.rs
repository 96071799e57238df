//! Where garm's database is (its config file, or a path or URL) and opening it without writing.

use crate::ImportError;
use std::path::{Path, PathBuf};

/// garm's database and the passphrase its secrets are sealed with.
#[derive(Clone)]
pub struct SourceSpec {
    pub database: SourceDatabase,
    pub passphrase: String,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field("database", &self.database.describe())
            .field("passphrase", &"***")
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum SourceDatabase {
    /// garm's SQLite file (`[database.sqlite3] db_file`).
    Sqlite(PathBuf),
    /// A `postgres://` URL (it may hold a password, so it is never printed whole).
    Postgres(String),
}

impl std::fmt::Debug for SourceDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SourceDatabase {
    /// A printable name: the file, or the URL without user and password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(raw) => match url::Url::parse(raw) {
                Ok(url) => format!(
                    "postgres://{}:{}{}",
                    url.host_str().unwrap_or("?"),
                    url.port().unwrap_or(5432),
                    url.path()
                ),
                Err(_) => "postgres://…".into(),
            },
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct GarmConfig {
    database: DatabaseSection,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DatabaseSection {
    backend: String,
    passphrase: String,
    sqlite3: SqliteSection,
    postgresql: PostgresSection,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct SqliteSection {
    db_file: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PostgresSection {
    username: String,
    password: String,
    hostname: String,
    port: Option<u16>,
    database: String,
    sslmode: String,
}

impl SourceSpec {
    /// Reads the `[database]` section of garm's `config.toml` (nothing else in it matters here).
    pub fn from_garm_config(path: &Path) -> Result<Self, ImportError> {
        let bad = |reason: String| ImportError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|err| bad(format!("cannot read it: {err}")))?;
        let config: GarmConfig = toml::from_str(&text).map_err(|err| bad(format!("not valid TOML: {err}")))?;
        let db = config.database;
        if db.passphrase.is_empty() {
            return Err(bad("[database] passphrase is missing".into()));
        }
        let database = match db.backend.as_str() {
            "sqlite3" => {
                if db.sqlite3.db_file.is_empty() {
                    return Err(bad("[database.sqlite3] db_file is missing".into()));
                }
                SourceDatabase::Sqlite(PathBuf::from(db.sqlite3.db_file))
            }
            "postgresql" => SourceDatabase::Postgres(postgres_url(&db.postgresql).map_err(bad)?),
            "mysql" => return Err(bad("garm's MySQL backend is not supported yet".into())),
            other => {
                return Err(bad(format!(
                    "[database] backend {other:?} is not sqlite3 or postgresql"
                )))
            }
        };
        Ok(Self {
            database,
            passphrase: db.passphrase,
        })
    }
}

fn postgres_url(pg: &PostgresSection) -> Result<String, String> {
    for (key, value) in [
        ("username", &pg.username),
        ("hostname", &pg.hostname),
        ("database", &pg.database),
    ] {
        if value.is_empty() {
            return Err(format!("[database.postgresql] {key} is missing"));
        }
    }
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let sslmode = if pg.sslmode.is_empty() { "prefer" } else { &pg.sslmode };
    Ok(format!(
        "postgres://{}:{}@{}:{}/{}?sslmode={sslmode}",
        enc(&pg.username),
        enc(&pg.password),
        pg.hostname,
        pg.port.unwrap_or(5432),
        enc(&pg.database)
    ))
}

/// An open, read-only connection to garm's database, and a private copy to remove afterwards.
pub(crate) struct Opened {
    pub conn: sqlx::AnyConnection,
    pub backend: SourceKind,
    copy: Option<PathBuf>,
    /// Why the source was read through a copy, for the report.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    Sqlite,
    Postgres,
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(dir) = &self.copy {
            // Best effort: a leftover copy in the temporary directory is harmless.
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

/// Opens garm's database so that nothing is written next to it.
///
/// An SQLite file without a `-wal` beside it is opened `immutable`, which creates no `-wal` or
/// `-shm` files. garm does not checkpoint when it stops, so its last writes are often still in
/// `garm.db-wal`: then the file and its WAL are copied to a private directory and the copy is
/// opened (SQLite folds the WAL into the copy, never into the source).
pub(crate) async fn open(database: &SourceDatabase) -> Result<Opened, ImportError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    match database {
        SourceDatabase::Postgres(url) => {
            let mut conn = sqlx::AnyConnection::connect(url).await.map_err(ImportError::Source)?;
            sqlx::Executor::execute(&mut conn, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                .await
                .map_err(ImportError::Source)?;
            Ok(Opened {
                conn,
                backend: SourceKind::Postgres,
                copy: None,
                note: None,
            })
        }
        SourceDatabase::Sqlite(path) => {
            if !path.is_file() {
                return Err(ImportError::Missing(path.clone()));
            }
            let wal = sibling(path, "-wal");
            let has_wal = std::fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false);
            let (url, copy, note) = if has_wal {
                let dir = std::env::temp_dir().join(format!("garm-import-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir).map_err(ImportError::Io)?;
                let copied = dir.join("garm.db");
                std::fs::copy(path, &copied).map_err(ImportError::Io)?;
                std::fs::copy(&wal, sibling(&copied, "-wal")).map_err(ImportError::Io)?;
                let url = format!("sqlite://{}?mode=rw", copied.display());
                let note = format!("{} has a write-ahead log: read through a private copy", path.display());
                (url, Some(dir), Some(note))
            } else {
                (
                    format!("sqlite://{}?immutable=true&mode=ro", path.display()),
                    None,
                    None,
                )
            };
            let conn = sqlx::AnyConnection::connect(&url).await.map_err(ImportError::Source)?;
            Ok(Opened {
                conn,
                backend: SourceKind::Sqlite,
                copy,
                note,
            })
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
