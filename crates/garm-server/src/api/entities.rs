//! Repositories, organizations and enterprises, with their pools and instances.

use super::{pools, Empty};
use crate::convert::{self, Detail};
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::ws::published;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::{BalancerType, EntityId, Secret};
use garm_store::{EntityFilter, EntityKind, EntityRecord};
use serde::Deserialize;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The three entity collections share handlers; the path names the kind.
pub fn routes() -> Router<App> {
    let mut router = Router::new();
    for (base, kind) in [
        ("repositories", EntityKind::Repository),
        ("organizations", EntityKind::Organization),
        ("enterprises", EntityKind::Enterprise),
    ] {
        router = router
            .route(
                &format!("/api/v1/{base}"),
                get(move |s, q| list(s, kind, q)).post(move |s, b| create(s, kind, b)),
            )
            .route(
                &format!("/api/v1/{base}/{{id}}"),
                get(move |s, p| show(s, kind, p))
                    .put(move |s, p, b| update(s, kind, p, b))
                    .delete(move |s, p, q| delete(s, kind, p, q)),
            )
            .route(
                &format!("/api/v1/{base}/{{id}}/pools"),
                get(move |s, p| pools::list_for_entity(s, kind, p)).post(move |s, p, b| pools::create(s, kind, p, b)),
            )
            .route(
                &format!("/api/v1/{base}/{{id}}/pools/{{pool_id}}"),
                get(move |s, p| pools::show_for_entity(s, kind, p))
                    .put(move |s, p, b| pools::update_for_entity(s, kind, p, b))
                    .delete(move |s, p| pools::delete_for_entity(s, kind, p)),
            )
            .route(
                &format!("/api/v1/{base}/{{id}}/instances"),
                get(move |s, p| super::runners::list_for_entity(s, kind, p)),
            )
            .route(
                &format!("/api/v1/{base}/{{id}}/scalesets"),
                get(move |s, p| super::scalesets::list_for_entity(s, kind, p))
                    .post(move |s, p, b| super::scalesets::create(s, kind, p, b)),
            );
    }
    router
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    endpoint: String,
}

async fn list(
    State(app): State<App>,
    kind: EntityKind,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<api::Entity>>, ApiError> {
    let filter = EntityFilter {
        owner: q.owner,
        name: q.name,
        endpoint: q.endpoint,
    };
    let mut out = Vec::new();
    for e in app.store.list_entities(kind, &filter).await? {
        out.push(convert::entity(&app, &e).await?);
    }
    Ok(Json(out))
}

/// The owner and name an entity is created with, by GitHub's rules for each kind.
fn check_entity_names(kind: EntityKind, owner: &str, name: &str) -> Result<(), ApiError> {
    use garm_model::names::{check_account, check_enterprise, check_repository};
    let checked = match kind {
        EntityKind::Repository => check_account("owner", owner).and_then(|()| check_repository("name", name)),
        EntityKind::Organization => check_account("name", name),
        EntityKind::Enterprise => check_enterprise("name", name),
    };
    checked.map_err(|err| ApiError::BadRequest(err.to_string()))
}

pub(crate) async fn create(
    State(app): State<App>,
    kind: EntityKind,
    body: JsonBody<api::CreateEntityParams>,
) -> Result<Json<api::Entity>, ApiError> {
    let Json(p) = body?;
    if kind == EntityKind::Repository && p.owner.is_empty() {
        return Err(ApiError::bad("missing owner"));
    }
    if p.name.is_empty() {
        return Err(ApiError::bad("missing name"));
    }
    if p.credentials_name.is_empty() {
        return Err(ApiError::bad("missing credentials name"));
    }
    if p.webhook_secret.is_empty() {
        return Err(ApiError::bad("missing secret"));
    }
    check_entity_names(kind, &p.owner, &p.name)?;
    let balancer = BalancerType::parse(&p.pool_balancer_type).map_err(ApiError::BadRequest)?;
    match p.forge_type.as_str() {
        "" | "github" => {}
        "gitea" => return Err(ApiError::bad("gitea is not supported by this garm yet")),
        other => return Err(ApiError::bad(format!("invalid forge_type {other:?}"))),
    }
    let creds = app
        .store
        .credentials_by_name(&p.credentials_name)
        .await
        .map_err(|_| ApiError::bad(format!("credentials {} not defined", p.credentials_name)))?;
    let now = chrono::Utc::now();
    let record = EntityRecord {
        id: EntityId::default(),
        kind,
        owner: if kind == EntityKind::Repository {
            p.owner
        } else {
            String::new()
        },
        name: p.name,
        endpoint_name: creds.endpoint_name.clone(),
        credentials_id: creds.id,
        webhook_secret: Secret::new(p.webhook_secret),
        balancer,
        agent_mode: p.agent_mode,
        pool_manager_running: false,
        failure_reason: String::new(),
        created_at: now,
        updated_at: now,
    };
    let created = app.store.create_entity(&record).await?;
    tracing::info!(kind = kind.as_str(), entity = %created.display_name(), id = %created.id, credentials = %creds.name, "entity created");
    crate::events::entity_changed(&app, &created.id);
    let out = convert::entity(&app, &created).await?;
    Ok(Json(published(&app, EntityType::of(kind), Operation::Create, out)))
}

/// An entity with its pools and events, as garm's get-by-id returns it.
pub async fn detailed(app: &App, e: &EntityRecord) -> Result<api::Entity, ApiError> {
    let mut out = convert::entity(app, e).await?;
    for p in app.store.pools(Some(&e.id)).await? {
        out.pool.push(convert::pool(app, &p, Detail::Full).await?);
    }
    out.events = app
        .store
        .entity_events(&e.id)
        .await?
        .iter()
        .map(convert::event)
        .collect();
    Ok(out)
}

async fn show(State(app): State<App>, kind: EntityKind, Path(id): Path<String>) -> Result<Json<api::Entity>, ApiError> {
    let id = EntityId::from(id);
    let e = app.store.entity(kind, &id).await?;
    Ok(Json(detailed(&app, &e).await?))
}

async fn update(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
    body: JsonBody<api::UpdateEntityParams>,
) -> Result<Json<api::Entity>, ApiError> {
    let id = EntityId::from(id);
    let Json(p) = body?;
    let mut e = app.store.entity(kind, &id).await?;
    if !p.pool_balancer_type.is_empty() {
        e.balancer = BalancerType::parse(&p.pool_balancer_type).map_err(ApiError::BadRequest)?;
    }
    if !p.credentials_name.is_empty() {
        let creds = app
            .store
            .credentials_by_name(&p.credentials_name)
            .await
            .map_err(|_| ApiError::bad(format!("credentials {} not defined", p.credentials_name)))?;
        if !creds.endpoint_name.eq_ignore_ascii_case(&e.endpoint_name) {
            return Err(ApiError::bad(
                "endpoint mismatch: credentials belong to another endpoint",
            ));
        }
        e.credentials_id = creds.id;
    }
    if !p.webhook_secret.is_empty() {
        e.webhook_secret = Secret::new(p.webhook_secret);
    }
    if let Some(agent_mode) = p.agent_mode {
        e.agent_mode = agent_mode;
    }
    app.store.update_entity(&e).await?;
    crate::events::entity_changed(&app, &e.id);
    let e = app.store.entity(kind, &id).await?;
    let out = detailed(&app, &e).await?;
    Ok(Json(published(&app, EntityType::of(kind), Operation::Update, out)))
}

#[derive(Debug, Deserialize, Default)]
pub struct DeleteQuery {
    #[serde(default, rename = "keepWebhook")]
    keep_webhook: Option<String>,
}

pub(crate) async fn delete(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Empty, ApiError> {
    let id = EntityId::from(id);
    let gone = app.store.entity(kind, &id).await?;
    let pools = app.store.pools(Some(&id)).await?;
    if !pools.is_empty() {
        let ids: Vec<&str> = pools.iter().map(|p| p.id.as_str()).collect();
        return Err(ApiError::BadRequest(format!(
            "{} has pools defined ({})",
            kind.as_str(),
            ids.join(", ")
        )));
    }
    // As garm: with webhook management on, the controller's hook goes with the entity unless
    // the caller keeps it; a failure to remove it is logged, not fatal.
    let keep_webhook = q.keep_webhook.as_deref() == Some("true");
    if !keep_webhook && app.config.enable_webhook_management {
        if let Err(err) = super::hooks::remove_controller_hook(&app, kind, &id).await {
            tracing::warn!(kind = kind.as_str(), id = %id, error = %err, "could not remove the webhook of a deleted entity");
        }
    }
    let gone = convert::entity(&app, &gone).await?;
    app.store.delete_entity(kind, &id).await?;
    app.streams.publish(EntityType::of(kind), Operation::Delete, &gone);
    tracing::info!(kind = kind.as_str(), id = %id, "entity deleted");
    crate::events::entity_changed(&app, &id);
    Ok(Empty)
}
