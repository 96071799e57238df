//! `repository`, `organization` and `enterprise` commands, and resolving their friendly names.

use clap::{ArgGroup, Args, Subcommand};
use rand::distributions::{Alphanumeric, DistString as _};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::table::{Columns, Table};
use crate::value::{self, text};
use crate::Ctx;

/// The three kinds of entity that own pools here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Repo,
    Org,
    Enterprise,
}

impl Kind {
    /// The API collection path.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Repo => "/repositories",
            Kind::Org => "/organizations",
            Kind::Enterprise => "/enterprises",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Repo => "repository",
            Kind::Org => "organization",
            Kind::Enterprise => "enterprise",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Repo => "repositories",
            Kind::Org => "organizations",
            Kind::Enterprise => "enterprises",
        }
    }
}

/// An entity ID from a UUID or a friendly name (`owner/name` for repositories).
pub fn resolve(client: &Client, kind: Kind, name_or_id: &str, endpoint: Option<&str>) -> anyhow::Result<String> {
    if name_or_id.is_empty() {
        anyhow::bail!("missing {} name or ID", kind.noun());
    }
    if value::is_uuid(name_or_id) {
        return Ok(name_or_id.to_ascii_lowercase());
    }
    let mut query: Vec<(&str, String)> = Vec::new();
    if kind == Kind::Repo {
        let Some((owner, name)) = name_or_id.split_once('/') else {
            // Not a friendly repository name; let the server judge it as an ID.
            return Ok(name_or_id.to_string());
        };
        query.push(("owner", owner.to_string()));
        query.push(("name", name.to_string()));
    } else {
        query.push(("name", name_or_id.to_string()));
    }
    if let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) {
        query.push(("endpoint", endpoint.to_string()));
    }
    let found = client.get_query(kind.path(), &query)?;
    match value::list(&found) {
        [one] => Ok(text(one, &["id"])),
        [] => anyhow::bail!("{} {name_or_id} was not found", kind.noun()),
        _ => anyhow::bail!(
            "multiple {} with the name {name_or_id} exist, please use the {} ID or specify the --endpoint parameter",
            kind.plural(),
            kind.noun()
        ),
    }
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Add a repository.
    #[command(visible_alias = "create")]
    Add(RepoAddArgs),
    /// List repositories.
    #[command(visible_alias = "ls")]
    List(RepoListArgs),
    /// Show one repository.
    Show(RefArgs),
    /// Update a repository.
    Update(UpdateArgs),
    /// Remove a repository.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete(DeleteArgs),
    /// Manage the repository webhook.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organization.
    #[command(visible_alias = "create")]
    Add(OrgAddArgs),
    /// List organizations.
    #[command(visible_alias = "ls")]
    List(NameListArgs),
    /// Show one organization.
    Show(RefArgs),
    /// Update an organization.
    Update(UpdateArgs),
    /// Remove an organization.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete(DeleteArgs),
    /// Manage the organization webhook.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum EnterpriseCommand {
    /// Add an enterprise.
    #[command(visible_alias = "create")]
    Add(EnterpriseAddArgs),
    /// List enterprises.
    #[command(visible_alias = "ls")]
    List(NameListArgs),
    /// Show one enterprise.
    Show(RefArgs),
    /// Update an enterprise.
    Update(UpdateArgs),
    /// Remove an enterprise.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete(RefArgs),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Install the garm webhook.
    Install(WebhookInstallArgs),
    /// Show the installed garm webhook.
    Show(RefArgs),
    /// Uninstall the garm webhook.
    Uninstall(RefArgs),
}

/// Settings shared by every `add`.
#[derive(Debug, Args)]
pub struct CommonAddArgs {
    /// Credentials name. See credentials list.
    #[arg(long)]
    pub credentials: String,
    /// The webhook secret. Ours: also read from GARM_CLI_WEBHOOK_SECRET, so that it need not
    /// be on a command line.
    #[arg(long, env = "GARM_CLI_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// The balancing strategy to use when creating runners in pools matching requested labels.
    #[arg(long, default_value = "roundrobin")]
    pub pool_balancer_type: String,
    /// Enable agent mode for runners.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub agent_mode: Option<bool>,
}

/// Webhook settings of repositories and organizations.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("secret").args(["webhook_secret", "random_webhook_secret"]).required(true)))]
pub struct HookedAddArgs {
    #[command(flatten)]
    pub common: CommonAddArgs,
    /// Generate a random webhook secret.
    #[arg(long)]
    pub random_webhook_secret: bool,
    /// The forge type (github or gitea).
    #[arg(long)]
    pub forge_type: Option<String>,
    /// Install the webhook as part of the add operation.
    #[arg(long)]
    pub install_webhook: bool,
}

#[derive(Debug, Args)]
pub struct RepoAddArgs {
    /// The owner of this repository.
    #[arg(long)]
    pub owner: String,
    /// The name of the repository.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub hooked: HookedAddArgs,
}

#[derive(Debug, Args)]
pub struct OrgAddArgs {
    /// The name of the organization.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub hooked: HookedAddArgs,
}

#[derive(Debug, Args)]
pub struct EnterpriseAddArgs {
    /// The name (slug) of the enterprise.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub common: CommonAddArgs,
}

#[derive(Debug, Args)]
pub struct RepoListArgs {
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Exact repo name to filter by.
    #[arg(short = 'n', long, default_value = "")]
    pub name: String,
    /// Exact repo owner to filter by.
    #[arg(short = 'o', long, default_value = "")]
    pub owner: String,
    /// Exact endpoint name to filter by.
    #[arg(short = 'e', long, default_value = "")]
    pub endpoint: String,
}

#[derive(Debug, Args)]
pub struct NameListArgs {
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Exact name to filter by.
    #[arg(short = 'n', long, default_value = "")]
    pub name: String,
    /// Exact endpoint name to filter by.
    #[arg(short = 'e', long, default_value = "")]
    pub endpoint: String,
}

/// An entity given by ID or friendly name.
#[derive(Debug, Args)]
pub struct RefArgs {
    /// The ID or name (`owner/name` for repositories).
    pub id: String,
    /// The endpoint, when several entities share the name.
    #[arg(long)]
    pub endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: RefArgs,
    /// Do not delete any existing webhook when removing the entity from garm.
    #[arg(long)]
    pub keep_webhook: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub target: RefArgs,
    /// The new webhook secret (update it in GitHub as well). Ours: also read from
    /// GARM_CLI_WEBHOOK_SECRET, so that it need not be on a command line.
    #[arg(long, env = "GARM_CLI_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Credentials name. See credentials list.
    #[arg(long)]
    pub credentials: Option<String>,
    /// The balancing strategy to use when creating runners in pools matching requested labels.
    #[arg(long)]
    pub pool_balancer_type: Option<String>,
    /// Enable or disable agent mode.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub agent_mode: Option<bool>,
}

#[derive(Debug, Args)]
pub struct WebhookInstallArgs {
    #[command(flatten)]
    pub target: RefArgs,
    /// Ignore self signed certificate errors.
    #[arg(long)]
    pub insecure: bool,
}

/// `repository …`.
pub fn repository(ctx: &Ctx, cmd: RepoCommand) -> anyhow::Result<()> {
    let kind = Kind::Repo;
    match cmd {
        RepoCommand::Add(args) => {
            let mut body = add_body(&args.hooked.common, &args.hooked)?;
            body.insert("owner".into(), Value::String(args.owner));
            body.insert("name".into(), Value::String(args.name));
            add(ctx, kind, body, args.hooked.install_webhook)
        }
        RepoCommand::List(args) => {
            let query = [("endpoint", args.endpoint), ("name", args.name), ("owner", args.owner)];
            list(ctx, kind, &query, Columns::from_flag(args.long))
        }
        RepoCommand::Show(args) => show(ctx, kind, &args),
        RepoCommand::Update(args) => update(ctx, kind, args),
        RepoCommand::Delete(args) => delete(ctx, kind, &args.target, Some(args.keep_webhook)),
        RepoCommand::Webhook(cmd) => webhook(ctx, kind, cmd),
    }
}

/// `organization …`.
pub fn organization(ctx: &Ctx, cmd: OrgCommand) -> anyhow::Result<()> {
    let kind = Kind::Org;
    match cmd {
        OrgCommand::Add(args) => {
            let mut body = add_body(&args.hooked.common, &args.hooked)?;
            body.insert("name".into(), Value::String(args.name));
            add(ctx, kind, body, args.hooked.install_webhook)
        }
        OrgCommand::List(args) => {
            let query = [("endpoint", args.endpoint), ("name", args.name)];
            list(ctx, kind, &query, Columns::from_flag(args.long))
        }
        OrgCommand::Show(args) => show(ctx, kind, &args),
        OrgCommand::Update(args) => update(ctx, kind, args),
        OrgCommand::Delete(args) => delete(ctx, kind, &args.target, Some(args.keep_webhook)),
        OrgCommand::Webhook(cmd) => webhook(ctx, kind, cmd),
    }
}

/// `enterprise …`.
pub fn enterprise(ctx: &Ctx, cmd: EnterpriseCommand) -> anyhow::Result<()> {
    let kind = Kind::Enterprise;
    match cmd {
        EnterpriseCommand::Add(args) => {
            let mut body = common_body(&args.common);
            body.insert("name".into(), Value::String(args.name));
            add(ctx, kind, body, false)
        }
        EnterpriseCommand::List(args) => {
            let query = [("endpoint", args.endpoint), ("name", args.name)];
            list(ctx, kind, &query, Columns::from_flag(args.long))
        }
        EnterpriseCommand::Show(args) => show(ctx, kind, &args),
        EnterpriseCommand::Update(args) => update(ctx, kind, args),
        EnterpriseCommand::Delete(args) => delete(ctx, kind, &args, None),
    }
}

fn common_body(common: &CommonAddArgs) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("credentials_name".into(), json!(common.credentials));
    body.insert(
        "webhook_secret".into(),
        json!(common.webhook_secret.clone().unwrap_or_default()),
    );
    body.insert("pool_balancer_type".into(), json!(common.pool_balancer_type));
    body.insert("agent_mode".into(), json!(common.agent_mode.unwrap_or(false)));
    body
}

fn add_body(common: &CommonAddArgs, hooked: &HookedAddArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = common_body(common);
    if hooked.random_webhook_secret {
        let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        body.insert("webhook_secret".into(), Value::String(secret));
    }
    if let Some(forge_type) = hooked.forge_type.as_deref().filter(|f| !f.is_empty()) {
        if !matches!(forge_type, "github" | "gitea") {
            anyhow::bail!("invalid forge type {forge_type:?} (supported are: github, gitea)");
        }
        body.insert("forge_type".into(), json!(forge_type));
    }
    Ok(body)
}

/// Creates the entity, optionally installs its webhook, then shows it as `show` does.
fn add(ctx: &Ctx, kind: Kind, body: Map<String, Value>, install_webhook: bool) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let created = client.post(kind.path(), &Value::Object(body))?;
    let id = text(&created, &["id"]);
    if install_webhook {
        client.post(
            &format!("{}/{id}/webhook", kind.path()),
            &json!({"webhook_endpoint_type": "direct"}),
        )?;
    }
    let entity = client.get(&format!("{}/{id}", kind.path()))?;
    ctx.emit(&entity, |e| entity_table(kind, e));
    Ok(())
}

fn list(ctx: &Ctx, kind: Kind, query: &[(&str, String)], columns: Columns) -> anyhow::Result<()> {
    let entities = ctx.client()?.get_query(kind.path(), query)?;
    ctx.emit(&entities, |e| entities_table(kind, e, columns));
    Ok(())
}

fn show(ctx: &Ctx, kind: Kind, target: &RefArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = resolve(&client, kind, &target.id, target.endpoint.as_deref())?;
    let entity = client.get(&format!("{}/{id}", kind.path()))?;
    ctx.emit(&entity, |e| entity_table(kind, e));
    Ok(())
}

fn update(ctx: &Ctx, kind: Kind, args: UpdateArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = resolve(&client, kind, &args.target.id, args.target.endpoint.as_deref())?;
    let mut body = Map::new();
    let strings = [
        ("webhook_secret", args.webhook_secret),
        ("credentials_name", args.credentials),
        ("pool_balancer_type", args.pool_balancer_type),
    ];
    for (key, given) in strings {
        if let Some(given) = given.filter(|g| !g.is_empty()) {
            body.insert(key.into(), Value::String(given));
        }
    }
    if let Some(agent_mode) = args.agent_mode {
        body.insert("agent_mode".into(), Value::Bool(agent_mode));
    }
    let entity = client.put(&format!("{}/{id}", kind.path()), &Value::Object(body))?;
    ctx.emit(&entity, |e| entity_table(kind, e));
    Ok(())
}

fn delete(ctx: &Ctx, kind: Kind, target: &RefArgs, keep_webhook: Option<bool>) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = resolve(&client, kind, &target.id, target.endpoint.as_deref())?;
    let query: Vec<(&str, String)> = keep_webhook
        .map(|keep| vec![("keepWebhook", keep.to_string())])
        .unwrap_or_default();
    client.delete(&format!("{}/{id}", kind.path()), &query)?;
    Ok(())
}

fn webhook(ctx: &Ctx, kind: Kind, cmd: WebhookCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let hook = match cmd {
        WebhookCommand::Install(args) => {
            let id = resolve(&client, kind, &args.target.id, args.target.endpoint.as_deref())?;
            let body = json!({"webhook_endpoint_type": "direct", "insecure_ssl": args.insecure});
            client.post(&format!("{}/{id}/webhook", kind.path()), &body)?
        }
        WebhookCommand::Show(target) => {
            let id = resolve(&client, kind, &target.id, target.endpoint.as_deref())?;
            client.get(&format!("{}/{id}/webhook", kind.path()))?
        }
        WebhookCommand::Uninstall(target) => {
            let id = resolve(&client, kind, &target.id, target.endpoint.as_deref())?;
            client.delete(&format!("{}/{id}/webhook", kind.path()), &[])?;
            return Ok(());
        }
    };
    // garm prints the webhook as a table whatever `--format` says; scripts reading it expect that.
    println!("{}", hook_table(&hook).render());
    Ok(())
}

fn hook_table(hook: &Value) -> Table {
    let events: Vec<String> = value::items(hook, &["events"]).iter().map(|e| text(e, &[])).collect();
    let mut table = Table::fields();
    table.field("ID", value::cell(hook, &["id"]));
    table.field("URL", text(hook, &["url"]));
    table.field("Events", format!("[{}]", events.join(" ")));
    table.field("Active", value::flag(hook, &["active"]));
    table.field("Insecure SSL", value::flag(hook, &["insecure_ssl"]));
    table
}

/// The list view: `ID, [Owner,] Name, Endpoint, Credentials name, Pool Balancer Type, …`.
pub fn entities_table(kind: Kind, entities: &Value, columns: Columns) -> Table {
    let mut header = vec!["ID"];
    if kind == Kind::Repo {
        header.push("Owner");
    }
    header.extend(["Name", "Endpoint", "Credentials name", "Pool Balancer Type"]);
    if kind != Kind::Enterprise {
        header.push("Forge type");
    }
    header.push("Pool mgr running");
    if columns == Columns::Long {
        header.extend(["Created At", "Updated At"]);
    }
    let mut table = Table::list(&header);
    for e in value::list(entities) {
        let mut row = vec![text(e, &["id"]).into()];
        if kind == Kind::Repo {
            row.push(text(e, &["owner"]).into());
        }
        row.push(text(e, &["name"]).into());
        row.push(text(e, &["endpoint", "name"]).into());
        row.push(value::credentials_name(e).into());
        row.push(value::balancer_type(e).into());
        if kind != Kind::Enterprise {
            row.push(value::forge_type(e).into());
        }
        row.push(value::flag(e, &["pool_manager_status", "running"]).into());
        if columns == Columns::Long {
            row.push(value::go_time(e, &["created_at"]).into());
            row.push(value::go_time(e, &["updated_at"]).into());
        }
        table.row(row);
    }
    table
}

/// The `show` view of one entity.
pub fn entity_table(kind: Kind, e: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", text(e, &["id"]));
    table.field("Created At", value::go_time(e, &["created_at"]));
    table.field("Updated At", value::go_time(e, &["updated_at"]));
    if kind == Kind::Repo {
        table.field("Owner", text(e, &["owner"]));
    }
    table.field("Name", text(e, &["name"]));
    table.field("Endpoint", text(e, &["endpoint", "name"]));
    table.field("Pool balancer type", value::balancer_type(e));
    table.field("Credentials", value::credentials_name(e));
    table.field("Agent Mode", value::flag(e, &["agent_mode"]));
    let running = value::flag(e, &["pool_manager_status", "running"]);
    table.field("Pool manager running", running);
    if !running {
        table.field("Failure reason", text(e, &["pool_manager_status", "failure_reason"]));
    }
    for pool in value::items(e, &["pool"]) {
        table.field("Pools", text(pool, &["id"]));
    }
    for event in value::items(e, &["events"]) {
        let line = format!(
            "{} {}: {}",
            value::short_time(event, &["created_at"]),
            text(event, &["event_level"]).to_uppercase(),
            text(event, &["message"])
        );
        table.field("Events", line);
    }
    table
}

/// `-r/--repo`, `-o/--org`, `-e/--enterprise` and the `--endpoint` that disambiguates names.
#[derive(Debug, Args)]
pub struct EntityArgs {
    /// The repository (ID or owner/name).
    #[arg(short = 'r', long)]
    pub repo: Option<String>,
    /// The organization (ID or name).
    #[arg(short = 'o', long)]
    pub org: Option<String>,
    /// The enterprise (ID or name).
    #[arg(short = 'e', long)]
    pub enterprise: Option<String>,
    /// The endpoint, when several entities share the name.
    #[arg(long)]
    pub endpoint: Option<String>,
}

impl EntityArgs {
    /// The selected entity, if any.
    pub fn selected(&self) -> Option<(Kind, &str)> {
        [
            (Kind::Repo, &self.repo),
            (Kind::Org, &self.org),
            (Kind::Enterprise, &self.enterprise),
        ]
        .into_iter()
        .find_map(|(kind, given)| given.as_deref().map(|id| (kind, id)))
    }

    /// The selected entity's API path (`/repositories/<id>`), resolving friendly names.
    pub fn resolve(&self, client: &Client) -> anyhow::Result<Option<String>> {
        let Some((kind, id)) = self.selected() else {
            return Ok(None);
        };
        let id = resolve(client, kind, id, self.endpoint.as_deref())?;
        Ok(Some(format!("{}/{id}", kind.path())))
    }
}

#[cfg(test)]
mod tests;
