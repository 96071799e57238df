//! `FakeConfig` (fixed at start) and `Settings` (changeable at run time through `/_fake/settings`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An app registration the token endpoint knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    pub tenant_id: String,
    pub client_id: String,
    /// Accepted client secret, if the app has one.
    #[serde(default)]
    pub secret: Option<String>,
    /// Accepted federated assertions (the content of a workload identity token file).
    #[serde(default)]
    pub federated_assertions: Vec<String>,
}

/// Identities IMDS can hand out tokens for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ManagedIdentities {
    /// Whether a request without `client_id` gets a token.
    #[serde(default)]
    pub system_assigned: bool,
    /// Client IDs of user-assigned identities.
    #[serde(default)]
    pub user_assigned: Vec<String>,
}

/// Behaviour that tests may change while the fake runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// A long-running operation reports its final state on this poll (1 = the first poll).
    pub polls_to_complete: u32,
    /// `Retry-After` (seconds) on accepted operations and their polls.
    pub retry_after_secs: u64,
    /// Items per page of list answers.
    pub page_size: usize,
    /// Lifetime of issued tokens.
    pub token_lifetime_secs: u64,
    /// Answer every resource group delete that forces deletion with
    /// `UnsupportedForceDeletionResourceTypeInQueryString`.
    pub reject_force_deletion: bool,
    /// Tracked resources must be in their group's region.
    pub enforce_group_location: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            polls_to_complete: 2,
            retry_after_secs: 1,
            page_size: 100,
            token_lifetime_secs: 3599,
            reject_force_deletion: false,
            enforce_group_location: true,
        }
    }
}

/// A partial update of [`Settings`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsPatch {
    pub polls_to_complete: Option<u32>,
    pub retry_after_secs: Option<u64>,
    pub page_size: Option<usize>,
    pub token_lifetime_secs: Option<u64>,
    pub reject_force_deletion: Option<bool>,
    pub enforce_group_location: Option<bool>,
}

impl Settings {
    pub fn apply(&mut self, patch: SettingsPatch) {
        if let Some(value) = patch.polls_to_complete {
            self.polls_to_complete = value.max(1);
        }
        if let Some(value) = patch.retry_after_secs {
            self.retry_after_secs = value;
        }
        if let Some(value) = patch.page_size {
            self.page_size = value.max(1);
        }
        if let Some(value) = patch.token_lifetime_secs {
            self.token_lifetime_secs = value;
        }
        if let Some(value) = patch.reject_force_deletion {
            self.reject_force_deletion = value;
        }
        if let Some(value) = patch.enforce_group_location {
            self.enforce_group_location = value;
        }
    }
}

/// How the fake starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeConfig {
    pub bind: SocketAddr,
    pub subscription_id: String,
    pub clients: Vec<ClientSpec>,
    pub managed_identities: ManagedIdentities,
    /// Token audiences accepted (as OAuth2 scope `<audience>/.default` or IMDS `resource`);
    /// the fake's own base URL is always accepted too.
    pub audiences: Vec<String>,
    /// Accepted api-versions per namespace: `resources`, `network`, `compute`, `skus`.
    pub api_versions: BTreeMap<String, Vec<String>>,
    /// When set, a Linux VM that finishes booting runs its install script in `<dir>/<vm>`.
    pub boot_dir: Option<PathBuf>,
    /// Seed of the fake's randomness (200-vs-204 answers, fault probabilities).
    pub seed: u64,
    pub settings: Settings,
}

/// The subscription tests use unless they say otherwise.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000a2e0";

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        let versions = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        FakeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            subscription_id: DEFAULT_SUBSCRIPTION.to_owned(),
            clients: Vec::new(),
            managed_identities: ManagedIdentities::default(),
            audiences: vec![
                "https://management.azure.com/".to_owned(),
                "https://management.core.windows.net/".to_owned(),
            ],
            api_versions: BTreeMap::from([
                ("resources".to_owned(), versions(&["2021-04-01"])),
                ("network".to_owned(), versions(&["2023-11-01"])),
                ("compute".to_owned(), versions(&["2024-03-01"])),
                ("skus".to_owned(), versions(&["2021-07-01"])),
            ]),
            boot_dir: None,
            seed: 1,
            settings: Settings::default(),
        }
    }
}
