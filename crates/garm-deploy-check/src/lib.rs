//! Offline checks of what deploys garm-rs, in `tests/it`, and the rendering they share with
//! `cargo xtask aci-local`.
//!
//! The tests parse the Terraform under `deploy/azure` (resources, variables, outputs and how
//! they are wired, and the container group as ACI receives it after the azurerm provider merged
//! its volumes: [`group`]), the root `Dockerfile` (stages, binaries, user, health check) and run
//! the image's scripts against stand-ins. Nothing here needs a network, Azure or a Docker image:
//! `terraform fmt -check` runs when `terraform` is installed, and each check that needs a tool
//! says so when the tool is missing.

pub mod group;
pub use hcl::Value;
