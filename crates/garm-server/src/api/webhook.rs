//! `POST /webhooks[/{controller_id}]`: forge webhooks in, job facts recorded.
//!
//! Nothing is written before the signature is checked against the owning entity's
//! secret. Webhooks for owners we do not manage, and for jobs no pool matches, are
//! answered 200 (the sender can do nothing about them) and recorded with the reason
//! when their signature proves they come from a hook we configured.

use crate::state::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use garm_api_types::ApiErrorResponse;
use garm_forge::webhook::{Delivery, Event, SignatureError, TargetType, WorkflowJobEvent};
use garm_pool::intake::{Done, Item, Owner};
use garm_store::{EntityKind, EntityRecord, WebhookView};
use std::sync::Arc;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB; `workflow_job` ones are a few KB).
pub const MAX_BODY: usize = 1024 * 1024;

fn reject(status: StatusCode, error: &str, details: impl Into<String>) -> Response {
    (
        status,
        Json(ApiErrorResponse {
            error: error.into(),
            details: details.into(),
        }),
    )
        .into_response()
}

pub async fn with_controller(
    State(app): State<App>,
    Path(controller_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !controller_id.eq_ignore_ascii_case(&app.controller_id) {
        tracing::info!(controller_id = %controller_id, "webhook for another controller; ignored");
        app.pool.metrics.webhook(false, "unknown");
        return StatusCode::OK.into_response();
    }
    receive(State(app), headers, body).await
}

pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let delivery = match Delivery::from_headers(&headers) {
        Ok(d) => d,
        Err(err) => {
            app.pool.metrics.webhook(false, "unknown");
            return reject(StatusCode::BAD_REQUEST, "Bad Request", err.to_string());
        }
    };
    if delivery.event() != "workflow_job" {
        tracing::debug!(event = delivery.event(), "ignoring webhook event");
        return StatusCode::OK.into_response();
    }
    if body.len() > MAX_BODY {
        app.pool.metrics.webhook(false, "unknown");
        return reject(StatusCode::PAYLOAD_TOO_LARGE, "Bad Request", "webhook body too large");
    }
    let event = match delivery.parse(&body) {
        Ok(Event::WorkflowJob(ev)) => ev,
        Ok(_) => return StatusCode::OK.into_response(),
        Err(err) => {
            app.pool.metrics.webhook(false, "unknown");
            return reject(StatusCode::BAD_REQUEST, "Bad Request", err.to_string());
        }
    };
    match handle(&app, &delivery, &body, &event).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    }
}

async fn handle(app: &App, delivery: &Delivery, body: &[u8], event: &WorkflowJobEvent) -> Result<Response, Response> {
    let job = &event.job;
    let target = delivery
        .target_type()
        .map_err(|err| reject(StatusCode::BAD_REQUEST, "Bad Request", err.to_string()))?;
    let (kind, owner, name) = match target {
        TargetType::Repository => (
            EntityKind::Repository,
            event.repository.owner_login.as_str(),
            event.repository.name.as_str(),
        ),
        TargetType::Organization => (
            EntityKind::Organization,
            "",
            event.organization_login.as_deref().unwrap_or_default(),
        ),
        TargetType::Enterprise => (
            EntityKind::Enterprise,
            "",
            event.enterprise_slug.as_deref().unwrap_or_default(),
        ),
        TargetType::ForgeInstance => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "forge instance hooks are not supported",
            ))
        }
    };
    let base = event.endpoint_base_url().unwrap_or_default();
    // Fast path: the in-memory view of endpoints, entities and pools. Anything it does
    // not settle (unknown owner, a signature its secret does not verify) goes to the
    // database, which another replica may have changed.
    let view = app.store.webhook_view().await.map_err(server_error)?;
    let cached = view
        .endpoint(&base)
        .and_then(|ep| view.entity(kind, owner, name, &ep.name))
        .filter(|entity| delivery.verify(entity.webhook_secret.expose().as_bytes(), body).is_ok())
        .cloned();
    if let Some(entity) = cached {
        return record(app, delivery, Owner::Ours(entity), event, Some(view)).await;
    }
    let delivery_id = delivery.delivery_id().unwrap_or_default().to_string();
    let describe = describe(kind, owner, name);
    tracing::info!(delivery = %delivery_id, action = %event.action.as_str(), job_id = job.id, owner = %describe, labels = ?job.labels, "hook received");
    let endpoints = app.store.endpoints("github").await.map_err(server_error)?;
    let endpoint = endpoints.iter().find(|e| {
        e.base_url
            .trim_end_matches('/')
            .eq_ignore_ascii_case(base.trim_end_matches('/'))
    });
    let entity = match endpoint {
        Some(ep) => app
            .store
            .find_entity(kind, owner, name, &ep.name)
            .await
            .map_err(server_error)?,
        None => None,
    };
    let Some(entity) = entity else {
        return unknown_owner(app, delivery, body, event, endpoint.map(|e| e.name.as_str()), &describe).await;
    };
    if let Err(err) = delivery.verify(entity.webhook_secret.expose().as_bytes(), body) {
        app.pool.metrics.webhook(false, "signature_invalid");
        tracing::warn!(delivery = %delivery_id, owner = %describe, error = %err, "webhook signature rejected");
        let status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::UNAUTHORIZED);
        let error = if status == StatusCode::UNAUTHORIZED {
            "Not Authorized"
        } else {
            "Bad Request"
        };
        let details = if matches!(err, SignatureError::Mismatch) {
            String::new()
        } else {
            err.to_string()
        };
        return Err(reject(status, error, details));
    }
    record(app, delivery, Owner::Ours(entity), event, None).await
}

fn describe(kind: EntityKind, owner: &str, name: &str) -> String {
    if owner.is_empty() {
        format!("{} {name}", kind.as_str())
    } else {
        format!("{} {owner}/{name}", kind.as_str())
    }
}

/// Records the job, then the delivery's key, through the group commit; answers after the commit.
///
/// # Guarantees
/// The key is written only after the job (in the same transaction): a crash before the
/// commit leaves the delivery unrecorded, so GitHub's log shows it failed (no answer)
/// and missed-webhook reconciliation has it redelivered; intake is idempotent, so
/// handling it twice is harmless.
async fn record(
    app: &App,
    delivery: &Delivery,
    owner: Owner,
    event: &WorkflowJobEvent,
    view: Option<Arc<WebhookView>>,
) -> Result<Response, Response> {
    let key = delivery.dedup_key();
    let item = Item {
        owner,
        event: event.clone(),
        key: key.clone(),
        view,
    };
    let done = match app.intake.submit(&app.pool, item).await {
        Some(done) => done.map_err(server_error)?,
        None => {
            tracing::error!(delivery = ?key, "the webhook writer stopped");
            return Err(crate::error::ApiError::Internal("the webhook writer stopped".into()).into_response());
        }
    };
    let job = &event.job;
    match done {
        Done::Redelivery => {
            tracing::info!(delivery = ?key, job_id = job.id, "hook received: redelivery; nothing to do")
        }
        Done::Recorded(outcome) => {
            tracing::info!(delivery = ?key, action = %event.action.as_str(), job_id = job.id, labels = ?job.labels, ?outcome, "hook received")
        }
    }
    app.pool.metrics.webhook(true, "");
    Ok(StatusCode::OK.into_response())
}

/// A webhook for an owner we do not manage. It is recorded (with the reason) only if
/// its signature matches the secret of one of our entities on that endpoint, i.e. it
/// comes from a hook we configured; anything else is acknowledged and dropped.
async fn unknown_owner(
    app: &App,
    delivery: &Delivery,
    body: &[u8],
    event: &WorkflowJobEvent,
    endpoint: Option<&str>,
    describe: &str,
) -> Result<Response, Response> {
    app.pool.metrics.webhook(false, "owner_unknown");
    let candidates: Vec<EntityRecord> = match endpoint {
        Some(ep) => app
            .store
            .all_entities()
            .await
            .map_err(server_error)?
            .into_iter()
            .filter(|e| e.endpoint_name == ep)
            .collect(),
        None => Vec::new(),
    };
    let authentic = candidates
        .iter()
        .any(|e| delivery.verify(e.webhook_secret.expose().as_bytes(), body).is_ok());
    if !authentic {
        tracing::info!(owner = %describe, job_id = event.job.id, "webhook for an owner we do not manage; ignored");
        return Ok(StatusCode::OK.into_response());
    }
    record(
        app,
        delivery,
        Owner::Unknown(format!("no {describe} is managed by this garm")),
        event,
        None,
    )
    .await
}

fn server_error(err: garm_store::StoreError) -> Response {
    crate::error::ApiError::from(err).into_response()
}
