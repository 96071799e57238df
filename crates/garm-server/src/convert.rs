//! Conversions from store records to the REST shapes (the boundary of the JSON format).

use crate::error::ApiError;
use crate::state::App;
use base64::Engine;
use garm_api_types as api;
use garm_store::*;
use serde_json::value::RawValue;

pub fn endpoint(e: &EndpointRecord) -> api::ForgeEndpoint {
    api::ForgeEndpoint {
        name: e.name.clone(),
        description: e.description.clone(),
        api_base_url: e.api_base_url.clone(),
        upload_base_url: e.upload_base_url.clone(),
        base_url: e.base_url.clone(),
        ca_cert_bundle: e.ca_cert_bundle.clone(),
        created_at: Some(e.created_at),
        updated_at: Some(e.updated_at),
        tools_metadata_url: String::new(),
        use_internal_tools_metadata: None,
        endpoint_type: e.endpoint_type.clone(),
    }
}

/// Credentials as the API shows them: never the secret.
pub fn credentials(c: &CredentialsRecord, e: &EndpointRecord) -> api::ForgeCredentials {
    api::ForgeCredentials {
        id: c.id as u64,
        name: c.name.clone(),
        description: c.description.clone(),
        api_base_url: e.api_base_url.clone(),
        upload_base_url: e.upload_base_url.clone(),
        base_url: e.base_url.clone(),
        ca_bundle: e.ca_cert_bundle.clone(),
        auth_type: c.secret.auth_type().to_string(),
        forge_type: c.forge_type.clone(),
        endpoint: endpoint(e),
        created_at: Some(c.created_at),
        updated_at: Some(c.updated_at),
        ..Default::default()
    }
}

/// An entity with its credentials and endpoint (no pools or events: callers add them).
pub async fn entity(app: &App, e: &EntityRecord) -> Result<api::Entity, ApiError> {
    let endpoint_rec = app.store.endpoint(&e.endpoint_name).await?;
    let creds = app.store.credentials(e.credentials_id).await?;
    Ok(api::Entity {
        id: e.id.to_string(),
        owner: (e.kind == EntityKind::Repository).then(|| e.owner.clone()),
        name: e.name.clone(),
        pool: Vec::new(),
        credentials_name: creds.name.clone(),
        credentials_id: creds.id as u64,
        credentials: credentials(&creds, &endpoint_rec),
        agent_mode: e.agent_mode,
        pool_manager_status: api::PoolManagerStatus {
            running: e.pool_manager_running,
            failure_reason: e.failure_reason.clone(),
        },
        pool_balancing_type: e.balancer.as_str().to_string(),
        endpoint: endpoint(&endpoint_rec),
        created_at: Some(e.created_at),
        updated_at: Some(e.updated_at),
        events: Vec::new(),
    })
}

pub fn event(e: &EventRecord) -> api::EntityEvent {
    api::EntityEvent {
        id: e.id as u64,
        created_at: e.created_at,
        event_type: e.event_type.clone(),
        event_level: e.event_level.clone(),
        message: e.message.clone(),
    }
}

/// How much of a pool, scale set or template a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What listings show: no extra specs, instances or template text.
    Summary,
    /// What single-object reads show, as garm's do.
    Full,
}

/// A pool. [`Detail::Full`] adds extra specs and instances, as garm's single-pool reads do.
pub async fn pool(app: &App, p: &PoolRecord, detail: Detail) -> Result<api::Pool, ApiError> {
    let owner = app.store.entity_any(&p.entity_id).await?;
    let endpoint_rec = app.store.endpoint(&owner.endpoint_name).await?;
    let mut out = api::Pool {
        runner_prefix: p.runner_prefix.clone(),
        id: p.id.to_string(),
        provider_name: p.provider_name.clone(),
        max_runners: p.max_runners,
        min_idle_runners: p.min_idle_runners,
        image: p.image.clone(),
        flavor: p.flavor.clone(),
        os_type: p.os_type.clone(),
        os_arch: p.os_arch.clone(),
        tags: p
            .tags
            .iter()
            .map(|t| api::Tag {
                id: t.id.clone(),
                name: t.name.clone(),
            })
            .collect(),
        enabled: p.enabled,
        enable_shell: p.enable_shell,
        generation: p.generation,
        endpoint: endpoint(&endpoint_rec),
        runner_bootstrap_timeout: p.bootstrap_timeout,
        created_at: Some(p.created_at),
        updated_at: Some(p.updated_at),
        github_runner_group: p.runner_group.clone(),
        priority: p.priority,
        ..Default::default()
    };
    if let Some(id) = p.template_id {
        if let Ok(t) = app.store.template(id).await {
            out.template_id = t.id as u64;
            out.template_name = t.name;
        }
    }
    if let Some(id) = p.proxy_id {
        if let Ok(proxy) = app.store.proxy(id).await {
            out.proxy_id = proxy.id as u64;
            out.proxy_name = proxy.name;
        }
    }
    match owner.kind {
        EntityKind::Repository => {
            out.repo_id = owner.id.to_string();
            out.repo_name = owner.display_name();
        }
        EntityKind::Organization => {
            out.org_id = owner.id.to_string();
            out.org_name = owner.name.clone();
        }
        EntityKind::Enterprise => {
            out.enterprise_id = owner.id.to_string();
            out.enterprise_name = owner.name.clone();
        }
    }
    if detail == Detail::Full {
        out.extra_specs = p
            .extra_specs
            .as_deref()
            .and_then(|raw| RawValue::from_string(raw.to_string()).ok());
        for i in app.store.pool_instances(&p.id).await? {
            out.instances.push(instance(&i, &p.provider_name, None));
        }
    }
    Ok(out)
}

/// A scale set's runner names its scale set, not the pool behind it (garm's JSON).
pub fn mark_scale_set(out: &mut api::Instance, scale_set: Option<i64>) {
    if let Some(id) = scale_set {
        out.pool_id.clear();
        out.scale_set_id = id as u64;
    }
}

/// garm's `ScaleSet`: the shared fields come from the pool behind it.
pub async fn scale_set(app: &App, s: &garm_store::ScaleSetRecord, detail: Detail) -> Result<api::ScaleSet, ApiError> {
    let p = pool(app, &s.pool, Detail::Summary).await?;
    let mut out = api::ScaleSet {
        runner_prefix: p.runner_prefix,
        created_at: Some(s.created_at),
        updated_at: Some(s.updated_at.max(s.pool.updated_at)),
        id: s.id as u64,
        scale_set_id: s.service_id,
        name: s.name.clone(),
        disable_update: s.disable_update,
        state: s.state.clone(),
        extended_state: s.extended_state.clone(),
        provider_name: p.provider_name,
        max_runners: p.max_runners,
        min_idle_runners: p.min_idle_runners,
        image: p.image,
        flavor: p.flavor,
        os_type: p.os_type,
        os_arch: p.os_arch,
        enabled: p.enabled,
        instances: Vec::new(),
        desired_runner_count: s.desired_runner_count,
        enable_shell: p.enable_shell,
        generation: p.generation,
        endpoint: p.endpoint,
        runner_bootstrap_timeout: if p.runner_bootstrap_timeout == 0 {
            20
        } else {
            p.runner_bootstrap_timeout
        },
        extra_specs: None,
        github_runner_group: p.github_runner_group,
        tags: p.tags,
        status_messages: Vec::new(),
        repo_id: p.repo_id,
        repo_name: p.repo_name,
        org_id: p.org_id,
        org_name: p.org_name,
        enterprise_id: p.enterprise_id,
        enterprise_name: p.enterprise_name,
        template_id: p.template_id,
        template_name: p.template_name,
        proxy_id: p.proxy_id,
        proxy_name: p.proxy_name,
    };
    if detail == Detail::Full {
        out.extra_specs = s
            .pool
            .extra_specs
            .as_deref()
            .and_then(|raw| RawValue::from_string(raw.to_string()).ok());
        for i in app.store.pool_instances(&s.pool.id).await? {
            let mut one = instance(&i, &s.pool.provider_name, None);
            mark_scale_set(&mut one, Some(s.id));
            out.instances.push(one);
        }
    }
    Ok(out)
}

/// An instance as garm lists it: without its addresses (garm shows them only on a single GET).
pub fn listed_instance(i: &InstanceRecord, provider_name: &str) -> api::Instance {
    let mut out = instance(i, provider_name, None);
    out.addresses.clear();
    out
}

pub fn instance(i: &InstanceRecord, provider_name: &str, events: Option<&[EventRecord]>) -> api::Instance {
    api::Instance {
        id: i.id.clone(),
        provider_id: i.provider_id.clone().unwrap_or_default(),
        provider_name: provider_name.to_string(),
        agent_id: i.agent_id,
        name: i.name.to_string(),
        os_type: i.os_type.clone(),
        os_name: i.os_name.clone(),
        os_version: i.os_version.clone(),
        os_arch: i.os_arch.clone(),
        addresses: i
            .addresses
            .iter()
            .map(|a| api::Address {
                address: a.address.clone(),
                kind: a.kind.clone(),
            })
            .collect(),
        status: i.status.as_str().to_string(),
        runner_status: i.runner_status.as_str().to_string(),
        pool_id: i.pool_id.to_string(),
        scale_set_id: 0,
        provider_fault: i.provider_fault.as_bytes().to_vec(),
        status_messages: events
            .unwrap_or_default()
            .iter()
            .map(|e| api::StatusMessage {
                created_at: e.created_at,
                message: e.message.clone(),
                event_type: e.event_type.clone(),
                event_level: e.event_level.clone(),
            })
            .collect(),
        created_at: Some(i.created_at),
        updated_at: Some(i.updated_at),
        github_runner_group: i.runner_group.clone(),
        job: None,
        heartbeat: i.heartbeat,
        capabilities: api::Capabilities::default(),
        generation: i.generation,
        attestation: None,
    }
}

pub fn job(j: &JobRecord) -> api::Job {
    api::Job {
        id: j.id,
        // Scale set jobs have no GitHub job id (ours is synthetic): garm shows 0.
        workflow_job_id: if j.scaleset_job_id.is_some() {
            0
        } else {
            j.workflow_job_id
        },
        scaleset_job_id: j.scaleset_job_id.clone().unwrap_or_default(),
        run_id: j.run_id,
        action: j.action.as_str().to_owned(),
        conclusion: j.conclusion.clone(),
        status: j.status.clone(),
        name: j.name.clone(),
        started_at: j.started_at,
        completed_at: j.completed_at,
        runner_id: j.runner_id,
        runner_name: j.runner_name.clone(),
        runner_group_id: j.runner_group_id,
        runner_group_name: j.runner_group_name.clone(),
        repository_name: j.repository_name.clone(),
        repository_owner: j.repository_owner.clone(),
        workflow_run_url: j.workflow_run_url.clone(),
        labels: j.labels.clone(),
        repo_id: j.repo_id.clone(),
        org_id: j.org_id.clone(),
        enterprise_id: j.enterprise_id.clone(),
        forge_instance_id: None,
        locked_by: j.locked_by.clone().unwrap_or_else(|| uuid::Uuid::nil().to_string()),
        reason: j.reason.clone(),
        created_at: j.created_at,
        updated_at: j.updated_at,
    }
}

/// garm's `controller_webhook_url` and derived `agent_url`.
pub fn controller(c: &ControllerRecord) -> api::ControllerInfo {
    let agent_url = if c.agent_url.is_empty() {
        url::Url::parse(&c.callback_url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{}://{h}:{p}", u.scheme()),
                    None => format!("{}://{h}", u.scheme()),
                })
            })
            .unwrap_or_default()
    } else {
        c.agent_url.clone()
    };
    api::ControllerInfo {
        controller_id: c.controller_id.clone(),
        hostname: hostname(),
        metadata_url: c.metadata_url.clone(),
        callback_url: c.callback_url.clone(),
        webhook_url: c.webhook_url.clone(),
        controller_webhook_url: if c.webhook_url.is_empty() {
            String::new()
        } else {
            format!("{}/{}", c.webhook_url.trim_end_matches('/'), c.controller_id)
        },
        agent_url,
        garm_agent_releases_url: c.garm_agent_releases_url.clone(),
        enable_agent_tools_sync: c.enable_agent_tools_sync,
        garm_agent_version: c.garm_agent_version.clone(),
        allow_insecure_garm_agent: c.allow_insecure_garm_agent,
        minimum_job_age_backoff: c.minimum_job_age_backoff,
        version: crate::VERSION.to_string(),
        ca_cert_bundle: c.ca_cert_bundle.clone(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// A template; [`Detail::Full`] adds its text (base64), which listings leave `null`.
pub fn template(t: &garm_store::TemplateRecord, detail: Detail) -> api::Template {
    api::Template {
        id: t.id as u64,
        created_at: Some(t.created_at),
        updated_at: Some(t.updated_at),
        name: t.name.clone(),
        description: t.description.clone(),
        os_type: t.os_type.clone(),
        forge_type: t.forge_type.clone(),
        data: (detail == Detail::Full).then(|| base64::engine::general_purpose::STANDARD.encode(t.data.as_bytes())),
        owner_id: t.owner_id.clone(),
    }
}
