//! `ExternalProvider`: runs a garm external provider executable once per operation (spec 6.2, 6.3, 6.7).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use garm_provider_protocol::{
    encode_pool_extra_specs, env, BootstrapInstance, Command, InterfaceVersion, ProviderInstance,
};

use crate::error::ProviderError;
use crate::output::{self, parse_instance, parse_list, succeeded, succeeded_or_not_found};
use crate::process::{self, Finished, RunError};
use crate::{Deleted, PoolRef, Provider};

/// One `[[provider]]` entry of type `external`, already validated by the config loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProviderConfig {
    /// Referenced by pools as `provider_name`.
    pub name: String,
    /// Absolute path of the provider executable.
    pub executable: PathBuf,
    /// Passed as `GARM_PROVIDER_CONFIG_FILE` (empty when `None`).
    pub config_file: Option<PathBuf>,
    pub interface_version: InterfaceVersion,
    /// Prefixes of host variable names to pass through (names starting with `GARM` never are).
    pub environment_variables: Vec<String>,
    /// Per-call time limit; `None` for none.
    pub exec_timeout: Option<Duration>,
    /// Forces registration-token mode for this provider's runners.
    pub disable_jit_config: bool,
}

/// Called after every provider call with the operation label and whether it succeeded.
///
/// Labels are garm's `garm_runner_operations_total` / `garm_runner_errors_total` `operation`
/// values: `CreateInstance`, `DeleteInstance`, `GetInstance`, `ListInstances`,
/// `RemoveAllInstances`, `Start`, `Stop`. A delete of an instance that is already gone counts
/// as a success; every `Err` counts as a failure.
pub type OperationObserver = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// Runs a provider executable the way garm does.
///
/// Each call starts the executable with no arguments and a fully replaced environment: the
/// command's `GARM_*` variables for the configured interface version, host variables matching a
/// configured prefix, and the proxy variables. The process runs in its own process group, which
/// is killed when the call times out or is cancelled.
#[derive(Clone)]
pub struct ExternalProvider {
    config: ExternalProviderConfig,
    controller_id: String,
    observer: Option<OperationObserver>,
}

impl fmt::Debug for ExternalProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalProvider")
            .field("config", &self.config)
            .field("controller_id", &self.controller_id)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// The per-call values that end up in `GARM_*` variables.
struct Call<'a> {
    command: Command,
    pool_id: Option<&'a str>,
    instance_id: Option<&'a str>,
    extra_specs: Option<&'a str>,
}

impl ExternalProvider {
    pub fn new(config: ExternalProviderConfig, controller_id: String) -> ExternalProvider {
        ExternalProvider {
            config,
            controller_id,
            observer: None,
        }
    }

    /// Reports every call's outcome to `observer` (for the operation metrics).
    pub fn with_observer(mut self, observer: OperationObserver) -> ExternalProvider {
        self.observer = Some(observer);
        self
    }

    pub fn config(&self) -> &ExternalProviderConfig {
        &self.config
    }

    /// `CreateInstance`: creates `bootstrap.name`, killed after `deadline` or the exec timeout, whichever is sooner.
    ///
    /// `GARM_POOL_EXTRASPECS` (v0.1.1) is computed from `bootstrap.extra_specs`.
    pub async fn create_instance(
        &self,
        bootstrap: &BootstrapInstance,
        deadline: Option<Duration>,
    ) -> Result<ProviderInstance, ProviderError> {
        let call = Call {
            command: Command::CreateInstance,
            pool_id: Some(&bootstrap.pool_id),
            instance_id: None,
            extra_specs: bootstrap.extra_specs_json(),
        };
        let stdin = serde_json::to_vec(bootstrap).expect("bootstrap params always serialize");
        let res = self.invoke(&call, Some(stdin), deadline).await.and_then(|finished| {
            let finished = succeeded(finished)?;
            parse_instance(finished)
        });
        self.observe(call.command, res.is_ok());
        res
    }

    /// `DeleteInstance`: an instance the provider does not know (exit 30) is [`Deleted::AlreadyGone`].
    pub async fn delete_instance(
        &self,
        instance_id: &str,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<Deleted, ProviderError> {
        let call = Call::instance(Command::DeleteInstance, instance_id, pool_id, pool_extra_specs);
        let res = self.invoke(&call, None, None).await.and_then(output::deleted);
        self.observe(call.command, res.is_ok());
        res
    }

    /// `GetInstance`: exit 30 is [`ProviderError::NotFound`].
    pub async fn get_instance(
        &self,
        instance_id: &str,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<ProviderInstance, ProviderError> {
        let call = Call::instance(Command::GetInstance, instance_id, pool_id, pool_extra_specs);
        let res = self
            .invoke(&call, None, None)
            .await
            .and_then(|finished| parse_instance(succeeded_or_not_found(finished)?));
        self.observe(call.command, res.is_ok());
        res
    }

    /// `ListInstances`: the provider's instances of this controller in `pool_id`.
    ///
    /// Unlike garm (whose v0.1.1 wrapper inverts its error check), the output is parsed for both versions.
    pub async fn list_instances(
        &self,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<Vec<ProviderInstance>, ProviderError> {
        let call = Call {
            command: Command::ListInstances,
            pool_id: Some(pool_id),
            instance_id: None,
            extra_specs: pool_extra_specs,
        };
        let res = self
            .invoke(&call, None, None)
            .await
            .and_then(|finished| parse_list(succeeded(finished)?));
        self.observe(call.command, res.is_ok());
        res
    }

    /// `RemoveAllInstances`: every instance of this controller (v0.1.1 also names the pool).
    pub async fn remove_all_instances(
        &self,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<(), ProviderError> {
        let call = Call {
            command: Command::RemoveAllInstances,
            pool_id: Some(pool_id),
            instance_id: None,
            extra_specs: pool_extra_specs,
        };
        self.run_no_output(call).await
    }

    /// `StartInstance`: exit 30 is [`ProviderError::NotFound`].
    pub async fn start_instance(
        &self,
        instance_id: &str,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.run_no_output(Call::instance(
            Command::StartInstance,
            instance_id,
            pool_id,
            pool_extra_specs,
        ))
        .await
    }

    /// `StopInstance`: exit 30 is [`ProviderError::NotFound`].
    pub async fn stop_instance(
        &self,
        instance_id: &str,
        pool_id: &str,
        pool_extra_specs: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.run_no_output(Call::instance(
            Command::StopInstance,
            instance_id,
            pool_id,
            pool_extra_specs,
        ))
        .await
    }

    async fn run_no_output(&self, call: Call<'_>) -> Result<(), ProviderError> {
        let res = self
            .invoke(&call, None, None)
            .await
            .and_then(|finished| succeeded_or_not_found(finished).map(drop));
        self.observe(call.command, res.is_ok());
        res
    }

    async fn invoke(
        &self,
        call: &Call<'_>,
        stdin: Option<Vec<u8>>,
        deadline: Option<Duration>,
    ) -> Result<Finished, ProviderError> {
        let limit = match (self.config.exec_timeout, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let started = Instant::now();
        let env = self.environment(call, std::env::vars_os());
        let res = process::run(&self.config.executable, env, stdin, limit).await;
        tracing::debug!(
            provider = %self.config.name,
            command = %call.command,
            elapsed_ms = started.elapsed().as_millis() as u64,
            exit_code = res.as_ref().ok().and_then(|finished| finished.status.code()),
            "provider call finished",
        );
        res.map_err(|err| match err {
            RunError::Spawn(source) => ProviderError::Spawn {
                executable: self.config.executable.clone(),
                source,
            },
            RunError::Io(source) => ProviderError::Io(source),
            RunError::TimedOut => ProviderError::Timeout,
        })
    }

    /// The complete environment of one call, given the host's environment.
    fn environment(
        &self,
        call: &Call<'_>,
        host: impl Iterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        let passes = |name: &str| {
            let by_prefix = !name.starts_with(env::RESERVED_PREFIX)
                && self
                    .config
                    .environment_variables
                    .iter()
                    .any(|prefix| !prefix.is_empty() && name.starts_with(prefix.as_str()));
            by_prefix || env::PROXY_VARIABLES.iter().any(|proxy| name.starts_with(proxy))
        };
        let mut vars: Vec<(OsString, OsString)> = host.filter(|(name, _)| name.to_str().is_some_and(passes)).collect();

        let v0_1_1 = self.config.interface_version == InterfaceVersion::V0_1_1;
        let config_file = self.config.config_file.clone().unwrap_or_default();
        let mut garm = vec![
            (env::COMMAND, OsString::from(call.command.as_str())),
            (env::CONTROLLER_ID, OsString::from(&self.controller_id)),
            (env::PROVIDER_CONFIG_FILE, config_file.into_os_string()),
            (
                env::INTERFACE_VERSION,
                OsString::from(self.config.interface_version.as_str()),
            ),
        ];
        if let Some(instance_id) = call.instance_id {
            garm.push((env::INSTANCE_ID, instance_id.into()));
        }
        let pool_in_v0_1_0 = matches!(call.command, Command::CreateInstance | Command::ListInstances);
        if pool_in_v0_1_0 || v0_1_1 {
            garm.push((env::POOL_ID, call.pool_id.unwrap_or_default().into()));
        }
        if v0_1_1 {
            garm.push((env::POOL_EXTRASPECS, encode_pool_extra_specs(call.extra_specs).into()));
        }
        vars.extend(garm.into_iter().map(|(name, value)| (OsString::from(name), value)));
        vars
    }

    fn observe(&self, command: Command, ok: bool) {
        if let Some(observer) = &self.observer {
            observer(operation_label(command), ok);
        }
    }
}

impl<'a> Call<'a> {
    fn instance(command: Command, instance_id: &'a str, pool_id: &'a str, extra_specs: Option<&'a str>) -> Call<'a> {
        Call {
            command,
            pool_id: Some(pool_id),
            instance_id: Some(instance_id),
            extra_specs,
        }
    }
}

/// garm's `operation` metric label for a command.
pub fn operation_label(command: Command) -> &'static str {
    match command {
        Command::StartInstance => "Start",
        Command::StopInstance => "Stop",
        other => other.as_str(),
    }
}

#[async_trait]
impl Provider for ExternalProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn disable_jit_config(&self) -> bool {
        self.config.disable_jit_config
    }

    async fn create(
        &self,
        bootstrap: &BootstrapInstance,
        deadline: Option<Duration>,
    ) -> Result<ProviderInstance, ProviderError> {
        self.create_instance(bootstrap, deadline).await
    }

    async fn delete(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<Deleted, ProviderError> {
        self.delete_instance(instance_id, pool.id, pool.extra_specs).await
    }

    async fn get(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<ProviderInstance, ProviderError> {
        self.get_instance(instance_id, pool.id, pool.extra_specs).await
    }

    async fn list(&self, pool: PoolRef<'_>) -> Result<Vec<ProviderInstance>, ProviderError> {
        self.list_instances(pool.id, pool.extra_specs).await
    }

    async fn start(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.start_instance(instance_id, pool.id, pool.extra_specs).await
    }

    async fn stop(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.stop_instance(instance_id, pool.id, pool.extra_specs).await
    }

    async fn remove_all(&self, pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.remove_all_instances(pool.id, pool.extra_specs).await
    }
}

#[cfg(test)]
mod tests;
