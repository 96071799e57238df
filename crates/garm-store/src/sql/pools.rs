//! Pools, tags and instances (jobs are in `jobs.rs`).

use super::leases::FenceChecked;
use super::*;

impl Store {
    pub(super) async fn upsert_tags(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        pool_id: &str,
        tags: &[String],
    ) -> Result<()> {
        sqlx::query("DELETE FROM pool_tags WHERE pool_id = $1")
            .bind(pool_id)
            .execute(&mut **tx)
            .await?;
        for (position, tag) in tags.iter().enumerate() {
            let key = tag.to_lowercase();
            let existing = sqlx::query("SELECT id FROM tags WHERE name_key = $1")
                .bind(&key)
                .fetch_optional(&mut **tx)
                .await?;
            let tag_id: String = match existing {
                Some(row) => row.try_get("id")?,
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    sqlx::query("INSERT INTO tags (id, name, name_key) VALUES ($1,$2,$3)")
                        .bind(&id)
                        .bind(tag)
                        .bind(&key)
                        .execute(&mut **tx)
                        .await?;
                    id
                }
            };
            sqlx::query("INSERT INTO pool_tags (pool_id, tag_id, position) VALUES ($1,$2,$3)")
                .bind(pool_id)
                .bind(&tag_id)
                .bind(position as i64)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn pool_tags(&self, pool_id: &str) -> Result<Vec<TagRecord>> {
        let rows = sqlx::query("SELECT t.id AS id, t.name AS name FROM pool_tags p JOIN tags t ON t.id = p.tag_id WHERE p.pool_id = $1 ORDER BY p.position")
            .bind(pool_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TagRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    async fn pool_from(&self, r: &AnyRow) -> Result<PoolRecord> {
        let id: String = r.try_get("id")?;
        let tags = self.pool_tags(&id).await?;
        pool_row(r, id.into(), tags)
    }

    /// Every pool's tags, in order, in one query (listing all pools reads them at once).
    async fn all_pool_tags(&self) -> Result<std::collections::HashMap<String, Vec<TagRecord>>> {
        let rows = sqlx::query("SELECT p.pool_id AS pool_id, t.id AS id, t.name AS name FROM pool_tags p JOIN tags t ON t.id = p.tag_id ORDER BY p.pool_id, p.position")
            .fetch_all(&self.pool)
            .await?;
        let mut out: std::collections::HashMap<String, Vec<TagRecord>> = std::collections::HashMap::new();
        for r in &rows {
            out.entry(r.try_get("pool_id")?).or_default().push(TagRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            });
        }
        Ok(out)
    }

    pub async fn create_pool(&self, p: &NewPool) -> Result<PoolRecord> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        let id = self.insert_pool(&mut tx, p).await?;
        tx.commit().await?;
        self.pool(&PoolId::from(id)).await
    }

    /// Inserts a pool and its tags in `tx`; answers its new id.
    pub(super) async fn insert_pool(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, p: &NewPool) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let t = ts(&now());
        sqlx::query(&format!("INSERT INTO pools ({POOL_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,0,$16,$17,$18,$18,$19)"))
            .bind(&id)
            .bind(p.entity_id.as_str())
            .bind(&p.provider_name)
            .bind(&p.runner_prefix)
            .bind(p.max_runners as i64)
            .bind(p.min_idle_runners as i64)
            .bind(p.bootstrap_timeout as i64)
            .bind(&p.image)
            .bind(&p.flavor)
            .bind(&p.os_type)
            .bind(&p.os_arch)
            .bind(p.enabled as i64)
            .bind(p.extra_specs.clone())
            .bind(&p.runner_group)
            .bind(p.enable_shell as i64)
            .bind(p.priority as i64)
            .bind(p.template_id)
            .bind(&t)
            .bind(p.proxy_id)
            .execute(&mut **tx)
            .await?;
        self.upsert_tags(tx, &id, &p.tags).await?;
        Ok(id)
    }

    pub async fn pool(&self, id: &PoolId) -> Result<PoolRecord> {
        let row = sqlx::query(&format!("SELECT {POOL_READ_COLS} FROM pools WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("pool {id}")))?;
        self.pool_from(&row).await
    }

    /// All pools, or those of one entity (not the pools behind scale sets).
    pub async fn pools(&self, entity_id: Option<&EntityId>) -> Result<Vec<PoolRecord>> {
        self.pools_where(entity_id, "AND scale_set_id IS NULL").await
    }

    /// Like [`Store::pools`], with the pools behind scale sets: what the reconcilers walk.
    pub async fn pools_and_scale_sets(&self, entity_id: Option<&EntityId>) -> Result<Vec<PoolRecord>> {
        self.pools_where(entity_id, "").await
    }

    async fn pools_where(&self, entity_id: Option<&EntityId>, and: &str) -> Result<Vec<PoolRecord>> {
        let rows = match entity_id {
            Some(id) => {
                sqlx::query(&format!(
                    "SELECT {POOL_READ_COLS} FROM pools WHERE entity_id = $1 {and} ORDER BY created_at, id"
                ))
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {POOL_READ_COLS} FROM pools WHERE 1 = 1 {and} ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        if entity_id.is_none() {
            let mut tags = self.all_pool_tags().await?;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let t = tags.remove(&id).unwrap_or_default();
                out.push(pool_row(row, id.into(), t)?);
            }
            return Ok(out);
        }
        for row in &rows {
            out.push(self.pool_from(row).await?);
        }
        Ok(out)
    }

    /// Writes every mutable field of `p`; `tags`, when given, replaces the tag set.
    pub async fn update_pool(&self, p: &PoolRecord, tags: Option<&[String]>) -> Result<PoolRecord> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE pools SET provider_name=$1, runner_prefix=$2, max_runners=$3, min_idle_runners=$4, bootstrap_timeout=$5, image=$6, flavor=$7, os_type=$8, os_arch=$9, enabled=$10, extra_specs=$11, runner_group=$12, enable_shell=$13, generation=$14, priority=$15, template_id=$16, updated_at=$17, proxy_id=$18 WHERE id=$19")
            .bind(&p.provider_name)
            .bind(&p.runner_prefix)
            .bind(p.max_runners as i64)
            .bind(p.min_idle_runners as i64)
            .bind(p.bootstrap_timeout as i64)
            .bind(&p.image)
            .bind(&p.flavor)
            .bind(&p.os_type)
            .bind(&p.os_arch)
            .bind(p.enabled as i64)
            .bind(p.extra_specs.clone())
            .bind(&p.runner_group)
            .bind(p.enable_shell as i64)
            .bind(p.generation as i64)
            .bind(p.priority as i64)
            .bind(p.template_id)
            .bind(ts(&now()))
            .bind(p.proxy_id)
            .bind(p.id.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("pool {}", p.id)));
        }
        if let Some(tags) = tags {
            self.upsert_tags(&mut tx, &p.id, tags).await?;
        }
        tx.commit().await?;
        self.pool(&p.id).await
    }

    /// Deletes a pool without instances; one with instances is refused, naming them.
    pub async fn delete_pool(&self, id: &PoolId) -> Result<()> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id FROM instances WHERE pool_id = $1")
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            return Err(StoreError::InUse {
                what: format!("pool has runners: {}", ids.join(", ")),
            });
        }
        sqlx::query("DELETE FROM pools WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- instances --------------------------------------------------------------

    fn instance_from(&self, r: &AnyRow) -> Result<InstanceRecord> {
        let status: String = r.try_get("status")?;
        let runner_status: String = r.try_get("runner_status")?;
        let addresses: String = r.try_get("addresses")?;
        let labels: String = r.try_get("extra_labels")?;
        let jit: Option<String> = r.try_get("jit_config")?;
        let addresses: Vec<(String, String)> = serde_json::from_str(&addresses).map_err(|_| StoreError::Corrupt {
            what: "instance addresses".into(),
        })?;
        Ok(InstanceRecord {
            id: r.try_get("id")?,
            name: r.try_get::<String, _>("name")?.into(),
            pool_id: r.try_get::<String, _>("pool_id")?.into(),
            provider_id: r.try_get("provider_id")?,
            agent_id: r.try_get("agent_id")?,
            os_type: r.try_get("os_type")?,
            os_arch: r.try_get("os_arch")?,
            os_name: r.try_get("os_name")?,
            os_version: r.try_get("os_version")?,
            addresses: addresses
                .into_iter()
                .map(|(address, kind)| AddressRecord { address, kind })
                .collect(),
            status: status
                .parse::<InstanceStatus>()
                .map_err(|what| StoreError::Corrupt { what })?,
            runner_status: runner_status
                .parse::<RunnerStatus>()
                .map_err(|what| StoreError::Corrupt { what })?,
            provider_fault: r.try_get("provider_fault")?,
            create_attempt: r.try_get("create_attempt")?,
            token_fetched: flag(r, "token_fetched")?,
            jit_config: jit.map(|s| self.open(&s)).transpose()?,
            runner_group: r.try_get("runner_group")?,
            extra_labels: serde_json::from_str(&labels).map_err(|_| StoreError::Corrupt {
                what: "instance labels".into(),
            })?,
            generation: r.try_get::<i64, _>("generation")? as u64,
            callback_url: r.try_get("callback_url")?,
            metadata_url: r.try_get("metadata_url")?,
            heartbeat: parse_ts(&r.try_get::<String, _>("heartbeat")?)?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    /// By name or by id.
    pub async fn instance(&self, name_or_id: &str) -> Result<InstanceRecord> {
        let mut conn = self.pool.acquire().await?;
        self.instance_on(&mut conn, name_or_id).await
    }

    pub(crate) async fn instance_on(&self, conn: &mut sqlx::AnyConnection, name_or_id: &str) -> Result<InstanceRecord> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLS} FROM instances WHERE name = $1 OR id = $1"
        ))
        .bind(name_or_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("instance {name_or_id}")))?;
        self.instance_from(&row)
    }

    pub async fn instances(&self) -> Result<Vec<InstanceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {INSTANCE_COLS} FROM instances ORDER BY created_at, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    /// Instances counted per pool, per status and per runner status, in SQL: what a
    /// dashboard shows, cheap with tens of thousands of instances.
    pub async fn instance_counts(&self) -> Result<InstanceCounts> {
        let mut out = InstanceCounts::default();
        for r in sqlx::query("SELECT pool_id, COUNT(*) AS n FROM instances GROUP BY pool_id")
            .fetch_all(&self.pool)
            .await?
        {
            let n = r.try_get::<i64, _>("n")? as u32;
            out.total += n;
            out.per_pool.insert(r.try_get::<String, _>("pool_id")?.into(), n);
        }
        for r in sqlx::query("SELECT status AS s, COUNT(*) AS n FROM instances GROUP BY status")
            .fetch_all(&self.pool)
            .await?
        {
            let s: String = r.try_get("s")?;
            let status = s
                .parse::<InstanceStatus>()
                .map_err(|what| StoreError::Corrupt { what })?;
            out.by_status.push((status, r.try_get::<i64, _>("n")? as u32));
        }
        for r in sqlx::query("SELECT runner_status AS s, COUNT(*) AS n FROM instances GROUP BY runner_status")
            .fetch_all(&self.pool)
            .await?
        {
            let s: String = r.try_get("s")?;
            let status = s.parse::<RunnerStatus>().map_err(|what| StoreError::Corrupt { what })?;
            out.by_runner_status.push((status, r.try_get::<i64, _>("n")? as u32));
        }
        Ok(out)
    }

    /// The `limit` most recently updated instances in `status`, newest first, without their
    /// JIT configurations.
    pub async fn recent_instances_in(&self, status: InstanceStatus, limit: u32) -> Result<Vec<InstanceRecord>> {
        let cols = INSTANCE_COLS.replace("jit_config", "NULL AS jit_config");
        let rows = sqlx::query(&format!(
            "SELECT {cols} FROM instances WHERE status = $1 ORDER BY updated_at DESC, name LIMIT {limit}"
        ))
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    /// [`Store::pool_instances`] without their JIT configurations (`jit_config` is `None`):
    /// what planning reads on every pass, without opening a sealed secret per row.
    pub async fn pool_instances_brief(&self, pool_id: &PoolId) -> Result<Vec<InstanceRecord>> {
        let cols = INSTANCE_COLS.replace("jit_config", "NULL AS jit_config");
        let rows = sqlx::query(&format!(
            "SELECT {cols} FROM instances WHERE pool_id = $1 ORDER BY created_at, name"
        ))
        .bind(pool_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    pub async fn pool_instances(&self, pool_id: &PoolId) -> Result<Vec<InstanceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {INSTANCE_COLS} FROM instances WHERE pool_id = $1 ORDER BY created_at, name"
        ))
        .bind(pool_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    pub async fn entity_instances(&self, entity_id: &EntityId) -> Result<Vec<InstanceRecord>> {
        let cols = INSTANCE_COLS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!("SELECT {cols} FROM instances i JOIN pools p ON p.id = i.pool_id WHERE p.entity_id = $1 ORDER BY i.created_at, i.name"))
            .bind(entity_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    /// Changes an instance's status, refusing transitions garm's table forbids.
    pub async fn set_instance_status(&self, name: &InstanceName, to: InstanceStatus) -> Result<InstanceRecord> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT status FROM instances WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("instance {name}")))?;
        let from: InstanceStatus = row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|what| StoreError::Corrupt { what })?;
        from.check(to)?;
        sqlx::query("UPDATE instances SET status = $1, updated_at = $2 WHERE name = $3")
            .bind(to.as_str())
            .bind(ts(&now()))
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let after = self.instance(name).await?;
        self.instance_changed(ChangeOp::Update, &after);
        Ok(after)
    }

    pub async fn delete_instance_row(&self, name: &InstanceName) -> Result<()> {
        // Only the change feed needs the row as it was.
        let before = if self.feed_open() {
            self.instance(name).await.ok()
        } else {
            None
        };
        let mut tx = self.pool.begin().await?;
        self.fence_instance(&mut tx, name).await?;
        sqlx::query(
            "DELETE FROM instance_attestations WHERE instance_id IN (SELECT id FROM instances WHERE name = $1)",
        )
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM instances WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if let Some(before) = before.filter(|_| done.rows_affected() > 0) {
            self.instance_changed(ChangeOp::Delete, &before);
        }
        Ok(())
    }

    pub async fn add_instance_event(
        &self,
        instance_id: &str,
        event_type: &str,
        level: &str,
        message: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO instance_events (instance_id, created_at, event_type, event_level, message) VALUES ($1,$2,$3,$4,$5)")
            .bind(instance_id)
            .bind(ts(&now()))
            .bind(event_type)
            .bind(level)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM instance_events WHERE instance_id = $1 AND id NOT IN (SELECT id FROM instance_events WHERE instance_id = $1 ORDER BY id DESC LIMIT $2)")
            .bind(instance_id)
            .bind(EVENTS_KEPT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn instance_events(&self, instance_id: &str) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query("SELECT * FROM instance_events WHERE instance_id = $1 ORDER BY id")
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from).collect()
    }
}

/// Whether a status change goes through garm's transition tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Refuse changes the tables forbid (API, callbacks, garm-rs's own decisions).
    Checked,
    /// garm-rs retrying a failed create: only `error` → `pending_create` with the runner back
    /// at `pending` ([`garm_model::check_recreate`]).
    Recreate,
    /// Write what an outside party reported (webhook- and Actions-service-driven runner
    /// states, a runner or machine the forge or provider no longer has, a runner the forge
    /// says is busy).
    Forced,
}

impl Store {
    /// Reads an instance, lets `change` edit it, checks status transitions (unless
    /// forced) and writes it back, all in one transaction.
    pub async fn modify_instance(
        &self,
        name: &InstanceName,
        mode: Transition,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<InstanceRecord> {
        let mut tx = self.pool.begin().await?;
        let after = self
            .modify_instance_on(&mut tx, name, mode, change, &mut FenceChecked::default())
            .await?;
        tx.commit().await?;
        self.instance_changed(ChangeOp::Update, &after);
        Ok(after)
    }

    /// [`Store::modify_instance`] on a connection already in a transaction.
    pub(crate) async fn modify_instance_on(
        &self,
        tx: &mut sqlx::AnyConnection,
        name: &InstanceName,
        mode: Transition,
        change: impl FnOnce(&mut InstanceRecord),
        checked: &mut FenceChecked,
    ) -> Result<InstanceRecord> {
        let row = sqlx::query(&format!("SELECT {INSTANCE_COLS} FROM instances WHERE name = $1"))
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("instance {name}")))?;
        let before = self.instance_from(&row)?;
        // The fence goes by the row's pool, read with it: no query of its own for a pool this
        // transaction checked already.
        self.fence_pool_once(tx, &before.pool_id, checked).await?;
        let mut after = before.clone();
        change(&mut after);
        match mode {
            Transition::Checked => {
                before.status.check(after.status)?;
                before.runner_status.check(after.runner_status)?;
            }
            Transition::Recreate => garm_model::check_recreate(before.status, after.status, after.runner_status)?,
            Transition::Forced => {}
        }
        after.updated_at = now();
        let addresses: Vec<(&str, &str)> = after
            .addresses
            .iter()
            .map(|a| (a.address.as_str(), a.kind.as_str()))
            .collect();
        sqlx::query("UPDATE instances SET provider_id=$1, agent_id=$2, os_name=$3, os_version=$4, addresses=$5, status=$6, runner_status=$7, provider_fault=$8, create_attempt=$9, token_fetched=$10, jit_config=$11, extra_labels=$12, heartbeat=$13, updated_at=$14 WHERE name=$15")
            .bind(after.provider_id.clone())
            .bind(after.agent_id)
            .bind(&after.os_name)
            .bind(&after.os_version)
            .bind(serde_json::to_string(&addresses).expect("pairs of strings serialize"))
            .bind(after.status.as_str())
            .bind(after.runner_status.as_str())
            .bind(&after.provider_fault)
            .bind(after.create_attempt)
            .bind(after.token_fetched as i64)
            .bind(after.jit_config.as_ref().map(|s| self.seal(s.expose())))
            .bind(serde_json::to_string(&after.extra_labels).expect("strings serialize"))
            .bind(ts(&after.heartbeat))
            .bind(ts(&after.updated_at))
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|err| conflict_as(err, format!("provider id of instance {name}")))?;
        Ok(after)
    }

    /// Instances in any of the given statuses, across all pools.
    pub async fn instances_in(&self, statuses: &[InstanceStatus]) -> Result<Vec<InstanceRecord>> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=statuses.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {INSTANCE_COLS} FROM instances WHERE status IN ({}) ORDER BY created_at, name",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for s in statuses {
            query = query.bind(s.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|r| self.instance_from(r)).collect()
    }

    /// Records a webhook delivery id; false if it was seen before.
    pub async fn record_delivery(&self, delivery_id: &str) -> Result<bool> {
        let done = sqlx::query("INSERT INTO webhook_deliveries (delivery_id, received_at) VALUES ($1, $2) ON CONFLICT (delivery_id) DO NOTHING")
            .bind(delivery_id)
            .bind(ts(&now()))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets delivery ids older than `before` (redeliveries come within hours).
    pub async fn prune_deliveries(&self, before: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < $1")
            .bind(ts(&before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Jobs with this status.
    pub async fn jobs_with_status(&self, status: &str) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE status = $1 ORDER BY id"))
            .bind(status)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(Self::job_from).collect()
    }

    /// Deletes a job row.
    pub async fn delete_job(&self, workflow_job_id: i64) -> Result<()> {
        let before = if self.feed_open() {
            self.job(workflow_job_id).await?
        } else {
            None
        };
        sqlx::query("DELETE FROM jobs WHERE workflow_job_id = $1")
            .bind(workflow_job_id)
            .execute(&self.pool)
            .await?;
        if let Some(before) = before {
            self.job_changed(ChangeOp::Delete, &before);
        }
        Ok(())
    }

    /// Deletes finished job rows last updated before `before`.
    pub async fn prune_jobs(&self, before: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'completed' AND updated_at < $1")
            .bind(ts(&before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Which of `delivery_ids` were recorded by [`Store::record_delivery`] (and not pruned).
    pub async fn deliveries_seen(&self, delivery_ids: &[String]) -> Result<std::collections::HashSet<String>> {
        let mut conn = self.pool.acquire().await?;
        deliveries_seen_on(&mut conn, delivery_ids).await
    }

    /// Forgets a delivery id so a redelivery is processed (after a failed intake).
    pub async fn forget_delivery(&self, delivery_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE delivery_id = $1")
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// [`Store::deliveries_seen`] on `conn`.
pub(crate) async fn deliveries_seen_on(
    conn: &mut sqlx::AnyConnection,
    delivery_ids: &[String],
) -> Result<std::collections::HashSet<String>> {
    let mut seen = std::collections::HashSet::new();
    for chunk in delivery_ids.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            seen.insert(row.try_get::<String, _>("delivery_id")?);
        }
    }
    Ok(seen)
}

/// A pool row with its tags.
fn pool_row(r: &AnyRow, id: PoolId, tags: Vec<TagRecord>) -> Result<PoolRecord> {
    Ok(PoolRecord {
        tags,
        id,
        entity_id: r.try_get::<String, _>("entity_id")?.into(),
        provider_name: r.try_get("provider_name")?,
        runner_prefix: r.try_get("runner_prefix")?,
        max_runners: r.try_get::<i64, _>("max_runners")? as u32,
        min_idle_runners: r.try_get::<i64, _>("min_idle_runners")? as u32,
        bootstrap_timeout: r.try_get::<i64, _>("bootstrap_timeout")? as u32,
        image: r.try_get("image")?,
        flavor: r.try_get("flavor")?,
        os_type: r.try_get("os_type")?,
        os_arch: r.try_get("os_arch")?,
        enabled: flag(r, "enabled")?,
        extra_specs: r.try_get("extra_specs")?,
        runner_group: r.try_get("runner_group")?,
        enable_shell: flag(r, "enable_shell")?,
        generation: r.try_get::<i64, _>("generation")? as u64,
        priority: r.try_get::<i64, _>("priority")? as u32,
        template_id: r.try_get("template_id")?,
        proxy_id: r.try_get("proxy_id")?,
        scale_set_id: r.try_get("scale_set_id")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
    })
}
