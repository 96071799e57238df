//! Opening the database: the connection pools of each backend, the schema, and on SQLite the
//! read connections and their checkpoint task.

use super::{changes, checkpoint, Backend, Result, Store};
use crate::seal::Sealer;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::sync::Once;
use tokio::sync::mpsc;

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`: `sqlite://<path>`
    /// or `postgres://…`. Refuses a schema newer than this build knows.
    pub async fn connect(url: &str, sealer: Sealer) -> Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let (used, checkpoints) = checkpoint::signal();
        let pool = match backend {
            Backend::Sqlite => sqlite_writer(url, used).await?,
            Backend::Postgres => postgres(url).await?,
        };
        let mut store = Self {
            read: pool.clone(),
            pool,
            backend,
            sealer,
            views: Default::default(),
            changes: changes::feed(),
            fence: None,
            peers: None,
        };
        store.migrate().await?;
        if backend == Backend::Postgres {
            store.start_peers(url).await?;
        }
        // An in-memory database is private to its one connection.
        if backend == Backend::Sqlite && !url.contains("memory") {
            store.read = sqlite_readers(url)?;
            checkpoint::spawn(store.read.clone(), checkpoints);
        }
        Ok(store)
    }
}

/// SQLite's one writer connection. One connection: SQLite has one writer anyway, and it makes
/// every read-check-write sequence (such as the max_runners check) atomic. Each release of it
/// tells the checkpoint task (`used`) that the WAL may have grown.
async fn sqlite_writer(url: &str, used: mpsc::Sender<()>) -> Result<AnyPool> {
    let url = if url.contains('?') {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    };
    // No ping before each acquire (sqlx's default): a connection to a local file does not go
    // stale, and the ping is one more hand-off to SQLite's thread on every store call.
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                // Checkpoints are the background task's (`checkpoint`).
                conn.execute(&*format!("PRAGMA wal_autocheckpoint = {}", checkpoint::WRITER_FALLBACK))
                    .await?;
                Ok(())
            })
        })
        .after_release(move |_, _| {
            // Full means a checkpoint is already due.
            used.try_send(()).ok();
            Box::pin(async { Ok(true) })
        })
        .connect(&url)
        .await?;
    Ok(pool)
}

/// The PostgreSQL pool, shared by writes and reads.
async fn postgres(url: &str) -> Result<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // A replica frozen mid-transaction (SIGSTOP, a stalled VM) would hold its row
                // locks, the lease row read `FOR SHARE` among them, and block the takeover of
                // its entities for as long as it is frozen. The server ends such a transaction
                // instead; none of ours waits between statements for anywhere near this long.
                conn.execute("SET idle_in_transaction_session_timeout = '10s'").await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// SQLite's read-only connections, opened when first used: WAL lets them read beside the
/// writer, and the checkpoint task runs on them.
fn sqlite_readers(url: &str) -> Result<AnyPool> {
    let url = url.replacen("mode=rwc", "mode=rw", 1);
    let url = if url.contains('?') {
        url
    } else {
        format!("{url}?mode=rw")
    };
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA query_only = ON").await?;
                Ok(())
            })
        })
        .connect_lazy(&url)?;
    Ok(pool)
}
