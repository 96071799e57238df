//! Runner scale sets: per entity and global, with garm's JSON and checks. The request is
//! validated before anything reaches the Actions service; the service's scale set is created
//! before the row and removed again if the row cannot be written.

use super::pools::{check_shape, settings_error, shape_of, CheckedShape};
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
use garm_model::names::check_provider_value;
use garm_model::pool::normalize_tags;
use garm_model::EntityId;
use garm_pool::act::StepError;
use garm_pool::scaleset as ss;
use garm_store::{EntityKind, NewPool, NewScaleSet, ScaleSetRecord};

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/scalesets", get(list_all))
        .route("/api/v1/scalesets/{id}", get(show).put(update).delete(delete))
        .route("/api/v1/scalesets/{id}/instances", get(instances))
}

/// What went wrong reaching the Actions service, as the API answers it.
fn service_error(err: StepError) -> ApiError {
    match &err {
        StepError::ScaleSet(message) => ApiError::BadRequest(message.clone()),
        StepError::Store(_) => ApiError::internal(std::io::Error::other(err.chain())),
        StepError::Actions(e) if e.is_unauthorized() => {
            ApiError::BadRequest(format!("the Actions service refused our credentials: {e}"))
        }
        StepError::Actions(e) => match e.status() {
            Some(400) | Some(409) => ApiError::Conflict(format!("the Actions service refused: {e}")),
            Some(404) => ApiError::NotFound(format!("the Actions service does not know it: {e}")),
            _ => ApiError::internal(std::io::Error::other(err.chain())),
        },
        StepError::Forge(e) if e.is_unauthorized() => {
            ApiError::BadRequest(format!("GitHub refused our credentials: {e}"))
        }
        _ => ApiError::internal(std::io::Error::other(err.chain())),
    }
}

/// `{id}` is garm's unsigned 32-bit id; anything else is a bad request.
fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<u32>()
        .map(i64::from)
        .map_err(|_| ApiError::bad(format!("invalid scale set id {id:?}")))
}

async fn list_all(State(app): State<App>) -> Result<Json<Vec<api::ScaleSet>>, ApiError> {
    let mut out = Vec::new();
    for s in app.store.scale_sets(None).await? {
        out.push(convert::scale_set(&app, &s, Detail::Summary).await?);
    }
    Ok(Json(out))
}

pub async fn list_for_entity(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Json<Vec<api::ScaleSet>>, ApiError> {
    let id = EntityId::from(id);
    app.store.entity(kind, &id).await?;
    let mut out = Vec::new();
    for s in app.store.scale_sets(Some(&id)).await? {
        out.push(convert::scale_set(&app, &s, Detail::Summary).await?);
    }
    Ok(Json(out))
}

pub async fn create(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
    body: JsonBody<api::CreateScaleSetParams>,
) -> Result<Json<api::ScaleSet>, ApiError> {
    let id = EntityId::from(id);
    let Json(p) = body?;
    let entity = app.store.entity(kind, &id).await?;
    // Everything is checked before the service hears of it.
    let (
        labels,
        CheckedShape {
            os_type,
            os_arch,
            extra_specs,
        },
    ) = check_create(&app, &p)?;
    let endpoint = app.store.endpoint(&entity.endpoint_name).await?;
    if endpoint.endpoint_type != "github" {
        return Err(ApiError::bad("scale sets are only supported for github entities"));
    }
    let runner_group = if p.github_runner_group.is_empty() {
        "Default".to_string()
    } else {
        p.github_runner_group.clone()
    };
    let template_id = Some(super::templates::for_pool(&app, p.template_id, os_type.as_str()).await?);
    let proxy_id = super::proxies::for_pool(&app, p.proxy_id).await?;

    let actions = ss::actions_for(&app.pool, &entity).await.map_err(service_error)?;
    let group_id = ss::runner_group_id(&actions, &runner_group)
        .await
        .map_err(|e| match e {
            StepError::ScaleSet(m) => ApiError::NotFound(m),
            other => service_error(other),
        })?;
    let spec = ss::service_spec(&p.name, group_id, &labels, p.disable_update, p.enabled);
    let remote = actions
        .create_scale_set(&spec)
        .await
        .map_err(|e| service_error(e.into()))?;
    let new_pool = NewPool {
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
        runner_group,
        enable_shell: p.enable_shell,
        priority: 0,
        template_id,
        proxy_id,
        tags: labels,
    };
    let new_set = NewScaleSet {
        name: p.name,
        service_id: remote.id,
        runner_group_id: group_id,
        disable_update: p.disable_update,
        state: "created".into(),
    };
    let created = match app.store.create_scale_set(&new_pool, &new_set).await {
        Ok(s) => s,
        Err(err) => {
            if let Err(undo) = actions.delete_scale_set(remote.id).await {
                tracing::warn!(service_id = remote.id, error = %undo, "could not remove the scale set from the Actions service after a failed insert");
            }
            return Err(err.into());
        }
    };
    tracing::info!(scale_set = created.id, service_id = created.service_id, name = %created.name, entity = %entity.display_name(), "scale set created");
    crate::events::pool_changed(&app, &created.pool.id);
    let out = convert::scale_set(&app, &created, Detail::Full).await?;
    Ok(Json(published(&app, EntityType::ScaleSet, Operation::Create, out)))
}

/// Checks a create request as garm does, before the Actions service is called: a name, a
/// maximum above zero, the shape a pool is checked for too, and labels when given. Returns
/// the normalised labels and what the shape checks parsed.
fn check_create(app: &App, p: &api::CreateScaleSetParams) -> Result<(Vec<String>, CheckedShape), ApiError> {
    if p.name.is_empty() {
        return Err(ApiError::bad("name: missing scale set name"));
    }
    check_provider_value("name", &p.name).map_err(settings_error)?;
    if p.max_runners == 0 {
        return Err(ApiError::bad("max_runners: cannot be 0"));
    }
    let shape = check_shape(app, shape_of!(p))?;
    let labels = if p.labels.is_empty() {
        Vec::new()
    } else {
        normalize_tags(&p.labels).map_err(settings_error)?
    };
    Ok((labels, shape))
}

async fn show(State(app): State<App>, Path(id): Path<String>) -> Result<Json<api::ScaleSet>, ApiError> {
    let s = app.store.scale_set(parse_id(&id)?).await?;
    Ok(Json(convert::scale_set(&app, &s, Detail::Full).await?))
}

pub(crate) async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<api::UpdateScaleSetParams>,
) -> Result<Json<api::ScaleSet>, ApiError> {
    let Json(p) = body?;
    let s = app.store.scale_set(parse_id(&id)?).await?;
    let updated = apply_update(&app, s, p).await?;
    let out = convert::scale_set(&app, &updated, Detail::Full).await?;
    Ok(Json(published(&app, EntityType::ScaleSet, Operation::Update, out)))
}

async fn apply_update(
    app: &App,
    mut s: ScaleSetRecord,
    p: api::UpdateScaleSetParams,
) -> Result<ScaleSetRecord, ApiError> {
    let before = s.clone();
    let shape = super::pools::ShapeUpdate {
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
        // An empty runner group is ignored, as garm does.
        runner_group: p.runner_group.filter(|v| !v.is_empty()),
        template_id: p.template_id,
        proxy_id: p.proxy_id,
    };
    super::pools::apply_shape(app, &mut s.pool, shape).await?;
    if let Some(v) = p.name.filter(|v| !v.is_empty()) {
        check_provider_value("name", &v).map_err(settings_error)?;
        s.name = v;
    }
    if let Some(v) = p.disable_update {
        s.disable_update = v;
    }
    if let Some(v) = p.state.filter(|v| !v.is_empty()) {
        s.state = v;
    }
    if let Some(v) = p.extended_state {
        s.extended_state = v;
    }
    // What the service holds changes first; a refusal there leaves our row as it was.
    let group_changed = before.pool.runner_group != s.pool.runner_group;
    if before.name != s.name || group_changed || before.disable_update != s.disable_update {
        let entity = app.store.entity_any(&s.pool.entity_id).await?;
        let actions = ss::actions_for(&app.pool, &entity).await.map_err(service_error)?;
        if group_changed {
            s.runner_group_id = ss::runner_group_id(&actions, &s.pool.runner_group)
                .await
                .map_err(|e| match e {
                    StepError::ScaleSet(m) => ApiError::NotFound(m),
                    other => service_error(other),
                })?;
        }
        let mut patch = garm_forge::actions::ScaleSet::default();
        if before.name != s.name {
            patch.name = s.name.clone();
        }
        if group_changed {
            patch.runner_group_id = s.runner_group_id;
        }
        patch.runner_setting.disable_update = s.disable_update;
        if s.service_id != 0 {
            actions
                .update_scale_set(s.service_id, &patch)
                .await
                .map_err(|e| service_error(e.into()))?;
        }
    }
    app.store.update_pool(&s.pool, None).await?;
    let updated = app.store.update_scale_set(&s).await?;
    tracing::info!(
        scale_set = updated.id,
        enabled = updated.pool.enabled,
        max_runners = updated.pool.max_runners,
        "scale set updated"
    );
    crate::events::pool_changed(app, &updated.pool.id);
    Ok(updated)
}

pub(crate) async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<Empty, ApiError> {
    let id = parse_id(&id)?;
    let s = match app.store.scale_set(id).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Ok(Empty),
        Err(e) => return Err(e.into()),
    };
    if !app.store.pool_instances_brief(&s.pool.id).await?.is_empty() {
        return Err(ApiError::bad("scale set has runners"));
    }
    if s.pool.enabled {
        return Err(ApiError::bad("scale set is enabled; disable it first"));
    }
    if s.service_id != 0 {
        let entity = app.store.entity_any(&s.pool.entity_id).await?;
        let actions = ss::actions_for(&app.pool, &entity).await.map_err(service_error)?;
        actions
            .delete_scale_set(s.service_id)
            .await
            .map_err(|e| service_error(e.into()))?;
    }
    let out = convert::scale_set(&app, &s, Detail::Summary).await?;
    app.store.delete_scale_set(id).await?;
    tracing::info!(scale_set = id, name = %s.name, "scale set deleted");
    app.streams.publish(EntityType::ScaleSet, Operation::Delete, &out);
    crate::events::pool_changed(&app, &s.pool.id);
    Ok(Empty)
}

async fn instances(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<super::pools::InstancesQuery>,
) -> Result<Json<Vec<api::Instance>>, ApiError> {
    let id = parse_id(&id)?;
    // As garm: an unknown scale set has no instances.
    let Ok(s) = app.store.scale_set(id).await else {
        return Ok(Json(Vec::new()));
    };
    let outdated = q.outdated_only();
    let list: Vec<_> = app
        .store
        .pool_instances(&s.pool.id)
        .await?
        .into_iter()
        .filter(|i| !outdated || i.generation < s.pool.generation)
        .collect();
    let context = super::runners::ListContext::for_pool(&app, &s.pool, &list).await?;
    Ok(Json(super::runners::render(&list, &context)))
}
