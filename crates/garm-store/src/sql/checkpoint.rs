//! SQLite WAL checkpoints, taken off the writer's path.
//!
//! By default SQLite checkpoints in the connection that commits: the commit that takes the
//! WAL past 1,000 pages copies them into the database file and syncs both files, so every
//! few hundred intake batches one of them waits tens of milliseconds for the disk, and so do
//! the deliveries queued behind it.
//!
//! # Guarantees
//! - After the writer connection is used, a background task checkpoints (`PASSIVE`) on a
//!   read connection within [`SETTLE`] plus the checkpoint's own time; a `PASSIVE`
//!   checkpoint copies and syncs without holding the writer lock, so commits go on meanwhile.
//! - The WAL stays bounded: once it holds [`RESTART_AT`] pages, the task takes a `RESTART`
//!   checkpoint, which waits for the commit in progress, copies the few pages the passive
//!   ones have not, and lets the next commit write the WAL from its start again.
//! - If the task falls behind or fails, the writer's own checkpoint at [`WRITER_FALLBACK`]
//!   pages still bounds the WAL, as SQLite's default does.
//! - An idle store takes no checkpoint and wakes nobody: the task waits for the next use.
//! - The task ends when the last handle to the store is dropped.

use sqlx::{AnyPool, Row};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the task lets writes accumulate before a checkpoint.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);

/// WAL size (pages) at which the task restarts the WAL.
pub(crate) const RESTART_AT: i64 = 4_000;

/// The writer connection's `wal_autocheckpoint`: its own checkpoint, only if the task lags.
pub(crate) const WRITER_FALLBACK: i64 = 16_000;

/// The sender the writer pool signals after each use (`after_release`), and the receiver
/// [`spawn`] waits on. One slot: a signal while one is pending is dropped.
pub(crate) fn signal() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel(1)
}

/// Starts the checkpoint task on `read` (connections that may checkpoint but not write).
pub(crate) fn spawn(read: AnyPool, mut used: mpsc::Receiver<()>) {
    tokio::spawn(async move {
        while used.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            // Uses during the pause are covered by this checkpoint.
            while used.try_recv().is_ok() {}
            if let Err(err) = checkpoint(&read).await {
                tracing::warn!(error = %err, "WAL checkpoint failed; the writer checkpoints itself meanwhile");
            }
        }
    });
}

/// One `PASSIVE` checkpoint, then a `RESTART` if the WAL has grown past [`RESTART_AT`].
/// Answers the WAL's size in pages before the checkpoint.
pub(crate) async fn checkpoint(read: &AnyPool) -> Result<i64, sqlx::Error> {
    // (busy, pages in the WAL, pages checkpointed)
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(read).await?;
    let pages: i64 = row.try_get(1)?;
    if pages >= RESTART_AT {
        sqlx::query("PRAGMA wal_checkpoint(RESTART)").fetch_one(read).await?;
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobRecord, Sealer, Store};

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn job(id: i64) -> JobRecord {
        JobRecord {
            workflow_job_id: id,
            status: "queued".into(),
            // About a page per job, so a few hundred jobs are a few hundred WAL pages.
            name: "x".repeat(4000),
            ..Default::default()
        }
    }

    async fn store() -> (Store, Dir, std::path::PathBuf) {
        let dir = Dir(std::env::temp_dir().join(format!("garm-checkpoint-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let file = dir.0.join("garm.db");
        let url = format!("sqlite://{}", file.display());
        let store = Store::connect(&url, Sealer::new("tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0"))
            .await
            .unwrap();
        (store, dir, file)
    }

    /// Waits until the database file (not the WAL) holds at least `bytes`.
    async fn file_reaches(file: &std::path::Path, bytes: u64) -> bool {
        for _ in 0..100 {
            if std::fs::metadata(file).unwrap().len() >= bytes {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// A few hundred pages are far below both SQLite's default checkpoint (1,000 pages) and the
    /// writer's own ([`WRITER_FALLBACK`]): only the task can have copied them into the file.
    #[tokio::test]
    async fn the_task_copies_the_wal_into_the_database_soon_after_writes() {
        let (store, _dir, file) = store().await;
        let before = std::fs::metadata(&file).unwrap().len();
        for id in 0..300 {
            store.put_job(&job(id)).await.unwrap();
        }
        assert!(
            file_reaches(&file, before + 300 * 4000).await,
            "the database file stayed at {} bytes",
            std::fs::metadata(&file).unwrap().len()
        );
    }

    /// Writes that go on while checkpoints run leave no moment in which everything is copied,
    /// so `PASSIVE` checkpoints alone never let SQLite restart the WAL and it grows with every
    /// commit. The task's `RESTART` past [`RESTART_AT`] pages keeps it bounded.
    #[tokio::test]
    async fn the_wal_stays_bounded_while_writes_go_on() {
        let (store, _dir, file) = store().await;
        let total = 5 * RESTART_AT;
        for start in (0..total).step_by(50) {
            let jobs: Vec<JobRecord> = (start..start + 50).map(job).collect();
            let rows: Vec<&JobRecord> = jobs.iter().collect();
            store.batch().await.unwrap().commit_jobs(&rows).await.unwrap();
            // Intake's batches leave gaps between them, where a checkpoint can take the lock.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let wal = std::fs::metadata(file.with_extension("db-wal")).unwrap().len();
        let page = 4096 + 24;
        assert!(
            wal < (2 * RESTART_AT as u64) * page,
            "the WAL grew to {wal} bytes for {} pages of writes",
            total
        );
    }
}
