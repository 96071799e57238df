//! `controller`, `provider list`, `metrics-token create` and `version`: installation-wide views.

use std::path::PathBuf;

use base64::Engine as _;
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value};

use crate::table::Table;
use crate::value::{self, text};
use crate::{Ctx, Format};

#[derive(Debug, Subcommand)]
pub enum ControllerCommand {
    /// Show information about the current controller.
    Show,
    /// Update the controller URLs and settings (only the flags given are sent).
    Update(ControllerUpdateArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("ca").args(["ca_bundle", "clear_ca_bundle"]).multiple(false)))]
pub struct ControllerUpdateArgs {
    /// The metadata URL for the controller (ie. https://garm.example.com/api/v1/metadata).
    #[arg(short = 'm', long)]
    pub metadata_url: Option<String>,
    /// The callback URL for the controller (ie. https://garm.example.com/api/v1/callbacks).
    #[arg(short = 'c', long)]
    pub callback_url: Option<String>,
    /// The webhook URL for the controller (ie. https://garm.example.com/webhooks).
    #[arg(short = 'w', long)]
    pub webhook_url: Option<String>,
    /// The agent URL for the controller (ie. https://garm.example.com/agent).
    #[arg(short = 'g', long)]
    pub agent_url: Option<String>,
    /// The URL of the garm-agent releases page.
    #[arg(short = 't', long)]
    pub garm_tools_url: Option<String>,
    /// The garm-agent version to use (`latest` or a semver).
    #[arg(long)]
    pub garm_agent_version: Option<String>,
    /// Enable or disable automatic garm tools sync.
    #[arg(short = 's', long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_tools_sync: Option<bool>,
    /// Allow garm-agent to connect without TLS verification.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub allow_insecure_agent: Option<bool>,
    /// The minimum job age backoff in seconds.
    #[arg(short = 'b', long)]
    pub minimum_job_age_backoff: Option<u64>,
    /// A PEM CA bundle runners use to validate garm's TLS certificate.
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Remove the stored CA bundle.
    #[arg(long)]
    pub clear_ca_bundle: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// List all configured providers.
    #[command(visible_alias = "ls")]
    List,
}

#[derive(Debug, Subcommand)]
pub enum MetricsTokenCommand {
    /// Create a metrics token.
    Create,
}

/// `controller …`.
pub fn controller(ctx: &Ctx, cmd: ControllerCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let info = match cmd {
        ControllerCommand::Show => client.get("/controller-info")?,
        ControllerCommand::Update(args) => {
            let body = update_body(args)?;
            client
                .put("/controller", &body)
                .map_err(|err| err.context("error updating controller"))?
        }
    };
    ctx.emit(&info, info_table);
    Ok(())
}

fn update_body(args: ControllerUpdateArgs) -> anyhow::Result<Value> {
    let mut body = Map::new();
    let strings = [
        ("metadata_url", args.metadata_url),
        ("callback_url", args.callback_url),
        ("webhook_url", args.webhook_url),
        ("agent_url", args.agent_url),
        ("garm_agent_releases_url", args.garm_tools_url),
        ("garm_agent_version", args.garm_agent_version),
    ];
    for (key, given) in strings {
        if let Some(given) = given {
            body.insert(key.into(), Value::String(given));
        }
    }
    if let Some(enabled) = args.enable_tools_sync {
        body.insert("enable_agent_tools_sync".into(), Value::Bool(enabled));
    }
    if let Some(allow) = args.allow_insecure_agent {
        body.insert("allow_insecure_garm_agent".into(), Value::Bool(allow));
    }
    if let Some(backoff) = args.minimum_job_age_backoff {
        body.insert("minimum_job_age_backoff".into(), Value::from(backoff));
    }
    if let Some(path) = args.ca_bundle {
        let bundle = crate::pem::read_pem_file(&path, "CA bundle")?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bundle);
        body.insert("ca_cert_bundle".into(), Value::String(encoded));
    }
    if args.clear_ca_bundle {
        body.insert("clear_ca_cert_bundle".into(), Value::Bool(true));
    }
    if body.is_empty() {
        anyhow::bail!(
            "at least one of metadata-url, callback-url, webhook-url, agent-url, garm-tools-url, \
             garm-agent-version, enable-tools-sync, allow-insecure-agent, minimum-job-age-backoff, \
             ca-bundle or clear-ca-bundle must be provided"
        );
    }
    Ok(Value::Object(body))
}

/// The `controller show` table.
pub fn info_table(info: &Value) -> Table {
    let or_na = |key: &str| {
        let v = text(info, &[key]);
        if v.is_empty() {
            "N/A".to_string()
        } else {
            v
        }
    };
    let mut version = text(info, &["version"]);
    if version.is_empty() {
        version = "v0.0.0-unknown".into();
    }
    let mut table = Table::fields();
    table.field("Controller ID", text(info, &["controller_id"]));
    let hostname = text(info, &["hostname"]);
    if !hostname.is_empty() {
        table.field("Hostname", hostname);
    }
    table.field("Metadata URL", text(info, &["metadata_url"]));
    table.field("Callback URL", text(info, &["callback_url"]));
    table.field("Webhook Base URL", or_na("webhook_url"));
    table.field("Controller Webhook URL", or_na("controller_webhook_url"));
    table.field("Agent URL", text(info, &["agent_url"]));
    table.field("GARM agent tools sync URL", text(info, &["garm_agent_releases_url"]));
    table.field("Tools sync enabled", value::flag(info, &["enable_agent_tools_sync"]));
    table.field("GARM agent version", text(info, &["garm_agent_version"]));
    table.field(
        "Allow insecure agent",
        value::flag(info, &["allow_insecure_garm_agent"]),
    );
    table.field(
        "Minimum Job Age Backoff",
        value::cell(info, &["minimum_job_age_backoff"]),
    );
    table.field("Version", version);
    if let Some(bundle) = value::bytes_text(info, &["ca_cert_bundle"]) {
        table.field("CA Cert Bundle", bundle);
    }
    table
}

/// `provider list`.
pub fn provider(ctx: &Ctx, cmd: ProviderCommand) -> anyhow::Result<()> {
    let ProviderCommand::List = cmd;
    let providers = ctx.client()?.get("/providers")?;
    ctx.emit(&providers, |providers| {
        let mut table = Table::list(&["Name", "Description", "Type"]);
        for p in value::list(providers) {
            table.row(vec![
                text(p, &["name"]).into(),
                text(p, &["description"]).into(),
                text(p, &["type"]).into(),
            ]);
        }
        table
    });
    Ok(())
}

/// `metrics-token create`: prints the token itself.
pub fn metrics_token(ctx: &Ctx, cmd: MetricsTokenCommand) -> anyhow::Result<()> {
    let MetricsTokenCommand::Create = cmd;
    let response = ctx.client()?.get("/metrics-token")?;
    match ctx.format {
        Format::Json => println!("{}", crate::to_pretty_json(&response)),
        Format::Table => println!("{}", text(&response, &["token"])),
    }
    Ok(())
}

/// `version`: the client version, and the server's when a profile exists.
pub fn version(ctx: &Ctx) -> anyhow::Result<()> {
    let client_version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let server_version = match ctx.client() {
        Ok(client) => {
            let info = client.get("/controller-info")?;
            let v = text(&info, &["version"]);
            Some(if v.is_empty() { "v0.0.0-unknown".to_string() } else { v })
        }
        Err(_) => None,
    };
    match ctx.format {
        Format::Json => {
            let mut out = serde_json::json!({"client_version": client_version});
            if let Some(server) = server_version {
                out["server_version"] = Value::String(server);
            }
            println!("{}", crate::to_pretty_json(&out));
        }
        Format::Table => {
            println!("garm-cli version: {client_version}");
            if let Some(server) = server_version {
                println!("garm server version: {server}");
            }
        }
    }
    Ok(())
}
