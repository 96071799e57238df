//! `template …`: runner install templates, with garm's commands, flags and tables.

use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::table::{Cell, Table};
use crate::value::{self, text};
use crate::Ctx;

/// Largest template file `create` and `update` send, as garm-cli.
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;
const FORGES: [&str; 2] = ["github", "gitea"];
const OS_TYPES: [&str; 2] = ["linux", "windows"];

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Create a new template.
    #[command(visible_alias = "add")]
    Create(CreateArgs),
    /// Show template details.
    Show { template: String },
    /// List templates.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Update a template.
    Update(UpdateArgs),
    /// Delete a template.
    #[command(visible_aliases = ["remove", "rm"])]
    Delete { template: String },
    /// Create a new template from an existing one.
    #[command(visible_aliases = ["clone", "cp"])]
    Copy(CopyArgs),
    /// Edit a template in $EDITOR (falls back to vi).
    Edit(EditArgs),
    /// Download a template's text to a file.
    Download(DownloadArgs),
    /// Restore the built-in system templates (all, or one forge and OS type).
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "")]
    pub description: String,
    #[arg(long)]
    pub path: PathBuf,
    #[arg(long = "forge-type")]
    pub forge_type: String,
    #[arg(long = "os-type")]
    pub os_type: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Full or partial name to search by.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long = "forge-type")]
    pub forge_type: Option<String>,
    #[arg(long = "os-type")]
    pub os_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub template: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    pub source: String,
    pub new_name: String,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub template: String,
    /// Accepted for garm-cli compatibility: the template is always edited in $EDITOR.
    #[arg(long, default_value_t = false)]
    pub external: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    pub template: String,
    #[arg(long)]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[arg(long = "forge-type")]
    pub forge_type: Option<String>,
    #[arg(long = "os-type")]
    pub os_type: Option<String>,
}

/// `template …`.
pub fn template(ctx: &Ctx, cmd: TemplateCommand) -> anyhow::Result<()> {
    match cmd {
        TemplateCommand::Create(args) => create(ctx, args),
        TemplateCommand::Show { template } => {
            let t = get(ctx, &template)?;
            ctx.emit(&t, template_table);
            Ok(())
        }
        TemplateCommand::List(args) => list(ctx, args),
        TemplateCommand::Update(args) => update(ctx, args),
        TemplateCommand::Delete { template } => {
            let id = resolve(ctx, &template)?;
            ctx.client()?
                .delete(&format!("/templates/{id}"), &[])
                .context("failed to delete template")?;
            Ok(())
        }
        TemplateCommand::Copy(args) => copy(ctx, args),
        TemplateCommand::Edit(args) => edit(ctx, args),
        TemplateCommand::Download(args) => download(ctx, args),
        TemplateCommand::Restore(args) => restore(ctx, args),
    }
}

fn check_choice(what: &str, value: &str, allowed: &[&str]) -> anyhow::Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        anyhow::bail!("invalid {what}: {value:?} (supported: {})", allowed.join(", "))
    }
}

fn read_template(path: &PathBuf) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("failed to access {}", path.display()))?;
    if meta.len() > MAX_TEMPLATE_BYTES {
        anyhow::bail!("script is larger than 1 MB");
    }
    let data = std::fs::read(path).with_context(|| format!("failed to read template file {}", path.display()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(data))
}

/// A template's id from an id or an exact name (as garm-cli resolves it).
fn resolve(ctx: &Ctx, name_or_id: &str) -> anyhow::Result<u64> {
    if let Ok(id) = name_or_id.parse::<u64>() {
        return Ok(id);
    }
    let found = ctx
        .client()?
        .get_query("/templates", &[("partialName", name_or_id.to_owned())])?;
    let exact: Vec<&Value> = value::list(&found)
        .iter()
        .filter(|t| text(t, &["name"]) == name_or_id)
        .collect();
    match exact.as_slice() {
        [one] => one["id"].as_u64().context("template without an id"),
        [] => anyhow::bail!("no such template: {name_or_id}"),
        _ => anyhow::bail!("multiple templates found with name: {name_or_id}"),
    }
}

fn get(ctx: &Ctx, name_or_id: &str) -> anyhow::Result<Value> {
    let id = resolve(ctx, name_or_id)?;
    ctx.client()?
        .get(&format!("/templates/{id}"))
        .context("failed to get template")
}

/// The template's text, decoded.
fn data_of(t: &Value) -> anyhow::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text(t, &["data"]))
        .context("the template's data is not base64")
}

fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    check_choice("forge type", &args.forge_type, &FORGES)?;
    check_choice("OS type", &args.os_type, &OS_TYPES)?;
    let body = json!({
        "name": args.name,
        "description": args.description,
        "forge_type": args.forge_type,
        "os_type": args.os_type,
        "data": read_template(&args.path)?,
    });
    let created = ctx.client()?.post("/templates", &body)?;
    ctx.emit(&created, template_table);
    Ok(())
}

fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if let Some(name) = args.name {
        query.push(("partialName", name));
    }
    if let Some(os) = args.os_type {
        query.push(("osType", os));
    }
    if let Some(forge) = args.forge_type {
        query.push(("forgeType", forge));
    }
    let all = ctx
        .client()?
        .get_query("/templates", &query)
        .context("failed to list templates")?;
    ctx.emit(&all, templates_table);
    Ok(())
}

fn update(ctx: &Ctx, args: UpdateArgs) -> anyhow::Result<()> {
    let id = resolve(ctx, &args.template)?;
    let mut body = serde_json::Map::new();
    if let Some(name) = args.name {
        body.insert("name".into(), json!(name));
    }
    if let Some(description) = args.description {
        body.insert("description".into(), json!(description));
    }
    if let Some(path) = &args.path {
        body.insert("data".into(), json!(read_template(path)?));
    }
    let updated = ctx.client()?.put(&format!("/templates/{id}"), &Value::Object(body))?;
    ctx.emit(&updated, template_table);
    Ok(())
}

fn copy(ctx: &Ctx, args: CopyArgs) -> anyhow::Result<()> {
    let source = get(ctx, &args.source).context("failed to get source template")?;
    let body = json!({
        "name": args.new_name,
        "description": args.description.unwrap_or_else(|| text(&source, &["description"])),
        "forge_type": text(&source, &["forge_type"]),
        "os_type": text(&source, &["os_type"]),
        "data": text(&source, &["data"]),
    });
    let created = ctx
        .client()?
        .post("/templates", &body)
        .context("failed to create template")?;
    ctx.emit(&created, template_table);
    Ok(())
}

fn edit(ctx: &Ctx, args: EditArgs) -> anyhow::Result<()> {
    let t = get(ctx, &args.template).context("failed to get source template")?;
    let original = data_of(&t)?;
    let ext = if text(&t, &["os_type"]) == "windows" {
        "ps1"
    } else {
        "sh"
    };
    let path = std::env::temp_dir().join(format!("garm-template-{}.{ext}", std::process::id()));
    std::fs::write(&path, &original).context("failed to write temporary file")?;
    let editor = std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty());
    let editor = editor.unwrap_or_else(|| "vi".into());
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let status = std::process::Command::new(program).args(parts).arg(&path).status();
    let edited = std::fs::read(&path);
    std::fs::remove_file(&path).ok();
    let status = status.with_context(|| format!("editor {editor:?} failed"))?;
    if !status.success() {
        anyhow::bail!("editor {editor:?} failed: {status}");
    }
    let edited = edited.context("failed to read edited file")?;
    if edited == original {
        println!("no changes made");
        return Ok(());
    }
    let id = t["id"].as_u64().context("template without an id")?;
    let body = json!({"data": base64::engine::general_purpose::STANDARD.encode(&edited)});
    ctx.client()?.put(&format!("/templates/{id}"), &body)?;
    println!("changes saved successfully");
    Ok(())
}

fn download(ctx: &Ctx, args: DownloadArgs) -> anyhow::Result<()> {
    let t = get(ctx, &args.template)?;
    if args.path.exists() {
        anyhow::bail!("destination path already exists; will not overwrite");
    }
    let data = data_of(&t)?;
    std::fs::write(&args.path, data).with_context(|| format!("failed to save file {}", args.path.display()))?;
    Ok(())
}

fn restore(ctx: &Ctx, args: RestoreArgs) -> anyhow::Result<()> {
    let body = match (args.forge_type, args.os_type) {
        (Some(forge), Some(os)) => {
            check_choice("forge type", &forge, &FORGES)?;
            check_choice("OS type", &os, &OS_TYPES)?;
            json!({"forge": forge, "os_type": os})
        }
        (None, None) => json!({"restore_all": true}),
        _ => anyhow::bail!("both --forge-type and --os-type must be specified together"),
    };
    ctx.client()?
        .post("/templates/restore", &body)
        .context("failed to restore templates")?;
    println!("templates restored successfully");
    Ok(())
}

/// garm's single-template view.
pub fn template_table(t: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", value::cell(t, &["id"]));
    table.field("Created At", value::go_time(t, &["created_at"]));
    table.field("Updated At", value::go_time(t, &["updated_at"]));
    table.field("Name", text(t, &["name"]));
    table.field("Description", text(t, &["description"]));
    table.field("Owner", text(t, &["owner_id"]));
    table.field("Forge Type", text(t, &["forge_type"]));
    table.field("OS Type", text(t, &["os_type"]));
    table
}

/// garm's template list view.
pub fn templates_table(all: &Value) -> Table {
    let mut table = Table::list(&["ID", "Name", "Description", "Forge Type", "OS Type", "Owner"]);
    for t in value::list(all) {
        table.row(vec![
            value::cell(t, &["id"]),
            Cell::from(text(t, &["name"])),
            Cell::from(text(t, &["description"])),
            Cell::from(text(t, &["forge_type"])),
            Cell::from(text(t, &["os_type"])),
            Cell::from(text(t, &["owner_id"])),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_and_show_views_have_garms_columns() {
        let all = json!([{"id": 2, "name": "github_linux", "description": "Default Linux runner install template for GitHub", "forge_type": "github", "os_type": "linux", "owner_id": "system", "data": null}]);
        let out = templates_table(&all).render();
        assert!(out.contains("| ID | NAME"), "{out}");
        assert!(out.contains("| FORGE TYPE | OS TYPE | OWNER  |"), "{out}");
        assert!(out.contains("github_linux"));
        let one = template_table(&all[0]).render();
        for field in [
            "ID",
            "Created At",
            "Updated At",
            "Name",
            "Description",
            "Owner",
            "Forge Type",
            "OS Type",
        ] {
            assert!(one.contains(&format!("| {field}")), "{field} in {one}");
        }
    }
}
