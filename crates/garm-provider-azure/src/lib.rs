//! The Azure external provider for garm: creates one resource group per runner instance
//! (network security group, optional Standard public IP, virtual network, NIC and VM, plus a
//! CustomScriptExtension on Windows), including AMD SEV-SNP confidential VMs, and speaks garm's
//! external-provider protocol through `garm-provider-protocol`.
//! Configuration is compatible with cloudbase/garm-provider-azure, plus `[endpoints]` for
//! sovereign clouds and the fake ARM used in tests.
//!
//! It deliberately does not use the Azure SDK (there are no Rust management crates): it is a
//! thin blocking client for the few ARM calls it needs. It does not wait for runners to boot,
//! does not support marketplace images that need a purchase plan, and never downgrades a
//! requested confidential VM: combinations Azure would refuse are refused before any call.

pub mod arm;
pub mod auth;
pub mod bodies;
pub mod config;
pub mod error;
pub mod extra_specs;
pub mod http;
pub mod image;
pub mod lro;
pub mod net;
pub mod plan;
pub mod provider;
pub mod schema;
pub use garm_base::Secret;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod userdata;

pub use config::Config;
pub use error::AzureError;
pub use provider::AzureProvider;
