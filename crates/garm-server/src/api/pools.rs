//! Pools: per entity and global.

use super::Empty;
use crate::convert::{self, Detail};
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::ws::published;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::names::{check_provider_value, check_runner_prefix};
use garm_model::pool::{check_extra_specs, check_sizing, normalize_tags};
use garm_model::{EntityId, OsArch, OsType, PoolId};
use garm_store::{EntityKind, NewPool, PoolRecord};
use serde::Deserialize;
use serde_json::value::RawValue;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/pools", get(list_all))
        .route("/api/v1/pools/{pool_id}", get(show).put(update).delete(delete))
        .route("/api/v1/pools/{pool_id}/instances", get(instances))
}

/// Attestation needs the `garm-attest` step, which only the Linux install script runs: a
/// Windows pool that required it would have every instance refused.
pub(crate) fn check_attesting_os(extra_specs: Option<&str>, os_type: &str) -> Result<(), ApiError> {
    let required = garm_attest::from_extra_specs(extra_specs).is_ok_and(|a| a.required());
    if required && os_type != "linux" {
        return Err(ApiError::bad(format!(
            "extra_specs.attestation: attestation is supported on linux pools only, not {os_type}"
        )));
    }
    Ok(())
}

/// The machine shape a pool or a scale set is created with, as the request gave it.
pub(crate) struct Shape<'a> {
    pub provider_name: &'a str,
    pub image: &'a str,
    pub flavor: &'a str,
    pub runner_prefix: &'a str,
    pub min_idle_runners: u32,
    pub max_runners: u32,
    pub os_type: &'a str,
    pub os_arch: &'a str,
    pub extra_specs: Option<&'a RawValue>,
}

/// The [`Shape`] of a create request, `$p` a pool's or a scale set's: their request types name
/// these fields alike.
macro_rules! shape_of {
    ($p:ident) => {
        $crate::api::pools::Shape {
            provider_name: &$p.provider_name,
            image: &$p.image,
            flavor: &$p.flavor,
            runner_prefix: &$p.runner_prefix,
            min_idle_runners: $p.min_idle_runners,
            max_runners: $p.max_runners,
            os_type: &$p.os_type,
            os_arch: &$p.os_arch,
            extra_specs: $p.extra_specs.as_deref(),
        }
    };
}
pub(crate) use shape_of;

/// A [`Shape`] that passed [`check_shape`], with what the checks parsed.
pub(crate) struct CheckedShape {
    pub os_type: OsType,
    pub os_arch: OsArch,
    pub extra_specs: Option<String>,
}

/// The checks a pool and a scale set share at creation, in this order: a configured provider,
/// an image and a flavor the provider can be handed, a runner prefix, the sizing, the OS, and
/// extra specs that are valid JSON and whose attestation settings parse (attestation only on
/// Linux).
pub(crate) fn check_shape(app: &App, shape: Shape<'_>) -> Result<CheckedShape, ApiError> {
    if shape.provider_name.is_empty() {
        return Err(ApiError::bad("provider_name: missing provider"));
    }
    if app.config.provider(shape.provider_name).is_none() {
        return Err(ApiError::bad(format!(
            "provider_name: no provider named {:?} is configured",
            shape.provider_name
        )));
    }
    if shape.image.is_empty() {
        return Err(ApiError::bad("image: missing image"));
    }
    if shape.flavor.is_empty() {
        return Err(ApiError::bad("flavor: missing flavor"));
    }
    check_provider_value("image", shape.image).map_err(settings_error)?;
    check_provider_value("flavor", shape.flavor).map_err(settings_error)?;
    if !shape.runner_prefix.is_empty() {
        check_runner_prefix(shape.runner_prefix).map_err(settings_error)?;
    }
    check_sizing(shape.min_idle_runners, shape.max_runners).map_err(settings_error)?;
    let os_type = OsType::parse(shape.os_type).map_err(settings_error)?;
    let os_arch = OsArch::parse(shape.os_arch).map_err(settings_error)?;
    let extra_specs = shape.extra_specs.map(|raw| raw.get().to_string());
    if let Some(raw) = &extra_specs {
        check_extra_specs(raw).map_err(settings_error)?;
        garm_attest::from_extra_specs(Some(raw)).map_err(ApiError::BadRequest)?;
    }
    check_attesting_os(extra_specs.as_deref(), os_type.as_str())?;
    Ok(CheckedShape {
        os_type,
        os_arch,
        extra_specs,
    })
}

pub(crate) fn settings_error(err: garm_model::PoolSettingsError) -> ApiError {
    ApiError::BadRequest(err.to_string())
}

async fn list_all(State(app): State<App>) -> Result<Json<Vec<api::Pool>>, ApiError> {
    let mut out = Vec::new();
    for p in app.store.pools(None).await? {
        out.push(convert::pool(&app, &p, Detail::Summary).await?);
    }
    Ok(Json(out))
}

pub async fn list_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Json<Vec<api::Pool>>, ApiError> {
    let id = EntityId::from(id);
    app.store.entity(kind, &id).await?;
    let mut out = Vec::new();
    for p in app.store.pools(Some(&id)).await? {
        out.push(convert::pool(&app, &p, Detail::Summary).await?);
    }
    Ok(Json(out))
}

pub async fn create(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
    body: JsonBody<api::CreatePoolParams>,
) -> Result<Json<api::Pool>, ApiError> {
    let id = EntityId::from(id);
    let Json(p) = body?;
    let entity = app.store.entity(kind, &id).await?;
    let CheckedShape {
        os_type,
        os_arch,
        extra_specs,
    } = check_shape(&app, shape_of!(p))?;
    let tags = normalize_tags(&p.tags).map_err(settings_error)?;
    let new = NewPool {
        entity_id: entity.id.clone(),
        provider_name: p.provider_name,
        runner_prefix: if p.runner_prefix.is_empty() {
            "garm".into()
        } else {
            p.runner_prefix
        },
        max_runners: p.max_runners,
        min_idle_runners: p.min_idle_runners,
        bootstrap_timeout: if p.runner_bootstrap_timeout == 0 {
            20
        } else {
            p.runner_bootstrap_timeout
        },
        image: p.image,
        flavor: p.flavor,
        os_type: os_type.as_str().into(),
        os_arch: os_arch.as_str().into(),
        enabled: p.enabled,
        extra_specs,
        runner_group: p.github_runner_group,
        enable_shell: p.enable_shell,
        priority: p.priority,
        template_id: Some(super::templates::for_pool(&app, p.template_id, os_type.as_str()).await?),
        proxy_id: super::proxies::for_pool(&app, p.proxy_id).await?,
        tags,
    };
    let pool = app.store.create_pool(&new).await?;
    tracing::info!(pool = %pool.id, entity = %entity.display_name(), provider = %pool.provider_name, max_runners = pool.max_runners, min_idle_runners = pool.min_idle_runners, "pool created");
    crate::events::pool_changed(&app, &pool.id);
    let out = convert::pool(&app, &pool, Detail::Full).await?;
    Ok(Json(published(&app, EntityType::Pool, Operation::Create, out)))
}

async fn pool_of(app: &App, kind: EntityKind, entity_id: &EntityId, pool_id: &PoolId) -> Result<PoolRecord, ApiError> {
    app.store.entity(kind, entity_id).await?;
    let pool = visible_pool(app, pool_id).await?;
    if pool.entity_id != *entity_id {
        return Err(ApiError::NotFound(format!("pool {pool_id} not found")));
    }
    Ok(pool)
}

pub async fn show_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path((id, pool_id)): Path<(String, String)>,
) -> Result<Json<api::Pool>, ApiError> {
    let id = EntityId::from(id);
    let pool_id = PoolId::from(pool_id);
    let pool = pool_of(&app, kind, &id, &pool_id).await?;
    Ok(Json(convert::pool(&app, &pool, Detail::Full).await?))
}

pub async fn update_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path((id, pool_id)): Path<(String, String)>,
    body: JsonBody<api::UpdatePoolParams>,
) -> Result<Json<api::Pool>, ApiError> {
    let id = EntityId::from(id);
    let pool_id = PoolId::from(pool_id);
    let Json(p) = body?;
    let pool = pool_of(&app, kind, &id, &pool_id).await?;
    apply_update(&app, pool, p).await
}

pub async fn delete_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path((id, pool_id)): Path<(String, String)>,
) -> Result<Empty, ApiError> {
    let id = EntityId::from(id);
    let pool_id = PoolId::from(pool_id);
    let gone = pool_of(&app, kind, &id, &pool_id).await?;
    deleted(&app, gone).await
}

/// Deletes a pool and publishes it (as it was).
async fn deleted(app: &App, gone: PoolRecord) -> Result<Empty, ApiError> {
    let out = convert::pool(app, &gone, Detail::Summary).await?;
    app.store.delete_pool(&gone.id).await?;
    tracing::info!(pool = %gone.id, "pool deleted");
    app.streams.publish(EntityType::Pool, Operation::Delete, &out);
    crate::events::pool_changed(app, &gone.id);
    Ok(Empty)
}

async fn show(State(app): State<App>, Path(pool_id): Path<String>) -> Result<Json<api::Pool>, ApiError> {
    let pool_id = PoolId::from(pool_id);
    let pool = visible_pool(&app, &pool_id).await?;
    Ok(Json(convert::pool(&app, &pool, Detail::Full).await?))
}

pub(crate) async fn update(
    State(app): State<App>,
    Path(pool_id): Path<String>,
    body: JsonBody<api::UpdatePoolParams>,
) -> Result<Json<api::Pool>, ApiError> {
    let pool_id = PoolId::from(pool_id);
    let Json(p) = body?;
    let pool = visible_pool(&app, &pool_id).await?;
    apply_update(&app, pool, p).await
}

pub(crate) async fn delete(State(app): State<App>, Path(pool_id): Path<String>) -> Result<Empty, ApiError> {
    let pool_id = PoolId::from(pool_id);
    let gone = visible_pool(&app, &pool_id).await?;
    deleted(&app, gone).await
}

/// Applies an update; changes that alter what new instances look like bump `generation`.
/// The settings pools and scale sets share, as an update gives them (`None`: unchanged).
#[derive(Default)]
pub(crate) struct ShapeUpdate {
    pub runner_prefix: Option<String>,
    pub enabled: Option<bool>,
    pub max_runners: Option<u32>,
    pub min_idle_runners: Option<u32>,
    pub runner_bootstrap_timeout: Option<u32>,
    pub image: Option<String>,
    pub flavor: Option<String>,
    pub os_type: Option<String>,
    pub os_arch: Option<String>,
    pub extra_specs: Option<Box<serde_json::value::RawValue>>,
    pub enable_shell: Option<bool>,
    pub runner_group: Option<String>,
    pub template_id: Option<u64>,
    pub proxy_id: Option<u64>,
}

/// Applies `u` to `pool` with the API's checks. Only what the update changes is checked, so a
/// pool imported with an older, looser value can still be enabled or resized. Changes that
/// alter what new instances look like bump `generation`.
pub(crate) async fn apply_shape(app: &App, pool: &mut PoolRecord, u: ShapeUpdate) -> Result<(), ApiError> {
    let before = pool.clone();
    if let Some(v) = u.runner_prefix.filter(|v| !v.is_empty()) {
        check_runner_prefix(&v).map_err(settings_error)?;
        pool.runner_prefix = v;
    }
    if let Some(v) = u.enabled {
        pool.enabled = v;
    }
    if let Some(v) = u.max_runners {
        pool.max_runners = v;
    }
    if let Some(v) = u.min_idle_runners {
        pool.min_idle_runners = v;
    }
    if let Some(v) = u.runner_bootstrap_timeout {
        if v == 0 {
            return Err(ApiError::bad("runner_bootstrap_timeout: must be greater than 0"));
        }
        pool.bootstrap_timeout = v;
    }
    if let Some(v) = u.image.filter(|v| !v.is_empty()) {
        check_provider_value("image", &v).map_err(settings_error)?;
        pool.image = v;
    }
    if let Some(v) = u.flavor.filter(|v| !v.is_empty()) {
        check_provider_value("flavor", &v).map_err(settings_error)?;
        pool.flavor = v;
    }
    if let Some(v) = u.os_type.filter(|v| !v.is_empty()) {
        pool.os_type = OsType::parse(&v).map_err(settings_error)?.as_str().into();
    }
    if let Some(v) = u.os_arch.filter(|v| !v.is_empty()) {
        pool.os_arch = OsArch::parse(&v).map_err(settings_error)?.as_str().into();
    }
    if let Some(raw) = u.extra_specs {
        check_extra_specs(raw.get()).map_err(settings_error)?;
        garm_attest::from_extra_specs(Some(raw.get())).map_err(ApiError::BadRequest)?;
        pool.extra_specs = Some(raw.get().to_string());
    }
    check_attesting_os(pool.extra_specs.as_deref(), &pool.os_type)?;
    if let Some(v) = u.enable_shell {
        pool.enable_shell = v;
    }
    if let Some(v) = u.runner_group {
        pool.runner_group = v;
    }
    if let Some(v) = u.template_id {
        pool.template_id = Some(super::templates::for_pool(app, Some(v), &pool.os_type).await?);
    }
    if let Some(v) = u.proxy_id {
        pool.proxy_id = super::proxies::for_pool(app, Some(v)).await?;
    }
    check_sizing(pool.min_idle_runners, pool.max_runners).map_err(settings_error)?;
    let shape_changed = before.flavor != pool.flavor
        || before.image != pool.image
        || before.os_type != pool.os_type
        || before.os_arch != pool.os_arch
        || before.extra_specs != pool.extra_specs
        || before.runner_group != pool.runner_group
        || before.enable_shell != pool.enable_shell
        || before.template_id != pool.template_id
        || before.proxy_id != pool.proxy_id;
    if shape_changed {
        pool.generation += 1;
    }
    Ok(())
}

async fn apply_update(app: &App, mut pool: PoolRecord, p: api::UpdatePoolParams) -> Result<Json<api::Pool>, ApiError> {
    if let Some(v) = p.priority {
        pool.priority = v;
    }
    let tags = match p.tags.filter(|t| !t.is_empty()) {
        Some(t) => Some(normalize_tags(&t).map_err(settings_error)?),
        None => None,
    };
    let shape = ShapeUpdate {
        runner_prefix: p.runner_prefix,
        enabled: p.enabled,
        max_runners: p.max_runners,
        min_idle_runners: p.min_idle_runners,
        runner_bootstrap_timeout: p.runner_bootstrap_timeout,
        image: p.image,
        flavor: p.flavor,
        os_type: p.os_type,
        os_arch: p.os_arch,
        extra_specs: p.extra_specs,
        enable_shell: p.enable_shell,
        runner_group: p.github_runner_group,
        template_id: p.template_id,
        proxy_id: p.proxy_id,
    };
    apply_shape(app, &mut pool, shape).await?;
    let updated = app.store.update_pool(&pool, tags.as_deref()).await?;
    tracing::info!(pool = %updated.id, enabled = updated.enabled, max_runners = updated.max_runners, min_idle_runners = updated.min_idle_runners, "pool updated");
    crate::events::pool_changed(app, &updated.id);
    let out = convert::pool(app, &updated, Detail::Full).await?;
    Ok(Json(published(app, EntityType::Pool, Operation::Update, out)))
}

#[derive(Debug, Deserialize, Default)]
pub struct InstancesQuery {
    #[serde(default, rename = "outdatedOnly")]
    outdated_only: Option<String>,
}

impl InstancesQuery {
    pub fn outdated_only(&self) -> bool {
        self.outdated_only.as_deref() == Some("true")
    }
}

/// A pool as the pool routes see it: the pools behind scale sets are not theirs.
async fn visible_pool(app: &App, id: &PoolId) -> Result<PoolRecord, ApiError> {
    let pool = app.store.pool(id).await?;
    if pool.scale_set_id.is_some() {
        return Err(ApiError::NotFound(format!("pool {id} not found")));
    }
    Ok(pool)
}

async fn instances(
    State(app): State<App>,
    Path(pool_id): Path<String>,
    Query(q): Query<InstancesQuery>,
) -> Result<Json<Vec<api::Instance>>, ApiError> {
    let pool_id = PoolId::from(pool_id);
    let pool = visible_pool(&app, &pool_id).await?;
    let outdated = q.outdated_only.as_deref() == Some("true");
    let list = app.store.pool_instances(&pool_id).await?;
    let context = super::runners::ListContext::for_pool(&app, &pool, &list).await?;
    Ok(Json(
        list.iter()
            .filter(|i| !outdated || i.generation < pool.generation)
            .map(|i| context.instance(i, None))
            .collect(),
    ))
}
