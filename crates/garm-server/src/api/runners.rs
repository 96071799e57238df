//! Instances (runners), jobs and providers.

use super::Empty;
use crate::convert;
use crate::error::ApiError;
use crate::lifecycle::OnUnauthorized;
use crate::state::App;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::{EntityId, InstanceStatus, PoolId};
use garm_store::{EntityKind, InstanceRecord};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/instances", get(list_all))
        .route("/api/v1/instances/{name}", get(show).delete(delete))
}

/// Provider names and scale sets by pool id, to fill `provider_name` (and, for scale set
/// runners, `scale_set_id` instead of `pool_id`) on instance lists.
pub(crate) async fn providers_by_pool(app: &App) -> Result<HashMap<PoolId, (String, Option<i64>)>, ApiError> {
    Ok(app
        .store
        .pools_and_scale_sets(None)
        .await?
        .into_iter()
        .map(|p| (p.id, (p.provider_name, p.scale_set_id)))
        .collect())
}

/// What an instance list adds to each instance: its provider and scale set (by pool id), its
/// attestation verdict and, as garm's lists do, the job it runs (by instance name).
pub(crate) struct ListContext {
    pub providers: HashMap<PoolId, (String, Option<i64>)>,
    pub verdicts: HashMap<String, garm_store::AttestationRecord>,
    pub jobs: HashMap<String, garm_store::JobRecord>,
}

impl ListContext {
    /// What listing `instances` needs besides them (their jobs only, not the whole table).
    pub(crate) async fn read(app: &App, instances: &[InstanceRecord]) -> Result<Self, ApiError> {
        Self::with_providers(app, instances, providers_by_pool(app).await?).await
    }

    /// [`ListContext::read`] for the instances of one pool the caller has read already, so
    /// no other pool is read.
    pub(crate) async fn for_pool(
        app: &App,
        pool: &garm_store::PoolRecord,
        instances: &[InstanceRecord],
    ) -> Result<Self, ApiError> {
        let providers = HashMap::from([(pool.id.clone(), (pool.provider_name.clone(), pool.scale_set_id))]);
        Self::with_providers(app, instances, providers).await
    }

    async fn with_providers(
        app: &App,
        instances: &[InstanceRecord],
        providers: HashMap<PoolId, (String, Option<i64>)>,
    ) -> Result<Self, ApiError> {
        let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
        Ok(Self {
            providers,
            verdicts: app.store.attestations().await?,
            jobs: app.store.jobs_by_instance(&names).await?,
        })
    }

    /// One listed instance; `provider` overrides the one looked up by pool.
    pub(crate) fn instance(&self, i: &InstanceRecord, provider: Option<&str>) -> api::Instance {
        let (found, scale_set) = self.providers.get(&i.pool_id).cloned().unwrap_or_default();
        let mut out = convert::listed_instance(i, provider.unwrap_or(&found));
        convert::mark_scale_set(&mut out, scale_set);
        out.attestation = self.verdicts.get(&i.id).and_then(verdict_json);
        out.job = self.jobs.get(i.name.as_str()).map(|j| Box::new(convert::job(j)));
        out
    }
}

pub(crate) fn render(list: &[InstanceRecord], context: &ListContext) -> Vec<api::Instance> {
    list.iter().map(|i| context.instance(i, None)).collect()
}

/// A recorded verdict as the API shows it.
fn verdict_json(recorded: &garm_store::AttestationRecord) -> Option<serde_json::Value> {
    serde_json::from_str(&recorded.verdict).ok()
}

async fn list_all(State(app): State<App>) -> Result<Json<Vec<api::Instance>>, ApiError> {
    let list = app.store.instances().await?;
    let context = ListContext::read(&app, &list).await?;
    Ok(Json(render(&list, &context)))
}

pub async fn list_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Json<Vec<api::Instance>>, ApiError> {
    let id = EntityId::from(id);
    app.store.entity(kind, &id).await?;
    let list = app.store.entity_instances(&id).await?;
    let context = ListContext::read(&app, &list).await?;
    Ok(Json(render(&list, &context)))
}

async fn show(State(app): State<App>, Path(name): Path<String>) -> Result<Json<api::Instance>, ApiError> {
    let instance = app.store.instance(&name).await?;
    let pool = app.store.pool(&instance.pool_id).await?;
    let events = app.store.instance_events(&instance.id).await?;
    let mut out = convert::instance(&instance, &pool.provider_name, Some(&events));
    convert::mark_scale_set(&mut out, pool.scale_set_id);
    out.attestation = app
        .store
        .attestation(&instance.id)
        .await?
        .as_ref()
        .and_then(verdict_json);
    if let Some(job) = app
        .store
        .jobs_by_instance(&[instance.name.as_str()])
        .await?
        .get(instance.name.as_str())
    {
        out.job = Some(Box::new(convert::job(job)));
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, Default)]
pub struct DeleteQuery {
    #[serde(default, rename = "forceRemove")]
    pub(crate) force_remove: Option<String>,
    #[serde(default, rename = "bypassGHUnauthorized")]
    pub(crate) bypass_gh_unauthorized: Option<String>,
}

/// Marks an instance for deletion (asynchronous, as in garm).
pub(crate) async fn delete(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Empty, ApiError> {
    let instance = app.store.instance(&name).await?;
    let force = q.force_remove.as_deref() == Some("true");
    let on_unauthorized = if q.bypass_gh_unauthorized.as_deref() == Some("true") {
        OnUnauthorized::RemoveAnyway
    } else {
        OnUnauthorized::Refuse
    };
    if !instance.status.deletable_by_api() {
        return Err(ApiError::bad(format!(
            "runner must be in one of the following states: running, error, pending_delete, pending_force_delete (it is {})",
            instance.status
        )));
    }
    if instance.status == InstanceStatus::PendingForceDelete
        || (instance.status == InstanceStatus::PendingDelete && !force)
    {
        return Ok(Empty);
    }
    crate::lifecycle::remove_forge_runner(&app, &instance, on_unauthorized).await?;
    let target = if force {
        InstanceStatus::PendingForceDelete
    } else {
        InstanceStatus::PendingDelete
    };
    app.store.set_instance_status(&instance.name, target).await?;
    tracing::info!(instance = %instance.name, force, "instance marked for deletion");
    crate::events::pool_changed(&app, &instance.pool_id);
    Ok(Empty)
}

pub async fn jobs(State(app): State<App>) -> Result<Json<Vec<api::Job>>, ApiError> {
    Ok(Json(app.store.jobs().await?.iter().map(convert::job).collect()))
}

pub async fn providers(State(app): State<App>) -> Result<Json<Vec<api::Provider>>, ApiError> {
    Ok(Json(
        app.config
            .providers
            .iter()
            .map(|p| api::Provider {
                name: p.name.clone(),
                kind: "external".into(),
                description: p.description.clone(),
            })
            .collect(),
    ))
}
