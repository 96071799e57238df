//! `garm-test-provider`: a garm external provider for tests and the local demo, whose
//! "instances" are local sandboxes: a JSON record per instance in `state_dir`, a work
//! directory per instance in `sandbox_dir`, and, with `run_userdata = true`, the pool's
//! `runner_install_template` run detached as `bash install.sh` in that directory.
//! Config switches (`fail_on`, `hang_on`, `garbage_on`, `crash_on`, `after_create`,
//! `fail_create_times`) make it misbehave on purpose.
//!
//! It provides no isolation at all (no containers, no VMs, no users): install scripts run as the
//! invoking user on the host. Never point it at anything but throwaway directories.

use std::process::ExitCode;
use std::time::Duration;

use garm_provider_protocol::{Context, ProviderError};

mod config;
mod provider;
mod sandbox;
mod store;

use config::Config;
use provider::SandboxProvider;

fn main() -> ExitCode {
    garm_provider_protocol::run_with(prepare)
}

/// Loads the config and applies the misbehaviour switches for this command.
fn prepare(ctx: &Context) -> Result<SandboxProvider, ProviderError> {
    let config = Config::load(&ctx.config_file)
        .map_err(|err| ProviderError::caused_by("cannot load the test provider config", err))?;
    if config.hang_on.contains(&ctx.command) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if config.fail_on.contains(&ctx.command) {
        return Err(ProviderError::failed(format!("configured to fail {}", ctx.command)));
    }
    if config.crash_on.contains(&ctx.command) {
        eprintln!("garm-test-provider was told to crash on {}", ctx.command);
        std::process::abort();
    }
    if config.garbage_on.contains(&ctx.command) {
        println!("garm-test-provider was told to print garbage for {}", ctx.command);
        std::process::exit(0);
    }
    SandboxProvider::new(config).map_err(|err| ProviderError::caused_by("cannot open the state directories", err))
}
