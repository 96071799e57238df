//! `runner …` commands: listing, showing and deleting runners (garm instances).

use clap::{ArgGroup, Args, Subcommand};
use serde_json::Value;

use crate::entity::EntityArgs;
use crate::table::{Cell, Columns, Table};
use crate::value::{self, text};
use crate::Ctx;

#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// List runners of a pool or scale set, of an entity, or all of them.
    #[command(visible_alias = "ls")]
    List(RunnerListArgs),
    /// Show details for a runner.
    Show { name: String },
    /// Remove a runner.
    #[command(visible_aliases = ["remove", "rm", "del"])]
    Delete(RunnerDeleteArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["repo", "org", "enterprise", "all"])))]
pub struct RunnerListArgs {
    /// A pool UUID or a numeric scale set ID.
    pub pool_or_scale_set: Option<String>,
    #[command(flatten)]
    pub entity: EntityArgs,
    /// List all runners (the default; kept for compatibility).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Include additional info.
    #[arg(short = 'l', long)]
    pub long: bool,
}

#[derive(Debug, Args)]
pub struct RunnerDeleteArgs {
    pub name: String,
    /// Ignore provider errors when removing the runner.
    #[arg(short = 'f', long)]
    pub force_remove_runner: bool,
    /// Ignore Unauthorized errors from GitHub and remove the runner from the provider and database.
    #[arg(short = 'b', long)]
    pub bypass_github_unauthorized: bool,
}

/// `runner …`.
pub fn runner(ctx: &Ctx, cmd: RunnerCommand) -> anyhow::Result<()> {
    let client = ctx.client()?;
    match cmd {
        RunnerCommand::List(args) => {
            let path = match &args.pool_or_scale_set {
                Some(id) => {
                    if args.entity.selected().is_some() || args.all {
                        anyhow::bail!(
                            "specifying a pool ID and any of [all org repo enterprise] are mutually exclusive"
                        );
                    }
                    if id.parse::<u64>().is_ok() {
                        format!("/scalesets/{id}/instances")
                    } else {
                        format!("/pools/{id}/instances")
                    }
                }
                None => match args.entity.resolve(&client)? {
                    Some(owner) => format!("{owner}/instances"),
                    None => "/instances".to_string(),
                },
            };
            let runners = client.get(&path)?;
            ctx.emit(&runners, |r| {
                runners_table(r, Columns::from_flag(args.long), Origin::Shown)
            });
        }
        RunnerCommand::Show { name } => {
            let runner = client.get(&format!("/instances/{name}"))?;
            ctx.emit(&runner, runner_table);
        }
        RunnerCommand::Delete(args) => {
            let query = [
                ("forceRemove", args.force_remove_runner.to_string()),
                ("bypassGHUnauthorized", args.bypass_github_unauthorized.to_string()),
            ];
            client.delete(&format!("/instances/{}", args.name), &query)?;
        }
    }
    Ok(())
}

/// Where a runner comes from: `Pool: <uuid>` or `Scale Set: <id>`.
fn origin(runner: &Value) -> String {
    let pool = text(runner, &["pool_id"]);
    if !pool.is_empty() {
        return format!("Pool: {pool}");
    }
    match runner["scale_set_id"].as_u64() {
        Some(id) if id != 0 => format!("Scale Set: {id}"),
        _ => String::new(),
    }
}

/// Whether a runner list shows the Pool / Scale Set column (`runner ls` does, the lists of one
/// pool or scale set do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Shown,
    Hidden,
}

/// The `runner ls` view. `Columns::Long` adds the times and, as garm's does, always the job
/// columns, filled for runners that have a job.
pub fn runners_table(runners: &Value, columns: Columns, origin_column: Origin) -> Table {
    let runners = value::list(runners);
    let mut header = vec!["Nr", "Name", "Status", "Runner Status"];
    if origin_column == Origin::Shown {
        header.push("Pool / Scale Set");
    }
    if columns == Columns::Long {
        header.extend([
            "Created At",
            "Updated At",
            "Job Name",
            "Started At",
            "Run ID",
            "Repository",
        ]);
    }
    let mut table = Table::list(&header);
    for (n, r) in runners.iter().enumerate() {
        let mut row: Vec<Cell> = vec![
            Cell::num(n + 1),
            text(r, &["name"]).into(),
            text(r, &["status"]).into(),
            text(r, &["runner_status"]).into(),
        ];
        if origin_column == Origin::Shown {
            row.push(origin(r).into());
        }
        if columns == Columns::Long {
            row.push(value::go_time(r, &["created_at"]).into());
            row.push(value::go_time(r, &["updated_at"]).into());
            if r.get("job").is_some_and(|j| !j.is_null()) {
                let repo = format!(
                    "{}/{}",
                    text(r, &["job", "repository_owner"]),
                    text(r, &["job", "repository_name"])
                );
                row.push(text(r, &["job", "name"]).into());
                row.push(value::go_time(r, &["job", "started_at"]).into());
                row.push(value::cell(r, &["job", "run_id"]));
                row.push(repo.into());
            }
        }
        table.row(row);
    }
    table
}

/// The `runner show` view.
pub fn runner_table(r: &Value) -> Table {
    let mut table = Table::fields();
    table.field("ID", text(r, &["id"]));
    table.field("Created At", value::go_time(r, &["created_at"]));
    table.field("Updated At", value::go_time(r, &["updated_at"]));
    table.field("Provider ID", text(r, &["provider_id"]));
    table.field("Name", text(r, &["name"]));
    table.field("OS Type", text(r, &["os_type"]));
    table.field("OS Architecture", text(r, &["os_arch"]));
    table.field("OS Name", text(r, &["os_name"]));
    table.field("OS Version", text(r, &["os_version"]));
    table.field("Status", text(r, &["status"]));
    table.field("Runner Status", text(r, &["runner_status"]));
    let shell = value::flag(r, &["capabilities", "has_shell"]);
    table.field("Capabilities", format!("Shell: {shell}"));
    let pool = text(r, &["pool_id"]);
    if !pool.is_empty() {
        table.field("Pool ID", pool);
    } else if r["scale_set_id"].as_u64().unwrap_or(0) != 0 {
        table.field("Scale Set ID", value::cell(r, &["scale_set_id"]));
    }
    for address in value::items(r, &["addresses"]) {
        table.field("Addresses", text(address, &["address"]));
    }
    if let Some(fault) = value::bytes_text(r, &["provider_fault"]) {
        table.field("Provider Fault", fault);
    }
    // Ours: the attestation verdict of a confidential runner (docs/attestation.md).
    if r["attestation"].is_object() {
        let a = &r["attestation"];
        let verdict = if a["accepted"].as_bool() == Some(true) {
            "accepted".to_string()
        } else {
            format!("refused ({})", text(a, &["reason"]))
        };
        table.field("Attestation", verdict);
        table.field("Attestation Detail", text(a, &["detail"]));
        let facts = &a["facts"];
        if facts.is_object() {
            table.field(
                "Attested Platform",
                format!(
                    "SEV-SNP {} VMPL {} TCB {}/{}/{}/{}",
                    text(facts, &["product"]),
                    text(facts, &["vmpl"]),
                    text(facts, &["reported_tcb", "bootloader"]),
                    text(facts, &["reported_tcb", "tee"]),
                    text(facts, &["reported_tcb", "snp"]),
                    text(facts, &["reported_tcb", "microcode"]),
                ),
            );
            table.field("Measurement", text(facts, &["measurement"]));
        }
    }
    for message in value::items(r, &["status_messages"]) {
        let line = format!(
            "{}: {}",
            value::short_time(message, &["created_at"]),
            text(message, &["message"])
        );
        table.field("Status Updates", line);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runner_list_numbers_rows_and_names_the_pool_or_scale_set() {
        let runners = json!([
            {"name": "garm-a", "status": "running", "runner_status": "idle", "pool_id": "p1"},
            {"name": "garm-b", "status": "creating", "runner_status": "pending", "scale_set_id": 7},
        ]);
        let rendered = runners_table(&runners, Columns::Short, Origin::Shown).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(
            lines[1],
            "| NR | NAME   | STATUS   | RUNNER STATUS | POOL / SCALE SET |"
        );
        assert_eq!(
            lines[3],
            "|  1 | garm-a | running  | idle          | Pool: p1         |"
        );
        assert_eq!(
            lines[5],
            "|  2 | garm-b | creating | pending       | Scale Set: 7     |"
        );
        let without = runners_table(&runners, Columns::Short, Origin::Hidden).render();
        assert!(!without.contains("POOL / SCALE SET"));
    }

    #[test]
    fn long_runner_list_has_garms_columns_and_fills_the_job_ones_for_busy_runners() {
        let runners = json!([
            {"name": "a", "pool_id": "p", "created_at": "2026-07-01T10:00:00.1234Z", "updated_at": "2026-07-01T10:05:00Z"},
            {"name": "b", "pool_id": "p", "created_at": "2026-07-01T11:00:00Z", "updated_at": "2026-07-01T11:00:00Z",
             "job": {"name": "build", "run_id": 42, "started_at": "2026-07-01T11:01:02.5Z",
                     "repository_owner": "o", "repository_name": "r"}},
        ]);
        let rendered = runners_table(&runners, Columns::Long, Origin::Shown).render();
        let lines: Vec<&str> = rendered.lines().collect();
        let header: Vec<&str> = lines[1].split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(
            header,
            [
                "NR",
                "NAME",
                "STATUS",
                "RUNNER STATUS",
                "POOL / SCALE SET",
                "CREATED AT",
                "UPDATED AT",
                "JOB NAME",
                "STARTED AT",
                "RUN ID",
                "REPOSITORY"
            ]
        );
        let cells = |line: &str| -> Vec<String> { line.split('|').map(|c| c.trim().to_owned()).collect() };
        let idle = cells(lines[3]);
        assert_eq!(idle[6], "2026-07-01 10:00:00.1234 +0000 UTC");
        assert_eq!(idle[7], "2026-07-01 10:05:00 +0000 UTC");
        assert!(idle[8..12].iter().all(String::is_empty), "{rendered}");
        let busy = cells(lines[5]);
        assert_eq!(
            busy[8..12],
            ["build", "2026-07-01 11:01:02.5 +0000 UTC", "42", "o/r"],
            "{rendered}"
        );
        // Without --long none of them.
        assert!(!runners_table(&runners, Columns::Short, Origin::Shown)
            .render()
            .contains("CREATED AT"));
    }

    #[test]
    fn runner_show_tells_the_attestation_verdict() {
        let accepted = json!({"name": "garm-a", "attestation": {
            "accepted": true, "reason": "accepted", "detail": "genuine", "verified_at": 1,
            "facts": {"product": "Milan", "vmpl": 0, "measurement": "ab12",
                      "reported_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}}});
        let rendered = runner_table(&accepted).render();
        assert!(rendered.contains("| Attestation        | accepted "), "{rendered}");
        assert!(rendered.contains("SEV-SNP Milan VMPL 0 TCB 3/0/8/115"), "{rendered}");
        assert!(rendered.contains("| Measurement        | ab12 "), "{rendered}");
        let refused = json!({"name": "garm-b", "attestation": {
            "accepted": false, "reason": "nonce_mismatch", "detail": "the quote does not answer the nonce garm issued"}});
        let rendered = runner_table(&refused).render();
        assert!(rendered.contains("refused (nonce_mismatch)"), "{rendered}");
        assert!(!runner_table(&json!({"name": "c"})).render().contains("Attestation"));
    }

    #[test]
    fn runner_show_decodes_provider_fault_and_lists_status_updates() {
        let runner = json!({
            "name": "garm-a", "pool_id": "p1", "provider_fault": "Ym9vbQ==",
            "capabilities": {"has_shell": true},
            "addresses": [{"address": "10.0.0.4", "type": "private"}],
            "status_messages": [{"created_at": "2026-07-01T10:00:00Z", "message": "installing"}],
        });
        let rendered = runner_table(&runner).render();
        assert!(rendered.contains("| Provider Fault  | boom "));
        assert!(rendered.contains("| Capabilities    | Shell: true "));
        assert!(rendered.contains("| Addresses       | 10.0.0.4 "));
        assert!(rendered.contains("| Status Updates  | 2026-07-01T10:00:00: installing |"));
        assert!(rendered.contains("| Pool ID         | p1 "));
    }
}
