//! The controller's webhook on a repository or organization: shown, installed and removed
//! through the handlers of the REST API's `/{repositories,organizations}/{id}/webhook`
//! routes. Showing asks GitHub, so it has its own page (linked from the entity's page)
//! rather than being part of a page that refreshes itself.

use super::deletes::{confirm, Confirm};
use super::html::{self, check_box, e};
use super::{checked, kind_path, page, see_other, FormData, Fragment, Refresh, Session};
use crate::api::hooks as api_hooks;
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Json, Router};
use garm_api_types as api;
use garm_model::EntityId;
use garm_store::EntityKind;
use std::fmt::Write;

pub fn routes() -> Router<App> {
    let mut r = Router::new();
    for kind in [EntityKind::Repository, EntityKind::Organization] {
        let base = format!("/ui/{}/{{id}}/webhook", kind_path(kind));
        r = r
            .route(
                &base,
                get(move |a, s, f, p| show(a, s, f, kind, p)).post(move |a, s, f, p, b| install(a, s, f, kind, p, b)),
            )
            .route(
                &format!("{base}/delete"),
                get(move |a, s, f, p| ask_remove(a, s, f, kind, p))
                    .post(move |a, s, f, p, b| remove(a, s, f, kind, p, b)),
            );
    }
    r
}

/// Whether the entity kind can have the controller's webhook managed by garm.
pub fn managed(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Repository | EntityKind::Organization)
}

fn base(kind: EntityKind, id: &str) -> String {
    format!("/ui/{}/{}/webhook", kind_path(kind), html::url_part(id))
}

/// The webhook page: what GitHub has (or the API's reason it cannot say), then the
/// install form and the remove link; `error` is a failed install's message.
async fn render(
    app: &App,
    s: &Session,
    frag: &Fragment,
    kind: EntityKind,
    id: &EntityId,
    error: Option<&ApiError>,
) -> Result<Response, Response> {
    let entity = app.store.entity(kind, id).await.map_err(|e| super::fail(e.into()))?;
    let here = base(kind, id);
    let mut out = format!(
        "<h1>Webhook of {} {}</h1><p><a href=\"/ui/{}/{}\">Back to the {}</a></p>",
        e(kind.as_str()),
        e(&entity.display_name()),
        kind_path(kind),
        html::url_part(id),
        e(kind.as_str())
    );
    if let Some(err) = error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", e(&super::message(err)));
    }
    let installed = match api_hooks::show(State(app.clone()), kind, Path(id.to_string())).await {
        Ok(Json(hook)) => {
            let _ = write!(
                out,
                "<h2>Installed on GitHub</h2><dl class=\"props\"><dt>Hook id</dt><dd>{}</dd><dt>URL</dt><dd><code>{}</code></dd><dt>Events</dt><dd>{}</dd><dt>Active</dt><dd>{}</dd><dt>TLS verification</dt><dd>{}</dd></dl><p class=\"actions\">",
                hook.id,
                e(&hook.url),
                e(&hook.events.join(", ")),
                if hook.active { "yes" } else { "no" },
                if hook.insecure_ssl { "off (insecure)" } else { "on" }
            );
            super::deletes::link(&mut out, &format!("{here}/delete"), "Remove webhook…");
            out.push_str("</p>");
            true
        }
        Err(err) if err.status() == StatusCode::NOT_FOUND => {
            let _ = write!(out, "<p>Not installed: {}.</p>", e(&super::message(&err)));
            false
        }
        Err(err) => {
            let _ = write!(
                out,
                "<p class=\"error\" role=\"alert\">GitHub could not be asked: {}</p>",
                e(&super::message(&err))
            );
            false
        }
    };
    if !installed {
        let _ = write!(
            out,
            "<h2>Install</h2><p>garm creates a <code>workflow_job</code> webhook to its controller URL with the {}'s webhook secret.</p><form method=\"post\" action=\"{}\" class=\"form\"><input type=\"hidden\" name=\"_csrf\" value=\"{}\">",
            e(kind.as_str()),
            e(&here),
            e(&s.csrf)
        );
        check_box(
            &mut out,
            "insecure_ssl",
            "Skip TLS verification of garm's URL (insecure)",
            false,
        );
        out.push_str("<button type=\"submit\">Install webhook</button></form>");
    }
    let mut resp = page(
        s,
        frag,
        "Webhook",
        &format!("/ui/{}", kind_path(kind)),
        Refresh::Static,
        &out,
    );
    if let Some(err) = error {
        *resp.status_mut() = err.status();
    }
    Ok(resp)
}

async fn show(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = EntityId::from(id);
    render(&app, &s, &frag, kind, &id, None).await
}

async fn install(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    let id = EntityId::from(id);
    s.check(&f)?;
    let params = api::InstallWebhookParams {
        webhook_endpoint_type: "direct".into(),
        insecure_ssl: checked(&f, "insecure_ssl"),
    };
    match api_hooks::install(State(app.clone()), kind, Path(id.to_string()), Ok(Json(params))).await {
        Ok(_) => Ok(see_other(&base(kind, &id))),
        Err(err) => render(&app, &s, &frag, kind, &id, Some(&err)).await,
    }
}

fn remove_confirm(kind: EntityKind, id: &str, name: &str) -> Confirm<'static> {
    Confirm {
        what: format!("the webhook of {name}"),
        consequence: "garm removes its controller's webhook from GitHub; jobs of this entity then reach garm only if another hook or the scale set message queue delivers them.",
        action: format!("{}/delete", base(kind, id)),
        back: base(kind, id),
        current: match kind {
            EntityKind::Repository => "/ui/repositories",
            EntityKind::Organization => "/ui/organizations",
            EntityKind::Enterprise => "/ui/enterprises",
        },
        extra: String::new(),
    }
}

async fn ask_remove(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = EntityId::from(id);
    let entity = app.store.entity(kind, &id).await.map_err(|e| super::fail(e.into()))?;
    Ok(confirm(
        &s,
        &frag,
        &remove_confirm(kind, &id, &entity.display_name()),
        None,
    ))
}

async fn remove(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    let id = EntityId::from(id);
    s.check(&f)?;
    let entity = app.store.entity(kind, &id).await.map_err(|e| super::fail(e.into()))?;
    match api_hooks::uninstall(State(app.clone()), kind, Path(id.to_string())).await {
        Ok(_) => Ok(see_other(&base(kind, &id))),
        Err(err) => Ok(confirm(
            &s,
            &frag,
            &remove_confirm(kind, &id, &entity.display_name()),
            Some(&err),
        )),
    }
}
