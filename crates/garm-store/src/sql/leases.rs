//! Leases: how replicas sharing one database split the pool manager's work, and the fence
//! that keeps a replica from acting on work it no longer holds.
//!
//! A lease is a row (`leases`): a name, the replica holding it, a fencing token that grows by
//! one on every takeover, and an expiry in milliseconds of the *database's* clock (replicas'
//! clocks never compare with each other). The unit of work is the entity (`entity:<id>`): its
//! holder matches the entity's jobs to its pools, sizes and drives those pools, runs its scale
//! set listeners and scans its runners. Each replica also holds `replica:<id>`, which tells
//! the others how many replicas are alive.
//!
//! # Fencing
//! A [`Store`] made with [`Store::fenced`] checks, inside the transaction of every write that
//! acts on a lease (instance inserts, instance changes and deletes, scale set progress), that
//! the lease of the entity owning the row is still held by this replica with the token it
//! believes it holds and has not expired. On PostgreSQL the lease row is read `FOR SHARE`, so
//! a takeover (an `UPDATE` of that row) waits for the write to commit, and the new holder's
//! reads come after it; SQLite has one writer. A refused write is [`StoreError::LeaseLost`]
//! and writes nothing.

use super::*;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The lease of an entity's work.
pub fn entity_lease(entity_id: &EntityId) -> String {
    format!("entity:{entity_id}")
}

/// The liveness lease of a replica.
pub fn replica_lease(replica_id: &str) -> String {
    format!("replica:{replica_id}")
}

/// One lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub name: String,
    pub holder: String,
    pub token: i64,
    /// Milliseconds since the epoch, database clock.
    pub expires_at_ms: i64,
    /// Whether it had expired when read (by the database's clock).
    pub expired: bool,
}

/// What a replica holds, shared by its lease keeper (which writes it) and its fenced store
/// handles (which check writes against it).
#[derive(Debug)]
pub struct Fence {
    holder: String,
    held: RwLock<HashMap<String, i64>>,
}

impl Fence {
    pub fn new(holder: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            holder: holder.into(),
            held: RwLock::default(),
        })
    }

    /// This replica's id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The token held for `lease`, if held.
    pub fn token(&self, lease: &str) -> Option<i64> {
        self.held.read().expect("lease map lock").get(lease).copied()
    }

    /// Records a lease as held (after an acquisition) with its token.
    pub fn hold(&self, lease: &str, token: i64) {
        self.held
            .write()
            .expect("lease map lock")
            .insert(lease.to_string(), token);
    }

    /// Forgets a lease (lost or released).
    pub fn drop_lease(&self, lease: &str) {
        self.held.write().expect("lease map lock").remove(lease);
    }

    /// Every lease held, with its token.
    pub fn held(&self) -> Vec<(String, i64)> {
        let map = self.held.read().expect("lease map lock");
        let mut all: Vec<(String, i64)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort();
        all
    }
}

impl Store {
    /// The database's clock in milliseconds since the epoch, as an SQL expression.
    pub(crate) fn now_ms_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// A handle whose lease-acting writes are checked against `fence` (see the module docs).
    pub fn fenced(&self, fence: Arc<Fence>) -> Store {
        let mut s = self.clone();
        s.fence = Some(fence);
        s
    }

    /// A handle that records facts without a lease (webhooks, callbacks, the API).
    pub fn unfenced(&self) -> Store {
        let mut s = self.clone();
        s.fence = None;
        s
    }

    /// The fence of this handle, if any.
    pub fn fence(&self) -> Option<&Arc<Fence>> {
        self.fence.as_ref()
    }

    /// Whether this replica may do the work of `entity_id`: always, without a fence.
    pub fn holds_entity(&self, entity_id: &EntityId) -> bool {
        match &self.fence {
            None => true,
            Some(f) => f.token(&entity_lease(entity_id)).is_some(),
        }
    }

    /// Takes `name` for `holder` for `ttl` if nobody holds it or its holder let it expire;
    /// returns the new fencing token, or `None` if someone else holds it (or `holder` already
    /// does, unexpired: renew that instead).
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<i64>> {
        let now = self.now_ms_sql();
        let sql = format!(
            "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= {now} RETURNING token"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(holder)
            .bind(ttl.as_millis() as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>("token")).transpose()?)
    }

    /// Extends a lease `holder` holds with `token`; false if it was taken over meanwhile.
    pub async fn renew_lease(&self, name: &str, holder: &str, token: i64, ttl: Duration) -> Result<bool> {
        let renewed = self.renew_leases(holder, &[(name.to_string(), token)], ttl).await?;
        Ok(!renewed.is_empty())
    }

    /// Extends every lease of `held` (name and token) that `holder` still holds with that
    /// token, in one statement (per 300 leases); returns those renewed. A lease missing from
    /// the answer was taken over (or its row deleted): it is lost.
    pub async fn renew_leases(
        &self,
        holder: &str,
        held: &[(String, i64)],
        ttl: Duration,
    ) -> Result<Vec<(String, i64)>> {
        let mut renewed = Vec::new();
        for chunk in held.chunks(300) {
            let pairs: Vec<String> = (0..chunk.len())
                .map(|n| format!("(name = ${} AND token = ${})", 2 * n + 3, 2 * n + 4))
                .collect();
            let sql = format!(
                "UPDATE leases SET expires_at = {} + $1 WHERE holder = $2 AND ({}) RETURNING name, token",
                self.now_ms_sql(),
                pairs.join(" OR ")
            );
            let mut query = sqlx::query(&sql).bind(ttl.as_millis() as i64).bind(holder);
            for (name, token) in chunk {
                query = query.bind(name.as_str()).bind(*token);
            }
            for row in query.fetch_all(&self.pool).await? {
                renewed.push((row.try_get::<String, _>("name")?, row.try_get::<i64, _>("token")?));
            }
        }
        Ok(renewed)
    }

    /// Lets a lease expire now, so another replica takes it at its next try.
    pub async fn release_lease(&self, name: &str, holder: &str, token: i64) -> Result<()> {
        sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3")
            .bind(name)
            .bind(holder)
            .bind(token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One trivial query: whether the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1 AS one").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Every lease, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRecord>> {
        let sql = format!(
            "SELECT name, holder, token, expires_at, CASE WHEN expires_at <= {} THEN 1 ELSE 0 END AS expired FROM leases ORDER BY name",
            self.now_ms_sql()
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRecord {
                    name: r.try_get("name")?,
                    holder: r.try_get("holder")?,
                    token: r.try_get("token")?,
                    expires_at_ms: r.try_get("expires_at")?,
                    expired: r.try_get::<i64, _>("expired")? != 0,
                })
            })
            .collect()
    }

    /// Refuses the write unless this handle's replica holds, unexpired and with the token it
    /// believes it holds, the lease of the entity the row names. One query finds the row's
    /// entity and reads its lease (`FOR SHARE` on PostgreSQL) together: `from_where` is a
    /// `FROM … WHERE …` clause with the row's pool as `p`, keyed on `$1` (bound to `key`).
    /// Nothing to check without a fence.
    async fn check_fence(&self, conn: &mut sqlx::AnyConnection, from_where: &str, key: FenceKey<'_>) -> Result<()> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        let lock = if self.backend == Backend::Postgres {
            " FOR SHARE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT p.entity_id AS entity_id, (SELECT l.token FROM leases l WHERE l.name = 'entity:' || p.entity_id \
             AND l.holder = $2 AND l.expires_at > {}{lock}) AS token {from_where}",
            self.now_ms_sql()
        );
        let query = match key {
            FenceKey::Text(k) => sqlx::query(&sql).bind(k.to_string()),
            FenceKey::Int(k) => sqlx::query(&sql).bind(k),
        };
        let Some(row) = query.bind(fence.holder()).fetch_optional(&mut *conn).await? else {
            // The row is gone: the write itself reports it.
            return Ok(());
        };
        let lease = entity_lease(&row.try_get::<String, _>("entity_id")?.into());
        let found: Option<i64> = row.try_get("token")?;
        match fence.token(&lease) {
            Some(token) if found == Some(token) => Ok(()),
            _ => Err(StoreError::LeaseLost { lease }),
        }
    }

    /// [`Store::check_fence`] for a write to instance `name`.
    pub(crate) async fn fence_instance(&self, conn: &mut sqlx::AnyConnection, name: &str) -> Result<()> {
        self.check_fence(
            conn,
            "FROM instances i JOIN pools p ON p.id = i.pool_id WHERE i.name = $1",
            FenceKey::Text(name),
        )
        .await
    }

    /// [`Store::check_fence`] for a write to pool `id` (instance inserts, instance changes).
    pub(crate) async fn fence_pool(&self, conn: &mut sqlx::AnyConnection, id: &str) -> Result<()> {
        self.check_fence(conn, "FROM pools p WHERE p.id = $1", FenceKey::Text(id))
            .await
    }

    /// [`Store::fence_pool`] once per pool in one transaction: `checked` remembers the pools
    /// whose lease this transaction already checked (and, on PostgreSQL, holds `FOR SHARE`
    /// until it ends), so a batch changing many instances of one entity checks it once.
    pub(crate) async fn fence_pool_once(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        checked: &mut FenceChecked,
    ) -> Result<()> {
        if self.fence.is_none() || checked.pools.contains(id) {
            return Ok(());
        }
        self.fence_pool(conn, id).await?;
        checked.pools.insert(id.to_string());
        Ok(())
    }

    /// [`Store::check_fence`] for a write to scale set `id` (its primary key, bound as an integer).
    pub(crate) async fn fence_scale_set(&self, conn: &mut sqlx::AnyConnection, id: i64) -> Result<()> {
        self.check_fence(
            conn,
            "FROM scalesets s JOIN pools p ON p.id = s.pool_id WHERE s.id = $1",
            FenceKey::Int(id),
        )
        .await
    }
}

/// The key of the row a fenced write acts on.
#[derive(Clone, Copy)]
enum FenceKey<'a> {
    Text(&'a str),
    Int(i64),
}

/// The pools one transaction has checked the lease of (see [`Store::fence_pool_once`]).
#[derive(Debug, Default)]
pub(crate) struct FenceChecked {
    pools: std::collections::HashSet<String>,
}
