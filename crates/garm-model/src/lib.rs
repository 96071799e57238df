//! Domain vocabulary of garm-rs: instance and runner state machines, label matching,
//! pool settings validation and secret wrappers.
//!
//! This crate does no IO and knows no wire format: the REST shapes live in
//! `garm-api-types`, SQL in `garm-store`, forge JSON in `garm-forge`.

pub mod ids;
pub mod job;
pub mod labels;
pub mod names;
pub mod pool;
pub mod settings_error;
pub mod status;

pub use garm_base::Secret;
pub use ids::{EntityId, InstanceName, PoolId};
pub use job::JobAction;
pub use labels::{job_matches_pool, order_candidates, BalancerType};
pub use pool::{OsArch, OsType, PoolSettingsError};
pub use status::{check_recreate, InstanceStatus, RunnerStatus, TransitionError};
