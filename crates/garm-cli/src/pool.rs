//! `pool …` commands: creating, listing, showing, updating and deleting pools, and their runners.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::entity::EntityArgs;
use crate::table::{Cell, Columns, Table};
use crate::value::{self, text};
use crate::{runner, Ctx};

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Add a pool to a repository, organization or enterprise.
    #[command(visible_alias = "create")]
    Add(PoolAddArgs),
    /// List pools (all of them unless an entity is given).
    #[command(visible_alias = "ls")]
    List(PoolListArgs),
    /// Show one pool.
    Show { pool_id: String },
    /// Update a pool (only the flags given are sent).
    Update(PoolUpdateArgs),
    /// Delete a pool.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete { pool_id: String },
    /// Runners of one pool.
    #[command(subcommand, visible_alias = "run")]
    Runner(PoolRunnerCommand),
}

#[derive(Debug, Subcommand)]
pub enum PoolRunnerCommand {
    /// List the runners of a pool.
    #[command(visible_alias = "ls")]
    List(PoolRunnerListArgs),
    /// Remove idle runners of a pool so they are replaced with fresh ones.
    Rotate(PoolRunnerRotateArgs),
}

#[derive(Debug, Args)]
pub struct PoolRunnerRotateArgs {
    pub pool_id: String,
    /// Only runners with a generation older than the pool.
    #[arg(long)]
    pub outdated: bool,
    /// Show what would be removed without removing it.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Ignore provider errors when removing runners.
    #[arg(short = 'f', long = "force-remove-runner")]
    pub force_remove_runner: bool,
    /// Ignore GitHub unauthorized errors when removing runners.
    #[arg(short = 'b', long = "bypass-github-unauthorized")]
    pub bypass_github_unauthorized: bool,
    /// Skip the confirmation prompt.
    #[arg(long = "yes-i-really-mean-it")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PoolRunnerListArgs {
    pub pool_id: String,
    /// Only runners created from an older pool generation.
    #[arg(long)]
    pub outdated: bool,
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["repo", "org", "enterprise"]).required(true)))]
#[command(group(ArgGroup::new("specs").args(["extra_specs", "extra_specs_file"])))]
pub struct PoolAddArgs {
    /// The name of the provider where runners will be created.
    #[arg(long)]
    pub provider_name: String,
    /// The provider-specific image name to use for runners in this pool.
    #[arg(long)]
    pub image: String,
    /// The flavor to use for the runners.
    #[arg(long)]
    pub flavor: String,
    /// A comma separated list of tags to assign to the runners.
    #[arg(long)]
    pub tags: String,
    #[command(flatten)]
    pub entity: EntityArgs,
    /// Operating system type (windows, linux).
    #[arg(long, default_value = "linux")]
    pub os_type: String,
    /// Operating system architecture (amd64, arm, arm64).
    #[arg(long, default_value = "amd64")]
    pub os_arch: String,
    /// The maximum number of runners this pool will create.
    #[arg(long, default_value_t = 5)]
    pub max_runners: u64,
    /// Attempt to maintain a minimum of idle self-hosted runners of this type.
    #[arg(long, default_value_t = 1)]
    pub min_idle_runners: u64,
    /// Minutes after which a runner that has not joined the forge is considered failed.
    #[arg(long, default_value_t = 20)]
    pub runner_bootstrap_timeout: u64,
    /// Enable this pool (`--enabled`, `--enabled true` or `--enabled=false`).
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enabled: Option<bool>,
    /// When several pools match a job, higher priority pools are used first.
    #[arg(long, default_value_t = 0)]
    pub priority: u64,
    /// The name prefix to use for runners in this pool.
    #[arg(long)]
    pub runner_prefix: Option<String>,
    /// The GitHub runner group in which all runners of this pool will be added.
    #[arg(long)]
    pub runner_group: Option<String>,
    /// A JSON document passed to the provider.
    #[arg(long)]
    pub extra_specs: Option<String>,
    /// A file holding a JSON document passed to the provider.
    #[arg(long)]
    pub extra_specs_file: Option<PathBuf>,
    /// Enable the agent shell on runners of this pool.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_shell: Option<bool>,
    /// The runner install template (name or ID).
    #[arg(long)]
    pub runner_install_template: Option<String>,
    /// The proxy (name or ID).
    #[arg(long)]
    pub proxy: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["repo", "org", "enterprise", "all"])))]
pub struct PoolListArgs {
    #[command(flatten)]
    pub entity: EntityArgs,
    /// List all pools (the default; kept for compatibility).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("specs").args(["extra_specs", "extra_specs_file"])))]
#[command(group(ArgGroup::new("proxies").args(["proxy", "clear_proxy"])))]
pub struct PoolUpdateArgs {
    pub pool_id: String,
    #[arg(long)]
    pub image: Option<String>,
    #[arg(long)]
    pub flavor: Option<String>,
    /// A comma separated list of tags; replaces all current tags.
    #[arg(long)]
    pub tags: Option<String>,
    #[arg(long)]
    pub os_type: Option<String>,
    #[arg(long)]
    pub os_arch: Option<String>,
    #[arg(long)]
    pub max_runners: Option<u64>,
    #[arg(long)]
    pub min_idle_runners: Option<u64>,
    #[arg(long)]
    pub runner_bootstrap_timeout: Option<u64>,
    /// Enable or disable the pool (`--enabled`, `--enabled true` or `--enabled=false`).
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enabled: Option<bool>,
    #[arg(long)]
    pub priority: Option<u64>,
    #[arg(long)]
    pub runner_prefix: Option<String>,
    #[arg(long)]
    pub runner_group: Option<String>,
    #[arg(long)]
    pub extra_specs: Option<String>,
    #[arg(long)]
    pub extra_specs_file: Option<PathBuf>,
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_shell: Option<bool>,
    /// The runner install template (name or ID).
    #[arg(long)]
    pub runner_install_template: Option<String>,
    /// The proxy (name or ID).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Remove the pool's proxy.
    #[arg(long)]
    pub clear_proxy: bool,
}

/// Parses extra specs given on the command line, failing with a readable message.
pub fn parse_extra_specs(source: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(source).map_err(|err| anyhow::anyhow!("{what} is not valid JSON: {err}"))
}

/// The extra specs from `--extra-specs` or `--extra-specs-file`, if either is given.
pub(crate) fn extra_specs(inline: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<Value>> {
    if let Some(inline) = inline {
        return parse_extra_specs(inline, "--extra-specs").map(Some);
    }
    if let Some(file) = file {
        let data = std::fs::read_to_string(file).with_context(|| format!("opening specs file {}", file.display()))?;
        let what = format!("extra specs file {}", file.display());
        return parse_extra_specs(&data, &what).map(Some);
    }
    Ok(None)
}

/// Splits `--tags`, dropping blanks.
pub(crate) fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Client-side checks garm's `CreatePoolParams.Validate` also does.
fn validate_create(body: &Map<String, Value>) -> anyhow::Result<()> {
    let get = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let num = |k: &str| body.get(k).and_then(Value::as_u64).unwrap_or(0);
    if get("provider_name").is_empty() {
        anyhow::bail!("missing provider");
    }
    if !matches!(get("os_type"), "linux" | "windows") {
        anyhow::bail!("invalid OS type {:?} (supported are: linux, windows)", get("os_type"));
    }
    if !matches!(get("os_arch"), "amd64" | "arm" | "arm64") {
        anyhow::bail!(
            "invalid OS architecture {:?} (supported are: amd64, arm, arm64)",
            get("os_arch")
        );
    }
    if body.get("tags").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        anyhow::bail!("missing tags");
    }
    if get("flavor").is_empty() {
        anyhow::bail!("missing flavor");
    }
    if get("image").is_empty() {
        anyhow::bail!("missing image");
    }
    if num("min_idle_runners") > num("max_runners") {
        anyhow::bail!("min_idle_runners cannot be larger than max_runners");
    }
    Ok(())
}

fn create_body(args: &PoolAddArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    body.insert("provider_name".into(), json!(args.provider_name));
    body.insert("max_runners".into(), json!(args.max_runners));
    body.insert("min_idle_runners".into(), json!(args.min_idle_runners));
    body.insert("image".into(), json!(args.image));
    body.insert("flavor".into(), json!(args.flavor));
    body.insert("os_type".into(), json!(args.os_type));
    body.insert("os_arch".into(), json!(args.os_arch));
    body.insert("tags".into(), json!(split_tags(&args.tags)));
    body.insert("enabled".into(), json!(args.enabled.unwrap_or(false)));
    body.insert("runner_bootstrap_timeout".into(), json!(args.runner_bootstrap_timeout));
    body.insert("enable_shell".into(), json!(args.enable_shell.unwrap_or(false)));
    body.insert("priority".into(), json!(args.priority));
    if let Some(prefix) = &args.runner_prefix {
        body.insert("runner_prefix".into(), json!(prefix));
    }
    if let Some(group) = &args.runner_group {
        body.insert("github-runner-group".into(), json!(group));
    }
    if let Some(specs) = extra_specs(args.extra_specs.as_deref(), args.extra_specs_file.as_deref())? {
        body.insert("extra_specs".into(), specs);
    }
    validate_create(&body)?;
    Ok(body)
}

fn update_body(client: &Client, args: PoolUpdateArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    let strings = [
        ("image", args.image),
        ("flavor", args.flavor),
        ("os_type", args.os_type),
        ("os_arch", args.os_arch),
        ("runner_prefix", args.runner_prefix),
        ("github-runner-group", args.runner_group),
    ];
    for (key, given) in strings {
        if let Some(given) = given {
            body.insert(key.into(), Value::String(given));
        }
    }
    if let Some(tags) = args.tags {
        body.insert("tags".into(), json!(split_tags(&tags)));
    }
    let numbers = [
        ("max_runners", args.max_runners),
        ("min_idle_runners", args.min_idle_runners),
        ("runner_bootstrap_timeout", args.runner_bootstrap_timeout),
        ("priority", args.priority),
    ];
    for (key, given) in numbers {
        if let Some(given) = given {
            body.insert(key.into(), json!(given));
        }
    }
    if let Some(enabled) = args.enabled {
        body.insert("enabled".into(), json!(enabled));
    }
    if let Some(shell) = args.enable_shell {
        body.insert("enable_shell".into(), json!(shell));
    }
    if let Some(specs) = extra_specs(args.extra_specs.as_deref(), args.extra_specs_file.as_deref())? {
        body.insert("extra_specs".into(), specs);
    }
    if let Some(template) = args.runner_install_template {
        body.insert("template_id".into(), json!(resolve_template(client, &template)?));
    }
    if let Some(proxy) = args.proxy {
        body.insert("proxy_id".into(), json!(resolve_proxy(client, &proxy)?));
    }
    if args.clear_proxy {
        body.insert("proxy_id".into(), json!(0));
    }
    Ok(body)
}

/// A template ID from an ID or an exact template name.
pub(crate) fn resolve_template(client: &Client, name_or_id: &str) -> anyhow::Result<u64> {
    if let Ok(id) = name_or_id.parse() {
        return Ok(id);
    }
    let found = client
        .get_query("/templates", &[("partialName", name_or_id.to_string())])
        .context("failed to list templates")?;
    resolve_by_name(&found, name_or_id, "template")
}

/// A proxy ID from an ID or a proxy name.
pub fn resolve_proxy(client: &Client, name_or_id: &str) -> anyhow::Result<u64> {
    if let Ok(id) = name_or_id.parse() {
        return Ok(id);
    }
    let found = client.get("/proxies").context("failed to list proxies")?;
    resolve_by_name(&found, name_or_id, "proxy")
}

fn resolve_by_name(found: &Value, name: &str, what: &str) -> anyhow::Result<u64> {
    let matches: Vec<&Value> = value::list(found)
        .iter()
        .filter(|v| text(v, &["name"]) == name)
        .collect();
    match matches.as_slice() {
        [one] => one["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("{what} {name} has no numeric ID")),
        [] => anyhow::bail!("no such {what}: {name}"),
        _ => anyhow::bail!("multiple {what}s found with name: {name}"),
    }
}

/// `pool …`.
pub fn pool(ctx: &Ctx, cmd: PoolCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let pool = match cmd {
        PoolCommand::Add(args) => {
            let mut body = create_body(&args)?;
            if let Some(template) = &args.runner_install_template {
                body.insert("template_id".into(), json!(resolve_template(&client, template)?));
            }
            if let Some(proxy) = &args.proxy {
                body.insert("proxy_id".into(), json!(resolve_proxy(&client, proxy)?));
            }
            let owner = args
                .entity
                .resolve(&client)?
                .ok_or_else(|| anyhow::anyhow!("one of --repo, --org or --enterprise is required"))?;
            client.post(&format!("{owner}/pools"), &Value::Object(body))?
        }
        PoolCommand::List(args) => {
            let path = match args.entity.resolve(&client)? {
                Some(owner) => format!("{owner}/pools"),
                None => "/pools".to_string(),
            };
            let pools = client.get(&path)?;
            ctx.emit(&pools, |p| pools_table(p, Columns::from_flag(args.long)));
            return Ok(());
        }
        PoolCommand::Show { pool_id } => client.get(&format!("/pools/{pool_id}"))?,
        PoolCommand::Update(args) => {
            let path = format!("/pools/{}", args.pool_id);
            let body = update_body(&client, args)?;
            client.put(&path, &Value::Object(body))?
        }
        PoolCommand::Delete { pool_id } => {
            client.delete(&format!("/pools/{pool_id}"), &[])?;
            return Ok(());
        }
        PoolCommand::Runner(PoolRunnerCommand::List(args)) => {
            let query = [("outdatedOnly", args.outdated.to_string())];
            let path = format!("/pools/{}/instances", args.pool_id);
            let runners = client.get_query(&path, &query)?;
            ctx.emit(&runners, |r| {
                runner::runners_table(r, Columns::from_flag(args.long), runner::Origin::Hidden)
            });
            return Ok(());
        }
        PoolCommand::Runner(PoolRunnerCommand::Rotate(args)) => {
            let path = format!("/pools/{}/instances", args.pool_id);
            return rotate(ctx, &client, &path, args);
        }
    };
    ctx.emit(&pool, pool_table);
    Ok(())
}

/// The `pool ls` view.
pub fn pools_table(pools: &Value, columns: Columns) -> Table {
    let mut header = vec![
        "ID",
        "Image",
        "Flavor",
        "Tags",
        "Belongs to",
        "Endpoint",
        "Forge Type",
        "Enabled",
    ];
    if columns == Columns::Long {
        header.extend(["Level", "Created At", "Updated at", "Runner Prefix", "Priority"]);
    }
    let mut table = Table::list(&header);
    for p in value::list(pools) {
        let (belongs_to, level) = value::pool_owner(p);
        let mut row: Vec<Cell> = vec![
            text(p, &["id"]).into(),
            text(p, &["image"]).into(),
            text(p, &["flavor"]).into(),
            value::tag_names(p).join(" ").into(),
            belongs_to.into(),
            text(p, &["endpoint", "name"]).into(),
            value::forge_type(p).into(),
            value::flag(p, &["enabled"]).into(),
        ];
        if columns == Columns::Long {
            row.push(level.into());
            row.push(value::go_time(p, &["created_at"]).into());
            row.push(value::go_time(p, &["updated_at"]).into());
            row.push(value::runner_prefix(p).into());
            row.push(Cell::num(p["priority"].as_u64().unwrap_or(0)));
        }
        table.row(row);
    }
    table
}

/// The `pool show` view.
pub fn pool_table(p: &Value) -> Table {
    let (belongs_to, level) = value::pool_owner(p);
    let number = |key: &str| Cell::num(p[key].as_u64().unwrap_or(0));
    let mut table = Table::fields();
    table.field("ID", text(p, &["id"]));
    table.field("Created At", value::go_time(p, &["created_at"]));
    table.field("Updated At", value::go_time(p, &["updated_at"]));
    table.field("Provider Name", text(p, &["provider_name"]));
    table.field("Priority", number("priority"));
    table.field("Image", text(p, &["image"]));
    table.field("Flavor", text(p, &["flavor"]));
    table.field("OS Type", text(p, &["os_type"]));
    table.field("OS Architecture", text(p, &["os_arch"]));
    table.field("Max Runners", number("max_runners"));
    table.field("Min Idle Runners", number("min_idle_runners"));
    table.field("Runner Bootstrap Timeout", number("runner_bootstrap_timeout"));
    table.field("Tags", value::tag_names(p).join(", "));
    table.field("Belongs to", belongs_to);
    table.field("Level", level);
    // Always, as garm (`name (ID: 0)` for a pool without a template).
    let template_id = p["template_id"].as_u64().unwrap_or(0);
    table.field(
        "Template",
        format!("{} (ID: {template_id})", text(p, &["template_name"])),
    );
    if p["proxy_id"].as_u64().unwrap_or(0) != 0 {
        let proxy = format!("{} (ID: {})", text(p, &["proxy_name"]), text(p, &["proxy_id"]));
        table.field("Proxy", proxy);
    }
    table.field("Enabled", value::flag(p, &["enabled"]));
    table.field("Runner Prefix", value::runner_prefix(p));
    let specs = match value::at(p, &["extra_specs"]) {
        None | Some(Value::Null) => String::new(),
        Some(specs) => specs.to_string(),
    };
    table.field("Extra specs", specs);
    table.field("GitHub Runner Group", text(p, &["github-runner-group"]));
    table.field("Forge Type", value::forge_type(p));
    table.field("Endpoint Name", text(p, &["endpoint", "name"]));
    for instance in value::items(p, &["instances"]) {
        let line = format!("{} ({})", text(instance, &["name"]), text(instance, &["id"]));
        table.field("Instances", line);
    }
    table
}

#[cfg(test)]
mod tests;

/// `pool runner rotate`: deletes the pool's idle runners (running instances whose runner is
/// idle), one by one, as garm-cli does; the pool manager replaces them.
/// Scale sets share it (`scaleset runner rotate`), with their own instances path.
pub(crate) fn rotate(
    ctx: &Ctx,
    client: &Client,
    instances_path: &str,
    args: PoolRunnerRotateArgs,
) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if args.outdated {
        query.push(("outdatedOnly", "true".to_owned()));
    }
    let runners = client.get_query(instances_path, &query)?;
    let idle: Vec<Value> = value::list(&runners)
        .iter()
        .filter(|r| text(r, &["status"]) == "running" && text(r, &["runner_status"]) == "idle")
        .cloned()
        .collect();
    if idle.is_empty() {
        println!("No idle runners to rotate.");
        return Ok(());
    }
    let idle_list = Value::Array(idle.clone());
    if args.dry_run {
        println!("Would remove {} idle runner(s):", idle.len());
        ctx.emit(&idle_list, |r| {
            runner::runners_table(r, Columns::Short, runner::Origin::Hidden)
        });
        return Ok(());
    }
    if !args.yes {
        print!("About to remove {} idle runner(s). Continue? [y/N] ", idle.len());
        std::io::Write::flush(&mut std::io::stdout())?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            println!("Aborted.");
            return Ok(());
        }
    }
    let (mut removed, mut skipped) = (0, 0);
    for r in &idle {
        let name = text(r, &["name"]);
        let query = [
            ("forceRemove", args.force_remove_runner.to_string()),
            ("bypassGHUnauthorized", args.bypass_github_unauthorized.to_string()),
        ];
        match client.delete(&format!("/instances/{name}"), &query) {
            Ok(_) => {
                println!("  Removed {name}");
                removed += 1;
            }
            Err(err) => {
                println!("  Warning: failed to remove {name}: {err}");
                skipped += 1;
            }
        }
    }
    println!("Removed {removed} runner(s), skipped {skipped}.");
    Ok(())
}
