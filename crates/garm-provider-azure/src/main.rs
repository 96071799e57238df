//! `garm-provider-azure`: garm's external provider for Azure VMs (including confidential VMs).
//!
//! garm runs it once per operation with `GARM_*` variables and, for `CreateInstance`, the
//! bootstrap JSON on stdin; it prints JSON on stdout and logs to stderr (`RUST_LOG` adjusts the
//! level when garm passes it through). It keeps no state of its own between runs.

use std::process::ExitCode;

use garm_provider_azure::{AzureProvider, Config};
use garm_provider_protocol::ProviderError;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    garm_provider_protocol::run_with(|ctx| {
        let config = Config::load(&ctx.config_file, |name| std::env::var(name).ok())
            .map_err(|err| ProviderError::caused_by("cannot load the provider config", err))?;
        for key in &config.ignored_keys {
            tracing::warn!(key, "unknown config key ignored");
        }
        AzureProvider::new(config).map_err(|err| ProviderError::caused_by("cannot set up the Azure client", err))
    })
}
