//! The fake's world: resource groups, resources, operations, tokens, faults and the journal.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng as _;
use serde::Serialize;
use serde_json::Value;

use crate::boot::Boot;
use crate::config::{FakeConfig, Settings};
use crate::fault_rules::FaultState;
use crate::journal::Entry;

/// A resource group.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    /// `Succeeded` or `Deleting`.
    pub state: String,
}

/// Kinds of resources the fake keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    PublicIp,
    Nsg,
    Vnet,
    Subnet,
    Nic,
    Vm,
    Extension,
}

impl Kind {
    /// The ARM resource type.
    pub fn arm_type(self) -> &'static str {
        match self {
            Kind::PublicIp => "Microsoft.Network/publicIPAddresses",
            Kind::Nsg => "Microsoft.Network/networkSecurityGroups",
            Kind::Vnet => "Microsoft.Network/virtualNetworks",
            Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Kind::Nic => "Microsoft.Network/networkInterfaces",
            Kind::Vm => "Microsoft.Compute/virtualMachines",
            Kind::Extension => "Microsoft.Compute/virtualMachines/extensions",
        }
    }

    pub fn is_network(self) -> bool {
        !matches!(self, Kind::Vm | Kind::Extension)
    }
}

/// A resource inside a group.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// The ID with the casing used at creation.
    pub id: String,
    pub kind: Kind,
    pub name: String,
    /// Lower-cased group name.
    pub group: String,
    /// The model as the fake answers it (without dynamic fields).
    pub model: Value,
    /// `Creating`, `Updating`, `Succeeded`, `Failed`, `Deleting`.
    pub provisioning: String,
    /// VMs only: `starting`, `running`, `deallocating`, …
    pub power: Option<String>,
    /// The failure of the last operation, for the instance view.
    pub failure: Option<(String, String)>,
    /// The raw `customData` a VM was created with (never echoed).
    #[serde(skip)]
    pub custom_data: Option<String>,
}

/// What finishing an operation does.
#[derive(Debug, Clone, Serialize)]
pub enum Effect {
    /// The resource's provisioning state becomes `Succeeded`.
    Provision { id: String },
    /// A VM finished creating: `Succeeded`, power `running`, boot.
    VmCreate { id: String },
    /// A power action finished.
    Power { id: String, to: String },
    /// A resource is removed.
    DeleteResource { id: String },
    /// A group and everything in it is removed.
    DeleteGroup { group: String },
}

/// `Network`, `Compute` or `Resources` (decides URL and body shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Namespace {
    Network,
    Compute,
    Resources,
}

/// A long-running operation.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub id: String,
    pub namespace: Namespace,
    pub location: String,
    pub api_version: String,
    /// Compute's opaque `p=` query value.
    pub p: String,
    /// Polls left until the final state is reported.
    pub polls_left: u32,
    /// `InProgress`, `Succeeded`, `Failed`.
    pub status: String,
    pub error: Option<(String, String)>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub effect: Effect,
    /// Injected failure to report when the operation ends.
    pub fail_with: Option<(String, String)>,
}

/// A token the fake issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub principal: String,
    pub expires: Instant,
    /// Set by the `token_expired` fault.
    pub revoked: bool,
}

/// Remaining-budget counters for the rate-limit headers.
#[derive(Debug, Clone)]
pub struct Counters {
    pub reads: u64,
    pub writes: u64,
    pub deletes: u64,
    pub compute_puts: u64,
}

/// Everything the fake knows.
pub struct World {
    pub config: FakeConfig,
    pub settings: Settings,
    /// Keyed by lower-cased group name.
    pub groups: BTreeMap<String, Group>,
    /// Keyed by lower-cased resource ID.
    pub resources: BTreeMap<String, Resource>,
    pub operations: HashMap<String, Operation>,
    pub tokens: HashMap<String, IssuedToken>,
    pub journal: Vec<Entry>,
    pub faults: Vec<FaultState>,
    pub counters: Counters,
    pub rng: StdRng,
    pub boots: HashMap<String, Boot>,
    pub started: Instant,
    pub next_private: u32,
    pub next_public: u32,
}

impl World {
    pub fn new(config: FakeConfig) -> World {
        World {
            settings: config.settings.clone(),
            rng: StdRng::seed_from_u64(config.seed),
            config,
            groups: BTreeMap::new(),
            resources: BTreeMap::new(),
            operations: HashMap::new(),
            tokens: HashMap::new(),
            journal: Vec::new(),
            faults: Vec::new(),
            counters: Counters {
                reads: 11999,
                writes: 1199,
                deletes: 14999,
                compute_puts: 240,
            },
            boots: HashMap::new(),
            started: Instant::now(),
            next_private: 0,
            next_public: 0,
        }
    }

    /// `/subscriptions/<sub>/resourceGroups/<group>` with the group's creation casing.
    pub fn group_id(&self, group: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{group}", self.config.subscription_id)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(&name.to_ascii_lowercase())
    }

    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resources.get(&id.to_ascii_lowercase())
    }

    pub fn resource_mut(&mut self, id: &str) -> Option<&mut Resource> {
        self.resources.get_mut(&id.to_ascii_lowercase())
    }

    /// Resources whose ID starts with `prefix` (case-insensitive), e.g. a VM's extensions.
    pub fn children(&self, prefix: &str) -> Vec<&Resource> {
        let prefix = format!("{}/", prefix.to_ascii_lowercase());
        self.resources
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(_, resource)| resource)
            .collect()
    }

    /// Milliseconds since the fake started (journal timestamps).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// The current time in ARM's format.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}
