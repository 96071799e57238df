//! The shared application state handed to every handler.

use crate::auth::Keys;
use crate::config::Config;
use garm_store::Store;
use std::ops::Deref;
use std::sync::Arc;

/// Cheap-to-clone handle to everything a request needs.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub config: Config,
    pub keys: Keys,
    pub controller_id: String,
    pub nudge: Nudge,
}

/// What a reconciler should look at again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Entity(String),
    Pool(String),
}

/// Sends reconcile triggers; a trigger nobody listens to is dropped.
#[derive(Clone)]
pub struct Nudge {
    tx: tokio::sync::mpsc::UnboundedSender<Key>,
}

impl Nudge {
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Key>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
    pub fn entity(&self, id: &str) {
        let _ = self.tx.send(Key::Entity(id.to_string()));
    }
    pub fn pool(&self, id: &str) {
        let _ = self.tx.send(Key::Pool(id.to_string()));
    }
}

impl App {
    pub fn new(store: Store, config: Config, controller_id: String, nudge: Nudge) -> Self {
        let keys = Keys::new(&config.jwt_secret);
        Self(Arc::new(Inner {
            store,
            config,
            keys,
            controller_id,
            nudge,
        }))
    }
}

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
