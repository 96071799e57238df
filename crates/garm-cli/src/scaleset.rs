//! `scaleset …` commands: runner scale sets, with garm's flags and tables.

use clap::{ArgGroup, Args, CommandFactory, Subcommand};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

use crate::entity::EntityArgs;
use crate::pool::{self, PoolRunnerRotateArgs};
use crate::table::{Cell, Columns, Table};
use crate::value::{self, text};
use crate::{runner, Ctx};

#[derive(Debug, Subcommand)]
pub enum ScaleSetCommand {
    /// List scale sets (all of them unless an entity is given).
    #[command(visible_alias = "ls")]
    List(ScaleSetListArgs),
    /// Show one scale set.
    Show { scaleset_id: String },
    /// Add a scale set to a repository, organization or enterprise.
    #[command(visible_alias = "create")]
    Add(ScaleSetAddArgs),
    /// Update a scale set (only the flags given are sent).
    Update(ScaleSetUpdateArgs),
    /// Delete a scale set.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete { scaleset_id: String },
    /// Runners of one scale set.
    #[command(subcommand)]
    Runner(ScaleSetRunnerCommand),
}

#[derive(Debug, Subcommand)]
pub enum ScaleSetRunnerCommand {
    /// List the runners of a scale set.
    #[command(visible_alias = "ls")]
    List {
        scaleset_id: String,
        /// Only runners created from an older scale set generation.
        #[arg(long)]
        outdated: bool,
    },
    /// Remove idle runners of a scale set so they are replaced with fresh ones.
    Rotate(PoolRunnerRotateArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["repo", "org", "enterprise"])))]
pub struct ScaleSetListArgs {
    #[command(flatten)]
    pub entity: EntityArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["repo", "org", "enterprise"])))]
#[command(group(ArgGroup::new("specs").args(["extra_specs", "extra_specs_file"])))]
pub struct ScaleSetAddArgs {
    /// The name of the provider where runners will be created.
    #[arg(long)]
    pub provider_name: Option<String>,
    /// The name of the scale set (workflows use it in `runs-on`).
    #[arg(long)]
    pub name: Option<String>,
    /// The provider-specific image name to use for runners in this scale set.
    #[arg(long)]
    pub image: Option<String>,
    /// The flavor to use for this runner.
    #[arg(long)]
    pub flavor: Option<String>,
    #[command(flatten)]
    pub entity: EntityArgs,
    /// The name prefix to use for runners in this scale set.
    #[arg(long)]
    pub runner_prefix: Option<String>,
    /// Operating system type (windows, linux).
    #[arg(long, default_value = "linux")]
    pub os_type: String,
    /// Operating system architecture (amd64, arm, arm64).
    #[arg(long, default_value = "amd64")]
    pub os_arch: String,
    /// A valid json which will be passed to the IaaS provider managing the scale set.
    #[arg(long)]
    pub extra_specs: Option<String>,
    /// A file containing a valid json which will be passed to the IaaS provider.
    #[arg(long)]
    pub extra_specs_file: Option<PathBuf>,
    /// The GitHub runner group in which all runners of this scale set will be added.
    #[arg(long)]
    pub runner_group: Option<String>,
    /// The maximum number of runners this scale set will create.
    #[arg(long, default_value_t = 5)]
    pub max_runners: u64,
    /// Minutes after which a runner that has not joined GitHub is considered failed.
    #[arg(long, default_value_t = 20)]
    pub runner_bootstrap_timeout: u64,
    /// Idle runners kept on top of the assigned jobs.
    #[arg(long, default_value_t = 1)]
    pub min_idle_runners: u64,
    /// Enable this scale set.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enabled: Option<bool>,
    /// Enable shell access for runners in this scale set.
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_shell: Option<bool>,
    /// Extra labels (comma separated); the scale set's name is always its first label.
    #[arg(long)]
    pub labels: Option<String>,
    /// The runner install template (name or ID).
    #[arg(long)]
    pub runner_install_template: Option<String>,
    /// The proxy (name or ID).
    #[arg(long)]
    pub proxy: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("specs").args(["extra_specs", "extra_specs_file"])))]
#[command(group(ArgGroup::new("proxies").args(["proxy", "clear_proxy"])))]
pub struct ScaleSetUpdateArgs {
    pub scaleset_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub image: Option<String>,
    #[arg(long)]
    pub flavor: Option<String>,
    #[arg(long)]
    pub os_type: Option<String>,
    #[arg(long)]
    pub os_arch: Option<String>,
    #[arg(long)]
    pub runner_prefix: Option<String>,
    #[arg(long)]
    pub max_runners: Option<u64>,
    #[arg(long)]
    pub min_idle_runners: Option<u64>,
    #[arg(long)]
    pub runner_group: Option<String>,
    /// Enable or disable the scale set (`--enabled`, `--enabled true` or `--enabled=false`).
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enabled: Option<bool>,
    #[arg(long)]
    pub runner_bootstrap_timeout: Option<u64>,
    #[arg(long, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_shell: Option<bool>,
    #[arg(long)]
    pub extra_specs: Option<String>,
    #[arg(long)]
    pub extra_specs_file: Option<PathBuf>,
    /// The runner install template (name or ID).
    #[arg(long)]
    pub runner_install_template: Option<String>,
    /// The proxy (name or ID).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Remove the scale set's proxy.
    #[arg(long)]
    pub clear_proxy: bool,
}

/// garm-cli's own checks before anything is sent.
fn validate_add(body: &Map<String, Value>) -> anyhow::Result<()> {
    let get = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let num = |k: &str| body.get(k).and_then(Value::as_u64).unwrap_or(0);
    if get("provider_name").is_empty() {
        anyhow::bail!("missing provider");
    }
    if num("min_idle_runners") > num("max_runners") {
        anyhow::bail!("min_idle_runners cannot be larger than max_runners");
    }
    if num("max_runners") == 0 {
        anyhow::bail!("max_runners cannot be 0");
    }
    if get("flavor").is_empty() {
        anyhow::bail!("missing flavor");
    }
    if get("image").is_empty() {
        anyhow::bail!("missing image");
    }
    if get("name").is_empty() {
        anyhow::bail!("missing scale set name");
    }
    Ok(())
}

fn add_body(client: &crate::client::Client, args: &ScaleSetAddArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    body.insert("name".into(), json!(args.name.clone().unwrap_or_default()));
    body.insert(
        "provider_name".into(),
        json!(args.provider_name.clone().unwrap_or_default()),
    );
    body.insert("image".into(), json!(args.image.clone().unwrap_or_default()));
    body.insert("flavor".into(), json!(args.flavor.clone().unwrap_or_default()));
    body.insert("os_type".into(), json!(args.os_type));
    body.insert("os_arch".into(), json!(args.os_arch));
    body.insert("max_runners".into(), json!(args.max_runners));
    body.insert("min_idle_runners".into(), json!(args.min_idle_runners));
    body.insert("runner_bootstrap_timeout".into(), json!(args.runner_bootstrap_timeout));
    body.insert("enabled".into(), json!(args.enabled.unwrap_or(false)));
    body.insert("enable_shell".into(), json!(args.enable_shell.unwrap_or(false)));
    body.insert("disable_update".into(), json!(false));
    body.insert("scale_set_id".into(), json!(0));
    if let Some(prefix) = &args.runner_prefix {
        body.insert("runner_prefix".into(), json!(prefix));
    }
    if let Some(group) = &args.runner_group {
        body.insert("github-runner-group".into(), json!(group));
    }
    if let Some(labels) = &args.labels {
        body.insert("labels".into(), json!(pool::split_tags(labels)));
    }
    if let Some(specs) = pool::extra_specs(args.extra_specs.as_deref(), args.extra_specs_file.as_deref())? {
        body.insert("extra_specs".into(), specs);
    }
    validate_add(&body)?;
    if let Some(template) = &args.runner_install_template {
        body.insert("template_id".into(), json!(pool::resolve_template(client, template)?));
    }
    if let Some(proxy) = &args.proxy {
        body.insert("proxy_id".into(), json!(pool::resolve_proxy(client, proxy)?));
    }
    Ok(body)
}

fn update_body(client: &crate::client::Client, args: ScaleSetUpdateArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    let strings = [
        ("name", args.name),
        ("image", args.image),
        ("flavor", args.flavor),
        ("os_type", args.os_type),
        ("os_arch", args.os_arch),
        ("runner_prefix", args.runner_prefix),
        ("runner_group", args.runner_group),
    ];
    for (key, given) in strings {
        if let Some(given) = given {
            body.insert(key.into(), Value::String(given));
        }
    }
    let numbers = [
        ("max_runners", args.max_runners),
        ("min_idle_runners", args.min_idle_runners),
        ("runner_bootstrap_timeout", args.runner_bootstrap_timeout),
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
    if let Some(specs) = pool::extra_specs(args.extra_specs.as_deref(), args.extra_specs_file.as_deref())? {
        body.insert("extra_specs".into(), specs);
    }
    if let Some(template) = args.runner_install_template {
        body.insert("template_id".into(), json!(pool::resolve_template(client, &template)?));
    }
    if let Some(proxy) = args.proxy {
        body.insert("proxy_id".into(), json!(pool::resolve_proxy(client, &proxy)?));
    }
    if args.clear_proxy {
        body.insert("proxy_id".into(), json!(0));
    }
    Ok(body)
}

/// `scaleset …`.
pub fn scaleset(ctx: &Ctx, cmd: ScaleSetCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let set = match cmd {
        ScaleSetCommand::List(args) => {
            let path = match args.entity.resolve(&client)? {
                Some(owner) => format!("{owner}/scalesets"),
                None => "/scalesets".to_string(),
            };
            let sets = client.get(&path)?;
            ctx.emit(&sets, scale_sets_table);
            return Ok(());
        }
        ScaleSetCommand::Show { scaleset_id } => client.get(&format!("/scalesets/{scaleset_id}"))?,
        ScaleSetCommand::Add(args) => {
            let Some(owner) = args.entity.resolve(&client)? else {
                // As garm-cli: without an entity, the help and a clean exit.
                let mut cmd = crate::Cli::command();
                if let Some(add) = cmd
                    .find_subcommand_mut("scaleset")
                    .and_then(|s| s.find_subcommand_mut("add"))
                {
                    let _ = add.print_help();
                }
                return Ok(());
            };
            let body = add_body(&client, &args)?;
            client.post(&format!("{owner}/scalesets"), &Value::Object(body))?
        }
        ScaleSetCommand::Update(args) => {
            let path = format!("/scalesets/{}", args.scaleset_id);
            let body = update_body(&client, args)?;
            client.put(&path, &Value::Object(body))?
        }
        ScaleSetCommand::Delete { scaleset_id } => {
            client.delete(&format!("/scalesets/{scaleset_id}"), &[])?;
            return Ok(());
        }
        ScaleSetCommand::Runner(ScaleSetRunnerCommand::List { scaleset_id, outdated }) => {
            let query = [("outdatedOnly", outdated.to_string())];
            let runners = client.get_query(&format!("/scalesets/{scaleset_id}/instances"), &query)?;
            ctx.emit(&runners, |r| {
                runner::runners_table(r, Columns::Short, runner::Origin::Hidden)
            });
            return Ok(());
        }
        ScaleSetCommand::Runner(ScaleSetRunnerCommand::Rotate(args)) => {
            let path = format!("/scalesets/{}/instances", args.pool_id);
            return pool::rotate(ctx, &client, &path, args);
        }
    };
    ctx.emit(&set, scale_set_table);
    Ok(())
}

/// The `scaleset ls` view.
pub fn scale_sets_table(sets: &Value) -> Table {
    let mut table = Table::list(&[
        "ID",
        "Scale Set Name",
        "Image",
        "Flavor",
        "Belongs to",
        "Level",
        "Runner Group",
        "Enabled",
        "Runner Prefix",
        "Provider",
    ]);
    for s in value::list(sets) {
        let (belongs_to, level) = value::pool_owner(s);
        table.row(vec![
            Cell::num(s["id"].as_u64().unwrap_or(0)),
            text(s, &["name"]).into(),
            text(s, &["image"]).into(),
            text(s, &["flavor"]).into(),
            belongs_to.into(),
            level.into(),
            text(s, &["github-runner-group"]).into(),
            value::flag(s, &["enabled"]).into(),
            value::runner_prefix(s).into(),
            text(s, &["provider_name"]).into(),
        ]);
    }
    table
}

/// The `scaleset show` view.
pub fn scale_set_table(s: &Value) -> Table {
    let (belongs_to, level) = value::pool_owner(s);
    let number = |key: &str| Cell::num(s[key].as_u64().unwrap_or(0));
    let mut table = Table::fields();
    table.field("ID", number("id"));
    table.field(
        "Scale Set ID",
        Cell::num(s["scale_set_id"].as_i64().unwrap_or(0).max(0) as u64),
    );
    table.field("Scale Name", text(s, &["name"]));
    table.field("Provider Name", text(s, &["provider_name"]));
    table.field("Image", text(s, &["image"]));
    table.field("Flavor", text(s, &["flavor"]));
    table.field("OS Type", text(s, &["os_type"]));
    table.field("OS Architecture", text(s, &["os_arch"]));
    table.field("Max Runners", number("max_runners"));
    table.field("Min Idle Runners", number("min_idle_runners"));
    table.field("Runner Bootstrap Timeout", number("runner_bootstrap_timeout"));
    table.field("Belongs to", belongs_to);
    let template_id = s["template_id"].as_u64().unwrap_or(0);
    table.field(
        "Template",
        format!("{} (ID: {template_id})", text(s, &["template_name"])),
    );
    if s["proxy_id"].as_u64().unwrap_or(0) != 0 {
        let proxy = format!("{} (ID: {})", text(s, &["proxy_name"]), text(s, &["proxy_id"]));
        table.field("Proxy", proxy);
    }
    table.field("Level", level);
    table.field("Enabled", value::flag(s, &["enabled"]));
    table.field("Runner Prefix", value::runner_prefix(s));
    let specs = match value::at(s, &["extra_specs"]) {
        None | Some(Value::Null) => String::new(),
        Some(specs) => specs.to_string(),
    };
    table.field("Extra specs", specs);
    table.field("GitHub Runner Group", text(s, &["github-runner-group"]));
    let labels = value::tag_names(s);
    if !labels.is_empty() {
        table.field("Labels", labels.join(", "));
    }
    for instance in value::items(s, &["instances"]) {
        let line = format!("{} ({})", text(instance, &["name"]), text(instance, &["id"]));
        table.field("Instances", line);
    }
    table
}
