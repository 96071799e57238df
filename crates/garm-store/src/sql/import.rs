//! Bulk writes of a whole database taken over from another garm, ids kept, in one transaction.

use super::*;

/// Tables in an order that deletes children before their parents.
const ALL_TABLES: &[&str] = &[
    "webhook_deliveries",
    "jobs",
    "instance_events",
    "instances",
    "pool_tags",
    "pools",
    "tags",
    "templates",
    "proxies",
    "entity_events",
    "entities",
    "credentials",
    "endpoints",
    "users",
    "controller",
];

/// Tables whose rows only an operator (or garm's work for them) creates (and templates other
/// than the built-in ones, counted apart).
const OPERATOR_TABLES: &[&str] = &[
    "users",
    "credentials",
    "entities",
    "proxies",
    "pools",
    "instances",
    "jobs",
];

impl Store {
    /// What the store already holds that an import would overwrite: `table: count` for each
    /// non-empty table an operator fills, and endpoints other than the seeded `github.com`.
    /// Empty means [`ImportMode::IntoEmpty`] may proceed.
    pub async fn occupied(&self) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        occupied_on(&mut conn).await
    }

    /// Writes `set` in one transaction, keeping its ids (controller id, users, credentials,
    /// entities, pools, tags, instances), its times and its bcrypt hashes; secrets are sealed
    /// with this store's passphrase. With [`ImportMode::IntoEmpty`] it fails with
    /// [`StoreError::Conflict`] if [`Store::occupied`] is not empty; with
    /// [`ImportMode::Replace`] every row of the store is deleted first. Nothing is written
    /// unless everything is.
    pub async fn import(&self, set: &ImportSet, mode: ImportMode) -> Result<()> {
        let _bump = self.bump_view_after();
        let mut tx = self.pool.begin().await?;
        if mode == ImportMode::IntoEmpty {
            let found = occupied_on(&mut tx).await?;
            if !found.is_empty() {
                return Err(StoreError::Conflict {
                    what: format!("data in the target store ({})", found.join(", ")),
                });
            }
        }
        for table in ALL_TABLES {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        if let Some(c) = &set.controller {
            self.import_controller(&mut tx, c).await?;
        }
        for u in &set.users {
            self.import_user(&mut tx, u).await?;
        }
        for e in &set.endpoints {
            import_endpoint(&mut tx, e).await?;
        }
        for c in &set.credentials {
            self.import_credentials(&mut tx, c).await?;
        }
        for e in &set.entities {
            self.import_entity(&mut tx, e).await?;
        }
        for (entity_id, ev) in &set.entity_events {
            import_event(&mut tx, entity_id, ev).await?;
        }
        for t in &set.templates {
            import_template(&mut tx, t).await?;
        }
        for p in &set.proxies {
            self.import_proxy(&mut tx, p).await?;
        }
        for p in &set.pools {
            import_pool(&mut tx, p).await?;
        }
        for i in &set.instances {
            self.import_instance(&mut tx, i).await?;
        }
        let now = now();
        for j in &set.jobs {
            import_job(&mut tx, j, now).await?;
        }
        if self.backend == Backend::Postgres {
            // Explicit ids do not advance a BIGSERIAL; the next credentials or template must not collide.
            for table in ["credentials", "templates", "proxies"] {
                sqlx::query(&format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn import_proxy(&self, tx: &mut sqlx::AnyConnection, p: &ProxyRecord) -> Result<()> {
        let sealed = self.sealed_password(p);
        sqlx::query("INSERT INTO proxies (id, name, name_key, description, http_proxy, https_proxy, no_proxy, username, password, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
            .bind(p.id)
            .bind(&p.name)
            .bind(p.name.to_lowercase())
            .bind(&p.description)
            .bind(&p.http_proxy)
            .bind(&p.https_proxy)
            .bind(&p.no_proxy)
            .bind(&p.username)
            .bind(sealed)
            .bind(ts(&p.created_at))
            .bind(ts(&p.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| conflict_as(err, format!("proxy {}", p.name)))?;
        Ok(())
    }

    async fn import_controller(&self, tx: &mut sqlx::AnyConnection, c: &ControllerRecord) -> Result<()> {
        sqlx::query("INSERT INTO controller (singleton, controller_id) VALUES (1, $1)")
            .bind(&c.controller_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE controller SET metadata_url=$1, callback_url=$2, webhook_url=$3, agent_url=$4, minimum_job_age_backoff=$5, ca_cert_bundle=$6, garm_agent_releases_url=$7, enable_agent_tools_sync=$8, garm_agent_version=$9, allow_insecure_garm_agent=$10 WHERE singleton = 1",
        )
        .bind(&c.metadata_url)
        .bind(&c.callback_url)
        .bind(&c.webhook_url)
        .bind(&c.agent_url)
        .bind(c.minimum_job_age_backoff as i64)
        .bind(b64(&c.ca_cert_bundle))
        .bind(&c.garm_agent_releases_url)
        .bind(c.enable_agent_tools_sync as i64)
        .bind(&c.garm_agent_version)
        .bind(c.allow_insecure_garm_agent as i64)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn import_user(&self, tx: &mut sqlx::AnyConnection, u: &UserRecord) -> Result<()> {
        sqlx::query("INSERT INTO users (id, username, email, full_name, password_hash, generation, is_admin, enabled, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(&u.full_name)
            .bind(&u.password_hash)
            .bind(u.generation)
            .bind(u.is_admin as i64)
            .bind(u.enabled as i64)
            .bind(ts(&u.created_at))
            .bind(ts(&u.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| conflict_as(err, format!("user {}", u.username)))?;
        Ok(())
    }

    async fn import_credentials(&self, tx: &mut sqlx::AnyConnection, c: &CredentialsRecord) -> Result<()> {
        sqlx::query("INSERT INTO credentials (id, name, name_key, description, forge_type, endpoint_name, secret, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(c.id)
            .bind(&c.name)
            .bind(c.name.to_lowercase())
            .bind(&c.description)
            .bind(&c.forge_type)
            .bind(&c.endpoint_name)
            .bind(self.seal_credentials(&c.secret))
            .bind(ts(&c.created_at))
            .bind(ts(&c.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(|err| conflict_as(err, format!("credentials {}", c.name)))?;
        Ok(())
    }

    async fn import_entity(&self, tx: &mut sqlx::AnyConnection, e: &EntityRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO entities ({ENTITY_COLS}, entity_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
        ))
        .bind(e.id.as_str())
        .bind(e.kind.as_str())
        .bind(&e.owner)
        .bind(&e.name)
        .bind(&e.endpoint_name)
        .bind(e.credentials_id)
        .bind(self.seal(e.webhook_secret.expose()))
        .bind(e.balancer.as_str())
        .bind(e.agent_mode as i64)
        .bind(0i64)
        .bind("pool manager is starting up")
        .bind(ts(&e.created_at))
        .bind(ts(&e.updated_at))
        .bind(Self::entity_key(e.kind, &e.owner, &e.name, &e.endpoint_name))
        .execute(&mut *tx)
        .await
        .map_err(|err| conflict_as(err, format!("{} {}", e.kind.as_str(), e.display_name())))?;
        Ok(())
    }

    async fn import_instance(&self, tx: &mut sqlx::AnyConnection, i: &InstanceRecord) -> Result<()> {
        self.insert_instance(tx, i).await
    }
}

async fn occupied_on(conn: &mut sqlx::AnyConnection) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for table in OPERATOR_TABLES {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        if n > 0 {
            found.push(format!("{table}: {n}"));
        }
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM templates WHERE owner_id <> $1")
        .bind(TemplateRecord::SYSTEM)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    if n > 0 {
        found.push(format!("templates: {n}"));
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM endpoints WHERE name_key <> 'github.com'")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    if n > 0 {
        found.push(format!("endpoints: {n}"));
    }
    Ok(found)
}

async fn import_endpoint(tx: &mut sqlx::AnyConnection, e: &EndpointRecord) -> Result<()> {
    sqlx::query("INSERT INTO endpoints (name, name_key, endpoint_type, description, api_base_url, upload_base_url, base_url, ca_cert_bundle, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
        .bind(&e.name)
        .bind(e.name.to_lowercase())
        .bind(&e.endpoint_type)
        .bind(&e.description)
        .bind(&e.api_base_url)
        .bind(&e.upload_base_url)
        .bind(&e.base_url)
        .bind(b64(&e.ca_cert_bundle))
        .bind(ts(&e.created_at))
        .bind(ts(&e.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|err| conflict_as(err, format!("endpoint {}", e.name)))?;
    Ok(())
}

async fn import_event(tx: &mut sqlx::AnyConnection, entity_id: &str, ev: &EventRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO entity_events (entity_id, created_at, event_type, event_level, message) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(entity_id)
    .bind(ts(&ev.created_at))
    .bind(&ev.event_type)
    .bind(&ev.event_level)
    .bind(&ev.message)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn import_template(tx: &mut sqlx::AnyConnection, t: &TemplateRecord) -> Result<()> {
    sqlx::query("INSERT INTO templates (id, name, description, os_type, forge_type, owner_id, data, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.os_type)
        .bind(&t.forge_type)
        .bind(&t.owner_id)
        .bind(&t.data)
        .bind(ts(&t.created_at))
        .bind(ts(&t.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|err| conflict_as(err, format!("template {}", t.name)))?;
    Ok(())
}

async fn import_pool(tx: &mut sqlx::AnyConnection, p: &PoolRecord) -> Result<()> {
    sqlx::query(&format!("INSERT INTO pools ({POOL_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"))
        .bind(p.id.as_str())
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
        .bind(p.generation as i64)
        .bind(p.priority as i64)
        .bind(p.template_id)
        .bind(ts(&p.created_at))
        .bind(ts(&p.updated_at))
        .bind(p.proxy_id)
        .execute(&mut *tx)
        .await
        .map_err(|err| conflict_as(err, format!("pool {}", p.id)))?;
    for (position, tag) in p.tags.iter().enumerate() {
        // Pools share tags: the first pool to name a tag inserts it.
        sqlx::query("INSERT INTO tags (id, name, name_key) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING")
            .bind(&tag.id)
            .bind(&tag.name)
            .bind(tag.name.to_lowercase())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO pool_tags (pool_id, tag_id, position) VALUES ($1,$2,$3)")
            .bind(p.id.as_str())
            .bind(&tag.id)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Inserts a job with its own times (the intake's upsert stamps the time of the call).
async fn import_job(tx: &mut sqlx::AnyConnection, j: &JobRecord, now: Time) -> Result<()> {
    let opt = |v: &Option<Time>| v.as_ref().map(ts);
    sqlx::query("INSERT INTO jobs (workflow_job_id, run_id, action, status, conclusion, name, started_at, completed_at, runner_id, runner_name, runner_group_id, runner_group_name, repository_name, repository_owner, workflow_run_url, labels, repo_id, org_id, enterprise_id, locked_by, instance_name, reason, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)")
        .bind(j.workflow_job_id)
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
        .bind(serde_json::to_string(&j.labels).expect("strings serialize"))
        .bind(j.repo_id.clone())
        .bind(j.org_id.clone())
        .bind(j.enterprise_id.clone())
        .bind(j.locked_by.clone())
        .bind(j.instance_name.clone())
        .bind(&j.reason)
        .bind(ts(&j.created_at.unwrap_or(now)))
        .bind(ts(&j.updated_at.or(j.created_at).unwrap_or(now)))
        .execute(&mut *tx)
        .await
        .map_err(|err| conflict_as(err, format!("job {}", j.workflow_job_id)))?;
    Ok(())
}
