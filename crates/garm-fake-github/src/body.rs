//! REST response bodies, each built from the OpenAPI example of its schema with our values.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::{AppSpec, RUNNER_VERSION};
use crate::fixtures::{node_id, set, Rewriter};
use crate::model::{Delivery, Hook, Installation, Job, Org, Repo, Runner, RunnerGroup, Scope};
use crate::payload::{hook_object, timestamp, workflow_job_object};
use crate::world::World;

pub(crate) fn runner(w: &World, runner: &Runner) -> Value {
    let mut value = w.fx.example("runner");
    let fields = [
        ("id", json!(runner.id)),
        ("runner_group_id", json!(runner.group_id)),
        ("name", json!(runner.name)),
        ("os", json!(runner.os)),
        ("status", json!(runner.status)),
        ("busy", json!(runner.busy)),
        ("ephemeral", json!(runner.ephemeral)),
        ("version", json!(runner.version)),
        ("labels", json!(runner.labels)),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

pub(crate) fn authentication_token(w: &World, token: &str, expires_at: DateTime<Utc>) -> Value {
    let mut value = w.fx.example("authentication-token");
    set(&mut value, "token", json!(token));
    set(
        &mut value,
        "expires_at",
        json!(expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)),
    );
    value
}

/// The runner archive's file name for an architecture.
pub(crate) fn archive_name(arch: &str) -> String {
    format!("actions-runner-linux-{arch}-{RUNNER_VERSION}.tar.gz")
}

/// The downloads list: linux x64 and arm64, both served by the fake.
pub(crate) fn downloads(w: &World, sha256: &str) -> Value {
    let template = w.fx.example("runner-application-items")[0].clone();
    let entries: Vec<Value> = ["x64", "arm64"]
        .iter()
        .map(|arch| {
            let mut value = template.clone();
            let name = archive_name(arch);
            set(&mut value, "os", json!("linux"));
            set(&mut value, "architecture", json!(arch));
            set(
                &mut value,
                "download_url",
                json!(format!("{}/_fake/runner-archive/{name}", w.urls.web)),
            );
            set(&mut value, "filename", json!(name));
            set(&mut value, "sha256_checksum", json!(sha256));
            value
        })
        .collect();
    Value::Array(entries)
}

pub(crate) fn runner_group(w: &World, group: &RunnerGroup) -> Value {
    let base = format!(
        "{}{}/actions/runner-groups/{}",
        w.urls.api,
        group.scope.api_path(),
        group.id
    );
    let mut value = match group.scope {
        Scope::Enterprise { .. } => w.fx.example("runner-group-enterprise"),
        _ => w.fx.example("runner-groups-org")["runner_groups"][0].clone(),
    };
    let fields = [
        ("id", json!(group.id)),
        ("name", json!(group.name)),
        ("visibility", json!(group.visibility)),
        ("default", json!(group.default)),
        ("runners_url", json!(format!("{base}/runners"))),
        ("allows_public_repositories", json!(true)),
        ("restricted_to_workflows", json!(false)),
        ("selected_workflows", json!([])),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    if let Some(map) = value.as_object_mut() {
        map.remove("network_configuration_id");
        map.remove("hosted_runners_url");
        map.remove("selected_repositories_url");
        map.remove("selected_organizations_url");
        if !matches!(group.scope, Scope::Enterprise { .. }) {
            map.insert("inherited".to_owned(), json!(false));
        }
    }
    if group.visibility == "selected" {
        let (key, tail) = match group.scope {
            Scope::Enterprise { .. } => ("selected_organizations_url", "organizations"),
            _ => ("selected_repositories_url", "repositories"),
        };
        set(&mut value, key, json!(format!("{base}/{tail}")));
    }
    value
}

pub(crate) fn hook(w: &World, hook: &Hook) -> Value {
    let template = match hook.scope {
        Scope::Repo { .. } => w.fx.example("hook"),
        _ => w.fx.example("org-hook"),
    };
    hook_object(w, &template, hook)
}

pub(crate) fn delivery_item(w: &World, delivery: &Delivery) -> Value {
    let mut value = w.fx.example("hook-delivery-items")[0].clone();
    let fields = [
        ("id", json!(delivery.id)),
        ("guid", json!(delivery.guid)),
        ("delivered_at", json!(timestamp(delivery.delivered_at))),
        ("redelivery", json!(delivery.redelivery)),
        ("duration", json!(delivery.duration_secs)),
        ("status", json!(delivery.status)),
        ("status_code", json!(delivery.status_code)),
        ("event", json!(delivery.event)),
        ("action", json!(delivery.action)),
        ("installation_id", Value::Null),
        ("repository_id", json!(delivery.repository_id)),
        ("throttled_at", Value::Null),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

pub(crate) fn job(w: &World, job: &Job) -> Value {
    let template = w.fx.example("job");
    let mut value = workflow_job_object(w, &template, job, job.status.as_str());
    // The REST job has no `created_at` in the example but does in the schema; keep both forms.
    set(&mut value, "created_at", json!(timestamp(job.created_at)));
    value
}

fn account_object(w: &World, template: &Value, login: &str, id: u64, kind: &str) -> Value {
    let mut value = template.clone();
    let from = template["login"].as_str().unwrap_or("octocat").to_owned();
    Rewriter::account(&w.urls, &from, login).apply(&mut value);
    set(&mut value, "login", json!(login));
    set(&mut value, "id", json!(id));
    set(&mut value, "node_id", json!(node_id(kind, id)));
    set(&mut value, "type", json!(kind));
    value
}

pub(crate) fn integration(w: &World, app: &AppSpec) -> Value {
    let mut value = w.fx.example("integration");
    let slug = app.slug.clone().unwrap_or_else(|| format!("fake-app-{}", app.id));
    let owner = account_object(w, &value["owner"], "fake-admin", 1, "User");
    Rewriter::new(&w.urls).apply(&mut value);
    let fields = [
        ("id", json!(app.id)),
        ("slug", json!(slug)),
        ("client_id", json!(client_id(app))),
        ("node_id", json!(node_id("Integration", app.id))),
        ("owner", owner),
        ("name", json!(slug)),
        ("html_url", json!(format!("{}/apps/{slug}", w.urls.web))),
        (
            "permissions",
            json!({"administration": "write", "metadata": "read", "organization_self_hosted_runners": "write", "organization_hooks": "write", "actions": "read"}),
        ),
        ("events", json!(["workflow_job"])),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

pub(crate) fn client_id(app: &AppSpec) -> String {
    app.client_id
        .clone()
        .unwrap_or_else(|| format!("Iv1.fake{:08}", app.id))
}

pub(crate) fn installation(w: &World, inst: &Installation) -> Value {
    let mut value = w.fx.example("installation");
    let (account_id, kind) = match inst.target_type.as_str() {
        "Organization" => (w.org(&inst.account).map(|o| o.id).unwrap_or(0), "Organization"),
        "Enterprise" => (w.enterprise(&inst.account).map(|e| e.id).unwrap_or(0), "Enterprise"),
        _ => (
            w.users
                .get(&inst.account.to_lowercase())
                .map(|(_, id)| *id)
                .unwrap_or(0),
            "User",
        ),
    };
    let account = account_object(w, &value["account"], &inst.account, account_id, kind);
    Rewriter::new(&w.urls).apply(&mut value);
    let app = w.apps.get(&inst.app_id);
    let fields = [
        ("id", json!(inst.id)),
        ("account", account),
        (
            "repository_selection",
            json!(if inst.repositories.is_some() { "selected" } else { "all" }),
        ),
        (
            "access_tokens_url",
            json!(format!("{}/app/installations/{}/access_tokens", w.urls.api, inst.id)),
        ),
        ("app_id", json!(inst.app_id)),
        ("client_id", json!(app.map(client_id).unwrap_or_default())),
        ("target_id", json!(account_id)),
        ("target_type", json!(inst.target_type)),
        ("permissions", json!(inst.permissions)),
        ("events", json!(["workflow_job"])),
        ("created_at", json!(timestamp(inst.created_at))),
        ("updated_at", json!(timestamp(inst.created_at))),
        (
            "app_slug",
            json!(app
                .and_then(|a| a.slug.clone())
                .unwrap_or_else(|| format!("fake-app-{}", inst.app_id))),
        ),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

pub(crate) fn installation_token(w: &World, inst: &Installation, token: &str, expires_at: DateTime<Utc>) -> Value {
    let mut value = w.fx.example("installation-token");
    set(&mut value, "token", json!(token));
    set(&mut value, "expires_at", json!(timestamp(expires_at)));
    set(&mut value, "permissions", json!(inst.permissions));
    match &inst.repositories {
        None => {
            set(&mut value, "repository_selection", json!("all"));
            if let Some(map) = value.as_object_mut() {
                map.remove("repositories");
            }
        }
        Some(names) => {
            set(&mut value, "repository_selection", json!("selected"));
            let template = value["repositories"][0].clone();
            let repos: Vec<Value> = names
                .iter()
                .filter_map(|full| {
                    let (owner, name) = full.split_once('/')?;
                    Some(full_repository_from(w, &template, w.repo(owner, name)?))
                })
                .collect();
            set(&mut value, "repositories", json!(repos));
        }
    }
    value
}

fn full_repository_from(w: &World, template: &Value, repo: &Repo) -> Value {
    let mut value = crate::payload::repository(w, template, repo);
    if let Some(map) = value.as_object_mut() {
        map.remove("parent");
        map.remove("source");
        map.remove("template_repository");
        map.insert("fork".to_owned(), json!(false));
        map.insert(
            "permissions".to_owned(),
            json!({"admin": true, "maintain": true, "push": true, "triage": true, "pull": true}),
        );
    }
    value
}

pub(crate) fn full_repository(w: &World, repo: &Repo) -> Value {
    let template = w.fx.example("full-repository-default-response");
    let mut value = full_repository_from(w, &template, repo);
    match w.org(&repo.owner).filter(|_| repo.owner_is_org) {
        Some(org) => {
            let org_value = account_object(w, &template["organization"], &org.login, org.id, "Organization");
            set(&mut value, "organization", org_value);
        }
        None => {
            if let Some(map) = value.as_object_mut() {
                map.remove("organization");
            }
        }
    }
    value
}

pub(crate) fn organization_full(w: &World, org: &Org) -> Value {
    let mut value = w.fx.example("organization-full");
    let from = value["login"].as_str().unwrap_or("github").to_owned();
    Rewriter::account(&w.urls, &from, &org.login).apply(&mut value);
    let repos = w.repos.values().filter(|r| r.owner.eq_ignore_ascii_case(&org.login));
    let (private, public) = repos.fold((0, 0), |(p, q), r| if r.private { (p + 1, q) } else { (p, q + 1) });
    let fields = [
        ("login", json!(org.login)),
        ("id", json!(org.id)),
        ("node_id", json!(node_id("Organization", org.id))),
        ("name", json!(org.login)),
        ("html_url", json!(format!("{}/{}", w.urls.web, org.login))),
        ("public_repos", json!(public)),
        ("total_private_repos", json!(private)),
        ("owned_private_repos", json!(private)),
    ];
    for (key, new) in fields {
        set(&mut value, key, new);
    }
    value
}

/// `GET /rate_limit`: every bucket of the example, with `core` (and `rate`) from our counters.
pub(crate) fn rate_limit(w: &World, limit: u32, used: u32, reset: i64) -> Value {
    let mut value = w.fx.example("rate-limit-overview");
    let core = json!({
        "limit": limit,
        "used": used,
        "remaining": limit.saturating_sub(used),
        "reset": reset,
    });
    if let Some(resources) = value.get_mut("resources").and_then(Value::as_object_mut) {
        for (name, bucket) in resources.iter_mut() {
            if name == "core" {
                *bucket = core.clone();
            } else {
                set(bucket, "reset", json!(reset));
            }
        }
    }
    set(&mut value, "rate", core);
    value
}

/// The runner version the fake reports for runners that have not said otherwise.
pub(crate) fn default_version() -> String {
    RUNNER_VERSION.to_owned()
}
