//! A stateful fake of the Azure Resource Manager calls, and the Entra ID and IMDS token
//! endpoints, that garm's Azure provider uses, for tests and demos.
//!
//! [`FakeArm::start`] serves on loopback: client-credential and federated-assertion tokens,
//! managed identity tokens, resource groups (tag filters, forced deletion), public IPs, network
//! security groups, virtual networks and subnets, NICs, VMs with instance views, power actions
//! and extensions, the resource SKU list, and list paging with `nextLink`. Writes start
//! long-running operations that progress one step per poll (virtual time) and are polled through
//! `Azure-AsyncOperation` and `Location` URLs shaped like the recorded ones. Requests are
//! checked the way ARM checks them (tokens, `api-version`, content type, required properties,
//! confidential VM rules, references, NSG priorities), errors use ARM's and Entra's bodies, and a
//! control API under `/_fake/` loads faults (status codes, throttling, failed or slow operations,
//! dropped connections, expired tokens), reads the request journal and advances the clock. With
//! a boot directory, a Linux VM that finishes creating runs its cloud-config install script
//! detached in a sandbox directory, so a runner can come up end to end.
//!
//! It deliberately does not share types with the provider (so a misreading in the client is not
//! mirrored here), keeps everything in memory, runs no PowerShell for Windows VMs, and models only
//! the subset of Azure's validation described in `docs/azure-provider.md`.

mod arm;
mod auth;
pub mod boot;
mod compute;
pub mod config;
mod control;
mod fault_rules;
pub mod faults;
pub mod journal;
mod network;
mod ops;
mod reply;
mod request;
mod resources;
mod server;
pub mod skus;
mod state;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

pub use config::{ClientSpec, FakeConfig, ManagedIdentities, Settings, SettingsPatch, DEFAULT_SUBSCRIPTION};
pub use control::SeedVm;
pub use faults::{FaultAction, FaultMatch, FaultRule};
pub use journal::Entry;
pub use state::Group;

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the fake's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("invalid fault rule: {0}")]
    Fault(String),
}

/// Entry point: [`FakeArm::start`] (inside a tokio runtime) or [`FakeArm::spawn`] (anywhere).
pub struct FakeArm;

impl FakeArm {
    /// Binds `config.bind` and serves in the background of the current runtime.
    pub async fn start(config: FakeConfig) -> Result<FakeHandle, StartError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let shared = Arc::new(Mutex::new(state::World::new(config)));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(FakeHandle {
            addr,
            shared,
            stop,
            thread: None,
        })
    }

    /// Starts the fake on its own runtime thread, for synchronous tests.
    pub fn spawn(config: FakeConfig) -> Result<FakeHandle, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let (sender, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                match FakeArm::start(config).await {
                    Ok(handle) => {
                        let mut stopped = handle.stop.subscribe();
                        let _ = sender.send(Ok((handle.addr, handle.shared.clone(), handle.stop.clone())));
                        let _ = stopped.changed().await;
                        drop(handle);
                    }
                    Err(err) => {
                        let _ = sender.send(Err(err));
                    }
                }
            });
        });
        let (addr, shared, stop) = receiver
            .recv()
            .map_err(|_| StartError::Runtime(std::io::Error::other("the fake's thread died")))??;
        Ok(FakeHandle {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }
}

/// A running fake; dropping it stops the server and kills booted install scripts.
pub struct FakeHandle {
    addr: SocketAddr,
    shared: Arc<Mutex<state::World>>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHandle {
    fn world(&self) -> std::sync::MutexGuard<'_, state::World> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the ARM, authority and IMDS base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn subscription_id(&self) -> String {
        self.world().config.subscription_id.clone()
    }

    /// Every journaled exchange so far.
    pub fn journal(&self) -> Vec<Entry> {
        self.world().journal.clone()
    }

    pub fn clear_journal(&self) {
        self.world().journal.clear();
    }

    pub fn add_fault(&self, rule: FaultRule) -> Result<(), StartError> {
        control::add_faults(&mut self.world(), vec![rule]).map_err(StartError::Fault)
    }

    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    /// Advances every running operation by `steps` polls.
    pub fn advance(&self, steps: u32) {
        ops::advance_all(&mut self.world(), steps);
    }

    pub fn settings(&self) -> Settings {
        self.world().settings.clone()
    }

    pub fn update_settings(&self, patch: SettingsPatch) {
        self.world().settings.apply(patch);
    }

    /// Plants a VM (and its group, if missing) directly in the state.
    pub fn seed_vm(&self, seed: SeedVm) {
        control::seed_vm(&mut self.world(), &seed);
    }

    pub fn group(&self, name: &str) -> Option<Group> {
        self.world().group(name).cloned()
    }

    pub fn groups(&self) -> Vec<Group> {
        self.world().groups.values().cloned().collect()
    }

    /// The stored model of a resource by ID (as GET would answer it, minus live state).
    pub fn resource(&self, id: &str) -> Option<Value> {
        self.world().resource(id).map(|resource| resource.model.clone())
    }

    /// The power state of the VM with this ID.
    pub fn power_state(&self, id: &str) -> Option<String> {
        self.world().resource(id).and_then(|resource| resource.power.clone())
    }

    /// IDs of all resources, sorted.
    pub fn resource_ids(&self) -> Vec<String> {
        self.world()
            .resources
            .values()
            .map(|resource| resource.id.clone())
            .collect()
    }

    /// How many tokens the endpoints issued.
    pub fn tokens_issued(&self) -> usize {
        self.world().tokens.len()
    }

    /// A summary of the state, as `/_fake/state` answers it.
    pub fn state(&self) -> Value {
        control::state(&self.world())
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for (_, boot) in self.world().boots.drain() {
            boot.kill();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
