//! `garm-bench-provider`: a garm external provider that answers at once, for benchmarks.
//!
//! Each call is one process, as with real providers. Its state lives next to its config file
//! (`GARM_PROVIDER_CONFIG_FILE`): `pools/<pool_id>/<name>` is one empty file per instance, and
//! `calls.log` gets one line per call, `<unix_ns> <command> <instance or -> <pool or ->`, with the
//! time the process started, written in a single `write` on an `O_APPEND` file so that lines of
//! concurrent calls never interleave. Instances are reported `running` at once.
//!
//! It starts nothing and contacts nothing; garm-bench reads `calls.log` to time garm.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use garm_provider_protocol::{BootstrapInstance, Context, Provider, ProviderError, ProviderInstance, ProviderStatus};

fn main() -> ExitCode {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    garm_provider_protocol::run_with(|ctx| {
        let dir = ctx
            .config_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Fast { dir, started })
    })
}

struct Fast {
    dir: PathBuf,
    started: u128,
}

fn io_error(what: &str, err: io::Error) -> ProviderError {
    ProviderError::caused_by(what.to_owned(), err)
}

impl Fast {
    fn record(&self, ctx: &Context, instance: &str) -> Result<(), ProviderError> {
        let pool = ctx.pool_id.as_deref().unwrap_or("-");
        let instance = if instance.is_empty() { "-" } else { instance };
        let line = format!("{} {} {instance} {pool}\n", self.started, ctx.command);
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("calls.log"))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|err| io_error("cannot append to calls.log", err))
    }

    fn pool_dir(&self, pool: &str) -> PathBuf {
        self.dir.join("pools").join(pool)
    }

    /// The instance's file: in its pool when garm said which (v0.1.1), else searched for.
    fn find(&self, ctx: &Context, name: &str) -> Option<PathBuf> {
        if let Some(pool) = &ctx.pool_id {
            let path = self.pool_dir(pool).join(name);
            return path.exists().then_some(path);
        }
        fs::read_dir(self.dir.join("pools"))
            .ok()?
            .flatten()
            .map(|pool| pool.path().join(name))
            .find(|path| path.exists())
    }
}

fn instance(name: &str) -> ProviderInstance {
    ProviderInstance {
        provider_id: name.to_owned(),
        name: name.to_owned(),
        os_type: "linux".to_owned(),
        os_arch: "amd64".to_owned(),
        os_name: "ubuntu".to_owned(),
        os_version: "24.04".to_owned(),
        status: ProviderStatus::Running,
        ..ProviderInstance::default()
    }
}

impl Provider for Fast {
    fn create_instance(&self, ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError> {
        self.record(ctx, &bootstrap.name)?;
        let dir = self.pool_dir(&bootstrap.pool_id);
        fs::create_dir_all(&dir).map_err(|err| io_error("cannot create the pool directory", err))?;
        fs::write(dir.join(&bootstrap.name), b"").map_err(|err| io_error("cannot record the instance", err))?;
        let mut created = instance(&bootstrap.name);
        created.os_type = bootstrap.os_type;
        created.os_arch = bootstrap.arch;
        Ok(created)
    }

    fn delete_instance(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.record(ctx, instance_id)?;
        match self.find(ctx, instance_id) {
            Some(path) => fs::remove_file(path).map_err(|err| io_error("cannot remove the instance", err)),
            None => Err(ProviderError::NotFound(instance_id.to_owned())),
        }
    }

    fn get_instance(&self, ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError> {
        self.record(ctx, instance_id)?;
        match self.find(ctx, instance_id) {
            Some(_) => Ok(instance(instance_id)),
            None => Err(ProviderError::NotFound(instance_id.to_owned())),
        }
    }

    fn list_instances(&self, ctx: &Context, pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError> {
        self.record(ctx, "")?;
        let Ok(entries) = fs::read_dir(self.pool_dir(pool_id)) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .flatten()
            .map(|e| instance(&e.file_name().to_string_lossy()))
            .collect())
    }

    fn remove_all_instances(&self, ctx: &Context) -> Result<(), ProviderError> {
        self.record(ctx, "")?;
        match fs::remove_dir_all(self.dir.join("pools")) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error("cannot remove the instances", err)),
            _ => Ok(()),
        }
    }

    fn start(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.record(ctx, instance_id)
    }

    fn stop(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError> {
        self.record(ctx, instance_id)
    }

    fn get_version(&self, _ctx: &Context) -> String {
        "v0.1.0-garm-bench".to_owned()
    }
}
