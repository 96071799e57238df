//! `job list`: the workflow jobs garm has recorded.

use clap::Subcommand;
use serde_json::Value;

use crate::table::Table;
use crate::value::{self, text};
use crate::Ctx;

/// `locked_by` of a job nobody holds.
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List all jobs currently recorded in the system.
    #[command(visible_alias = "ls")]
    List,
}

/// `job …`.
pub fn job(ctx: &Ctx, cmd: JobCommand) -> anyhow::Result<()> {
    let JobCommand::List = cmd;
    let jobs = ctx.client()?.get("/jobs")?;
    ctx.emit(&jobs, jobs_table);
    Ok(())
}

/// The `job list` view, plus a `Reason` column when any job says why it matched no pool.
pub fn jobs_table(jobs: &Value) -> Table {
    let jobs = value::list(jobs);
    let with_reason = jobs.iter().any(|j| !text(j, &["reason"]).is_empty());
    let mut header = vec![
        "Workflow Job ID",
        "Name",
        "Status",
        "Conclusion",
        "Runner Name",
        "Repository",
        "Requested Labels",
        "Locked by",
        "Workflow job run URL",
    ];
    if with_reason {
        header.push("Reason");
    }
    let mut table = Table::list(&header);
    for j in jobs {
        let mut locked_by = text(j, &["locked_by"]);
        if locked_by == NIL_UUID {
            locked_by.clear();
        }
        let repository = format!("{}/{}", text(j, &["repository_owner"]), text(j, &["repository_name"]));
        let labels: Vec<String> = value::items(j, &["labels"]).iter().map(|l| text(l, &[])).collect();
        let mut row = vec![
            value::cell(j, &["workflow_job_id"]),
            text(j, &["name"]).into(),
            text(j, &["status"]).into(),
            text(j, &["conclusion"]).into(),
            text(j, &["runner_name"]).into(),
            repository.into(),
            labels.join(" ").into(),
            locked_by.into(),
            text(j, &["workflow_run_url"]).into(),
        ];
        if with_reason {
            row.push(text(j, &["reason"]).into());
        }
        table.row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(reason: Option<&str>) -> Value {
        let mut job = json!({
            "id": 3, "workflow_job_id": 123456, "name": "build", "status": "queued",
            "repository_owner": "mkulke", "repository_name": "garm-playground",
            "labels": ["self-hosted", "azure-cvm"], "locked_by": NIL_UUID,
            "workflow_run_url": "https://github.com/mkulke/garm-playground/actions/runs/9",
        });
        if let Some(reason) = reason {
            job["reason"] = json!(reason);
        }
        job
    }

    #[test]
    fn job_list_has_garm_columns_and_hides_the_nil_lock() {
        let rendered = jobs_table(&json!([job(None)])).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert!(lines[1].starts_with("| WORKFLOW JOB ID | NAME  | STATUS | CONCLUSION | RUNNER NAME | REPOSITORY"));
        let url_column = format!("| LOCKED BY | WORKFLOW JOB RUN URL{} |", " ".repeat(36));
        assert!(lines[1].ends_with(&url_column), "{}", lines[1]);
        assert!(
            lines[3].starts_with("|          123456 | build | queued |"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains("| mkulke/garm-playground | self-hosted azure-cvm |           |"));
        assert!(!rendered.contains("REASON"));
    }

    #[test]
    fn reason_column_appears_when_any_job_has_one() {
        let rendered = jobs_table(&json!([job(None), job(Some("no pool matches labels"))])).render();
        assert!(rendered.lines().nth(1).unwrap().ends_with("| REASON                 |"));
        assert!(rendered.contains("| no pool matches labels |"));
    }
}
