//! The sqlx implementation, one code path for SQLite and PostgreSQL (`sqlx::Any`).

use crate::error::StoreError;
use crate::records::*;
use crate::schema::MIGRATIONS;
use crate::seal::Sealer;
use chrono::{SecondsFormat, Utc};
use garm_model::{BalancerType, EntityId, InstanceName, InstanceStatus, PoolId, RunnerStatus, Secret};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Long reads outside transactions (all jobs of a status): on SQLite, read-only
    /// connections that WAL lets run beside the writer, so they never hold up a
    /// webhook's commit; on PostgreSQL, the same pool.
    read: AnyPool,
    backend: Backend,
    sealer: Sealer,
    views: std::sync::Arc<webhook::ViewCache>,
    /// Committed instance and job writes, for live streams ([`changes`]).
    changes: tokio::sync::broadcast::Sender<changes::Change>,
    /// The leases this handle's lease-acting writes are checked against ([`leases`]).
    fence: Option<std::sync::Arc<leases::Fence>>,
    /// Other replicas on the same PostgreSQL ([`notify`]).
    peers: Option<std::sync::Arc<notify::Peers>>,
}

pub(crate) fn ts(t: &Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> Result<Time> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt {
            what: format!("timestamp {text:?}"),
        })
}

fn now() -> Time {
    Utc::now()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| StoreError::Corrupt {
            what: "base64 column".into(),
        })
}

const ENTITY_COLS: &str = "id, kind, owner, name, endpoint_name, credentials_id, webhook_secret, balancer, agent_mode, pm_running, pm_failure, created_at, updated_at";
const POOL_COLS: &str = "id, entity_id, provider_name, runner_prefix, max_runners, min_idle_runners, bootstrap_timeout, image, flavor, os_type, os_arch, enabled, extra_specs, runner_group, enable_shell, generation, priority, template_id, created_at, updated_at, proxy_id";
const INSTANCE_COLS: &str = "id, name, pool_id, provider_id, agent_id, os_type, os_arch, os_name, os_version, addresses, status, runner_status, provider_fault, create_attempt, token_fetched, jit_config, runner_group, extra_labels, generation, callback_url, metadata_url, heartbeat, created_at, updated_at";
/// [`POOL_COLS`] and what only reads need.
const POOL_READ_COLS: &str = "id, entity_id, provider_name, runner_prefix, max_runners, min_idle_runners, bootstrap_timeout, image, flavor, os_type, os_arch, enabled, extra_specs, runner_group, enable_shell, generation, priority, template_id, created_at, updated_at, proxy_id, scale_set_id";
const JOB_COLS: &str = "id, workflow_job_id, scaleset_job_id, run_id, action, status, conclusion, name, started_at, completed_at, runner_id, runner_name, runner_group_id, runner_group_name, repository_name, repository_owner, workflow_run_url, labels, repo_id, org_id, enterprise_id, locked_by, instance_name, reason, created_at, updated_at";

/// Newest events kept per entity and per instance.
const EVENTS_KEPT: i64 = 30;

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        // Replicas starting together: one migrates, the others wait and find nothing to do.
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_lock(7261756)").await?;
        }
        let result = self.migrate_on(&mut conn).await;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7261756)").await?;
        }
        result
    }

    async fn migrate_on(&self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        // garm's tables would collide with ours; refuse before writing anything to its file.
        let garm_table = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'controller_infos'",
            Backend::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'controller_infos'",
        };
        let n: i64 = sqlx::query(garm_table).fetch_one(&mut *conn).await?.try_get("n")?;
        if n > 0 {
            return Err(StoreError::GarmDatabase);
        }
        conn.execute("CREATE TABLE IF NOT EXISTS garm_schema_version (version BIGINT NOT NULL)")
            .await?;
        let found: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM garm_schema_version")
            .fetch_one(&mut *conn)
            .await?
            .try_get("v")?;
        let found = found.unwrap_or(0);
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        let id = match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for statement in migration.replace("{ID}", id).split(';') {
                if !statement.trim().is_empty() {
                    tx.execute(statement).await?;
                }
            }
            sqlx::query("INSERT INTO garm_schema_version (version) VALUES ($1)")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Current schema version (for tests and `garm --version`).
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM garm_schema_version")
            .fetch_one(&self.pool)
            .await?
            .try_get("v")?;
        Ok(v.unwrap_or(0))
    }

    fn seal(&self, plain: &str) -> String {
        self.sealer.seal(plain.as_bytes())
    }

    fn open(&self, sealed: &str) -> Result<Secret> {
        self.sealer
            .open_string(sealed)
            .map(Secret::new)
            .map_err(StoreError::Seal)
    }

    // ---- endpoints --------------------------------------------------------------

    /// Creates the `github.com` endpoint if it is missing (every start).
    pub async fn seed_github_com(&self) -> Result<()> {
        if self.endpoint("github.com").await.is_ok() {
            return Ok(());
        }
        let t = now();
        let rec = EndpointRecord {
            name: "github.com".into(),
            endpoint_type: "github".into(),
            description: "The github.com endpoint".into(),
            api_base_url: "https://api.github.com/".into(),
            upload_base_url: "https://uploads.github.com/".into(),
            base_url: "https://github.com".into(),
            ca_cert_bundle: Vec::new(),
            created_at: t,
            updated_at: t,
        };
        match self.create_endpoint(&rec).await {
            Err(err) if err.is_conflict() => Ok(()),
            other => other,
        }
    }

    pub async fn create_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let _bump = self.bump_view_after();
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
            .execute(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("endpoint {}", e.name)))?;
        Ok(())
    }

    fn endpoint_from(r: &AnyRow) -> Result<EndpointRecord> {
        Ok(EndpointRecord {
            name: r.try_get("name")?,
            endpoint_type: r.try_get("endpoint_type")?,
            description: r.try_get("description")?,
            api_base_url: r.try_get("api_base_url")?,
            upload_base_url: r.try_get("upload_base_url")?,
            base_url: r.try_get("base_url")?,
            ca_cert_bundle: unb64(&r.try_get::<String, _>("ca_cert_bundle")?)?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    pub async fn endpoint(&self, name: &str) -> Result<EndpointRecord> {
        let row = sqlx::query("SELECT * FROM endpoints WHERE name_key = $1")
            .bind(name.to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("endpoint {name}")))?;
        Self::endpoint_from(&row)
    }

    pub async fn endpoints(&self, endpoint_type: &str) -> Result<Vec<EndpointRecord>> {
        let rows = sqlx::query("SELECT * FROM endpoints WHERE endpoint_type = $1 ORDER BY created_at, name")
            .bind(endpoint_type)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::endpoint_from).collect()
    }

    pub async fn update_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let _bump = self.bump_view_after();
        sqlx::query("UPDATE endpoints SET description=$1, api_base_url=$2, upload_base_url=$3, base_url=$4, ca_cert_bundle=$5, updated_at=$6 WHERE name=$7")
            .bind(&e.description)
            .bind(&e.api_base_url)
            .bind(&e.upload_base_url)
            .bind(&e.base_url)
            .bind(b64(&e.ca_cert_bundle))
            .bind(ts(&now()))
            .bind(&e.name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deleting an unknown endpoint is a no-op; one still referenced is refused.
    pub async fn delete_endpoint(&self, name: &str) -> Result<()> {
        let _bump = self.bump_view_after();
        let Ok(endpoint) = self.endpoint(name).await else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        let creds: i64 = sqlx::query("SELECT COUNT(*) AS n FROM credentials WHERE endpoint_name = $1")
            .bind(&endpoint.name)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let ents: i64 = sqlx::query("SELECT COUNT(*) AS n FROM entities WHERE endpoint_name = $1")
            .bind(&endpoint.name)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if creds + ents > 0 {
            return Err(StoreError::InUse {
                what: format!(
                    "endpoint {} is used by {creds} credentials and {ents} entities",
                    endpoint.name
                ),
            });
        }
        sqlx::query("DELETE FROM endpoints WHERE name = $1")
            .bind(&endpoint.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- credentials ------------------------------------------------------------

    fn seal_credentials(&self, secret: &CredentialSecret) -> String {
        let json = match secret {
            CredentialSecret::Pat { token } => {
                serde_json::json!({"auth_type": "pat", "oauth2_token": token.expose()})
            }
            CredentialSecret::App {
                app_id,
                installation_id,
                private_key_pem,
            } => serde_json::json!({
                "auth_type": "app", "app_id": app_id, "installation_id": installation_id,
                "private_key_pem": private_key_pem.expose(),
            }),
        };
        self.seal(&json.to_string())
    }

    fn open_credentials(&self, sealed: &str) -> Result<CredentialSecret> {
        let plain = self.open(sealed)?;
        let v: serde_json::Value = serde_json::from_str(plain.expose()).map_err(|_| StoreError::Corrupt {
            what: "credentials payload".into(),
        })?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_string();
        Ok(match v.get("auth_type").and_then(|x| x.as_str()) {
            Some("app") => CredentialSecret::App {
                app_id: v.get("app_id").and_then(|x| x.as_i64()).unwrap_or_default(),
                installation_id: v.get("installation_id").and_then(|x| x.as_i64()).unwrap_or_default(),
                private_key_pem: Secret::new(text("private_key_pem")),
            },
            _ => CredentialSecret::Pat {
                token: Secret::new(text("oauth2_token")),
            },
        })
    }

    fn credentials_from(&self, r: &AnyRow) -> Result<CredentialsRecord> {
        Ok(CredentialsRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            forge_type: r.try_get("forge_type")?,
            endpoint_name: r.try_get("endpoint_name")?,
            secret: self.open_credentials(&r.try_get::<String, _>("secret")?)?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    pub async fn create_credentials(
        &self,
        name: &str,
        description: &str,
        forge_type: &str,
        endpoint_name: &str,
        secret: &CredentialSecret,
    ) -> Result<CredentialsRecord> {
        let endpoint = self.endpoint(endpoint_name).await?;
        let t = ts(&now());
        let row = sqlx::query("INSERT INTO credentials (name, name_key, description, forge_type, endpoint_name, secret, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7) RETURNING id")
            .bind(name)
            .bind(name.to_lowercase())
            .bind(description)
            .bind(forge_type)
            .bind(&endpoint.name)
            .bind(self.seal_credentials(secret))
            .bind(&t)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| conflict_as(err, format!("credentials {name}")))?;
        self.credentials(row.try_get("id")?).await
    }

    pub async fn credentials(&self, id: i64) -> Result<CredentialsRecord> {
        let row = sqlx::query("SELECT * FROM credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credentials {id}")))?;
        self.credentials_from(&row)
    }

    pub async fn credentials_by_name(&self, name: &str) -> Result<CredentialsRecord> {
        let row = sqlx::query("SELECT * FROM credentials WHERE name_key = $1")
            .bind(name.to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credentials {name}")))?;
        self.credentials_from(&row)
    }

    pub async fn list_credentials(&self, forge_type: &str) -> Result<Vec<CredentialsRecord>> {
        let rows = sqlx::query("SELECT * FROM credentials WHERE forge_type = $1 ORDER BY id")
            .bind(forge_type)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.credentials_from(r)).collect()
    }

    pub async fn update_credentials(&self, c: &CredentialsRecord) -> Result<()> {
        sqlx::query(
            "UPDATE credentials SET name=$1, name_key=$2, description=$3, secret=$4, updated_at=$5 WHERE id=$6",
        )
        .bind(&c.name)
        .bind(c.name.to_lowercase())
        .bind(&c.description)
        .bind(self.seal_credentials(&c.secret))
        .bind(ts(&now()))
        .bind(c.id)
        .execute(&self.pool)
        .await
        .map_err(|err| conflict_as(err, format!("credentials {}", c.name)))?;
        Ok(())
    }

    /// Deleting unknown credentials is a no-op; credentials in use are refused.
    pub async fn delete_credentials(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id FROM entities WHERE credentials_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            return Err(StoreError::InUse {
                what: format!("credentials {id} are used by entities {}", ids.join(", ")),
            });
        }
        sqlx::query("DELETE FROM credentials WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- entities ---------------------------------------------------------------

    fn entity_key(kind: EntityKind, owner: &str, name: &str, endpoint: &str) -> String {
        format!("{}|{owner}|{name}|{endpoint}", kind.as_str()).to_lowercase()
    }

    fn entity_from(&self, r: &AnyRow) -> Result<EntityRecord> {
        let kind: String = r.try_get("kind")?;
        let balancer: String = r.try_get("balancer")?;
        Ok(EntityRecord {
            id: r.try_get::<String, _>("id")?.into(),
            kind: EntityKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                what: format!("entity kind {kind}"),
            })?,
            owner: r.try_get("owner")?,
            name: r.try_get("name")?,
            endpoint_name: r.try_get("endpoint_name")?,
            credentials_id: r.try_get("credentials_id")?,
            webhook_secret: self.open(&r.try_get::<String, _>("webhook_secret")?)?,
            balancer: BalancerType::parse(&balancer).unwrap_or_default(),
            agent_mode: flag(r, "agent_mode")?,
            pool_manager_running: flag(r, "pm_running")?,
            failure_reason: r.try_get("pm_failure")?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        })
    }

    /// Inserts a new entity; `id`, times and status fields of `e` are assigned here.
    pub async fn create_entity(&self, e: &EntityRecord) -> Result<EntityRecord> {
        let _bump = self.bump_view_after();
        let id = uuid::Uuid::new_v4().to_string();
        let t = ts(&now());
        sqlx::query(&format!(
            "INSERT INTO entities ({ENTITY_COLS}, entity_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$12,$13)"
        ))
        .bind(&id)
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
        .bind(&t)
        .bind(Self::entity_key(e.kind, &e.owner, &e.name, &e.endpoint_name))
        .execute(&self.pool)
        .await
        .map_err(|err| conflict_as(err, format!("{} {}", e.kind.as_str(), e.display_name())))?;
        self.entity(e.kind, &EntityId::from(id)).await
    }

    /// The entity of that kind with that id.
    pub async fn entity(&self, kind: EntityKind, id: &EntityId) -> Result<EntityRecord> {
        let found = self.entity_any(id).await?;
        if found.kind != kind {
            return Err(StoreError::not_found(format!("{} {id}", kind.as_str())));
        }
        Ok(found)
    }

    pub async fn entity_any(&self, id: &EntityId) -> Result<EntityRecord> {
        let row = sqlx::query(&format!("SELECT {ENTITY_COLS} FROM entities WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("entity {id}")))?;
        self.entity_from(&row)
    }

    /// The entity a webhook names (case-insensitive), if we manage it.
    pub async fn find_entity(
        &self,
        kind: EntityKind,
        owner: &str,
        name: &str,
        endpoint: &str,
    ) -> Result<Option<EntityRecord>> {
        let row = sqlx::query(&format!("SELECT {ENTITY_COLS} FROM entities WHERE entity_key = $1"))
            .bind(Self::entity_key(kind, owner, name, endpoint))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| self.entity_from(&r)).transpose()
    }

    pub async fn list_entities(&self, kind: EntityKind, filter: &EntityFilter) -> Result<Vec<EntityRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE kind = $1 ORDER BY created_at, id"
        ))
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        let all: Vec<EntityRecord> = rows.iter().map(|r| self.entity_from(r)).collect::<Result<_>>()?;
        Ok(all
            .into_iter()
            .filter(|e| filter.owner.is_empty() || e.owner == filter.owner)
            .filter(|e| filter.name.is_empty() || e.name == filter.name)
            .filter(|e| filter.endpoint.is_empty() || e.endpoint_name == filter.endpoint)
            .collect())
    }

    pub async fn entities_using_credentials(&self, credentials_id: i64) -> Result<Vec<EntityRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLS} FROM entities WHERE credentials_id = $1 ORDER BY created_at"
        ))
        .bind(credentials_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.entity_from(r)).collect()
    }

    pub async fn all_entities(&self) -> Result<Vec<EntityRecord>> {
        let rows = sqlx::query(&format!("SELECT {ENTITY_COLS} FROM entities ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.entity_from(r)).collect()
    }

    /// Writes credentials, secret, balancer and agent mode of an existing entity.
    pub async fn update_entity(&self, e: &EntityRecord) -> Result<()> {
        let _bump = self.bump_view_after();
        sqlx::query("UPDATE entities SET credentials_id=$1, webhook_secret=$2, balancer=$3, agent_mode=$4, updated_at=$5 WHERE id=$6")
            .bind(e.credentials_id)
            .bind(self.seal(e.webhook_secret.expose()))
            .bind(e.balancer.as_str())
            .bind(e.agent_mode as i64)
            .bind(ts(&now()))
            .bind(e.id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_pool_manager_status(
        &self,
        entity_id: &EntityId,
        running: bool,
        failure_reason: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE entities SET pm_running=$1, pm_failure=$2 WHERE id=$3")
            .bind(running as i64)
            .bind(failure_reason)
            .bind(entity_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes an entity without pools; one with pools is refused, naming them.
    pub async fn delete_entity(&self, kind: EntityKind, id: &EntityId) -> Result<()> {
        let _bump = self.bump_view_after();
        self.entity(kind, id).await?;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id FROM pools WHERE entity_id = $1")
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            return Err(StoreError::InUse {
                what: format!("{} has pools defined ({})", kind.as_str(), ids.join(", ")),
            });
        }
        sqlx::query("DELETE FROM entities WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_entity_event(
        &self,
        entity_id: &EntityId,
        event_type: &str,
        level: &str,
        message: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO entity_events (entity_id, created_at, event_type, event_level, message) VALUES ($1,$2,$3,$4,$5)")
            .bind(entity_id.as_str())
            .bind(ts(&now()))
            .bind(event_type)
            .bind(level)
            .bind(message)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM entity_events WHERE entity_id = $1 AND id NOT IN (SELECT id FROM entity_events WHERE entity_id = $1 ORDER BY id DESC LIMIT $2)")
            .bind(entity_id.as_str())
            .bind(EVENTS_KEPT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn entity_events(&self, entity_id: &EntityId) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query("SELECT * FROM entity_events WHERE entity_id = $1 ORDER BY id")
            .bind(entity_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from).collect()
    }
}

fn event_from(r: &AnyRow) -> Result<EventRecord> {
    Ok(EventRecord {
        id: r.try_get("id")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        event_type: r.try_get("event_type")?,
        event_level: r.try_get("event_level")?,
        message: r.try_get("message")?,
    })
}

/// Maps a unique violation to a conflict naming `what`.
fn conflict_as(err: sqlx::Error, what: String) -> StoreError {
    match StoreError::from(err) {
        StoreError::Conflict { .. } => StoreError::Conflict { what },
        other => other,
    }
}

mod attestations;
mod changes;
mod checkpoint;
mod connect;
mod controller;
mod creates;
mod import;
mod jobs;
mod leases;
mod notify;
mod pools;
mod proxies;
mod scalesets;
mod templates;
mod webhook;
pub use attestations::AttestationRecord;
pub use changes::{Change, ChangeOp, ChangedRow, FEED_CAPACITY};
pub use creates::Placement;
pub use leases::{entity_lease, replica_lease, Fence, LeaseRecord};
pub use pools::Transition;
pub use scalesets::NewScaleSet;
pub use webhook::{Batch, WebhookView, SHARED_VIEW_TTL};

/// Booleans are stored as 0/1 BIGINT: the one encoding both backends share under `Any`.
fn flag(r: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(r.try_get::<i64, _>(col)? != 0)
}
