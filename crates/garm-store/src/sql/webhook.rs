//! What the webhook path reads on every delivery, kept in memory, and the batch
//! transaction intake commits many deliveries in.
//!
//! # Guarantees
//! A [`WebhookView`] is rebuilt after any write through this [`Store`] to endpoints,
//! entities or pools (a generation counter bumped after each such write), so a
//! process sees its own changes on the next delivery. Writes by another process
//! (replicas sharing PostgreSQL) are seen within [`SHARED_VIEW_TTL`]; callers fall
//! back to the database when the view misses or a signature does not verify.

use super::jobs::{put_jobs_on, value_rows};
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
    pub async fn batch(&self) -> Result<Batch<'_>> {
        Ok(Batch {
            store: self,
            tx: self.pool.begin().await?,
            known_jobs: HashSet::new(),
            changes: Vec::new(),
            fenced: FenceChecked::default(),
        })
    }
}

/// One transaction in which intake records many deliveries (one commit for all).
pub struct Batch<'a> {
    store: &'a Store,
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Jobs [`Batch::jobs`] found stored: putting one again is an update, not a create.
    known_jobs: HashSet<i64>,
    /// What the change feed gets once the batch commits.
    changes: Vec<(ChangeOp, ChangedRow)>,
    /// Pools whose lease this batch's transaction has checked.
    fenced: FenceChecked,
}

impl Batch<'_> {
    /// Records the delivery keys among `delivery_ids` that no transaction recorded before and
    /// returns them: the keys this batch now owns. A key another replica's batch is recording
    /// at the same time waits for that batch to end (the primary key's lock) and is then
    /// refused, so a delivery sent to two replicas is recorded once; if that batch rolls back
    /// instead, this one gets it. Keys are claimed in sorted order, so two batches never wait
    /// on each other in a cycle.
    pub async fn claim_deliveries(&mut self, delivery_ids: &[String]) -> Result<HashSet<String>> {
        let mut keys: Vec<&String> = delivery_ids.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let t = ts(&now());
        let mut claimed = HashSet::new();
        for chunk in keys.chunks(100) {
            let sql = format!(
                "INSERT INTO webhook_deliveries (delivery_id, received_at) VALUES {} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                value_rows(self.store.backend, chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id).bind(&t);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                claimed.insert(row.try_get::<String, _>("delivery_id")?);
            }
        }
        Ok(claimed)
    }

    /// The stored jobs among `ids`, by workflow job id.
    pub async fn jobs(&mut self, ids: &[i64]) -> Result<HashMap<i64, JobRecord>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(100) {
            let sql = format!(
                "SELECT {JOB_COLS} FROM jobs WHERE workflow_job_id IN {}",
                value_rows(self.store.backend, 1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                let job = Store::job_from(&row)?;
                self.known_jobs.insert(job.workflow_job_id);
                found.insert(job.workflow_job_id, job);
            }
        }
        Ok(found)
    }

    /// Inserts or replaces jobs with distinct ids (as [`Store::put_job`], without reading them back).
    pub async fn put_jobs(&mut self, jobs: &[&JobRecord]) -> Result<()> {
        put_jobs_on(&mut self.tx, self.store.backend, jobs).await?;
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
        Ok(())
    }

    /// The instance named `name_or_id` (as [`Store::instance`]).
    pub async fn instance(&mut self, name_or_id: &str) -> Result<InstanceRecord> {
        let store = self.store;
        store.instance_on(&mut self.tx, name_or_id).await
    }

    /// As [`Store::modify_instance`], inside the batch.
    pub async fn modify_instance(
        &mut self,
        name: &InstanceName,
        mode: Transition,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<InstanceRecord> {
        let store = self.store;
        let after = store
            .modify_instance_on(&mut self.tx, name, mode, change, &mut self.fenced)
            .await?;
        if store.feed_open() {
            self.changes
                .push((ChangeOp::Update, ChangedRow::Instance(Box::new(after.clone()))));
        }
        Ok(after)
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        for (op, row) in self.changes {
            self.store.changed(op, [row]);
        }
        Ok(())
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
