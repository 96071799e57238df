//! The shared application state handed to every handler.

use crate::auth::{InstanceClaims, Keys};
use crate::config::Config;
use garm_pool::{Ctx, Nudge};
use garm_store::{EntityRecord, InstanceRecord, PoolRecord, Store};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

pub use garm_pool::Key;

/// Cheap-to-clone handle to everything a request needs.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub config: Config,
    pub keys: Arc<Keys>,
    pub controller_id: String,
    pub nudge: Nudge,
    /// The pool manager's context (providers, forge clients, metrics).
    pub pool: Arc<Ctx>,
    /// Failed logins per username and client address.
    pub logins: crate::login_limit::LoginLimiter,
    /// Verified webhooks waiting for the next group commit.
    pub intake: crate::intake_queue::IntakeQueue,
    /// Nonces issued to attesting instances, and the verifier's clock.
    pub attest: crate::attest::Attestor,
    /// Websocket streams: change events, the log, dashboard snapshots.
    pub streams: crate::stream::Streams,
}

impl App {
    pub fn new(store: Store, config: Config, controller_id: String, keys: Arc<Keys>, pool: Arc<Ctx>) -> Self {
        let nudge = pool.nudge.clone();
        let attest = crate::attest::Attestor::from_config(&config.attestation);
        let streams = crate::stream::Streams::new(config.logging.streamer.then(crate::stream::logs::hub));
        // Instance and job changes reach the events stream from the store's feed.
        crate::stream::events::relay(store.clone(), streams.clone(), pool.shutdown.clone());
        Self(Arc::new(Inner {
            streams,
            attest,
            store,
            config,
            keys,
            controller_id,
            nudge,
            pool,
            logins: Default::default(),
            intake: Default::default(),
        }))
    }
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Mints instance tokens with the server's JWT key (garm's claims).
pub struct Minter(pub Arc<Keys>);

impl garm_pool::TokenMinter for Minter {
    fn mint(&self, instance: &InstanceRecord, pool: &PoolRecord, entity: &EntityRecord, ttl: Duration) -> String {
        let claims = InstanceClaims {
            id: instance.id.clone(),
            name: instance.name.to_string(),
            provider_id: pool.id.to_string(),
            scope: entity.kind.as_str().to_string(),
            entity: entity.display_name(),
            create_attempt: instance.create_attempt,
            forge_type: "github".into(),
            is_agent: false,
            iss: "garm".into(),
            exp: (chrono::Utc::now() + ttl).timestamp(),
        };
        self.0.sign(&claims)
    }
}
