//! garm's pools, instances and jobs as garm-rs records, and the kinds garm-rs has no place for.

use crate::convert::Taken;
use crate::read::{Col, Reader};
use crate::ImportError;
use garm_model::{InstanceStatus, RunnerStatus, Secret};
use garm_store::*;
use std::collections::{HashMap, HashSet};

/// Carried pool ids, and instance id → name (jobs name their runner's instance).
#[derive(Default)]
pub(crate) struct Runners {
    pools: HashSet<String>,
    instances: HashMap<String, String>,
}

/// garm's runner install templates. GitHub ones are carried with their ids (pools refer to
/// them): garm's built-in ones get garm-rs's built-in text for their OS, the operators' ones
/// their own text. Returns id → (name, carried).
async fn templates(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<HashMap<i64, (String, bool)>, ImportError> {
    let cols = [
        Col::Int("id"),
        Col::Text("name"),
        Col::Text("user_id"),
        Col::Text("description"),
        Col::Text("os_type"),
        Col::Text("forge_type"),
        Col::Bytes("data"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    let mut out = HashMap::new();
    for row in r.rows("templates", &cols, "id").await? {
        let id = row.int("id")?;
        let name = row.text("name")?;
        let forge_type = row.text("forge_type")?;
        let os_type = row.text("os_type")?;
        if forge_type != "github" {
            t.report.skip(
                "template",
                &name,
                format!("{forge_type} templates are not supported by garm-rs"),
            );
            out.insert(id, (name, false));
            continue;
        }
        let owner = row.opt_text("user_id")?.filter(|u| !u.is_empty());
        let data = match (&owner, garm_template::system_template("github", &os_type)) {
            (None, Some(builtin)) => builtin.to_string(),
            _ => template_text(t, &name, &row.bytes("data")?.unwrap_or_default())?,
        };
        t.report.carry("templates", name.clone());
        t.set.templates.push(TemplateRecord {
            id,
            name: name.clone(),
            description: row.text("description")?,
            os_type,
            forge_type,
            owner_id: owner.unwrap_or_else(|| TemplateRecord::SYSTEM.to_string()),
            data,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        });
        out.insert(id, (name, true));
    }
    Ok(out)
}

/// A template's body: garm seals a JSON string holding the base64 of the text.
fn template_text(t: &mut Taken<'_>, name: &str, sealed: &[u8]) -> Result<String, ImportError> {
    use base64::Engine;
    let plain = t.unseal(|| format!("template {name}"), sealed)?;
    serde_json::from_slice::<String>(&plain)
        .ok()
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ImportError::Corrupt {
            what: format!("the text of template {name} is not garm's base64 JSON string"),
        })
}

/// garm's named proxies, ids kept; the sealed credentials are garm's JSON
/// `{"username", "password"}`. Returns the ids carried.
async fn proxies(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<HashSet<i64>, ImportError> {
    #[derive(serde::Deserialize, Default)]
    struct Credentials {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    }
    let cols = [
        Col::Int("id"),
        Col::Text("name"),
        Col::Text("description"),
        Col::Text("http_proxy"),
        Col::Text("https_proxy"),
        Col::Text("no_proxy"),
        Col::Bytes("credentials"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    let mut carried = HashSet::new();
    for row in r.rows("proxies", &cols, "id").await? {
        let id = row.int("id")?;
        let name = row.text("name")?;
        let sealed = row.bytes("credentials")?.unwrap_or_default();
        let creds = if sealed.is_empty() {
            Credentials::default()
        } else {
            let plain = t.unseal(|| format!("proxy {name} credentials"), &sealed)?;
            serde_json::from_slice(&plain).map_err(|_| ImportError::Corrupt {
                what: format!("the credentials of proxy {name} are not garm's JSON"),
            })?
        };
        t.report.carry("proxies", name.clone());
        t.set.proxies.push(ProxyRecord {
            id,
            name,
            description: row.opt_text("description")?.unwrap_or_default(),
            http_proxy: row.opt_text("http_proxy")?.unwrap_or_default(),
            https_proxy: row.opt_text("https_proxy")?.unwrap_or_default(),
            no_proxy: row.opt_text("no_proxy")?.unwrap_or_default(),
            username: creds.username,
            password: (!creds.password.is_empty()).then(|| garm_model::Secret::new(creds.password)),
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        });
        carried.insert(id);
    }
    Ok(carried)
}

pub(crate) async fn pools(r: &mut Reader<'_>, t: &mut Taken<'_>, seen: &mut Runners) -> Result<(), ImportError> {
    let templates = templates(r, t).await?;
    let proxies = proxies(r, t).await?;
    let tags = r.tags_of("pool_tags", "pool_id").await?;
    let cols = [
        Col::Text("id"),
        Col::Text("provider_name"),
        Col::Text("runner_prefix"),
        Col::Int("max_runners"),
        Col::Int("min_idle_runners"),
        Col::Int("runner_bootstrap_timeout"),
        Col::Text("image"),
        Col::Text("flavor"),
        Col::Text("os_type"),
        Col::Text("os_arch"),
        Col::Flag("enabled"),
        Col::Text("extra_specs"),
        Col::Text("git_hub_runner_group"),
        Col::Flag("enable_shell"),
        Col::Int("generation"),
        Col::Text("repo_id"),
        Col::Text("org_id"),
        Col::Text("enterprise_id"),
        Col::Text("forge_instance_id"),
        Col::Int("template_id"),
        Col::Int("proxy_id"),
        Col::Int("priority"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    // Tags differing only in case are one tag in garm-rs: the first id seen stands for all.
    let mut tag_ids: HashMap<String, String> = HashMap::new();
    for row in r.rows("pools", &cols, "created_at, id").await? {
        let id = row.text("id")?;
        let owner = ["repo_id", "org_id", "enterprise_id", "forge_instance_id"]
            .iter()
            .find_map(|c| row.opt_text(c).ok().flatten().filter(|v| !v.is_empty()))
            .unwrap_or_default();
        let Some(entity) = t.entities.get(&owner).cloned() else {
            t.report
                .skip("pool", &id, "its repository, organization or enterprise is not carried");
            continue;
        };
        let template_id = row.opt_int("template_id")?;
        if let Some((name, false)) = template_id.and_then(|tid| templates.get(&tid)) {
            t.report.skip(
                "pool template",
                &id,
                format!("uses template {name}, which is not carried; the pool installs with garm-rs's built-in script"),
            );
        }
        let proxy_id = row.opt_int("proxy_id")?.filter(|p| *p != 0);
        if proxy_id.is_some_and(|p| !proxies.contains(&p)) {
            t.report.skip(
                "pool proxy",
                &id,
                "its proxy is not in garm's database; carried without one",
            );
        }
        let mut pool_tags = Vec::new();
        for (tag_id, name) in tags.get(&id).into_iter().flatten() {
            let kept = tag_ids.entry(name.to_lowercase()).or_insert_with(|| tag_id.clone());
            if !pool_tags.iter().any(|t: &TagRecord| &t.id == kept) {
                pool_tags.push(TagRecord {
                    id: kept.clone(),
                    name: name.clone(),
                });
            }
        }
        let extra_specs = row.opt_text("extra_specs")?.filter(|s| !s.is_empty() && s != "null");
        let count = |c: &str| row.int(c).map(|v| v.clamp(0, i64::from(u32::MAX)) as u32);
        seen.pools.insert(id.clone());
        t.report.carry("pools", format!("{id} ({entity})"));
        t.set.pools.push(PoolRecord {
            id: id.into(),
            entity_id: owner.into(),
            provider_name: row.text("provider_name")?,
            runner_prefix: row.text("runner_prefix")?,
            max_runners: count("max_runners")?,
            min_idle_runners: count("min_idle_runners")?,
            bootstrap_timeout: count("runner_bootstrap_timeout")?,
            image: row.text("image")?,
            flavor: row.text("flavor")?,
            os_type: row.text("os_type")?,
            os_arch: row.text("os_arch")?,
            enabled: row.flag("enabled")?,
            extra_specs,
            runner_group: row.text("git_hub_runner_group")?,
            enable_shell: row.flag("enable_shell")?,
            generation: row.int("generation")?.max(0) as u64,
            priority: count("priority")?,
            template_id,
            proxy_id: proxy_id.filter(|p| proxies.contains(p)),
            scale_set_id: None,
            tags: pool_tags,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        });
    }
    Ok(())
}

/// Instance id → its addresses, oldest first.
async fn addresses(r: &mut Reader<'_>) -> Result<HashMap<String, Vec<AddressRecord>>, ImportError> {
    let cols = [Col::Text("instance_id"), Col::Text("address"), Col::Text("type")];
    let mut out: HashMap<String, Vec<AddressRecord>> = HashMap::new();
    for row in r.rows("addresses", &cols, "created_at, id").await? {
        out.entry(row.text("instance_id")?).or_default().push(AddressRecord {
            address: row.text("address")?,
            kind: row.text("type")?,
        });
    }
    Ok(out)
}

pub(crate) async fn instances(r: &mut Reader<'_>, t: &mut Taken<'_>, seen: &mut Runners) -> Result<(), ImportError> {
    let mut addresses = addresses(r).await?;
    let cols = [
        Col::Text("id"),
        Col::Text("provider_id"),
        Col::Text("name"),
        Col::Int("agent_id"),
        Col::Text("os_type"),
        Col::Text("os_arch"),
        Col::Text("os_name"),
        Col::Text("os_version"),
        Col::Text("status"),
        Col::Text("runner_status"),
        Col::Text("heartbeat"),
        Col::Text("callback_url"),
        Col::Text("metadata_url"),
        Col::Bytes("provider_fault"),
        Col::Int("create_attempt"),
        Col::Flag("token_fetched"),
        Col::Bytes("jit_configuration"),
        Col::Text("git_hub_runner_group"),
        Col::Text("aditional_labels"),
        Col::Int("generation"),
        Col::Text("pool_id"),
        Col::Int("scale_set_fk_id"),
        Col::Text("created_at"),
    ];
    // The bootstrap clock of an adopted instance starts at the import, so that the minutes
    // between stopping garm and starting garm-rs do not count against a runner still booting.
    let adopted_at = chrono::Utc::now();
    for row in r.rows("instances", &cols, "created_at, name").await? {
        let name = row.text("name")?;
        let pool_id = row.opt_text("pool_id")?.unwrap_or_default();
        if row.opt_int("scale_set_fk_id")?.is_some_and(|s| s != 0) {
            t.report
                .skip("instance", &name, "belongs to a scale set; left to garm's scale set");
            continue;
        }
        if !seen.pools.contains(&pool_id) {
            t.report.skip("instance", &name, "its pool is not carried");
            continue;
        }
        let status = row.text("status")?.parse::<InstanceStatus>();
        let runner_status = match row.text("runner_status")?.as_str() {
            "" => Ok(RunnerStatus::Pending),
            other => other.parse::<RunnerStatus>(),
        };
        let (Ok(status), Ok(runner_status)) = (status, runner_status) else {
            t.report.skip("instance", &name, "its status is unknown to garm-rs");
            continue;
        };
        let jit_config = match row.bytes("jit_configuration")? {
            Some(sealed) if !sealed.is_empty() => {
                let plain = t.unseal(|| format!("the JIT configuration of instance {name}"), &sealed)?;
                Some(Secret::new(String::from_utf8(plain).map_err(|_| {
                    ImportError::Corrupt {
                        what: format!("the JIT configuration of instance {name} is not text"),
                    }
                })?))
            }
            _ => None,
        };
        let id = row.text("id")?;
        let extra_labels = row
            .opt_text("aditional_labels")?
            .and_then(|json| serde_json::from_str::<Option<Vec<String>>>(&json).ok().flatten())
            .unwrap_or_default();
        seen.instances.insert(id.clone(), name.clone());
        t.report.carry("instances", name.clone());
        t.set.instances.push(InstanceRecord {
            addresses: addresses.remove(&id).unwrap_or_default(),
            id,
            name: name.into(),
            pool_id: pool_id.into(),
            provider_id: row.opt_text("provider_id")?.filter(|p| !p.is_empty()),
            agent_id: row.int("agent_id")?,
            os_type: row.text("os_type")?,
            os_arch: row.text("os_arch")?,
            os_name: row.text("os_name")?,
            os_version: row.text("os_version")?,
            status,
            runner_status,
            provider_fault: String::from_utf8_lossy(&row.bytes("provider_fault")?.unwrap_or_default()).into_owned(),
            create_attempt: row.int("create_attempt")?,
            token_fetched: row.flag("token_fetched")?,
            jit_config,
            runner_group: row.text("git_hub_runner_group")?,
            extra_labels,
            generation: row.int("generation")?.max(0) as u64,
            callback_url: row.text("callback_url")?,
            metadata_url: row.text("metadata_url")?,
            heartbeat: row.time("heartbeat")?,
            created_at: row.time("created_at")?,
            updated_at: adopted_at,
        });
    }
    Ok(())
}

pub(crate) async fn jobs(r: &mut Reader<'_>, t: &mut Taken<'_>, seen: &Runners) -> Result<(), ImportError> {
    let cols = [
        Col::Int("workflow_job_id"),
        Col::Text("scale_set_job_id"),
        Col::Int("run_id"),
        Col::Text("action"),
        Col::Text("conclusion"),
        Col::Text("status"),
        Col::Text("name"),
        Col::Text("started_at"),
        Col::Text("completed_at"),
        Col::Int("github_runner_id"),
        Col::Text("instance_id"),
        Col::Int("runner_group_id"),
        Col::Text("runner_group_name"),
        Col::Text("repository_name"),
        Col::Text("repository_owner"),
        Col::Text("labels"),
        Col::Text("workflow_run_url"),
        Col::Text("repo_id"),
        Col::Text("org_id"),
        Col::Text("enterprise_id"),
        Col::Text("locked_by"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    let mut ids = HashSet::new();
    for row in r.rows("workflow_jobs", &cols, "id").await? {
        let workflow_job_id = row.int("workflow_job_id")?;
        if workflow_job_id == 0 {
            let name = row.text("scale_set_job_id")?;
            t.report
                .skip("job", name, "a scale set job; scale sets are not carried");
            continue;
        }
        if !ids.insert(workflow_job_id) {
            continue;
        }
        let carried = |col: &str| -> Result<Option<String>, ImportError> {
            Ok(row.opt_text(col)?.filter(|id| t.entities.contains_key(id)))
        };
        let instance_name = row
            .opt_text("instance_id")?
            .and_then(|id| seen.instances.get(&id).cloned());
        let job = JobRecord {
            id: 0,
            workflow_job_id,
            scaleset_job_id: None,
            run_id: row.int("run_id")?,
            action: row.text("action")?.into(),
            status: row.text("status")?,
            conclusion: row.text("conclusion")?,
            name: row.text("name")?,
            started_at: row.opt_time("started_at")?,
            completed_at: row.opt_time("completed_at")?,
            runner_id: row.int("github_runner_id")?,
            runner_name: instance_name.clone().unwrap_or_default(),
            runner_group_id: row.int("runner_group_id")?,
            runner_group_name: row.text("runner_group_name")?,
            repository_name: row.text("repository_name")?,
            repository_owner: row.text("repository_owner")?,
            workflow_run_url: row.text("workflow_run_url")?,
            labels: row
                .opt_text("labels")?
                .and_then(|json| serde_json::from_str::<Option<Vec<String>>>(&json).ok().flatten())
                .unwrap_or_default(),
            repo_id: carried("repo_id")?,
            org_id: carried("org_id")?,
            enterprise_id: carried("enterprise_id")?,
            locked_by: row.opt_text("locked_by")?.filter(|l| !l.is_empty()),
            instance_name,
            reason: String::new(),
            created_at: row.opt_time("created_at")?,
            updated_at: row.opt_time("updated_at")?,
        };
        t.report
            .carry("jobs", format!("{} ({})", job.workflow_job_id, job.status));
        t.set.jobs.push(job);
    }
    Ok(())
}

/// Kinds garm-rs has no place for at all: listed by name, left in garm's database.
pub(crate) async fn left_behind(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    for row in r.rows("scale_sets", &[Col::Text("name")], "id").await? {
        t.report
            .skip("scale set", row.text("name")?, "garm-rs has no scale sets");
    }
    let updates = r.count("instance_status_updates").await?;
    if updates > 0 {
        t.report.skip(
            "instance status messages",
            updates.to_string(),
            "the history of instance status messages is not carried",
        );
    }
    Ok(())
}
