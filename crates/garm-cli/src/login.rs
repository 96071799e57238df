//! `init` and `profile …`: first-run setup, logging in and managing local profiles.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::pem::read_pem_file;
use crate::profile::Manager;
use crate::table::Table;
use crate::{controller, value, Ctx, Format};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A name for this runner manager.
    #[arg(short = 'n', long)]
    pub name: String,
    /// The base URL for the runner manager API.
    #[arg(short = 'a', long)]
    pub url: String,
    /// The desired administrative username.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Email address.
    #[arg(short = 'e', long)]
    pub email: Option<String>,
    /// The admin password.
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Full name of the user.
    #[arg(short = 'f', long)]
    pub full_name: Option<String>,
    /// The metadata URL for the controller (default `<url>/api/v1/metadata`).
    #[arg(short = 'm', long)]
    pub metadata_url: Option<String>,
    /// The callback URL for the controller (default `<url>/api/v1/callbacks`).
    #[arg(short = 'c', long)]
    pub callback_url: Option<String>,
    /// The webhook base URL for the controller (default `<url>/webhooks`).
    #[arg(short = 'w', long)]
    pub webhook_url: Option<String>,
    /// The agent URL for the controller (default `<url>/agent`).
    #[arg(short = 'g', long)]
    pub agent_url: Option<String>,
    /// A PEM CA bundle runners use to validate garm's TLS certificate.
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List profiles.
    #[command(visible_alias = "ls")]
    List,
    /// Create a profile for an existing garm installation.
    #[command(visible_alias = "create")]
    Add(ProfileAddArgs),
    /// Refresh the bearer token of the active profile.
    Login(LoginArgs),
    /// Switch to a different profile.
    Switch { name: String },
    /// Delete a profile from the local configuration.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct ProfileAddArgs {
    /// A name for this runner manager.
    #[arg(short = 'n', long)]
    pub name: String,
    /// The base URL for the runner manager API.
    #[arg(short = 'a', long)]
    pub url: String,
    /// Username to log in as.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// The user password.
    #[arg(short = 'p', long)]
    pub password: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username to log in as.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// The user password.
    #[arg(short = 'p', long)]
    pub password: Option<String>,
}

/// `init`: first-run, login, controller URLs, then a new active profile.
pub fn init(ctx: &mut Ctx, args: InitArgs) -> anyhow::Result<()> {
    if ctx.config.has_manager(&args.name) {
        anyhow::bail!("a manager with name {} already exists in your local config", args.name);
    }
    let ca_bundle = match &args.ca_bundle {
        Some(path) => Some(read_pem_file(path, "CA bundle")?),
        None => None,
    };
    let username = given_or_prompt(args.username, "Username", false)?;
    let email = given_or_prompt(args.email, "Email", false)?;
    let password = given_or_prompt(args.password, "Password", true)?;
    let url = args.url.trim_end_matches('/').to_string();

    let anonymous = Client::new(&url, None, ctx.debug)?;
    let mut new_user = json!({"username": username, "email": email, "password": password});
    if let Some(full_name) = args.full_name.filter(|n| !n.is_empty()) {
        new_user["full_name"] = Value::String(full_name);
    }
    let user = anonymous
        .post("/first-run", &new_user)
        .context("initializing manager")?;
    let token = login(&anonymous, &username, &password)?;

    ctx.config.add(Manager {
        name: args.name.clone(),
        base_url: url.clone(),
        bearer_token: token.clone(),
    })?;
    ctx.config.save(&ctx.home).context("saving config")?;

    let authed = Client::new(&url, Some(token), ctx.debug)?;
    let mut urls = Map::new();
    let defaults = [
        ("metadata_url", args.metadata_url, "/api/v1/metadata"),
        ("callback_url", args.callback_url, "/api/v1/callbacks"),
        ("webhook_url", args.webhook_url, "/webhooks"),
        ("agent_url", args.agent_url, "/agent"),
    ];
    for (key, given, suffix) in defaults {
        let url = given.unwrap_or_else(|| format!("{url}{suffix}"));
        urls.insert(key.to_string(), Value::String(url));
    }
    if let Some(bundle) = ca_bundle {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bundle);
        urls.insert("ca_cert_bundle".to_string(), Value::String(encoded));
    }
    let info = authed
        .put("/controller", &Value::Object(urls))
        .context("updating controller URLs")?;

    match ctx.format {
        Format::Json => println!("{}", crate::to_pretty_json(&json!({"user": user, "controller": info}))),
        Format::Table => {
            println!("{}", user_table(&user).render());
            println!();
            println!("{}", controller::info_table(&info).render());
        }
    }
    Ok(())
}

/// `profile …`.
pub fn profile(ctx: &mut Ctx, cmd: ProfileCommand) -> anyhow::Result<()> {
    match cmd {
        ProfileCommand::List => {
            ctx.require_profile()?;
            let active = ctx.config.active().map(|m| m.name.clone()).unwrap_or_default();
            // garm prints its config struct as it is (Go field names, no json tags), token included.
            let profiles: Vec<Value> = ctx
                .config
                .managers
                .iter()
                .map(|m| json!({"Name": m.name, "BaseURL": m.base_url, "Token": m.bearer_token}))
                .collect();
            ctx.emit(&Value::Array(profiles), |p| profiles_table(p, &active));
            Ok(())
        }
        ProfileCommand::Add(args) => {
            if ctx.config.has_manager(&args.name) {
                anyhow::bail!("a manager with name {} already exists in your local config", args.name);
            }
            let username = given_or_prompt(args.username, "Username", false)?;
            let password = given_or_prompt(args.password, "Password", true)?;
            let url = args.url.trim_end_matches('/').to_string();
            let token = login(&Client::new(&url, None, ctx.debug)?, &username, &password)?;
            ctx.config.add(Manager {
                name: args.name,
                base_url: url,
                bearer_token: token,
            })?;
            ctx.config.save(&ctx.home)
        }
        ProfileCommand::Login(args) => {
            let manager = ctx
                .config
                .active()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!(crate::NEEDS_INIT))?;
            let username = given_or_prompt(args.username, "Username", false)?;
            let password = given_or_prompt(args.password, "Password", true)?;
            let client = Client::new(&manager.base_url, None, ctx.debug)?;
            let token = login(&client, &username, &password)?;
            ctx.config.set_token(&manager.name, &token)?;
            ctx.config.save(&ctx.home).context("error saving config")
        }
        ProfileCommand::Switch { name } => {
            ctx.require_profile()?;
            ctx.config.switch(&name)?;
            ctx.config.save(&ctx.home).context("error saving config")
        }
        ProfileCommand::Delete { name } => {
            ctx.require_profile()?;
            ctx.config.delete(&name)?;
            ctx.config.save(&ctx.home)
        }
    }
}

/// `POST /auth/login`, returning the bearer token.
fn login(client: &Client, username: &str, password: &str) -> anyhow::Result<String> {
    let response = client
        .post("/auth/login", &json!({"username": username, "password": password}))
        .context("authenticating")?;
    let token = value::text(&response, &["token"]);
    if token.is_empty() {
        anyhow::bail!("authenticating: the server returned no token");
    }
    Ok(token)
}

fn profiles_table(profiles: &Value, active: &str) -> Table {
    let mut table = Table::list(&["Name", "Base URL"]);
    for profile in value::list(profiles) {
        let mut name = value::text(profile, &["Name"]);
        if name == active {
            name.push_str(" (current)");
        }
        table.row(vec![name.into(), value::text(profile, &["BaseURL"]).into()]);
    }
    table
}

fn user_table(user: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", value::text(user, &["id"]));
    table.field("Username", value::text(user, &["username"]));
    table.field("Email", value::text(user, &["email"]));
    table.field("Enabled", value::flag(user, &["enabled"]));
    table
}

/// The flag's value, or a line read from stdin after a prompt on stderr.
fn given_or_prompt(given: Option<String>, label: &str, secret: bool) -> anyhow::Result<String> {
    if let Some(given) = given.filter(|g| !g.is_empty()) {
        return Ok(given);
    }
    eprint!("{label}: ");
    std::io::stderr().flush().ok();
    // Hide typed secrets when stdin is a terminal; there is no terminal crate in our deps.
    let echo_off = secret && set_echo(false);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        set_echo(true);
        eprintln!();
    }
    read.with_context(|| format!("reading {label}"))?;
    let answer = line.trim_end_matches(['\r', '\n']).to_string();
    if answer.is_empty() {
        anyhow::bail!("{} cannot be empty", label.to_lowercase());
    }
    Ok(answer)
}

/// Turns terminal echo on or off with `stty`; false when stdin is not a terminal.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
