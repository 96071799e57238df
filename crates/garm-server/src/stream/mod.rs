//! Live streams, the part every other module may use: the hubs subscribers are held in
//! ([`Streams`]), garm's event vocabulary ([`EntityType`], [`Operation`]) and encodings, the
//! log layer and the websocket pump. It names nothing else of the server; the websocket
//! endpoints that serve these streams (`/api/v1/ws/events`, `/api/v1/ws/logs`, legacy
//! `/api/v1/ws`, `/api/v1/ws/metrics`) are in [`crate::ws`]. `docs/streams.md` describes the
//! protocol.
//!
//! Publishing a change is one call, from wherever the change is committed:
//!
//! ```text
//! app.streams.publish(EntityType::ScaleSet, Operation::Create, &api_scale_set);
//! ```
//!
//! Configuration objects (entities, pools, endpoints, credentials, templates, proxies, the
//! controller, users) are published by the API handlers that change them, with the JSON the
//! API answers with. Instances and jobs change in the pool manager, in webhook intake and in
//! instance callbacks as well; they come from the store's change feed
//! (`garm_store::Store::subscribe_changes`), which `crate::ws::events::relay` turns into events.

pub mod events;
pub mod hub;
pub mod logs;
pub mod metrics;
pub mod socket;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// garm's `DatabaseEntityType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Repository,
    Organization,
    Enterprise,
    ForgeInstance,
    Pool,
    User,
    Instance,
    Job,
    Controller,
    GithubCredentials,
    GiteaCredentials,
    GithubEndpoint,
    #[serde(rename = "scaleset")]
    ScaleSet,
    Template,
    FileObject,
    Proxy,
}

impl EntityType {
    /// The event type of an entity kind.
    pub fn of(kind: garm_store::EntityKind) -> Self {
        match kind {
            garm_store::EntityKind::Repository => Self::Repository,
            garm_store::EntityKind::Organization => Self::Organization,
            garm_store::EntityKind::Enterprise => Self::Enterprise,
        }
    }
}

/// garm's `OperationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// The streams' hubs, shared by all connections.
#[derive(Clone)]
pub struct Streams {
    pub events: Arc<hub::Hub<events::Selection>>,
    /// `None` when `[logging] enable_log_streamer` is off.
    pub logs: Option<Arc<hub::Hub<()>>>,
    pub metrics: Arc<metrics::MetricsHub>,
    /// Cancel on shutdown: every stream closes (1001, going away) instead of holding the
    /// listener's drain.
    pub closing: tokio_util::sync::CancellationToken,
}

impl Streams {
    pub fn new(logs: Option<Arc<hub::Hub<()>>>) -> Self {
        Self {
            events: Default::default(),
            logs,
            metrics: Default::default(),
            closing: Default::default(),
        }
    }

    /// Sends a change to every events subscriber whose filter selects it; never waits.
    /// `payload` is the object as the REST API shows it (secrets never included).
    pub fn publish(&self, kind: EntityType, op: Operation, payload: &impl Serialize) {
        if self.events.is_empty() {
            return;
        }
        let Some(msg) = events::encode(kind, op, payload) else {
            return;
        };
        self.events.publish(&msg, |selection| selection.wants(kind, op));
    }
}
