//! Intake's batch transaction: its two round trips (`claim_and_read`, `commit_jobs`) and
//! what a batch that does not commit leaves behind, on both backends.

use crate::{conformance, Fresh};
use garm_store::*;

conformance!(
    a_batch_claims_reads_and_commits_in_two_steps,
    a_batch_dropped_before_its_commit_leaves_nothing_and_the_store_goes_on,
    a_batch_whose_job_write_fails_keeps_none_of_its_claims,
);

fn job(id: i64, name: &str) -> JobRecord {
    JobRecord {
        workflow_job_id: id,
        action: "queued".to_string().into(),
        status: "queued".into(),
        name: name.into(),
        labels: vec!["self-hosted".into()],
        ..Default::default()
    }
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| k.to_string()).collect()
}

async fn a_batch_claims_reads_and_commits_in_two_steps(f: Fresh) {
    f.store.put_job(&job(1, "stored before")).await.unwrap();
    // A batch with nothing to write commits without having begun.
    f.store.batch().await.unwrap().commit_jobs(&[]).await.unwrap();
    let mut batch = f.store.batch().await.unwrap();
    let (claimed, jobs) = batch
        .claim_and_read(&keys(&["9:b", "9:a", "9:b"]), &[1, 2])
        .await
        .unwrap();
    let mut claimed: Vec<String> = claimed.into_iter().collect();
    claimed.sort();
    assert_eq!(claimed, ["9:a", "9:b"]);
    // Only the stored job is read back, with what was stored.
    assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(jobs[&1].name, "stored before");
    let (one, two) = (job(1, "updated"), job(2, "new"));
    batch.commit_jobs(&[&one, &two]).await.unwrap();
    assert_eq!(f.store.job(1).await.unwrap().unwrap().name, "updated");
    assert_eq!(f.store.job(2).await.unwrap().unwrap().name, "new");
    assert_eq!(f.store.deliveries_seen(&keys(&["9:a", "9:b"])).await.unwrap().len(), 2);
    // A key claimed before is not claimed again.
    let mut again = f.store.batch().await.unwrap();
    let (claimed, _) = again.claim_and_read(&keys(&["9:a", "9:c"]), &[]).await.unwrap();
    assert_eq!(claimed.into_iter().collect::<Vec<_>>(), ["9:c"]);
    again.commit().await.unwrap();
}

async fn a_batch_dropped_before_its_commit_leaves_nothing_and_the_store_goes_on(f: Fresh) {
    let mut batch = f.store.batch().await.unwrap();
    let (claimed, _) = batch.claim_and_read(&keys(&["5:x"]), &[5]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    batch.put_jobs(&[&job(5, "dropped")]).await.unwrap();
    drop(batch);
    assert!(f.store.deliveries_seen(&keys(&["5:x"])).await.unwrap().is_empty());
    assert!(f.store.job(5).await.unwrap().is_none());
    // The next batch gets a connection with no transaction left open on it.
    let mut next = f.store.batch().await.unwrap();
    let (claimed, _) = next.claim_and_read(&keys(&["5:x"]), &[5]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    next.commit_jobs(&[&job(5, "kept")]).await.unwrap();
    assert_eq!(f.store.job(5).await.unwrap().unwrap().name, "kept");
    assert_eq!(f.store.deliveries_seen(&keys(&["5:x"])).await.unwrap().len(), 1);
}

/// A trigger refuses one job, so the statement that writes the jobs (and, on SQLite, commits
/// with them) fails after the keys were claimed.
async fn a_batch_whose_job_write_fails_keeps_none_of_its_claims(f: Fresh) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&f.url).await.unwrap();
    let trigger = if f.url.starts_with("sqlite:") {
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON jobs WHEN NEW.name = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
    } else {
        "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
           IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; \
         END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
    };
    sqlx::raw_sql(trigger).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();

    let mut batch = f.store.batch().await.unwrap();
    let (claimed, _) = batch.claim_and_read(&keys(&["6:p", "6:q"]), &[6, 7]).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let err = batch
        .commit_jobs(&[&job(6, "fine"), &job(7, "poison")])
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("poison refused"), "{err:?}");
    assert!(f
        .store
        .deliveries_seen(&keys(&["6:p", "6:q"]))
        .await
        .unwrap()
        .is_empty());
    assert!(f.store.job(6).await.unwrap().is_none());
    // Redelivered, the same keys are claimed and recorded.
    let mut again = f.store.batch().await.unwrap();
    let (claimed, _) = again.claim_and_read(&keys(&["6:p", "6:q"]), &[6, 7]).await.unwrap();
    assert_eq!(claimed.len(), 2);
    again.commit_jobs(&[&job(6, "fine"), &job(7, "cured")]).await.unwrap();
    assert_eq!(f.store.job(7).await.unwrap().unwrap().name, "cured");
    assert_eq!(f.store.deliveries_seen(&keys(&["6:p", "6:q"])).await.unwrap().len(), 2);
}
