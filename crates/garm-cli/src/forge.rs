//! `github endpoint …`, `github credentials …` and the top-level `credentials list`.

use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::pem::read_pem_file;
use crate::table::{Columns, Table};
use crate::value::{self, text};
use crate::Ctx;

#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Manage GitHub endpoints.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Manage GitHub credentials.
    #[command(subcommand, visible_alias = "creds")]
    Credentials(GithubCredentialsCommand),
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// List GitHub endpoints.
    #[command(visible_alias = "ls")]
    List(LongArgs),
    /// Show a GitHub endpoint.
    #[command(visible_alias = "get")]
    Show { name: String },
    /// Create a GitHub endpoint.
    Create(EndpointCreateArgs),
    /// Update a GitHub endpoint (only the flags given are sent).
    Update(EndpointUpdateArgs),
    /// Delete a GitHub endpoint.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct LongArgs {
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
}

#[derive(Debug, Args)]
pub struct EndpointCreateArgs {
    /// Name of the GitHub endpoint.
    #[arg(long)]
    pub name: String,
    /// Description for the GitHub endpoint.
    #[arg(long)]
    pub description: Option<String>,
    /// Base URL of the GitHub endpoint.
    #[arg(long)]
    pub base_url: String,
    /// API base URL of the GitHub endpoint.
    #[arg(long)]
    pub api_base_url: String,
    /// Upload URL of the GitHub endpoint.
    #[arg(long)]
    pub upload_url: String,
    /// Path to a PEM CA certificate bundle for the endpoint.
    #[arg(long)]
    pub ca_cert_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EndpointUpdateArgs {
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long)]
    pub api_base_url: Option<String>,
    #[arg(long)]
    pub upload_url: Option<String>,
    #[arg(long)]
    pub ca_cert_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GithubCredentialsCommand {
    /// List GitHub credentials.
    #[command(visible_alias = "ls")]
    List(LongArgs),
    /// Show one credential (by ID or name).
    #[command(visible_alias = "get")]
    Show { id: String },
    /// Add a GitHub credential.
    #[command(visible_alias = "create")]
    Add(CredentialsAddArgs),
    /// Update a GitHub credential (only the flags given are sent).
    Update(CredentialsUpdateArgs),
    /// Delete a GitHub credential (by ID or name).
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// List GitHub credentials.
    #[command(visible_alias = "ls")]
    List(LongArgs),
}

/// How a GitHub credential authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthType {
    Pat,
    App,
}

/// The secret part of a credential: a PAT or a GitHub App.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// If the credential is a personal access token, the OAuth token. Ours: also read from
    /// GARM_CLI_PAT_OAUTH_TOKEN, so that the token need not be on a command line.
    #[arg(long, env = "GARM_CLI_PAT_OAUTH_TOKEN", hide_env_values = true,
          conflicts_with_all = ["app_id", "app_installation_id", "private_key_path"])]
    pub pat_oauth_token: Option<String>,
    /// If the credential is an app, the app ID.
    #[arg(long, requires = "app_installation_id")]
    pub app_id: Option<i64>,
    /// If the credential is an app, the installation ID.
    #[arg(long, requires = "private_key_path")]
    pub app_installation_id: Option<i64>,
    /// If the credential is an app, the path to the private key file.
    #[arg(long, requires = "app_id")]
    pub private_key_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CredentialsAddArgs {
    /// Name of the credential.
    #[arg(long)]
    pub name: String,
    /// Description of the credential.
    #[arg(long)]
    pub description: Option<String>,
    /// The type of the credential.
    #[arg(long, value_enum)]
    pub auth_type: AuthType,
    /// The endpoint to associate the credential with.
    #[arg(long)]
    pub endpoint: String,
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Debug, Args)]
pub struct CredentialsUpdateArgs {
    pub id: String,
    /// New name of the credential.
    #[arg(long)]
    pub name: Option<String>,
    /// New description of the credential.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub secret: SecretArgs,
}

/// `github …`.
pub fn github(ctx: &Ctx, cmd: GithubCommand) -> anyhow::Result<()> {
    match cmd {
        GithubCommand::Endpoint(cmd) => endpoint(ctx, cmd),
        GithubCommand::Credentials(cmd) => github_credentials(ctx, cmd),
    }
}

/// `credentials list`.
pub fn credentials(ctx: &Ctx, cmd: CredentialsCommand) -> anyhow::Result<()> {
    let CredentialsCommand::List(args) = cmd;
    let creds = ctx.client()?.get("/credentials")?;
    ctx.emit(&creds, |c| credentials_table(c, Columns::from_flag(args.long)));
    Ok(())
}

fn endpoint(ctx: &Ctx, cmd: EndpointCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let endpoint = match cmd {
        EndpointCommand::List(args) => {
            let endpoints = client.get("/github/endpoints")?;
            ctx.emit(&endpoints, |e| endpoints_table(e, Columns::from_flag(args.long)));
            return Ok(());
        }
        EndpointCommand::Show { name } => client.get(&format!("/github/endpoints/{name}"))?,
        EndpointCommand::Create(args) => {
            let mut body = json!({
                "name": args.name,
                "base_url": args.base_url,
                "api_base_url": args.api_base_url,
                "upload_base_url": args.upload_url,
            });
            if let Some(description) = args.description {
                body["description"] = Value::String(description);
            }
            if let Some(path) = args.ca_cert_path {
                body["ca_cert_bundle"] = Value::String(pem_base64(&path)?);
            }
            client.post("/github/endpoints", &body)?
        }
        EndpointCommand::Update(args) => {
            let mut body = Map::new();
            let strings = [
                ("description", args.description),
                ("base_url", args.base_url),
                ("api_base_url", args.api_base_url),
                ("upload_base_url", args.upload_url),
            ];
            for (key, given) in strings {
                if let Some(given) = given {
                    body.insert(key.into(), Value::String(given));
                }
            }
            if let Some(path) = args.ca_cert_path {
                body.insert("ca_cert_bundle".into(), Value::String(pem_base64(&path)?));
            }
            client.put(&format!("/github/endpoints/{}", args.name), &Value::Object(body))?
        }
        EndpointCommand::Delete { name } => {
            client.delete(&format!("/github/endpoints/{name}"), &[])?;
            return Ok(());
        }
    };
    ctx.emit(&endpoint, endpoint_table);
    Ok(())
}

fn github_credentials(ctx: &Ctx, cmd: GithubCredentialsCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let credential = match cmd {
        GithubCredentialsCommand::List(args) => {
            let creds = client.get("/github/credentials")?;
            ctx.emit(&creds, |c| credentials_table(c, Columns::from_flag(args.long)));
            return Ok(());
        }
        GithubCredentialsCommand::Show { id } => {
            let id = resolve_credentials(&client, &id)?;
            client.get(&format!("/github/credentials/{id}"))?
        }
        GithubCredentialsCommand::Add(args) => {
            let mut body = json!({
                "name": args.name,
                "description": args.description.unwrap_or_default(),
                "endpoint": args.endpoint,
            });
            match args.auth_type {
                AuthType::Pat => {
                    let Some(token) = args.secret.pat_oauth_token.filter(|t| !t.is_empty()) else {
                        anyhow::bail!("--pat-oauth-token is required for --auth-type pat");
                    };
                    body["auth_type"] = json!("pat");
                    body["pat"] = json!({"oauth2_token": token});
                }
                AuthType::App => {
                    let app = app_body(&args.secret)?.ok_or_else(|| {
                        anyhow::anyhow!(
                            "--app-id, --app-installation-id and --private-key-path are required for --auth-type app"
                        )
                    })?;
                    body["auth_type"] = json!("app");
                    body["app"] = app;
                }
            }
            client.post("/github/credentials", &body)?
        }
        GithubCredentialsCommand::Update(args) => {
            let id = resolve_credentials(&client, &args.id)?;
            let mut body = Map::new();
            if let Some(name) = args.name {
                body.insert("name".into(), Value::String(name));
            }
            if let Some(description) = args.description {
                body.insert("description".into(), Value::String(description));
            }
            if let Some(token) = &args.secret.pat_oauth_token {
                body.insert("pat".into(), json!({"oauth2_token": token}));
            }
            if let Some(app) = app_body(&args.secret)? {
                body.insert("app".into(), app);
            }
            client.put(&format!("/github/credentials/{id}"), &Value::Object(body))?
        }
        GithubCredentialsCommand::Delete { id } => {
            let id = resolve_credentials(&client, &id)?;
            client.delete(&format!("/github/credentials/{id}"), &[])?;
            return Ok(());
        }
    };
    ctx.emit(&credential, credential_table);
    Ok(())
}

/// The `app` object of a credentials request, when the app flags are given.
fn app_body(secret: &SecretArgs) -> anyhow::Result<Option<Value>> {
    let (Some(app_id), Some(installation_id), Some(path)) =
        (secret.app_id, secret.app_installation_id, &secret.private_key_path)
    else {
        return Ok(None);
    };
    let key = read_pem_file(path, "private key")?;
    Ok(Some(json!({
        "app_id": app_id,
        "installation_id": installation_id,
        "private_key_bytes": base64::engine::general_purpose::STANDARD.encode(key),
    })))
}

/// A credentials ID from an ID or a credentials name.
fn resolve_credentials(client: &Client, id_or_name: &str) -> anyhow::Result<String> {
    if id_or_name.parse::<u64>().is_ok() {
        return Ok(id_or_name.to_string());
    }
    let creds = client.get("/github/credentials")?;
    let matches: Vec<&Value> = value::list(&creds)
        .iter()
        .filter(|c| text(c, &["name"]).eq_ignore_ascii_case(id_or_name))
        .collect();
    match matches.as_slice() {
        [one] => Ok(text(one, &["id"])),
        [] => anyhow::bail!("invalid credential ID: {id_or_name}"),
        _ => anyhow::bail!("multiple credentials named {id_or_name}, please use the ID"),
    }
}

fn pem_base64(path: &std::path::Path) -> anyhow::Result<String> {
    let data = read_pem_file(path, "CA cert")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(data))
}

fn endpoints_table(endpoints: &Value, columns: Columns) -> Table {
    let mut header = vec!["Name", "Base URL", "Description"];
    if columns == Columns::Long {
        header.extend(["Created At", "Updated At"]);
    }
    let mut table = Table::list(&header);
    for e in value::list(endpoints) {
        let mut row = vec![
            text(e, &["name"]).into(),
            text(e, &["base_url"]).into(),
            text(e, &["description"]).into(),
        ];
        if columns == Columns::Long {
            row.push(value::go_time(e, &["created_at"]).into());
            row.push(value::go_time(e, &["updated_at"]).into());
        }
        table.row(row);
    }
    table
}

fn endpoint_table(e: &Value) -> Table {
    let mut table = Table::fields();
    table.field("Name", text(e, &["name"]));
    table.field("Description", text(e, &["description"]));
    table.field("Created At", value::go_time(e, &["created_at"]));
    table.field("Updated At", value::go_time(e, &["updated_at"]));
    table.field("Base URL", text(e, &["base_url"]));
    table.field("Upload URL", text(e, &["upload_base_url"]));
    table.field("API Base URL", text(e, &["api_base_url"]));
    if let Some(bundle) = value::bytes_text(e, &["ca_cert_bundle"]) {
        table.field("CA Cert Bundle", bundle);
    }
    table
}

fn credentials_table(creds: &Value, columns: Columns) -> Table {
    let mut header = vec!["ID", "Name", "Description", "Base URL", "API URL", "Upload URL", "Type"];
    if columns == Columns::Long {
        header.extend(["Created At", "Updated At"]);
    }
    let mut table = Table::list(&header);
    for c in value::list(creds) {
        let mut row = vec![
            value::cell(c, &["id"]),
            text(c, &["name"]).into(),
            text(c, &["description"]).into(),
            text(c, &["base_url"]).into(),
            text(c, &["api_base_url"]).into(),
            text(c, &["upload_base_url"]).into(),
            text(c, &["auth-type"]).into(),
        ];
        if columns == Columns::Long {
            row.push(value::go_time(c, &["created_at"]).into());
            row.push(value::go_time(c, &["updated_at"]).into());
        }
        table.row(row);
    }
    table
}

fn credential_table(c: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", value::cell(c, &["id"]));
    table.field("Created At", value::go_time(c, &["created_at"]));
    table.field("Updated At", value::go_time(c, &["updated_at"]));
    table.field("Name", text(c, &["name"]));
    table.field("Description", text(c, &["description"]));
    table.field("Base URL", text(c, &["base_url"]));
    table.field("API URL", text(c, &["api_base_url"]));
    table.field("Upload URL", text(c, &["upload_base_url"]));
    table.field("Type", text(c, &["auth-type"]));
    table.field("Endpoint", text(c, &["endpoint", "name"]));
    // As garm: the rate limit when GitHub has reported one with a reset still ahead.
    let reset_in = value::at(c, &["rate_limit", "reset"])
        .and_then(serde_json::Value::as_i64)
        .map(|reset| reset - now_unix())
        .unwrap_or(0);
    if reset_in > 0 {
        table.field("", "");
        table.field("Remaining API requests", value::cell(c, &["rate_limit", "remaining"]));
        table.field("Rate limit reset", format!("{} minutes", reset_in / 60));
    }
    let repos = value::items(c, &["repositories"]);
    if !repos.is_empty() {
        table.field("", "");
    }
    for repo in repos {
        let name = format!("{}/{}", text(repo, &["owner"]), text(repo, &["name"]));
        table.field("Repositories", name);
    }
    let orgs = value::items(c, &["organizations"]);
    if !orgs.is_empty() {
        table.field("", "");
    }
    for org in orgs {
        table.field("Organizations", text(org, &["name"]));
    }
    let ents = value::items(c, &["enterprises"]);
    if !ents.is_empty() {
        table.field("", "");
    }
    for ent in ents {
        table.field("Enterprises", text(ent, &["name"]));
    }
    table
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
