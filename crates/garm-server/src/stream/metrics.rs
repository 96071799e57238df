//! The dashboard snapshot garm's web UI and `garm-cli top` read (garm's `MetricsSnapshot`), and
//! the hub of its subscribers. [`crate::ws::metrics`] builds the snapshots and serves them at
//! `/api/v1/ws/metrics`.

use super::hub::Hub;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// garm's `MetricsSnapshot`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub entities: Vec<Entity>,
    pub pools: Vec<Pool>,
    pub scale_sets: Vec<ScaleSet>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Entity {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: String,
    pub pool_count: usize,
    pub scale_set_count: usize,
    pub healthy: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub id: String,
    pub provider_name: String,
    pub os_type: String,
    pub max_runners: u64,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forge_instance_name: String,
    pub runner_counts: BTreeMap<String, usize>,
    pub runner_status_counts: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ScaleSet {
    pub id: u64,
    pub name: String,
    pub provider_name: String,
    pub os_type: String,
    pub max_runners: u64,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_name: String,
    pub runner_counts: BTreeMap<String, usize>,
    pub runner_status_counts: BTreeMap<String, usize>,
}

/// The metrics stream's subscribers and its ticker.
#[derive(Default)]
pub struct MetricsHub {
    pub hub: Hub<()>,
    ticking: AtomicBool,
}

impl MetricsHub {
    /// True the first time only: the caller is the one to start the ticker.
    pub fn start_ticking(&self) -> bool {
        !self.ticking.swap(true, Ordering::SeqCst)
    }
}
