//! The controller row (its id and URLs) and the users who administer it.

use super::*;

impl Store {
    // ---- controller -------------------------------------------------------------

    /// Returns the controller row, creating it with a fresh UUID on first start.
    pub async fn ensure_controller(&self) -> Result<ControllerRecord> {
        if let Some(found) = self.controller_opt().await? {
            return Ok(found);
        }
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO controller (singleton, controller_id, garm_agent_releases_url) VALUES (1, $1, $2) ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(&id)
        .bind("https://api.github.com/repos/cloudbase/garm-agent/releases")
        .execute(&self.pool)
        .await?;
        self.controller().await
    }

    async fn controller_opt(&self) -> Result<Option<ControllerRecord>> {
        let row = sqlx::query("SELECT * FROM controller WHERE singleton = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ControllerRecord {
                controller_id: r.try_get("controller_id")?,
                metadata_url: r.try_get("metadata_url")?,
                callback_url: r.try_get("callback_url")?,
                webhook_url: r.try_get("webhook_url")?,
                agent_url: r.try_get("agent_url")?,
                minimum_job_age_backoff: r.try_get::<i64, _>("minimum_job_age_backoff")? as u32,
                ca_cert_bundle: unb64(&r.try_get::<String, _>("ca_cert_bundle")?)?,
                garm_agent_releases_url: r.try_get("garm_agent_releases_url")?,
                enable_agent_tools_sync: flag(&r, "enable_agent_tools_sync")?,
                garm_agent_version: r.try_get("garm_agent_version")?,
                allow_insecure_garm_agent: flag(&r, "allow_insecure_garm_agent")?,
            })
        })
        .transpose()
    }

    pub async fn controller(&self) -> Result<ControllerRecord> {
        self.controller_opt()
            .await?
            .ok_or_else(|| StoreError::not_found("controller"))
    }

    pub async fn update_controller(&self, c: &ControllerRecord) -> Result<()> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- users ------------------------------------------------------------------

    pub async fn has_admin(&self) -> Result<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE is_admin = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(n > 0)
    }

    /// Creates the one admin user; a second admin is a conflict.
    pub async fn create_admin(&self, u: &UserRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n > 0 {
            return Err(StoreError::Conflict {
                what: "admin user (already initialized)".into(),
            });
        }
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
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn user_from(r: &AnyRow) -> Result<UserRecord> {
        Ok(UserRecord {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            full_name: r.try_get("full_name")?,
            password_hash: r.try_get("password_hash")?,
            generation: r.try_get("generation")?,
            is_admin: flag(r, "is_admin")?,
            enabled: flag(r, "enabled")?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::user_from).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::user_from).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::user_from).collect()
    }

    /// Sets a new password hash and bumps the generation, invalidating old tokens.
    pub async fn reset_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, generation = generation + 1, updated_at = $2 WHERE username = $3",
        )
        .bind(password_hash)
        .bind(ts(&now()))
        .bind(username)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("user {username}")));
        }
        Ok(())
    }
}
