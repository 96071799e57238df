//! The external-provider contract of garm: commands, `GARM_*` environment variables, exit codes,
//! the bootstrap JSON on stdin and the instance JSON on stdout, plus a small [`run`] helper that
//! turns a [`Provider`] implementation into a garm-compatible provider executable.
//!
//! This is the only crate that knows the `GARM_*` names and the provider wire format.
//! It does not start or supervise provider processes (that is `garm-provider`), does no async
//! work, and does no IO except in the runner, which reads its own environment and stdin.

pub mod bootstrap;
pub mod command;
pub mod context;
pub mod extra_specs;
mod go_bytes;
pub mod instance;
pub mod runner;

pub use bootstrap::{BootstrapInstance, ProxyConfig, RunnerApplicationDownload, UserDataOptions};
pub use command::{
    env, Command, InterfaceVersion, UnknownCommand, UnknownInterfaceVersion, EXIT_DUPLICATE, EXIT_NOT_FOUND,
};
pub use context::{Context, ContextError};
pub use extra_specs::{decode_pool_extra_specs, encode_pool_extra_specs, ExtraSpecsError, NO_EXTRA_SPECS};
pub use instance::{Address, ProviderInstance, ProviderStatus, ValidationError};
pub use runner::{run, run_with, Provider, ProviderError};
