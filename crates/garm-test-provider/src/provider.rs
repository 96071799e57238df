//! `SandboxProvider`: the protocol's `Provider` implemented with records on disk and local sandboxes.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider_protocol::{
    Address, BootstrapInstance, Context, Provider, ProviderError, ProviderInstance, ProviderStatus,
};

use crate::config::{Config, Misbehaviour};
use crate::sandbox;
use crate::store::{is_safe_name, Record, Store};

/// Instances are records in `state_dir` and work directories in `sandbox_dir`.
pub struct SandboxProvider {
    config: Config,
    store: Store,
}

fn failed(message: &str) -> impl FnOnce(anyhow::Error) -> ProviderError + '_ {
    move |err| ProviderError::caused_by(message, err)
}

impl SandboxProvider {
    pub fn new(config: Config) -> anyhow::Result<SandboxProvider> {
        let store = Store::open(&config.state_dir)?;
        std::fs::create_dir_all(&config.sandbox_dir)
            .with_context(|| format!("cannot create {}", config.sandbox_dir.display()))?;
        Ok(SandboxProvider { config, store })
    }

    fn sandbox(&self, name: &str) -> PathBuf {
        self.config.sandbox_dir.join(name)
    }

    fn find(&self, instance_id: &str) -> Result<Record, ProviderError> {
        self.store
            .get(instance_id)
            .map_err(failed("cannot read the instance record"))?
            .ok_or_else(|| ProviderError::NotFound(instance_id.to_owned()))
    }

    fn set_status(&self, instance_id: &str, status: ProviderStatus) -> Result<(), ProviderError> {
        let mut record = self.find(instance_id)?;
        record.instance.status = status;
        self.store
            .put(&record)
            .map_err(failed("cannot update the instance record"))
    }

    /// Kills the sandbox's processes, removes its directory, then forgets the instance.
    fn destroy(&self, record: &Record) -> anyhow::Result<()> {
        let dir = self.sandbox(&record.instance.name);
        sandbox::kill_sandbox_processes(&dir);
        sandbox::remove_dir(&dir)?;
        self.store.remove(&record.instance.name)
    }

    /// Starts the install script of `bootstrap`, if userdata runs and the extra specs carry one.
    fn run_userdata(&self, bootstrap: &BootstrapInstance, dir: &std::path::Path) -> anyhow::Result<Option<i32>> {
        if !self.config.run_userdata {
            return Ok(None);
        }
        let Some(script) = install_template(bootstrap)? else {
            return Ok(None);
        };
        sandbox::start_install_script(dir, &script).map(Some)
    }
}

/// `extra_specs.test_vm_id`: the VM id this provider reports for the instance (the `vm_id`
/// extension), standing in for the platform id a cloud provider reports (Azure's `vmId`).
fn test_vm_id(bootstrap: &BootstrapInstance) -> String {
    bootstrap
        .extra_specs_json()
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
        .and_then(|specs| specs.get("test_vm_id")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The decoded `extra_specs.runner_install_template`, if present.
fn install_template(bootstrap: &BootstrapInstance) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(raw) = bootstrap.extra_specs_json() else {
        return Ok(None);
    };
    let specs: serde_json::Value = serde_json::from_str(raw).context("extra_specs is not JSON")?;
    let Some(template) = specs.get("runner_install_template") else {
        return Ok(None);
    };
    let text = template.as_str().context("runner_install_template is not a string")?;
    let script = STANDARD.decode(text).context("runner_install_template is not base64")?;
    Ok(Some(script))
}

impl SandboxProvider {
    /// The `after_create` switch: the instance exists, and then the call goes wrong.
    fn misbehave_after_create(&self, name: &str) -> Result<(), ProviderError> {
        match self.config.after_create {
            None => Ok(()),
            Some(Misbehaviour::Fail) => Err(ProviderError::failed(format!(
                "configured to fail after creating {name}"
            ))),
            Some(Misbehaviour::Crash) => {
                eprintln!("garm-test-provider was told to crash after creating {name}");
                std::process::abort();
            }
            Some(Misbehaviour::Garbage) => {
                println!("garm-test-provider created {name} and prints this instead of JSON");
                std::process::exit(0);
            }
            Some(Misbehaviour::Hang) => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
        }
    }
}

impl Provider for SandboxProvider {
    fn create_instance(&self, ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        let name = bootstrap.name.clone();
        if !is_safe_name(&name) {
            return Err(ProviderError::failed(format!(
                "{name:?} cannot be used as an instance name"
            )));
        }
        if self.find(&name).is_ok() {
            return Err(ProviderError::Duplicate(name));
        }
        let attempt = self
            .store
            .next_create_attempt()
            .map_err(failed("cannot count create attempts"))?;
        if attempt <= self.config.fail_create_times {
            return Err(ProviderError::failed(format!(
                "configured to fail the first {} creates (this is attempt {attempt})",
                self.config.fail_create_times
            )));
        }

        let instance = ProviderInstance {
            provider_id: name.clone(),
            name: name.clone(),
            os_type: bootstrap.os_type.clone(),
            os_name: "sandbox".to_owned(),
            os_version: "1".to_owned(),
            os_arch: bootstrap.arch.clone(),
            addresses: vec![Address {
                address: "127.0.0.1".to_owned(),
                kind: Address::PRIVATE.to_owned(),
            }],
            status: ProviderStatus::Running,
            provider_fault: Vec::new(),
            vm_id: test_vm_id(&bootstrap),
        };
        let mut record = Record {
            instance: instance.clone(),
            controller_id: ctx.controller_id.clone(),
            // Invariant: the runner only calls create with a pool id.
            pool_id: ctx.pool_id.clone().unwrap_or_default(),
            install_pgid: None,
        };
        // Record first, so a failure below leaves something DeleteInstance can clean up.
        self.store
            .put(&record)
            .map_err(failed("cannot write the instance record"))?;
        let dir = self.sandbox(&name);
        let started = std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))
            .and_then(|()| self.run_userdata(&bootstrap, &dir));
        match started {
            Ok(pgid) => {
                record.install_pgid = pgid;
                self.store
                    .put(&record)
                    .map_err(failed("cannot update the instance record"))?;
                self.misbehave_after_create(&name)?;
                Ok(instance)
            }
            Err(err) => {
                let _ = self.destroy(&record);
                Err(ProviderError::caused_by("cannot set up the sandbox", err))
            }
        }
    }

    fn delete_instance(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        let record = self.find(instance_id)?;
        self.destroy(&record).map_err(failed("cannot delete the instance"))
    }

    fn get_instance(&self, _ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError> {
        Ok(self.find(instance_id)?.instance)
    }

    fn list_instances(&self, ctx: &Context, pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError> {
        let records = self.store.all().map_err(failed("cannot read the instance records"))?;
        Ok(records
            .into_iter()
            .filter(|record| record.controller_id == ctx.controller_id && record.pool_id == pool_id)
            .map(|record| record.instance)
            .collect())
    }

    fn remove_all_instances(&self, ctx: &Context) -> Result<(), ProviderError> {
        let records = self.store.all().map_err(failed("cannot read the instance records"))?;
        for record in records
            .iter()
            .filter(|record| record.controller_id == ctx.controller_id)
        {
            self.destroy(record).map_err(failed("cannot delete an instance"))?;
        }
        Ok(())
    }

    fn start(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.set_status(instance_id, ProviderStatus::Running)
    }

    fn stop(&self, _ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.set_status(instance_id, ProviderStatus::Stopped)
    }

    fn get_version(&self, _ctx: &Context) -> String {
        format!("v{}", env!("CARGO_PKG_VERSION"))
    }
}
