//! Jobs: reading, the queued-job queries of the entity pass, and writing them (one or a batch).

use super::*;
use std::collections::HashMap;

impl Store {
    /// The job recorded on each of the named instances (the oldest, when there are several), by
    /// instance name: garm's instance lists and `GET /instances/{name}` carry the job of each
    /// runner. Only the named instances' jobs are read, 500 names a query.
    pub async fn jobs_by_instance(&self, names: &[&str]) -> Result<HashMap<String, JobRecord>> {
        let mut out = HashMap::new();
        for chunk in names.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT {JOB_COLS} FROM jobs WHERE instance_name IN ({}) ORDER BY id",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for name in chunk {
                query = query.bind(*name);
            }
            for row in &query.fetch_all(&self.read).await? {
                let job = Self::job_from(row)?;
                if let Some(name) = job.instance_name.clone() {
                    out.entry(name).or_insert(job);
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    pub(crate) fn job_from(r: &AnyRow) -> Result<JobRecord> {
        let opt_ts = |col: &str| -> Result<Option<Time>> {
            let text: Option<String> = r.try_get(col)?;
            text.map(|t| parse_ts(&t)).transpose()
        };
        let labels: String = r.try_get("labels")?;
        Ok(JobRecord {
            id: r.try_get("id")?,
            workflow_job_id: r.try_get("workflow_job_id")?,
            scaleset_job_id: r.try_get("scaleset_job_id")?,
            run_id: r.try_get("run_id")?,
            action: r.try_get::<String, _>("action")?.into(),
            status: r.try_get("status")?,
            conclusion: r.try_get("conclusion")?,
            name: r.try_get("name")?,
            started_at: opt_ts("started_at")?,
            completed_at: opt_ts("completed_at")?,
            runner_id: r.try_get("runner_id")?,
            runner_name: r.try_get("runner_name")?,
            runner_group_id: r.try_get("runner_group_id")?,
            runner_group_name: r.try_get("runner_group_name")?,
            repository_name: r.try_get("repository_name")?,
            repository_owner: r.try_get("repository_owner")?,
            workflow_run_url: r.try_get("workflow_run_url")?,
            labels: serde_json::from_str(&labels).map_err(|_| StoreError::Corrupt {
                what: "job labels".into(),
            })?,
            repo_id: r.try_get("repo_id")?,
            org_id: r.try_get("org_id")?,
            enterprise_id: r.try_get("enterprise_id")?,
            locked_by: r.try_get("locked_by")?,
            instance_name: r.try_get("instance_name")?,
            reason: r.try_get("reason")?,
            created_at: opt_ts("created_at")?,
            updated_at: opt_ts("updated_at")?,
        })
    }

    pub async fn jobs(&self) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs ORDER BY id"))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(Self::job_from).collect()
    }

    pub async fn job(&self, workflow_job_id: i64) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE workflow_job_id = $1"))
            .bind(workflow_job_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::job_from).transpose()
    }

    /// Sets the reason of a job that is still queued and returns whether a row changed.
    /// Only the reason is written, so a `completed` recorded meanwhile is never undone.
    pub async fn set_queued_job_reason(&self, workflow_job_id: i64, reason: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET reason = $1, updated_at = $2 WHERE workflow_job_id = $3 AND status = 'queued' AND reason <> $1",
        )
        .bind(reason)
        .bind(ts(&now()))
        .bind(workflow_job_id)
        .execute(&self.pool)
        .await?;
        let changed = done.rows_affected() > 0;
        if changed && self.feed_open() {
            if let Some(job) = self.job(workflow_job_id).await? {
                self.job_changed(ChangeOp::Update, &job);
            }
        }
        Ok(changed)
    }

    /// The ids of the entities (repositories, organizations, enterprises) with queued jobs.
    pub async fn entities_with_queued_jobs(&self) -> Result<Vec<EntityId>> {
        let rows = sqlx::query("SELECT DISTINCT repo_id, org_id, enterprise_id FROM jobs WHERE status = 'queued' AND scaleset_job_id IS NULL")
            .fetch_all(&self.read)
            .await?;
        let mut ids = std::collections::BTreeSet::new();
        for row in &rows {
            for col in ["repo_id", "org_id", "enterprise_id"] {
                if let Some(id) = row.try_get::<Option<String>, _>(col)? {
                    ids.insert(id);
                }
            }
        }
        Ok(ids.into_iter().map(EntityId::from).collect())
    }

    /// At most `limit` queued jobs of the entity `entity_id` (repository, organization or
    /// enterprise) recorded after the row `after_row` (a [`JobRecord::id`]; 0 for the
    /// oldest), in the order they were recorded.
    pub async fn queued_jobs_of(&self, entity_id: &EntityId, after_row: i64, limit: usize) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE status = 'queued' AND scaleset_job_id IS NULL AND (repo_id = $1 OR org_id = $1 OR enterprise_id = $1) AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(entity_id.as_str())
        .bind(after_row)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(Self::job_from).collect()
    }

    /// Which of the workflow jobs `ids` are recorded as queued.
    pub async fn queued_among(&self, ids: &[i64]) -> Result<std::collections::HashSet<i64>> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT workflow_job_id FROM jobs WHERE status = 'queued' AND workflow_job_id IN ({})",
                marks.join(",")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.read).await? {
                found.insert(row.try_get::<i64, _>("workflow_job_id")?);
            }
        }
        Ok(found)
    }

    /// Inserts or replaces the job with `j.workflow_job_id`; returns the stored row.
    pub async fn put_job(&self, j: &JobRecord) -> Result<JobRecord> {
        let mut conn = self.pool.acquire().await?;
        put_job_on(&mut conn, self.backend, j).await?;
        drop(conn);
        let stored = self
            .job(j.workflow_job_id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("job {}", j.workflow_job_id)))?;
        // The upsert writes `created_at` only when it inserts.
        let op = if stored.created_at == stored.updated_at {
            ChangeOp::Create
        } else {
            ChangeOp::Update
        };
        self.job_changed(op, &stored);
        Ok(stored)
    }
}

/// Inserts or replaces the job with `j.workflow_job_id` on `conn`.
pub(crate) async fn put_job_on(conn: &mut sqlx::AnyConnection, backend: Backend, j: &JobRecord) -> Result<()> {
    put_jobs_on(conn, backend, &[j]).await
}

/// Parameter lists for a multi-row statement: `rows` tuples of `width` parameters each.
///
/// SQLite gets anonymous `?` parameters: sqlx asks SQLite for the name of every parameter
/// it binds, and SQLite finds a numbered name (`$7`) by walking the statement's list of
/// names, so binding a statement with n numbered parameters costs n² steps (a sixth of the
/// intake writer's time at 16 jobs a batch). PostgreSQL needs `$n`, numbered from 1.
pub(crate) fn value_rows(backend: Backend, rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                out.push(',');
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    use std::fmt::Write;
                    write!(out, "${}", r * width + c + 1).expect("writing to a String");
                }
            }
        }
        out.push(')');
    }
    out
}

/// Inserts or replaces each of `jobs` (distinct workflow job ids) on `conn`, in one statement per 100.
pub(crate) async fn put_jobs_on(conn: &mut sqlx::AnyConnection, backend: Backend, jobs: &[&JobRecord]) -> Result<()> {
    let t = ts(&now());
    for chunk in jobs.chunks(100) {
        let sql = put_jobs_sql(backend, chunk.len());
        bind_jobs(sqlx::query(&sql), chunk, &t).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The upsert of `rows` jobs, for [`bind_jobs`].
pub(crate) fn put_jobs_sql(backend: Backend, rows: usize) -> String {
    // The job's columns, then `created_at` and `updated_at` (both the batch's time).
    const PER_ROW: usize = 24;
    format!(
        "INSERT INTO jobs (workflow_job_id, run_id, action, status, conclusion, name, started_at, completed_at, runner_id, runner_name, runner_group_id, runner_group_name, repository_name, repository_owner, workflow_run_url, labels, repo_id, org_id, enterprise_id, locked_by, instance_name, reason, created_at, updated_at) VALUES {} \
         ON CONFLICT (workflow_job_id) DO UPDATE SET run_id=excluded.run_id, action=excluded.action, status=excluded.status, conclusion=excluded.conclusion, name=excluded.name, started_at=excluded.started_at, completed_at=excluded.completed_at, runner_id=excluded.runner_id, runner_name=excluded.runner_name, runner_group_id=excluded.runner_group_id, runner_group_name=excluded.runner_group_name, repository_name=excluded.repository_name, repository_owner=excluded.repository_owner, workflow_run_url=excluded.workflow_run_url, labels=excluded.labels, repo_id=excluded.repo_id, org_id=excluded.org_id, enterprise_id=excluded.enterprise_id, locked_by=excluded.locked_by, instance_name=excluded.instance_name, reason=excluded.reason, updated_at=excluded.updated_at",
        value_rows(backend, rows, PER_ROW)
    )
}

/// Binds each of `jobs` to a query from [`put_jobs_sql`]; `t` is the batch's time.
pub(crate) fn bind_jobs<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    jobs: &[&JobRecord],
    t: &str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let opt = |v: &Option<Time>| v.as_ref().map(ts);
    for j in jobs {
        query = query
            .bind(j.workflow_job_id)
            .bind(j.run_id)
            .bind(j.action.as_str().to_owned())
            .bind(j.status.clone())
            .bind(j.conclusion.clone())
            .bind(j.name.clone())
            .bind(opt(&j.started_at))
            .bind(opt(&j.completed_at))
            .bind(j.runner_id)
            .bind(j.runner_name.clone())
            .bind(j.runner_group_id)
            .bind(j.runner_group_name.clone())
            .bind(j.repository_name.clone())
            .bind(j.repository_owner.clone())
            .bind(j.workflow_run_url.clone())
            .bind(serde_json::to_string(&j.labels).expect("strings serialize"))
            .bind(j.repo_id.clone())
            .bind(j.org_id.clone())
            .bind(j.enterprise_id.clone())
            .bind(j.locked_by.clone())
            .bind(j.instance_name.clone())
            .bind(j.reason.clone())
            .bind(t.to_owned())
            .bind(t.to_owned());
    }
    query
}
