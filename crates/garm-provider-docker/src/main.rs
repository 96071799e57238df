//! `garm-provider-docker`: a garm external provider whose instances are Docker containers on one
//! Docker engine, managed through the Engine API on its Unix socket.
//!
//! Each container is named after its instance, labelled with the controller id, pool id and
//! instance name, limited by the pool's flavor, and runs garm's runner install script as its main
//! process (through a small bootstrap uploaded into `/garm`), staying up while the runner runs.
//! `ListInstances` and `RemoveAllInstances` select containers by those labels only, so containers
//! of other controllers and unlabelled ones are never touched.
//!
//! It never pulls images (they must already be in the engine), manages no networks or volumes,
//! and does not render install templates: `runner_install_template` is run as given, which is
//! what garm's already rendered install wrapper needs.

use std::process::ExitCode;

use garm_provider_protocol::{Context, ProviderError};

mod bootstrap;
mod config;
mod container;
mod extra_specs;
mod provider;
mod reserved;

use config::Config;
use provider::DockerProvider;

fn main() -> ExitCode {
    garm_provider_protocol::run_with(prepare)
}

/// Loads the config named by `GARM_PROVIDER_CONFIG_FILE`.
fn prepare(ctx: &Context) -> Result<DockerProvider, ProviderError> {
    let config = Config::load(&ctx.config_file)
        .map_err(|err| ProviderError::caused_by("cannot load the docker provider config", err))?;
    DockerProvider::new(config)
}
