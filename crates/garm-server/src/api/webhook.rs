//! `POST /webhooks[/{controller_id}]`: forge webhooks in, job facts recorded.
//!
//! Nothing is written before the signature is checked against the owning entity's
//! secret. Webhooks for owners we do not manage, and for jobs no pool matches, are
//! answered 200 (the sender can do nothing about them) and recorded with the reason
//! when their signature proves they come from a hook we configured. Which entity a
//! delivery is for is decided below the handler (`garm_pool::intake::resolve`), and every
//! refusal becomes its HTTP status in `ApiError` (`crate::error`).

use crate::error::ApiError;
use crate::state::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use garm_forge::webhook::{Delivery, Event, WorkflowJobEvent};
use garm_pool::intake::resolve::{resolve, Resolution, ResolveError};
use garm_pool::intake::{Done, Item, Owner};
use garm_store::WebhookView;
use std::sync::Arc;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB; `workflow_job` ones are a few KB).
pub const MAX_BODY: usize = 1024 * 1024;

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
    match receive_inner(&app, &headers, &body).await {
        Ok(status) => status.into_response(),
        Err(err) => err.into_response(),
    }
}

async fn receive_inner(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<StatusCode, ApiError> {
    let delivery = Delivery::from_headers(headers).inspect_err(|_| app.pool.metrics.webhook(false, "unknown"))?;
    if delivery.event() != "workflow_job" {
        tracing::debug!(event = delivery.event(), "ignoring webhook event");
        return Ok(StatusCode::OK);
    }
    if body.len() > MAX_BODY {
        app.pool.metrics.webhook(false, "unknown");
        return Err(ApiError::TooLarge("webhook body too large".into()));
    }
    let event = match delivery
        .parse(body)
        .inspect_err(|_| app.pool.metrics.webhook(false, "unknown"))?
    {
        Event::WorkflowJob(ev) => ev,
        _ => return Ok(StatusCode::OK),
    };
    let resolution = resolve(&app.store, &delivery, body, &event).await.inspect_err(|err| {
        if let ResolveError::Signature { owner, source } = err {
            app.pool.metrics.webhook(false, "signature_invalid");
            tracing::warn!(delivery = %delivery.delivery_id().unwrap_or_default(), %owner, error = %source, "webhook signature rejected");
        }
    })?;
    match resolution {
        Resolution::Ours { entity, view } => record(app, &delivery, Owner::Ours(*entity), &event, view).await,
        Resolution::Unmanaged { reason } => {
            app.pool.metrics.webhook(false, "owner_unknown");
            record(app, &delivery, Owner::Unknown(reason), &event, None).await
        }
        Resolution::Ignored { owner } => {
            app.pool.metrics.webhook(false, "owner_unknown");
            tracing::info!(%owner, job_id = event.job.id, "webhook for an owner we do not manage; ignored");
            Ok(StatusCode::OK)
        }
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
) -> Result<StatusCode, ApiError> {
    let key = delivery.dedup_key();
    let item = Item {
        owner,
        event: event.clone(),
        key: key.clone(),
        view,
    };
    let done = match app.intake.submit(&app.pool, item).await {
        Some(done) => done?,
        None => {
            tracing::error!(delivery = ?key, "the webhook writer stopped");
            return Err(ApiError::Internal("the webhook writer stopped".into()));
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
    Ok(StatusCode::OK)
}
