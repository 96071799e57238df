//! Webhook management (`enable_webhook_management`): install, show and uninstall the
//! controller's hook on a repository or organization.

use super::Empty;
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use garm_api_types as api;
use garm_model::EntityId;
use garm_pool::forge::ForgeAccessError;
use garm_pool::ForgeHook;
use garm_store::{EntityKind, EntityRecord};

pub fn routes() -> Router<App> {
    let mut router = Router::new();
    for (base, kind) in [
        ("repositories", EntityKind::Repository),
        ("organizations", EntityKind::Organization),
    ] {
        router = router.route(
            &format!("/api/v1/{base}/{{id}}/webhook"),
            get(move |s, p| show(s, kind, p))
                .post(move |s, p, b| install(s, kind, p, b))
                .delete(move |s, p| uninstall(s, kind, p)),
        );
    }
    router
}

fn forge_error(err: ForgeAccessError) -> ApiError {
    match err {
        ForgeAccessError::Forge(e) if e.is_not_found() => {
            ApiError::bad("repository not found or your PAT does not have access to manage webhooks")
        }
        ForgeAccessError::Forge(e) if e.is_unauthorized() => ApiError::Unauthorized,
        other => ApiError::internal(std::io::Error::other(other.chain())),
    }
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

fn info(h: &ForgeHook) -> api::HookInfo {
    api::HookInfo {
        id: h.id,
        url: h.url.clone(),
        events: h.events.clone(),
        active: h.active,
        insecure_ssl: h.insecure_ssl,
    }
}

async fn context(app: &App, kind: EntityKind, id: &EntityId) -> Result<(EntityRecord, String, String), ApiError> {
    let entity = app.store.entity(kind, id).await?;
    let c = app.store.controller().await?;
    if c.webhook_url.is_empty() {
        return Err(ApiError::bad(
            "the controller has no webhook URL; set it with garm-cli controller update",
        ));
    }
    let controller_url = format!("{}/{}", c.webhook_url.trim_end_matches('/'), c.controller_id);
    Ok((entity, controller_url, c.webhook_url))
}

async fn hooks(app: &App, entity: &EntityRecord) -> Result<Vec<ForgeHook>, ApiError> {
    let forge = app
        .pool
        .forges
        .for_entity(&app.store, entity)
        .await
        .map_err(forge_error)?;
    forge.hooks().await.map_err(|e| forge_error(e.into()))
}

pub(crate) async fn install(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
    body: Result<Json<api::InstallWebhookParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<api::HookInfo>, ApiError> {
    let id = EntityId::from(id);
    let params = body.map(|Json(p)| p).unwrap_or_default();
    let (entity, controller_url, base_url) = context(&app, kind, &id).await?;
    let existing = hooks(&app, &entity).await?;
    let host = url::Url::parse(&base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    if existing.iter().any(|h| same_url(&h.url, &controller_url)) {
        return Err(ApiError::Conflict("the controller webhook is already installed".into()));
    }
    if existing
        .iter()
        .any(|h| h.url.contains(&app.controller_id) || (!host.is_empty() && h.url.contains(&host)))
    {
        return Err(ApiError::Conflict(
            "a webhook pointing at this garm already exists".into(),
        ));
    }
    let forge = app
        .pool
        .forges
        .for_entity(&app.store, &entity)
        .await
        .map_err(forge_error)?;
    let hook = forge
        .create_hook(&controller_url, &entity.webhook_secret, params.insecure_ssl)
        .await
        .map_err(|e| forge_error(e.into()))?;
    tracing::info!(entity = %entity.display_name(), hook = hook.id, url = %controller_url, "webhook installed");
    Ok(Json(info(&hook)))
}

pub(crate) async fn show(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Json<api::HookInfo>, ApiError> {
    let id = EntityId::from(id);
    let (entity, controller_url, base_url) = context(&app, kind, &id).await?;
    let existing = hooks(&app, &entity).await?;
    existing
        .iter()
        .find(|h| same_url(&h.url, &controller_url))
        .or_else(|| existing.iter().find(|h| same_url(&h.url, &base_url)))
        .map(|h| Json(info(h)))
        .ok_or_else(|| ApiError::NotFound("no webhook of this controller is installed".into()))
}

pub(crate) async fn uninstall(
    State(app): State<App>,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Empty, ApiError> {
    let id = EntityId::from(id);
    remove_controller_hook(&app, kind, &id).await
}

/// Removes this controller's webhook from the entity on the forge, if one is installed.
pub(crate) async fn remove_controller_hook(app: &App, kind: EntityKind, id: &EntityId) -> Result<Empty, ApiError> {
    let (entity, controller_url, base_url) = context(app, kind, id).await?;
    let existing = hooks(app, &entity).await?;
    if let Some(hook) = existing.iter().find(|h| same_url(&h.url, &controller_url)) {
        let forge = app
            .pool
            .forges
            .for_entity(&app.store, &entity)
            .await
            .map_err(forge_error)?;
        forge.delete_hook(hook.id).await.map_err(|e| forge_error(e.into()))?;
        tracing::info!(entity = %entity.display_name(), hook = hook.id, "webhook uninstalled");
        return Ok(Empty);
    }
    if existing.iter().any(|h| same_url(&h.url, &base_url)) {
        return Err(ApiError::bad(
            "only a webhook to the base URL exists; remove it manually",
        ));
    }
    Ok(Empty)
}
