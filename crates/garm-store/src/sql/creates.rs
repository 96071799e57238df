//! Inserting new instances: `max_runners` and, for instances made for a job, the job's being
//! still queued are checked in the insert's transaction, so neither a concurrent create nor a
//! job that finished meanwhile can slip past.

use super::*;
use std::collections::HashSet;

/// What became of one instance handed to [`Store::create_instances_for_jobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inserted.
    Created,
    /// Not inserted: the pool had no room left under `max_runners`.
    PoolFull,
    /// Not inserted: its job was no longer queued when the transaction looked (a `completed`
    /// or `in_progress` webhook was recorded after the pass read the job).
    JobNotQueued,
}

impl Store {
    /// Inserts an instance unless its pool already has `max_runners` instances
    /// (checked in the same transaction, so concurrent creates cannot overshoot).
    pub async fn create_instance(&self, i: &InstanceRecord, max_runners: u32) -> Result<()> {
        match self.create_instances(std::slice::from_ref(i), max_runners).await? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict {
                what: format!("pool {} is full ({max_runners} of {max_runners} runners)", i.pool_id),
            }),
        }
    }

    /// Inserts instances of one pool in one transaction, in order, as many as fit under
    /// `max_runners` (checked in the transaction, like [`Store::create_instance`]); returns how
    /// many were inserted (the first ones).
    pub async fn create_instances(&self, all: &[InstanceRecord], max_runners: u32) -> Result<usize> {
        let placed = self.insert_instances(all, None, max_runners).await?;
        Ok(placed.iter().filter(|p| **p == Placement::Created).count())
    }

    /// Like [`Store::create_instances`] for instances made for jobs (`jobs[i]` is the workflow
    /// job id of `all[i]`): an instance whose job is no longer queued in the transaction is
    /// not inserted. Returns what became of each, in order.
    pub async fn create_instances_for_jobs(
        &self,
        all: &[InstanceRecord],
        jobs: &[i64],
        max_runners: u32,
    ) -> Result<Vec<Placement>> {
        debug_assert_eq!(all.len(), jobs.len(), "one job per instance");
        self.insert_instances(all, Some(jobs), max_runners).await
    }

    async fn insert_instances(
        &self,
        all: &[InstanceRecord],
        jobs: Option<&[i64]>,
        max_runners: u32,
    ) -> Result<Vec<Placement>> {
        let Some(first) = all.first() else {
            return Ok(Vec::new());
        };
        debug_assert!(all.iter().all(|i| i.pool_id == first.pool_id), "one pool per call");
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Serialise creates per pool; SQLite's single connection already does.
            sqlx::query("SELECT id FROM pools WHERE id = $1 FOR UPDATE")
                .bind(first.pool_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        }
        self.fence_pool(&mut tx, &first.pool_id).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM instances WHERE pool_id = $1")
            .bind(first.pool_id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let mut room = (max_runners as i64 - n).max(0) as usize;
        if room == 0 {
            return Err(StoreError::Conflict {
                what: format!("pool {} is full ({n} of {max_runners} runners)", first.pool_id),
            });
        }
        let not_queued = match jobs {
            Some(ids) => self.jobs_not_queued(&mut tx, ids).await?,
            None => HashSet::new(),
        };
        let mut placed = Vec::with_capacity(all.len());
        for (index, i) in all.iter().enumerate() {
            if room == 0 {
                placed.push(Placement::PoolFull);
                continue;
            }
            if let Some(job) = jobs.map(|jobs| jobs[index]) {
                if not_queued.contains(&job) {
                    placed.push(Placement::JobNotQueued);
                    continue;
                }
            }
            self.insert_instance(&mut tx, i).await?;
            room -= 1;
            placed.push(Placement::Created);
        }
        tx.commit().await?;
        let created = all.iter().zip(&placed).filter(|(_, p)| **p == Placement::Created);
        self.changed(
            ChangeOp::Create,
            created.map(|(i, _)| ChangedRow::Instance(Box::new(i.clone()))),
        );
        Ok(placed)
    }

    /// Which of `ids` are known and no longer queued, read in `tx` with one query per 500 ids.
    /// On PostgreSQL the rows are locked (in id order) until the transaction ends, so a
    /// `completed` webhook's update waits for the insert rather than slipping in between the
    /// check and it; SQLite's single writer serialises the two anyway. A job the store does not
    /// know (never recorded, or pruned) cannot be checked: the plan saw it queued.
    async fn jobs_not_queued(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, ids: &[i64]) -> Result<HashSet<i64>> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out = HashSet::new();
        for chunk in sorted.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let lock = if self.backend == Backend::Postgres {
                " ORDER BY workflow_job_id FOR UPDATE"
            } else {
                ""
            };
            let sql = format!(
                "SELECT workflow_job_id, status FROM jobs WHERE workflow_job_id IN ({}){lock}",
                marks.join(",")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut **tx).await? {
                if row.try_get::<String, _>("status")? != "queued" {
                    out.insert(row.try_get::<i64, _>("workflow_job_id")?);
                }
            }
        }
        Ok(out)
    }

    /// Inserts one instance row as it is (ids and times kept), its JIT configuration sealed.
    pub(super) async fn insert_instance(&self, conn: &mut sqlx::AnyConnection, i: &InstanceRecord) -> Result<()> {
        let addresses: Vec<(&str, &str)> = i
            .addresses
            .iter()
            .map(|a| (a.address.as_str(), a.kind.as_str()))
            .collect();
        sqlx::query(&format!("INSERT INTO instances ({INSTANCE_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)"))
            .bind(&i.id)
            .bind(i.name.as_str())
            .bind(i.pool_id.as_str())
            .bind(i.provider_id.clone())
            .bind(i.agent_id)
            .bind(&i.os_type)
            .bind(&i.os_arch)
            .bind(&i.os_name)
            .bind(&i.os_version)
            .bind(serde_json::to_string(&addresses).expect("pairs of strings serialize"))
            .bind(i.status.as_str())
            .bind(i.runner_status.as_str())
            .bind(&i.provider_fault)
            .bind(i.create_attempt)
            .bind(i.token_fetched as i64)
            .bind(i.jit_config.as_ref().map(|s| self.seal(s.expose())))
            .bind(&i.runner_group)
            .bind(serde_json::to_string(&i.extra_labels).expect("strings serialize"))
            .bind(i.generation as i64)
            .bind(&i.callback_url)
            .bind(&i.metadata_url)
            .bind(ts(&i.heartbeat))
            .bind(ts(&i.created_at))
            .bind(ts(&i.updated_at))
            .execute(&mut *conn)
            .await
            .map_err(|err| conflict_as(err, format!("instance {}", i.name)))?;
        Ok(())
    }
}

/// The pools whose `column` (`template_id`, `proxy_id`) is `id`: a delete of what they use is
/// refused with [`StoreError::InUse`] naming them.
pub(super) async fn refuse_if_used(conn: &mut sqlx::AnyConnection, column: &str, what: &str, id: i64) -> Result<()> {
    let users = sqlx::query(&format!("SELECT id FROM pools WHERE {column} = $1"))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = users
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<std::result::Result<_, _>>()?;
    Err(StoreError::InUse {
        what: format!("{what} {id} is used by pools ({})", ids.join(", ")),
    })
}
