//! Deleting endpoints, credentials and instances, each behind a confirmation page: the list
//! or detail page links to `…/delete`, which asks (GET) and then deletes (POST, with the
//! session's CSRF token) through the same handler as the REST API's `DELETE`. A refusal
//! (the endpoint or credentials are in use, the instance is in a state the API will not
//! delete) is shown on the confirmation page with the API's own message and status.

use super::html::check_box;
use super::html::{self, e};
use super::{page, see_other, FormData, Fragment, Refresh, Session};
use crate::api::{forge, runners as api_runners};
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/endpoints/{name}/delete", get(ask_endpoint).post(delete_endpoint))
        .route(
            "/ui/credentials/{id}/delete",
            get(ask_credentials).post(delete_credentials),
        )
        .route("/ui/instances/{name}/delete", get(ask_instance).post(delete_instance))
}

/// What a confirmation page says and where it leads.
pub struct Confirm<'a> {
    /// "endpoint github.example.com"
    pub what: String,
    /// A sentence on what deleting does.
    pub consequence: &'a str,
    /// The form's action (the same URL, POST).
    pub action: String,
    /// Where "Cancel" goes.
    pub back: String,
    /// The nav entry the page belongs to.
    pub current: &'a str,
    /// Extra controls (checkboxes) inside the form.
    pub extra: String,
}

/// The confirmation page; with `error` the API's refusal above the form, with its status.
pub fn confirm(s: &Session, frag: &Fragment, c: &Confirm, error: Option<&ApiError>) -> Response {
    let mut out = format!("<h1>Delete {}?</h1>", e(&c.what));
    if let Some(err) = error {
        let _ = write!(
            out,
            "<p class=\"error\" role=\"alert\">Not deleted: {}</p>",
            e(&super::message(err))
        );
    }
    let _ = write!(
        out,
        "<p>{}</p><form method=\"post\" action=\"{}\" class=\"form\"><input type=\"hidden\" name=\"_csrf\" value=\"{}\">{}<p class=\"actions\"><button type=\"submit\" class=\"danger\">Delete {}</button> <a class=\"button\" href=\"{}\">Cancel</a></p></form>",
        e(c.consequence),
        e(&c.action),
        e(&s.csrf),
        c.extra,
        e(&c.what),
        e(&c.back)
    );
    let mut resp = page(s, frag, &format!("Delete {}", c.what), c.current, Refresh::Static, &out);
    if let Some(err) = error {
        *resp.status_mut() = err.status();
    }
    resp
}

fn endpoint_confirm(name: &str) -> Confirm<'static> {
    Confirm {
        what: format!("endpoint {name}"),
        consequence: "The endpoint is removed for good. garm refuses while credentials, repositories, organizations or enterprises still use it.",
        action: format!("/ui/endpoints/{}/delete", html::url_part(name)),
        back: "/ui/endpoints".into(),
        current: "/ui/endpoints",
        extra: String::new(),
    }
}

async fn ask_endpoint(State(app): State<App>, s: Session, frag: Fragment, Path(name): Path<String>) -> Response {
    match app.store.endpoint(&name).await {
        Ok(_) => confirm(&s, &frag, &endpoint_confirm(&name), None),
        Err(err) => super::fail(err.into()),
    }
}

async fn delete_endpoint(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(name): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    match forge::delete_endpoint(State(app), Path(name.clone())).await {
        Ok(_) => Ok(see_other("/ui/endpoints")),
        Err(err) => Ok(confirm(&s, &frag, &endpoint_confirm(&name), Some(&err))),
    }
}

fn credentials_confirm(id: &str, name: &str) -> Confirm<'static> {
    Confirm {
        what: format!("credentials {name}"),
        consequence: "The credentials and their secret are removed for good. garm refuses while a repository, organization or enterprise uses them.",
        action: format!("/ui/credentials/{}/delete", html::url_part(id)),
        back: "/ui/credentials".into(),
        current: "/ui/credentials",
        extra: String::new(),
    }
}

async fn credentials_name(app: &App, id: &str) -> Result<String, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("invalid credentials id {id:?}")))?;
    Ok(app.store.credentials(id).await?.name)
}

async fn ask_credentials(State(app): State<App>, s: Session, frag: Fragment, Path(id): Path<String>) -> Response {
    match credentials_name(&app, &id).await {
        Ok(name) => confirm(&s, &frag, &credentials_confirm(&id, &name), None),
        Err(err) => super::fail(err),
    }
}

async fn delete_credentials(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let name = credentials_name(&app, &id).await.map_err(super::fail)?;
    match forge::delete_credentials(State(app), Path(id.clone())).await {
        Ok(_) => Ok(see_other("/ui/credentials")),
        Err(err) => Ok(confirm(&s, &frag, &credentials_confirm(&id, &name), Some(&err))),
    }
}

fn instance_confirm(name: &str, f: &FormData) -> Confirm<'static> {
    let mut extra = String::new();
    check_box(
        &mut extra,
        "force_remove",
        "Force: delete even if the provider or GitHub fails",
        super::checked(f, "force_remove"),
    );
    check_box(
        &mut extra,
        "bypass_gh_unauthorized",
        "Go on when GitHub refuses the credentials (401)",
        super::checked(f, "bypass_gh_unauthorized"),
    );
    Confirm {
        what: format!("instance {name}"),
        consequence: "garm removes the runner from GitHub and marks the instance for deletion; the pool manager then deletes the VM through its provider (and creates a new one if the pool needs it).",
        action: format!("/ui/instances/{}/delete", html::url_part(name)),
        back: format!("/ui/instances/{}", html::url_part(name)),
        current: "/ui/instances",
        extra,
    }
}

async fn ask_instance(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(name): Path<String>,
    Query(q): Query<FormData>,
) -> Response {
    match app.store.instance(&name).await {
        Ok(_) => confirm(&s, &frag, &instance_confirm(&name, &q), None),
        Err(err) => super::fail(err.into()),
    }
}

async fn delete_instance(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(name): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let flag = |k: &str| super::checked(&f, k).then(|| "true".to_string());
    let q = api_runners::DeleteQuery {
        force_remove: flag("force_remove"),
        bypass_gh_unauthorized: flag("bypass_gh_unauthorized"),
    };
    match api_runners::delete(State(app), Path(name.clone()), Query(q)).await {
        Ok(_) => Ok(see_other(&format!("/ui/instances/{}", html::url_part(&name)))),
        Err(err) => Ok(confirm(&s, &frag, &instance_confirm(&name, &f), Some(&err))),
    }
}

/// The "Delete…" link of a row or detail page.
pub fn link(out: &mut String, href: &str, label: &str) {
    let _ = write!(out, "<a class=\"button danger\" href=\"{}\">{}</a>", e(href), e(label));
}
