//! `/api/v1/ws/metrics`: the dashboard snapshot garm's web UI and `garm-cli top` read, sent on
//! connect and then every [`INTERVAL`] to all subscribers (built once per tick, only while
//! someone listens).

use crate::state::App;
use crate::stream::hub::Message;
use crate::stream::metrics::{Entity, Pool, ScaleSet, Snapshot};
use crate::stream::socket::{self, Pace, Reply};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use garm_store::EntityKind;
use std::collections::BTreeMap;
use std::time::Duration;

/// garm's `snapshotInterval`.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Instances per status.
type Counts = BTreeMap<String, usize>;

/// Reads the store into a snapshot.
pub async fn snapshot(app: &App) -> anyhow::Result<Snapshot> {
    let entities = app.store.all_entities().await?;
    let pools = app.store.pools(None).await?;
    let scale_sets = app.store.scale_sets(None).await?;
    let instances = app.store.instances().await?;
    let mut pool_count: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &pools {
        *pool_count.entry(p.entity_id.as_str()).or_default() += 1;
    }
    let mut set_count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &scale_sets {
        *set_count.entry(s.pool.entity_id.as_str()).or_default() += 1;
    }
    let mut out = Snapshot::default();
    let mut owners = BTreeMap::new();
    for e in &entities {
        owners.insert(e.id.as_str(), e);
        out.entities.push(Entity {
            id: e.id.to_string(),
            name: e.display_name(),
            kind: e.kind.as_str().to_string(),
            endpoint: e.endpoint_name.clone(),
            pool_count: pool_count.get(e.id.as_str()).copied().unwrap_or(0),
            scale_set_count: set_count.get(e.id.as_str()).copied().unwrap_or(0),
            healthy: e.pool_manager_running,
        });
    }
    let mut counts: BTreeMap<&str, (Counts, Counts)> = BTreeMap::new();
    for i in &instances {
        let (status, runner) = counts.entry(i.pool_id.as_str()).or_default();
        *status.entry(i.status.to_string()).or_default() += 1;
        let rs = i.runner_status.to_string();
        if !rs.is_empty() {
            *runner.entry(rs).or_default() += 1;
        }
    }
    for p in &pools {
        let (runner_counts, runner_status_counts) = counts.remove(p.id.as_str()).unwrap_or_default();
        let mut pool = Pool {
            id: p.id.to_string(),
            provider_name: p.provider_name.clone(),
            os_type: p.os_type.clone(),
            max_runners: p.max_runners.into(),
            enabled: p.enabled,
            runner_counts,
            runner_status_counts,
            ..Default::default()
        };
        if let Some(owner) = owners.get(p.entity_id.as_str()) {
            match owner.kind {
                EntityKind::Repository => pool.repo_name = owner.display_name(),
                EntityKind::Organization => pool.org_name = owner.name.clone(),
                EntityKind::Enterprise => pool.enterprise_name = owner.name.clone(),
            }
        }
        out.pools.push(pool);
    }
    for s in &scale_sets {
        let (runner_counts, runner_status_counts) = counts.remove(s.pool.id.as_str()).unwrap_or_default();
        let mut set = ScaleSet {
            id: s.id as u64,
            name: s.name.clone(),
            provider_name: s.pool.provider_name.clone(),
            os_type: s.pool.os_type.clone(),
            max_runners: s.pool.max_runners.into(),
            enabled: s.pool.enabled,
            runner_counts,
            runner_status_counts,
            ..Default::default()
        };
        if let Some(owner) = owners.get(s.pool.entity_id.as_str()) {
            match owner.kind {
                EntityKind::Repository => set.repo_name = owner.display_name(),
                EntityKind::Organization => set.org_name = owner.name.clone(),
                EntityKind::Enterprise => set.enterprise_name = owner.name.clone(),
            }
        }
        out.scale_sets.push(set);
    }
    Ok(out)
}

async fn encoded(app: &App) -> Option<Message> {
    match snapshot(app).await {
        Ok(snap) => serde_json::to_string(&snap).ok().map(Message::from),
        Err(err) => {
            tracing::warn!(error = %err, "building the metrics snapshot failed");
            None
        }
    }
}

/// Starts the ticker once; it sends a snapshot every [`INTERVAL`] while anyone listens.
fn start_ticker(app: &App) {
    if !app.streams.metrics.start_ticking() {
        return;
    }
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
        loop {
            tokio::select! {
                _ = app.pool.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if app.streams.metrics.hub.is_empty() {
                continue;
            }
            if let Some(msg) = encoded(&app).await {
                app.streams.metrics.hub.publish(&msg, |_| true);
            }
        }
    });
}

pub async fn handler(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Some(refused) = super::check_origin(&app, &headers) {
        return refused;
    }
    let pace = Pace::for_idle_timeout(app.config.connections.idle_timeout);
    start_ticker(&app);
    ws.max_message_size(socket::MAX_MESSAGE)
        .on_upgrade(move |conn| async move {
            // Made once upgraded: its checks run only while the connection does.
            let session = super::session(&app, &headers);
            let metrics = app.streams.metrics.clone();
            let sub = metrics.hub.subscribe(());
            let id = sub.id;
            // The first snapshot at once, so a dashboard does not wait for the tick (as garm).
            if let Some(msg) = encoded(&app).await {
                metrics.hub.publish(&msg, |_| true);
            }
            let ended = socket::pump(conn, sub, pace, &session, |_| Reply::Continue).await;
            session.revoked.cancel();
            metrics.hub.unsubscribe(id);
            tracing::debug!(?ended, "metrics websocket closed");
        })
}
