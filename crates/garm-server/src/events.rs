//! Nudges from the API to the reconcilers: a change was written, look again.

use crate::state::App;
use garm_model::{EntityId, PoolId};

/// An entity was created, changed or deleted.
pub fn entity_changed(app: &App, entity_id: &EntityId) {
    app.nudge.entity(entity_id);
}

/// A pool (or one of its instances) was created, changed or deleted.
pub fn pool_changed(app: &App, pool_id: &PoolId) {
    app.nudge.pool(pool_id);
}
