//! Runner scale sets: a row of their own plus the pool row that carries their provider
//! settings (`pools.scale_set_id`), and the jobs the message queue reports.

use super::*;

const SCALESET_COLS: &str = "id, pool_id, name, service_id, runner_group_id, disable_update, state, extended_state, desired_runner_count, last_message_id, created_at, updated_at";

/// What a new scale set's own row holds.
#[derive(Debug, Clone)]
pub struct NewScaleSet {
    pub name: String,
    pub service_id: i64,
    pub runner_group_id: i64,
    pub disable_update: bool,
    pub state: String,
}

impl Store {
    async fn scale_set_from(&self, r: &AnyRow) -> Result<ScaleSetRecord> {
        let pool_id = PoolId::from(r.try_get::<String, _>("pool_id")?);
        Ok(ScaleSetRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            pool: self.pool(&pool_id).await?,
            service_id: r.try_get("service_id")?,
            runner_group_id: r.try_get("runner_group_id")?,
            disable_update: flag(r, "disable_update")?,
            state: r.try_get("state")?,
            extended_state: r.try_get("extended_state")?,
            desired_runner_count: r.try_get("desired_runner_count")?,
            last_message_id: r.try_get("last_message_id")?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    /// Creates the scale set and its pool in one transaction (names are unique per entity
    /// and runner group, as the service's are per runner group).
    pub async fn create_scale_set(&self, pool: &NewPool, s: &NewScaleSet) -> Result<ScaleSetRecord> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        let clash = sqlx::query(
            "SELECT s.id FROM scalesets s JOIN pools p ON p.id = s.pool_id WHERE p.entity_id = $1 AND p.runner_group = $2 AND s.name = $3",
        )
        .bind(pool.entity_id.as_str())
        .bind(&pool.runner_group)
        .bind(&s.name)
        .fetch_optional(&mut *tx)
        .await?;
        if clash.is_some() {
            return Err(StoreError::Conflict {
                what: format!("scale set {} already exists in this runner group", s.name),
            });
        }
        let pool_id = self.insert_pool(&mut tx, pool).await?;
        let t = ts(&now());
        let row = sqlx::query("INSERT INTO scalesets (pool_id, name, service_id, runner_group_id, disable_update, state, extended_state, desired_runner_count, last_message_id, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,'',0,0,$7,$7) RETURNING id")
            .bind(&pool_id)
            .bind(&s.name)
            .bind(s.service_id)
            .bind(s.runner_group_id)
            .bind(s.disable_update as i64)
            .bind(&s.state)
            .bind(&t)
            .fetch_one(&mut *tx)
            .await?;
        let id: i64 = row.try_get("id")?;
        sqlx::query("UPDATE pools SET scale_set_id = $1 WHERE id = $2")
            .bind(id)
            .bind(&pool_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.scale_set(id).await
    }

    pub async fn scale_set(&self, id: i64) -> Result<ScaleSetRecord> {
        let row = sqlx::query(&format!("SELECT {SCALESET_COLS} FROM scalesets WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("scale set {id}")))?;
        self.scale_set_from(&row).await
    }

    /// The scale set's desired runner count alone (the pool pass reads it every time).
    pub async fn scale_set_desired(&self, id: i64) -> Result<i64> {
        let row = sqlx::query("SELECT desired_runner_count FROM scalesets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("scale set {id}")))?;
        Ok(row.try_get("desired_runner_count")?)
    }

    /// All scale sets, or those of one entity, by id.
    pub async fn scale_sets(&self, entity_id: Option<&EntityId>) -> Result<Vec<ScaleSetRecord>> {
        let rows = match entity_id {
            Some(e) => {
                sqlx::query(&format!(
                    "SELECT {SCALESET_COLS} FROM scalesets WHERE pool_id IN (SELECT id FROM pools WHERE entity_id = $1) ORDER BY id"
                ))
                .bind(e.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {SCALESET_COLS} FROM scalesets ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.scale_set_from(row).await?);
        }
        Ok(out)
    }

    /// Scale set ids by the id of the pool behind them.
    pub async fn scale_set_ids_by_pool(&self) -> Result<std::collections::HashMap<PoolId, i64>> {
        let rows = sqlx::query("SELECT id, pool_id FROM scalesets")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("pool_id")?.into(), r.try_get::<i64, _>("id")?)))
            .collect()
    }

    /// Writes the scale set's own fields (its pool is written with [`Store::update_pool`]).
    pub async fn update_scale_set(&self, s: &ScaleSetRecord) -> Result<ScaleSetRecord> {
        let done = sqlx::query("UPDATE scalesets SET name=$1, service_id=$2, runner_group_id=$3, disable_update=$4, state=$5, extended_state=$6, updated_at=$7 WHERE id=$8")
            .bind(&s.name)
            .bind(s.service_id)
            .bind(s.runner_group_id)
            .bind(s.disable_update as i64)
            .bind(&s.state)
            .bind(&s.extended_state)
            .bind(ts(&now()))
            .bind(s.id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("scale set {}", s.id)));
        }
        self.scale_set(s.id).await
    }

    /// Records the service's id of the scale set (after it was created or re-created there)
    /// and starts its queue cursor over.
    pub async fn set_scale_set_service_id(&self, id: i64, service_id: i64, runner_group_id: i64) -> Result<()> {
        sqlx::query("UPDATE scalesets SET service_id=$1, runner_group_id=$2, last_message_id=0, state='created', extended_state='', updated_at=$3 WHERE id=$4")
            .bind(service_id)
            .bind(runner_group_id)
            .bind(ts(&now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets the provisioning state and its explanation.
    pub async fn set_scale_set_state(&self, id: i64, state: &str, extended: &str) -> Result<()> {
        sqlx::query("UPDATE scalesets SET state=$1, extended_state=$2, updated_at=$3 WHERE id=$4")
            .bind(state)
            .bind(extended)
            .bind(ts(&now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes a handled message's jobs, cursor and desired count in one transaction. A cursor
    /// at or below the stored one changes nothing (a replayed message).
    pub async fn record_scale_set_progress(&self, id: i64, p: &ScaleSetProgress) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        self.fence_scale_set(&mut tx, id).await?;
        let moved = sqlx::query("UPDATE scalesets SET last_message_id=$1, desired_runner_count=$2, updated_at=$3 WHERE id=$4 AND last_message_id < $1")
            .bind(p.last_message_id)
            .bind(p.desired_runner_count)
            .bind(ts(&now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        for j in &p.jobs {
            put_scale_set_job_on(&mut tx, j).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The job the service knows as `job_id`, if recorded.
    pub async fn scale_set_job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE scaleset_job_id = $1"))
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::job_from).transpose()
    }

    /// Deletes a scale set without instances and its pool; one with instances is refused.
    pub async fn delete_scale_set(&self, id: i64) -> Result<()> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT pool_id FROM scalesets WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(());
        };
        let pool_id: String = row.try_get("pool_id")?;
        let used = sqlx::query("SELECT COUNT(*) AS n FROM instances WHERE pool_id = $1")
            .bind(&pool_id)
            .fetch_one(&mut *tx)
            .await?;
        if used.try_get::<i64, _>("n")? > 0 {
            return Err(StoreError::InUse {
                what: "scale set has runners".into(),
            });
        }
        sqlx::query("DELETE FROM scalesets WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pools WHERE id = $1")
            .bind(&pool_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts or updates the job keyed by its `scaleset_job_id`; a job already completed stays
/// completed (a replayed or late `JobStarted` does not reopen it).
async fn put_scale_set_job_on(tx: &mut sqlx::Transaction<'_, sqlx::Any>, j: &JobRecord) -> Result<()> {
    let key = j.scaleset_job_id.clone().unwrap_or_default();
    let existing = sqlx::query("SELECT status FROM jobs WHERE scaleset_job_id = $1")
        .bind(&key)
        .fetch_optional(&mut **tx)
        .await?;
    let t = ts(&now());
    let opt = |v: &Option<Time>| v.as_ref().map(ts);
    let labels = serde_json::to_string(&j.labels).expect("strings serialize");
    match existing {
        Some(row) => {
            let status: String = row.try_get("status")?;
            if status == "completed" && j.status != "completed" {
                return Ok(());
            }
            sqlx::query("UPDATE jobs SET run_id=$1, action=$2, status=$3, conclusion=$4, name=$5, started_at=COALESCE($6, started_at), completed_at=COALESCE($7, completed_at), runner_id=$8, runner_name=$9, runner_group_name=$10, repository_name=$11, repository_owner=$12, workflow_run_url=$13, labels=$14, updated_at=$15 WHERE scaleset_job_id=$16")
                .bind(j.run_id)
                .bind(j.action.as_str())
                .bind(&j.status)
                .bind(&j.conclusion)
                .bind(&j.name)
                .bind(opt(&j.started_at))
                .bind(opt(&j.completed_at))
                .bind(j.runner_id)
                .bind(&j.runner_name)
                .bind(&j.runner_group_name)
                .bind(&j.repository_name)
                .bind(&j.repository_owner)
                .bind(&j.workflow_run_url)
                .bind(&labels)
                .bind(&t)
                .bind(&key)
                .execute(&mut **tx)
                .await?;
        }
        None => {
            sqlx::query("INSERT INTO jobs (workflow_job_id, scaleset_job_id, run_id, action, status, conclusion, name, started_at, completed_at, runner_id, runner_name, runner_group_id, runner_group_name, repository_name, repository_owner, workflow_run_url, labels, repo_id, org_id, enterprise_id, locked_by, instance_name, reason, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,NULL,NULL,'',$21,$21)")
                .bind(j.workflow_job_id)
                .bind(&key)
                .bind(j.run_id)
                .bind(j.action.as_str())
                .bind(&j.status)
                .bind(&j.conclusion)
                .bind(&j.name)
                .bind(opt(&j.started_at))
                .bind(opt(&j.completed_at))
                .bind(j.runner_id)
                .bind(&j.runner_name)
                .bind(j.runner_group_id)
                .bind(&j.runner_group_name)
                .bind(&j.repository_name)
                .bind(&j.repository_owner)
                .bind(&j.workflow_run_url)
                .bind(&labels)
                .bind(j.repo_id.clone())
                .bind(j.org_id.clone())
                .bind(j.enterprise_id.clone())
                .bind(&t)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
