//! What the webhook path reads on every delivery, kept in memory, and the batch
//! transaction intake commits many deliveries in.
//!
//! # Guarantees
//! A [`WebhookView`] is rebuilt after any write through this [`Store`] to endpoints,
//! entities or pools (a generation counter bumped after each such write), so a
//! process sees its own changes on the next delivery. Writes by another process
//! (replicas sharing PostgreSQL) are seen within [`SHARED_VIEW_TTL`]; callers fall
//! back to the database when the view misses or a signature does not verify.

use super::jobs::{bind_jobs, put_jobs_on, put_jobs_sql, value_rows};
use super::leases::FenceChecked;
use super::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a view may be used on a database other processes can write to.
pub const SHARED_VIEW_TTL: Duration = Duration::from_secs(2);

/// Endpoints, entities (with opened webhook secrets) and pools (with tags), as of one generation.
#[derive(Debug)]
pub struct WebhookView {
    generation: u64,
    built: Instant,
    endpoints: Vec<EndpointRecord>,
    entities: HashMap<String, EntityRecord>,
    pools: HashMap<EntityId, Vec<PoolRecord>>,
}

impl WebhookView {
    /// The `github` endpoint whose web root is `base_url` (trailing slashes and case ignored).
    pub fn endpoint(&self, base_url: &str) -> Option<&EndpointRecord> {
        let base = base_url.trim_end_matches('/');
        self.endpoints
            .iter()
            .find(|e| e.base_url.trim_end_matches('/').eq_ignore_ascii_case(base))
    }

    /// The entity a webhook names, as [`Store::find_entity`] finds it.
    pub fn entity(&self, kind: EntityKind, owner: &str, name: &str, endpoint: &str) -> Option<&EntityRecord> {
        self.entities.get(&Store::entity_key(kind, owner, name, endpoint))
    }

    /// The pools of `entity_id`, as [`Store::pools`] lists them.
    pub fn pools(&self, entity_id: &EntityId) -> &[PoolRecord] {
        self.pools.get(entity_id).map(Vec::as_slice).unwrap_or_default()
    }
}

#[derive(Default)]
pub(crate) struct ViewCache {
    pub(super) generation: AtomicU64,
    view: std::sync::RwLock<Option<Arc<WebhookView>>>,
    rebuild: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewCache")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Store {
    fn current_view(&self, generation: u64) -> Option<Arc<WebhookView>> {
        let view = self.views.view.read().expect("view lock is never poisoned").clone()?;
        let fresh = view.generation == generation
            && (self.backend == Backend::Sqlite || view.built.elapsed() < SHARED_VIEW_TTL);
        fresh.then_some(view)
    }

    /// The current [`WebhookView`], rebuilt from the database when a write made it stale.
    pub async fn webhook_view(&self) -> Result<Arc<WebhookView>> {
        let generation = self.views.generation.load(Ordering::Acquire);
        if let Some(view) = self.current_view(generation) {
            return Ok(view);
        }
        let _one = self.views.rebuild.lock().await;
        // Read the generation before the rows: a write committed meanwhile bumps it
        // after its commit, so this view is then rebuilt on the next call.
        let generation = self.views.generation.load(Ordering::Acquire);
        if let Some(view) = self.current_view(generation) {
            return Ok(view);
        }
        let endpoints = self.endpoints("github").await?;
        let entities = self
            .all_entities()
            .await?
            .into_iter()
            .map(|e| (Self::entity_key(e.kind, &e.owner, &e.name, &e.endpoint_name), e))
            .collect();
        let mut pools: HashMap<EntityId, Vec<PoolRecord>> = HashMap::new();
        for p in self.pools(None).await? {
            pools.entry(p.entity_id.clone()).or_default().push(p);
        }
        let view = Arc::new(WebhookView {
            generation,
            built: Instant::now(),
            endpoints,
            entities,
            pools,
        });
        *self.views.view.write().expect("view lock is never poisoned") = Some(view.clone());
        Ok(view)
    }

    /// Starts a [`Batch`]: one transaction for many deliveries.
    ///
    /// On SQLite the `BEGIN` is not sent yet: it goes with the batch's first statement
    /// (SQLite's plain `BEGIN` takes no lock until then, so the transaction is the same).
    pub async fn batch(&self) -> Result<Batch<'_>> {
        let mut conn = self.pool.acquire().await?;
        let begun = match self.backend {
            Backend::Sqlite => false,
            Backend::Postgres => {
                conn.execute("BEGIN").await?;
                true
            }
        };
        Ok(Batch {
            store: self,
            conn,
            begun,
            ended: false,
            known_jobs: HashSet::new(),
            changes: Vec::new(),
            fenced: FenceChecked::default(),
        })
    }
}

/// One transaction in which intake records many deliveries (one commit for all).
///
/// # Guarantees
/// On SQLite, [`Batch::claim_and_read`] and [`Batch::commit_jobs`] each cost one statement
/// round trip to SQLite's worker thread, however many statements they run (sqlx runs a
/// query string of several statements in order, binding the anonymous parameters in turn).
/// A batch dropped before its commit, or whose commit failed, closes its connection
/// instead of returning it to the pool, so an open transaction is never reused (closing
/// rolls it back).
pub struct Batch<'a> {
    store: &'a Store,
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    /// Whether `BEGIN` has run on `conn`.
    begun: bool,
    /// Whether the transaction was committed or rolled back.
    ended: bool,
    /// Jobs [`Batch::claim_and_read`] found stored: putting one again is an update, not a create.
    known_jobs: HashSet<i64>,
    /// What the change feed gets once the batch commits.
    changes: Vec<(ChangeOp, ChangedRow)>,
    /// Pools whose lease this batch's transaction has checked.
    fenced: FenceChecked,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.begun && !self.ended {
            self.conn.close_on_drop();
        }
    }
}

/// `sql` with `BEGIN;` in front when the transaction has not begun yet.
fn begin_with(begun: bool, sql: String) -> String {
    if begun {
        sql
    } else {
        format!("BEGIN; {sql}")
    }
}

/// One statement of [`Batch::claim_and_read`]: at most 100 keys to claim, or job ids to read.
enum Part<'k> {
    Claim(&'k [&'k String]),
    Read(&'k [i64]),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl<'k> Part<'k> {
    fn sql(&self, backend: Backend) -> String {
        match self {
            Part::Claim(keys) => format!(
                "INSERT INTO webhook_deliveries (delivery_id, received_at) VALUES {} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                value_rows(backend, keys.len(), 2)
            ),
            Part::Read(ids) => format!(
                "SELECT {JOB_COLS} FROM jobs WHERE workflow_job_id IN {}",
                value_rows(backend, 1, ids.len())
            ),
        }
    }

    fn bind<'q>(&self, mut query: AnyQuery<'q>, t: &'q str) -> AnyQuery<'q>
    where
        'k: 'q,
    {
        match self {
            Part::Claim(keys) => {
                for key in *keys {
                    query = query.bind(key.as_str()).bind(t);
                }
            }
            Part::Read(ids) => {
                for id in *ids {
                    query = query.bind(*id);
                }
            }
        }
        query
    }
}

impl Batch<'_> {
    /// The transaction's connection, after its `BEGIN`.
    async fn tx(&mut self) -> Result<&mut sqlx::AnyConnection> {
        if !self.begun {
            self.conn.execute("BEGIN").await?;
            self.begun = true;
        }
        Ok(&mut *self.conn)
    }

    /// Claims the delivery keys among `delivery_ids` that no transaction recorded before, then
    /// reads the stored jobs among `ids`; on SQLite in one round trip, with the `BEGIN` if it
    /// has not run yet. Answers the keys this batch now owns and the jobs by workflow job id.
    ///
    /// A key another replica's batch is recording at the same time waits for that batch to
    /// end (the primary key's lock) and is then refused, so a delivery sent to two replicas is
    /// recorded once; if that batch rolls back instead, this one gets it. Keys are claimed in
    /// sorted order, so two batches never wait on each other in a cycle.
    pub async fn claim_and_read(
        &mut self,
        delivery_ids: &[String],
        ids: &[i64],
    ) -> Result<(HashSet<String>, HashMap<i64, JobRecord>)> {
        let mut keys: Vec<&String> = delivery_ids.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let t = ts(&now());
        let backend = self.store.backend;
        let parts: Vec<Part<'_>> = (keys.chunks(100).map(Part::Claim))
            .chain(ids.chunks(100).map(Part::Read))
            .collect();
        let rows = match backend {
            // One query string: sqlx runs its statements in order and binds the anonymous
            // parameters across them, so the whole step is one hand-off to SQLite's thread.
            Backend::Sqlite if !parts.is_empty() => {
                let sql: Vec<String> = parts.iter().map(|p| p.sql(backend)).collect();
                let sql = begin_with(self.begun, sql.join("; "));
                let query = parts.iter().fold(sqlx::query(&sql), |q, p| p.bind(q, &t));
                self.begun = true;
                query.fetch_all(&mut *self.conn).await?
            }
            _ => {
                let mut rows = Vec::new();
                for part in &parts {
                    let sql = part.sql(backend);
                    let query = part.bind(sqlx::query(&sql), &t);
                    rows.extend(query.fetch_all(self.tx().await?).await?);
                }
                rows
            }
        };
        let (mut claimed, mut found) = (HashSet::new(), HashMap::new());
        for row in rows {
            // The claim returns one column; the job read every job column.
            if row.columns().len() == 1 {
                claimed.insert(row.try_get::<String, _>("delivery_id")?);
            } else {
                let job = Store::job_from(&row)?;
                self.known_jobs.insert(job.workflow_job_id);
                found.insert(job.workflow_job_id, job);
            }
        }
        Ok((claimed, found))
    }

    /// Inserts or replaces jobs with distinct ids (as [`Store::put_job`], without reading them back).
    pub async fn put_jobs(&mut self, jobs: &[&JobRecord]) -> Result<()> {
        let backend = self.store.backend;
        put_jobs_on(self.tx().await?, backend, jobs).await?;
        self.note_jobs(jobs);
        Ok(())
    }

    fn note_jobs(&mut self, jobs: &[&JobRecord]) {
        if self.store.feed_open() {
            for j in jobs {
                let op = if self.known_jobs.contains(&j.workflow_job_id) {
                    ChangeOp::Update
                } else {
                    ChangeOp::Create
                };
                self.changes.push((op, ChangedRow::Job(Box::new((*j).clone()))));
            }
        }
    }

    /// The instance named `name_or_id` (as [`Store::instance`]).
    pub async fn instance(&mut self, name_or_id: &str) -> Result<InstanceRecord> {
        let store = self.store;
        store.instance_on(self.tx().await?, name_or_id).await
    }

    /// As [`Store::modify_instance`], inside the batch.
    pub async fn modify_instance(
        &mut self,
        name: &InstanceName,
        mode: Transition,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<InstanceRecord> {
        let store = self.store;
        self.tx().await?;
        let after = store
            .modify_instance_on(&mut self.conn, name, mode, change, &mut self.fenced)
            .await?;
        if store.feed_open() {
            self.changes
                .push((ChangeOp::Update, ChangedRow::Instance(Box::new(after.clone()))));
        }
        Ok(after)
    }

    /// [`Batch::put_jobs`], then [`Batch::commit`]; on SQLite in one round trip.
    pub async fn commit_jobs(mut self, jobs: &[&JobRecord]) -> Result<()> {
        if self.store.backend == Backend::Postgres || !self.begun || jobs.len() > 100 {
            self.put_jobs(jobs).await?;
            return self.commit().await;
        }
        if !jobs.is_empty() {
            let sql = format!("{}; COMMIT", put_jobs_sql(Backend::Sqlite, jobs.len()));
            let query = bind_jobs(sqlx::query(&sql), jobs, &ts(&now()));
            if let Err(err) = query.execute(&mut *self.conn).await {
                // The insert or the commit failed: the transaction may still be open.
                self.rollback().await;
                return Err(err.into());
            }
            self.note_jobs(jobs);
            self.ended = true;
            self.release().await;
            self.publish();
            Ok(())
        } else {
            self.commit().await
        }
    }

    /// Ends the transaction with a `ROLLBACK`; if even that fails, the connection is closed
    /// when the batch is dropped.
    async fn rollback(&mut self) {
        if self.conn.execute("ROLLBACK").await.is_ok() {
            self.ended = true;
            self.release().await;
        }
    }

    pub async fn commit(mut self) -> Result<()> {
        if self.begun {
            if let Err(err) = self.conn.execute("COMMIT").await {
                self.rollback().await;
                return Err(err.into());
            }
        }
        self.ended = true;
        self.release().await;
        self.publish();
        Ok(())
    }

    /// Hands the connection back to the pool now, in this task. Dropping it would spawn a
    /// task to do that, and the next batch's `acquire` would wait for that task to be
    /// scheduled: on a busy two-core machine, as long as a statement's round trip.
    async fn release(&mut self) {
        self.conn.return_to_pool().await;
    }

    /// Hands the committed changes to the change feed.
    fn publish(&mut self) {
        for (op, row) in std::mem::take(&mut self.changes) {
            self.store.changed(op, [row]);
        }
    }
}

/// Bumps the view generation when dropped, i.e. after the write (and its commit) returned,
/// and tells other replicas to do the same.
pub(crate) struct BumpView<'a>(&'a Store);

impl Drop for BumpView<'_> {
    fn drop(&mut self) {
        self.0.views.generation.fetch_add(1, Ordering::AcqRel);
        self.0.notify_peers("view");
    }
}

impl Store {
    pub(crate) fn bump_view_after(&self) -> BumpView<'_> {
        BumpView(self)
    }
}
