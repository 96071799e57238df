//! The store: garm-rs's single source of truth, on SQLite (embedded default) or
//! PostgreSQL, behind one API ([`Store`]) with one conformance suite for both.
//!
//! It seals secrets before they reach a row and opens them on the way out; it
//! refuses illegal instance transitions; it turns constraint violations into
//! [`StoreError::Conflict`]. It knows nothing of HTTP or of the REST JSON shapes.

mod error;
mod records;
mod schema;
pub mod seal;
mod sql;

pub use error::StoreError;
pub use records::*;
pub use seal::Sealer;
pub use sql::{entity_lease, replica_lease, Fence, LeaseRecord};
pub use sql::{
    AttestationRecord, Backend, Batch, Change, ChangeOp, ChangedRow, NewScaleSet, Placement, Store, Transition,
    WebhookView, FEED_CAPACITY, SHARED_VIEW_TTL,
};
