//! Webhook payloads (`workflow_job`, `ping`) built from the published examples with our values.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::fixtures::{node_id, set, Rewriter};
use crate::model::{Hook, Job, Org, Repo, Scope};
use crate::world::World;

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn optional_timestamp(at: Option<DateTime<Utc>>) -> Value {
    at.map(|at| Value::String(timestamp(at))).unwrap_or(Value::Null)
}

/// A webhook `repository` object for `repo`, from a template repository object.
pub(crate) fn repository(w: &World, template: &Value, repo: &Repo) -> Value {
    let mut value = template.clone();
    let from_full = template["full_name"].as_str().unwrap_or("octocat/Hello-World");
    let from_owner = template["owner"]["login"].as_str().unwrap_or("octocat");
    if let Some(owner) = value.get_mut("owner") {
        Rewriter::account(&w.urls, from_owner, &repo.owner).apply(owner);
        set(owner, "login", json!(repo.owner));
        set(owner, "id", json!(repo.owner_id));
        let kind = if repo.owner_is_org { "Organization" } else { "User" };
        set(owner, "node_id", json!(node_id(kind, repo.owner_id)));
        set(owner, "type", json!(kind));
    }
    Rewriter::repo(&w.urls, from_full, &repo.full_name()).apply(&mut value);
    set(&mut value, "id", json!(repo.id));
    set(&mut value, "node_id", json!(node_id("Repository", repo.id)));
    set(&mut value, "name", json!(repo.name));
    set(&mut value, "full_name", json!(repo.full_name()));
    set(&mut value, "private", json!(repo.private));
    if value.get("visibility").is_some() {
        let visibility = if repo.private { "private" } else { "public" };
        set(&mut value, "visibility", json!(visibility));
    }
    value
}

/// A webhook `organization` object for `org`.
pub(crate) fn organization(w: &World, org: &Org) -> Value {
    let mut value = w.fx.webhook_org.clone();
    let from = value["login"].as_str().unwrap_or("github").to_owned();
    Rewriter::account(&w.urls, &from, &org.login).apply(&mut value);
    set(&mut value, "login", json!(org.login));
    set(&mut value, "id", json!(org.id));
    set(&mut value, "node_id", json!(node_id("Organization", org.id)));
    value
}

fn step(template: &Value, number: u64, name: &str, status: &str, conclusion: Value, job: &Job) -> Value {
    let mut value = template.clone();
    set(&mut value, "name", json!(name));
    set(&mut value, "number", json!(number));
    set(&mut value, "status", json!(status));
    set(&mut value, "conclusion", conclusion);
    set(&mut value, "started_at", optional_timestamp(job.started_at));
    let completed = if status == "completed" {
        optional_timestamp(job.completed_at)
    } else {
        Value::Null
    };
    set(&mut value, "completed_at", completed);
    value
}

fn steps(w: &World, job: &Job, action: &str) -> Value {
    let template = &w.fx.job_completed["workflow_job"]["steps"][0];
    match action {
        _ if job.runner_id.is_none() => json!([]),
        "in_progress" => json!([step(template, 1, "Set up job", "in_progress", Value::Null, job)]),
        "completed" => {
            let conclusion = job.conclusion.as_deref().unwrap_or("success");
            let work = match conclusion {
                "success" | "failure" | "cancelled" | "skipped" => conclusion,
                _ => "failure",
            };
            json!([
                step(template, 1, "Set up job", "completed", json!("success"), job),
                step(template, 2, "Run fake workload", "completed", json!(work), job),
                step(template, 3, "Complete job", "completed", json!("success"), job),
            ])
        }
        _ => json!([]),
    }
}

/// The `workflow_job` object shared by webhooks and the REST job endpoint.
pub(crate) fn workflow_job_object(w: &World, template: &Value, job: &Job, action: &str) -> Value {
    let full = format!("{}/{}", job.owner, job.repo);
    let (api, web) = (&w.urls.api, &w.urls.web);
    let mut value = template.clone();
    Rewriter::new(&w.urls).apply(&mut value);
    let fields = [
        ("id", json!(job.id)),
        ("run_id", json!(job.run_id)),
        (
            "run_url",
            json!(format!("{api}/repos/{full}/actions/runs/{}", job.run_id)),
        ),
        ("run_attempt", json!(1)),
        ("node_id", json!(node_id("WorkflowJob", job.id))),
        ("head_sha", json!(job.head_sha)),
        ("head_branch", json!("main")),
        ("url", json!(format!("{api}/repos/{full}/actions/jobs/{}", job.id))),
        (
            "html_url",
            json!(format!("{web}/{full}/actions/runs/{}/job/{}", job.run_id, job.id)),
        ),
        ("status", json!(job.status.as_str())),
        ("conclusion", json!(job.conclusion)),
        ("created_at", json!(timestamp(job.created_at))),
        ("started_at", json!(timestamp(job.started_at.unwrap_or(job.created_at)))),
        ("completed_at", optional_timestamp(job.completed_at)),
        ("name", json!(job.name)),
        ("steps", steps(w, job, action)),
        (
            "check_run_url",
            json!(format!("{api}/repos/{full}/check-runs/{}", job.id)),
        ),
        ("labels", json!(job.labels)),
        ("runner_id", json!(job.runner_id)),
        ("runner_name", json!(job.runner_name)),
        ("runner_group_id", json!(job.runner_group_id)),
        ("runner_group_name", json!(job.runner_group_name)),
        ("workflow_name", json!(job.workflow_name)),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

/// A `workflow_job` webhook payload for `action` (`queued`, `in_progress`, `completed`).
pub(crate) fn workflow_job(w: &World, job: &Job, action: &str) -> Option<Value> {
    let repo = w.repo(&job.owner, &job.repo)?;
    let template = match action {
        "queued" => &w.fx.job_queued,
        "in_progress" => &w.fx.job_in_progress,
        _ => &w.fx.job_completed,
    };
    let mut payload = template.clone();
    let map = payload.as_object_mut()?;
    // Repository and organization hooks carry neither `installation` (App deliveries only)
    // nor the `deployment` of an environment-gated example.
    for key in ["installation", "deployment", "enterprise"] {
        map.remove(key);
    }
    map.insert("action".to_owned(), json!(action));
    let job_object = workflow_job_object(w, &template["workflow_job"], job, action);
    map.insert("workflow_job".to_owned(), job_object);
    map.insert("repository".to_owned(), repository(w, &template["repository"], repo));
    match w.org(&repo.owner).filter(|_| repo.owner_is_org) {
        Some(org) => {
            map.insert("organization".to_owned(), organization(w, org));
        }
        None => {
            map.remove("organization");
        }
    }
    if let Some(sender) = map.get_mut("sender") {
        Rewriter::new(&w.urls).apply(sender);
    }
    Some(payload)
}

/// The hook object as GitHub shows it (REST and `ping`), from a template hook object.
pub(crate) fn hook_object(w: &World, template: &Value, hook: &Hook) -> Value {
    let mut value = template.clone();
    let base = format!("{}{}/hooks/{}", w.urls.api, hook.scope.api_path(), hook.id);
    let kind = match hook.scope {
        Scope::Repo { .. } => "Repository",
        Scope::Org { .. } => "Organization",
        Scope::Enterprise { .. } => "Business",
    };
    let mut config = json!({
        "content_type": hook.content_type,
        "insecure_ssl": hook.insecure_ssl,
        "url": hook.url,
    });
    if hook.secret.is_some() {
        set(&mut config, "secret", json!("********"));
    }
    let fields = [
        ("type", json!(kind)),
        ("id", json!(hook.id)),
        ("name", json!("web")),
        ("active", json!(hook.active)),
        ("events", json!(hook.events)),
        ("config", config),
        ("updated_at", json!(timestamp(hook.updated_at))),
        ("created_at", json!(timestamp(hook.created_at))),
        ("url", json!(base)),
        ("ping_url", json!(format!("{base}/pings"))),
        ("deliveries_url", json!(format!("{base}/deliveries"))),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    if matches!(hook.scope, Scope::Repo { .. }) {
        set(&mut value, "test_url", json!(format!("{base}/test")));
        set(
            &mut value,
            "last_response",
            json!({
                "code": hook.last_response_code,
                "status": hook.last_response_status,
                "message": hook.last_response_message,
            }),
        );
    } else if let Some(map) = value.as_object_mut() {
        map.remove("test_url");
    }
    value
}

const ZEN: &[&str] = &[
    "Anything added dilutes everything else.",
    "Keep it logically awesome.",
    "Design for failure.",
    "Practicality beats purity.",
    "Non-blocking is better than blocking.",
];

/// The `ping` payload GitHub sends when a hook is created or pinged.
pub(crate) fn ping(w: &World, hook: &Hook) -> Value {
    let template = match hook.scope {
        Scope::Repo { .. } => &w.fx.ping_repo,
        _ => &w.fx.ping_org,
    };
    let mut payload = template.clone();
    let zen = ZEN[(hook.id as usize) % ZEN.len()];
    set(&mut payload, "zen", json!(zen));
    set(&mut payload, "hook_id", json!(hook.id));
    let hook_value = hook_object(w, &template["hook"], hook);
    set(&mut payload, "hook", hook_value);
    match &hook.scope {
        Scope::Repo { owner, repo } => {
            if let Some(repo) = w.repo(owner, repo) {
                let value = repository(w, &template["repository"], repo);
                set(&mut payload, "repository", value);
            }
        }
        Scope::Org { org } => {
            if let Some(org) = w.org(org) {
                let value = organization(w, org);
                set(&mut payload, "organization", value);
            }
        }
        Scope::Enterprise { .. } => {}
    }
    if let Some(sender) = payload.get_mut("sender") {
        Rewriter::new(&w.urls).apply(sender);
    }
    payload
}
