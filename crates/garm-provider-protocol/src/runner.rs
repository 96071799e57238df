//! A runner for provider `main`s: reads the environment and stdin, calls a [`Provider`], prints the answer.

use std::error::Error as StdError;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

use serde_json::value::RawValue;

use crate::bootstrap::BootstrapInstance;
use crate::command::{Command, InterfaceVersion, EXIT_DUPLICATE, EXIT_NOT_FOUND};
use crate::context::Context;
use crate::instance::ProviderInstance;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A failed provider operation, as a provider reports it to the runner.
///
/// `NotFound` exits with 30, `Duplicate` with 31, `Failed` with 1; the message goes to stderr.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("instance {0} not found")]
    NotFound(String),
    #[error("instance {0} already exists")]
    Duplicate(String),
    #[error("{message}")]
    Failed {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl ProviderError {
    /// A failure described by `message` alone.
    pub fn failed(message: impl Into<String>) -> ProviderError {
        ProviderError::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// A failure described by `message`, caused by `source`.
    pub fn caused_by(message: impl Into<String>, source: impl Into<BoxError>) -> ProviderError {
        ProviderError::Failed {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The process exit code garm expects for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProviderError::NotFound(_) => EXIT_NOT_FOUND,
            ProviderError::Duplicate(_) => EXIT_DUPLICATE,
            ProviderError::Failed { .. } => 1,
        }
    }
}

/// What a provider implements; [`run`] turns it into a garm-compatible executable.
///
/// Every method gets the checked [`Context`]. The v0.1.1 extras have defaults.
pub trait Provider {
    /// Creates the instance `bootstrap.name` (never empty) in pool `ctx.pool_id` (always set).
    fn create_instance(&self, ctx: &Context, bootstrap: BootstrapInstance) -> Result<ProviderInstance, ProviderError>;
    /// Deletes an instance by provider id or name; `NotFound` if it does not exist.
    fn delete_instance(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError>;
    /// Describes an instance by provider id or name; `NotFound` if it does not exist.
    fn get_instance(&self, ctx: &Context, instance_id: &str) -> Result<ProviderInstance, ProviderError>;
    /// Lists the instances of this controller in `pool_id`.
    fn list_instances(&self, ctx: &Context, pool_id: &str) -> Result<Vec<ProviderInstance>, ProviderError>;
    /// Deletes every instance of this controller.
    fn remove_all_instances(&self, ctx: &Context) -> Result<(), ProviderError>;
    fn start(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError>;
    fn stop(&self, ctx: &Context, instance_id: &str) -> Result<(), ProviderError>;

    /// Printed as plain text for `GetVersion`.
    fn get_version(&self, _ctx: &Context) -> String {
        "v0.0.0-unknown".to_owned()
    }

    /// Printed as a JSON array of strings for `GetSupportedInterfaceVersions`.
    fn supported_interface_versions(&self, _ctx: &Context) -> Vec<InterfaceVersion> {
        InterfaceVersion::ALL.to_vec()
    }

    /// Checks a pool's settings (`ctx.pool_extra_specs`) for `ValidatePoolInfo`; accepts everything by default.
    fn validate_pool_info(&self, _ctx: &Context) -> Result<(), ProviderError> {
        Ok(())
    }

    /// A JSON schema of the provider's config file, printed as is.
    fn config_json_schema(&self, _ctx: &Context) -> Result<String, ProviderError> {
        Err(ProviderError::failed("this provider publishes no config schema"))
    }

    /// A JSON schema of the pool extra specs the provider understands, printed as is.
    fn extra_specs_json_schema(&self, _ctx: &Context) -> Result<String, ProviderError> {
        Err(ProviderError::failed("this provider publishes no extra specs schema"))
    }
}

/// Runs `provider` for the command in the process environment and returns the exit code.
///
/// Missing or invalid `GARM_*` variables, or missing stdin for `CreateInstance`, exit 1 with the
/// reason on stderr. On success, `CreateInstance`, `GetInstance` and `ListInstances` print exactly
/// one JSON document on stdout.
pub fn run<P: Provider>(provider: P) -> ExitCode {
    run_with(|_| Ok(provider))
}

/// Like [`run`], but builds the provider from the checked context first (for example to load
/// `ctx.config_file`); an error from `make` is reported like any other.
pub fn run_with<P, F>(make: F) -> ExitCode
where
    P: Provider,
    F: FnOnce(&Context) -> Result<P, ProviderError>,
{
    let stdin = io::stdin();
    let stdin_is_terminal = stdin.is_terminal();
    let code = execute(
        make,
        |name| std::env::var(name).ok(),
        &mut stdin.lock(),
        stdin_is_terminal,
        &mut io::stdout().lock(),
    );
    match code {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let _ = writeln!(io::stderr().lock(), "{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Why the runner exits non-zero.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, error: &(dyn StdError + 'static)) -> Failure {
        Failure {
            code,
            message: garm_base::chain(error),
        }
    }

    fn message(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Failure {
        Failure::new(error.exit_code(), &error)
    }
}

fn execute<P, F>(
    make: F,
    var: impl Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdin_is_terminal: bool,
    stdout: &mut dyn Write,
) -> Result<(), Failure>
where
    P: Provider,
    F: FnOnce(&Context) -> Result<P, ProviderError>,
{
    let ctx = Context::from_vars(var).map_err(|err| Failure::new(1, &err))?;
    let bootstrap = match ctx.command {
        Command::CreateInstance => Some(read_bootstrap(stdin, stdin_is_terminal)?),
        _ => None,
    };
    let provider = make(&ctx)?;
    let output = dispatch(&provider, &ctx, bootstrap)?;
    if let Some(output) = output {
        writeln!(stdout, "{output}")
            .and_then(|()| stdout.flush())
            .map_err(|err| Failure::new(1, &err))?;
    }
    Ok(())
}

fn read_bootstrap(stdin: &mut dyn Read, stdin_is_terminal: bool) -> Result<BootstrapInstance, Failure> {
    let needs_stdin = || Failure::message("CreateInstance requires bootstrap params on stdin");
    if stdin_is_terminal {
        return Err(needs_stdin());
    }
    let mut data = Vec::new();
    stdin.read_to_end(&mut data).map_err(|err| Failure::new(1, &err))?;
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(needs_stdin());
    }
    let mut bootstrap: BootstrapInstance = serde_json::from_slice(&data)
        .map_err(|err| Failure::message(format!("cannot decode the bootstrap params on stdin: {err}")))?;
    if bootstrap.name.is_empty() {
        return Err(Failure::message("the bootstrap params have no instance name"));
    }
    // Like garm-provider-common, providers see `{}` rather than no extra specs.
    if bootstrap.extra_specs.is_none() {
        bootstrap.extra_specs = Some(RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON"));
    }
    Ok(bootstrap)
}

/// Runs the command; returns what to print on stdout, if anything.
fn dispatch<P: Provider>(
    provider: &P,
    ctx: &Context,
    bootstrap: Option<BootstrapInstance>,
) -> Result<Option<String>, Failure> {
    // Invariant: `Context::from_vars` checked that these are set for the commands that use them.
    let instance_id = || ctx.instance_id.as_deref().unwrap_or_default();
    let output = match ctx.command {
        Command::CreateInstance => {
            let bootstrap = bootstrap.expect("the bootstrap is read for CreateInstance");
            Some(instance_json(provider.create_instance(ctx, bootstrap)?)?)
        }
        Command::GetInstance => Some(instance_json(provider.get_instance(ctx, instance_id())?)?),
        Command::ListInstances => {
            let pool_id = ctx.pool_id.as_deref().unwrap_or_default();
            let instances = provider.list_instances(ctx, pool_id)?;
            for instance in &instances {
                instance.validate().map_err(|err| invalid_instance(&err))?;
            }
            Some(to_json(&instances)?)
        }
        Command::DeleteInstance => {
            provider.delete_instance(ctx, instance_id())?;
            None
        }
        Command::RemoveAllInstances => {
            provider.remove_all_instances(ctx)?;
            None
        }
        Command::StartInstance => {
            provider.start(ctx, instance_id())?;
            None
        }
        Command::StopInstance => {
            provider.stop(ctx, instance_id())?;
            None
        }
        Command::GetVersion => Some(provider.get_version(ctx)),
        Command::GetSupportedInterfaceVersions => {
            let versions = provider.supported_interface_versions(ctx);
            let names: Vec<&str> = versions.iter().map(|version| version.as_str()).collect();
            Some(to_json(&names)?)
        }
        Command::ValidatePoolInfo => {
            provider.validate_pool_info(ctx)?;
            None
        }
        Command::GetConfigJsonSchema => Some(provider.config_json_schema(ctx)?),
        Command::GetExtraSpecsJsonSchema => Some(provider.extra_specs_json_schema(ctx)?),
    };
    Ok(output)
}

fn instance_json(instance: ProviderInstance) -> Result<String, Failure> {
    instance.validate().map_err(|err| invalid_instance(&err))?;
    to_json(&instance)
}

fn invalid_instance(err: &crate::instance::ValidationError) -> Failure {
    Failure::message(format!("the provider produced an invalid instance: {err}"))
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|err| Failure::new(1, &err))
}

#[cfg(test)]
mod tests;
