//! The shared application state handed to every handler.

use crate::config::Config;
use crate::tokens::Keys;
use garm_pool::{Ctx, Nudge};
use garm_store::Store;
use std::ops::Deref;
use std::sync::Arc;

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
