//! `garm-cli`: the command-line client for a garm (GitHub Actions runner manager) installation.
//!
//! It speaks garm's REST API (`<base_url>/api/v1`) with the bearer token of the active local
//! profile and prints tables (or JSON) like garm's Go `garm-cli`, for the pool workflow:
//! profiles, controller, endpoints and credentials, repositories, organizations, enterprises,
//! pools, runners, jobs and providers.
//! The streams come over websockets: `debug-events`, `debug-log` and `top`.
//! It does not cover Gitea, forge instances, scale sets, objects, tools or `runner shell`.

mod client;
mod controller;
mod debug;
mod entity;
mod forge;
mod job;
mod login;
mod pem;
mod pool;
mod profile;
mod proxy;
mod runner;
mod scaleset;
mod stream;
mod table;
mod template;
mod top;
mod value;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::client::Client;
use crate::profile::Config;
use crate::table::Table;

/// The error every command but `init` and `profile add` reports before any profile exists.
const NEEDS_INIT: &str = "please log into a garm installation first";

/// Long and short flags that take an optional boolean, so `--enabled true` means `--enabled=true`.
const OPTIONAL_BOOL_FLAGS: &[&str] = &[
    "--enabled",
    "--enable-shell",
    "--agent-mode",
    "--enable-tools-sync",
    "-s",
    "--allow-insecure-agent",
    "--enable-color",
];

#[derive(Debug, Parser)]
#[command(
    name = "garm-cli",
    version,
    about = "Runner manager CLI app",
    long_about = "CLI for the github self hosted runners manager."
)]
pub struct Cli {
    /// Enable debug on all API calls (secrets are redacted).
    #[arg(long, global = true)]
    debug: bool,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Initialize a newly installed garm.
    Init(login::InitArgs),
    /// Add, delete or update profiles.
    #[command(subcommand)]
    Profile(login::ProfileCommand),
    /// Controller operations.
    #[command(subcommand, visible_alias = "controller-info")]
    Controller(controller::ControllerCommand),
    /// Manage GitHub resources.
    #[command(subcommand, visible_alias = "gh")]
    Github(forge::GithubCommand),
    /// List configured credentials (alias of `github credentials`).
    #[command(subcommand, visible_alias = "creds")]
    Credentials(forge::CredentialsCommand),
    /// Manage repositories.
    #[command(subcommand, visible_alias = "repo")]
    Repository(entity::RepoCommand),
    /// Manage organizations.
    #[command(subcommand, visible_alias = "org")]
    Organization(entity::OrgCommand),
    /// Manage enterprises.
    #[command(subcommand, visible_alias = "ent")]
    Enterprise(entity::EnterpriseCommand),
    /// List pools or perform operations on them.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// List runners or perform operations on them.
    #[command(subcommand, visible_alias = "run")]
    Runner(runner::RunnerCommand),
    /// List scale sets or perform operations on them.
    #[command(subcommand)]
    Scaleset(scaleset::ScaleSetCommand),
    /// Information about jobs.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Interact with the providers.
    #[command(subcommand)]
    Provider(controller::ProviderCommand),
    /// Manage named proxies.
    #[command(subcommand)]
    Proxy(proxy::ProxyCommand),
    /// Manage runner install templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Manage the metrics token.
    #[command(subcommand)]
    MetricsToken(controller::MetricsTokenCommand),
    /// Stream garm events
    DebugEvents(debug::EventsArgs),
    /// Stream garm log
    DebugLog(debug::LogArgs),
    /// Live dashboard of GARM metrics
    Top,
    /// Print the client and server versions.
    Version,
}

/// What every command gets: output settings and the local profiles.
pub struct Ctx {
    pub format: Format,
    pub debug: bool,
    pub home: PathBuf,
    pub config: Config,
}

impl Ctx {
    /// A client for the active profile; fails when no profile exists yet.
    pub fn client(&self) -> anyhow::Result<Client> {
        let manager = self.config.active().ok_or_else(|| anyhow::anyhow!(NEEDS_INIT))?;
        Client::new(&manager.base_url, Some(manager.bearer_token.clone()), self.debug)
    }

    /// Fails unless at least one profile exists.
    pub fn require_profile(&self) -> anyhow::Result<()> {
        if self.config.active().is_none() {
            anyhow::bail!(NEEDS_INIT);
        }
        Ok(())
    }

    /// Prints an API object as pretty JSON or as the table `render` builds from it.
    pub fn emit(&self, value: &Value, render: impl FnOnce(&Value) -> Table) {
        match self.format {
            Format::Json => println!("{}", to_pretty_json(value)),
            Format::Table => println!("{}", render(value).render()),
        }
    }
}

pub fn to_pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Parses `garm-cli` arguments, accepting cobra's `--flag true` spelling for boolean flags.
pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    Cli::try_parse_from(normalize_bool_flags(args.into_iter().map(Into::into)))
}

/// Joins `--flag true` into `--flag=true` for the optional-value boolean flags.
fn normalize_bool_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut args = args.peekable();
    let mut options_ended = false;
    while let Some(arg) = args.next() {
        if arg == "--" {
            options_ended = true;
        }
        let joinable = !options_ended
            && OPTIONAL_BOOL_FLAGS.contains(&arg.as_str())
            && args.peek().is_some_and(|next| parse_go_bool(next).is_ok());
        if joinable {
            let value = args.next().unwrap_or_default();
            out.push(format!("{arg}={value}"));
        } else {
            out.push(arg);
        }
    }
    out
}

/// Parses a boolean the way Go's `strconv.ParseBool` (and so cobra) does.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = profile::home_from_env()?;
    let config = Config::load(&home).map_err(|err| err.context("failed to load config"))?;
    let mut ctx = Ctx {
        format: cli.format,
        debug: cli.debug,
        home,
        config,
    };
    match cli.command {
        Command::Init(args) => login::init(&mut ctx, args),
        Command::Profile(cmd) => login::profile(&mut ctx, cmd),
        Command::Controller(cmd) => controller::controller(&ctx, cmd),
        Command::Github(cmd) => forge::github(&ctx, cmd),
        Command::Credentials(cmd) => forge::credentials(&ctx, cmd),
        Command::Repository(cmd) => entity::repository(&ctx, cmd),
        Command::Organization(cmd) => entity::organization(&ctx, cmd),
        Command::Enterprise(cmd) => entity::enterprise(&ctx, cmd),
        Command::Pool(cmd) => pool::pool(&ctx, cmd),
        Command::Runner(cmd) => runner::runner(&ctx, cmd),
        Command::Scaleset(cmd) => scaleset::scaleset(&ctx, cmd),
        Command::Job(cmd) => job::job(&ctx, cmd),
        Command::Template(cmd) => template::template(&ctx, cmd),
        Command::Proxy(cmd) => proxy::proxy(&ctx, cmd),
        Command::Provider(cmd) => controller::provider(&ctx, cmd),
        Command::MetricsToken(cmd) => controller::metrics_token(&ctx, cmd),
        Command::DebugEvents(args) => debug::events(&ctx, args),
        Command::DebugLog(args) => debug::log(&ctx, args),
        Command::Top => top::top(&ctx),
        Command::Version => controller::version(&ctx),
    }
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // Cobra exits 1 on usage errors; help and version output are not errors.
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
