//! Runner install templates and named proxies: lists, details, create, edit and delete,
//! through the REST handlers of `crate::api::templates` and `crate::api::proxies`. System
//! templates are shown read-only (the API refuses to change or delete them, and the page
//! offers no form for what would be refused); a proxy's password is never shown.

use super::deletes::{confirm, Confirm};
use super::html::{self, e, form, thead, Field, Kind};
use super::{field, opts, page, see_other, store_fail, FormData, FormMode, Fragment, Refresh, Session};
use crate::api::{proxies as api_proxies, templates as api_templates};
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Json, Router};
use garm_api_types as api;
use garm_store::{ProxyRecord, TemplateFilter, TemplateRecord};
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/templates", get(templates).post(create_template))
        .route("/ui/templates/{id}", get(template).post(update_template))
        .route("/ui/templates/{id}/delete", get(ask_template).post(delete_template))
        .route("/ui/proxies", get(proxies).post(create_proxy))
        .route("/ui/proxies/{id}", get(proxy).post(update_proxy))
        .route("/ui/proxies/{id}/delete", get(ask_proxy).post(delete_proxy))
}

fn with_status(mut resp: Response, err: &ApiError) -> Response {
    *resp.status_mut() = err.status();
    resp
}

// ---- templates ------------------------------------------------------------------

async fn render_templates(
    app: &App,
    s: &Session,
    frag: &Fragment,
    v: &FormData,
    error: Option<&str>,
) -> Result<Response, Response> {
    let list = app
        .store
        .templates(&TemplateFilter::default())
        .await
        .map_err(store_fail)?;
    let mut out = String::from("<h1>Templates</h1>");
    thead(
        &mut out,
        "Runner install templates",
        &["Id", "Name", "Description", "OS", "Forge", "Owner"],
    );
    for t in &list {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><a href=\"/ui/templates/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.id,
            t.id,
            e(&t.name),
            e(&t.description),
            e(&t.os_type),
            e(&t.forge_type),
            if t.is_system() { "system (read-only)" } else { "user" }
        );
    }
    out.push_str("</tbody></table><h2>Add a template</h2><p>Start from a system template's text (open it and copy it) and change what your runners need.</p>");
    let val = |k: &str, d: &str| v.get(k).cloned().unwrap_or_else(|| d.to_string());
    form(
        &mut out,
        "/ui/templates",
        &s.csrf,
        &[
            Field::new("name", "Name", Kind::Text).value(val("name", "")).required(),
            Field::new("description", "Description", Kind::Text).value(val("description", "")),
            Field::new("os_type", "OS type", Kind::Select(opts(&["linux", "windows"]))).value(val("os_type", "linux")),
            Field::new("forge_type", "Forge", Kind::Select(opts(&["github", "gitea"])))
                .value(val("forge_type", "github")),
            Field::new("data", "Template text", Kind::Code)
                .value(val("data", ""))
                .required()
                .help("A Go text/template, checked when saved."),
        ],
        "Add template",
        error,
    );
    Ok(page(s, frag, "Templates", "/ui/templates", Refresh::Static, &out))
}

async fn templates(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    render_templates(&app, &s, &frag, &FormData::new(), None).await
}

async fn create_template(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let params = api::CreateTemplateParams {
        name: field(&f, "name").trim().into(),
        description: field(&f, "description").into(),
        data: field(&f, "data").replace("\r\n", "\n").into_bytes(),
        os_type: field(&f, "os_type").into(),
        forge_type: field(&f, "forge_type").into(),
    };
    match api_templates::create(State(app.clone()), s.api_headers(), Ok(Json(params))).await {
        Ok(Json(t)) => Ok(see_other(&format!("/ui/templates/{}", t.id))),
        Err(err) => Ok(with_status(
            render_templates(&app, &s, &frag, &f, Some(&super::message(&err))).await?,
            &err,
        )),
    }
}

fn render_template(
    s: &Session,
    frag: &Fragment,
    t: &TemplateRecord,
    v: Option<&FormData>,
    error: Option<&str>,
) -> Response {
    let mut out = format!("<h1>Template {}</h1><dl class=\"props\">", e(&t.name));
    for (k, x) in [
        ("Id", t.id.to_string()),
        ("Description", t.description.clone()),
        ("OS / forge", format!("{} / {}", t.os_type, t.forge_type)),
        ("Owner", (if t.is_system() { "system" } else { "user" }).to_string()),
        ("Updated", html::time(&t.updated_at)),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", e(&x));
    }
    out.push_str("</dl>");
    if t.is_system() {
        if let Some(err) = error {
            let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", e(err));
        }
        let _ = write!(
            out,
            "<p>System templates are read-only: add a template with a copy of this text to change it.</p><pre class=\"code\" aria-label=\"template text\">{}</pre>",
            e(&t.data)
        );
        return page(s, frag, &t.name, "/ui/templates", Refresh::Static, &out);
    }
    let val = |k: &str, d: &str| v.and_then(|v| v.get(k).cloned()).unwrap_or_else(|| d.to_string());
    out.push_str("<h2>Edit</h2>");
    form(
        &mut out,
        &format!("/ui/templates/{}", t.id),
        &s.csrf,
        &[
            Field::new("name", "Name", Kind::Text)
                .value(val("name", &t.name))
                .required(),
            Field::new("description", "Description", Kind::Text).value(val("description", &t.description)),
            Field::new("data", "Template text", Kind::Code)
                .value(val("data", &t.data))
                .required(),
        ],
        "Save template",
        error,
    );
    out.push_str("<p class=\"actions\">");
    super::deletes::link(&mut out, &format!("/ui/templates/{}/delete", t.id), "Delete template…");
    out.push_str("</p>");
    page(s, frag, &t.name, "/ui/templates", Refresh::Static, &out)
}

async fn template(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let t = app.store.template(id).await.map_err(store_fail)?;
    Ok(render_template(&s, &frag, &t, None, None))
}

async fn update_template(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let params = api::UpdateTemplateParams {
        name: Some(field(&f, "name").trim().into()),
        description: Some(field(&f, "description").into()),
        data: Some(field(&f, "data").replace("\r\n", "\n").into_bytes()),
    };
    match api_templates::update(State(app.clone()), Path(id.to_string()), Ok(Json(params))).await {
        Ok(_) => Ok(see_other(&format!("/ui/templates/{id}"))),
        Err(err) => {
            let t = app.store.template(id).await.map_err(store_fail)?;
            Ok(with_status(
                render_template(&s, &frag, &t, Some(&f), Some(&super::message(&err))),
                &err,
            ))
        }
    }
}

fn template_confirm(t: &TemplateRecord) -> Confirm<'static> {
    Confirm {
        what: format!("template {}", t.name),
        consequence: "The template is removed for good. garm refuses while a pool or scale set uses it, and always for system templates.",
        action: format!("/ui/templates/{}/delete", t.id),
        back: format!("/ui/templates/{}", t.id),
        current: "/ui/templates",
        extra: String::new(),
    }
}

async fn ask_template(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let t = app.store.template(id).await.map_err(store_fail)?;
    Ok(confirm(&s, &frag, &template_confirm(&t), None))
}

async fn delete_template(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let t = app.store.template(id).await.map_err(store_fail)?;
    match api_templates::delete(State(app.clone()), Path(id.to_string())).await {
        Ok(_) => Ok(see_other("/ui/templates")),
        Err(err) => Ok(confirm(&s, &frag, &template_confirm(&t), Some(&err))),
    }
}

// ---- proxies --------------------------------------------------------------------

fn proxy_fields<'a>(v: &FormData, mode: FormMode) -> Vec<Field<'a>> {
    let val = |k: &str| v.get(k).cloned().unwrap_or_default();
    let password_help = if mode == FormMode::Edit {
        "Leave empty to keep the stored password; clear the username to remove both."
    } else {
        "Optional; stored sealed and never shown again."
    };
    vec![
        Field::new("name", "Name", Kind::Text).value(val("name")).required(),
        Field::new("description", "Description", Kind::Text).value(val("description")),
        Field::new("http_proxy", "HTTP proxy URL", Kind::Text).value(val("http_proxy")),
        Field::new("https_proxy", "HTTPS proxy URL", Kind::Text).value(val("https_proxy")),
        Field::new("no_proxy", "No proxy for", Kind::Text)
            .value(val("no_proxy"))
            .help("Comma separated hosts and domains."),
        Field::new("username", "Username", Kind::Text).value(val("username")),
        Field::new("password", "Password", Kind::Password).help(password_help),
    ]
}

fn proxy_params(f: &FormData, mode: FormMode) -> api::ProxyParams {
    let text = |k: &str| Some(field(f, k).trim().to_string());
    let password = field(f, "password");
    api::ProxyParams {
        name: text("name"),
        description: Some(field(f, "description").into()),
        http_proxy: text("http_proxy"),
        https_proxy: text("https_proxy"),
        no_proxy: text("no_proxy"),
        username: text("username"),
        // On edit an empty password keeps the stored one.
        password: (!(mode == FormMode::Edit && password.is_empty())).then(|| password.to_string()),
    }
}

async fn render_proxies(
    app: &App,
    s: &Session,
    frag: &Fragment,
    v: &FormData,
    error: Option<&str>,
) -> Result<Response, Response> {
    let list = app.store.proxies().await.map_err(store_fail)?;
    let mut out = String::from("<h1>Proxies</h1>");
    thead(
        &mut out,
        "Named proxies",
        &["Id", "Name", "Description", "HTTP", "HTTPS", "No proxy", "Credentials"],
    );
    for p in &list {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><a href=\"/ui/proxies/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.id,
            p.id,
            e(&p.name),
            e(&p.description),
            e(&p.http_proxy),
            e(&p.https_proxy),
            e(&p.no_proxy),
            if p.username.is_empty() { "none" } else { "user and password" }
        );
    }
    out.push_str("</tbody></table><h2>Add a proxy</h2>");
    form(
        &mut out,
        "/ui/proxies",
        &s.csrf,
        &proxy_fields(v, FormMode::Create),
        "Add proxy",
        error,
    );
    Ok(page(s, frag, "Proxies", "/ui/proxies", Refresh::Static, &out))
}

async fn proxies(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    render_proxies(&app, &s, &frag, &FormData::new(), None).await
}

async fn create_proxy(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    match api_proxies::create(State(app.clone()), Ok(Json(proxy_params(&f, FormMode::Create)))).await {
        Ok(Json(p)) => Ok(see_other(&format!("/ui/proxies/{}", p.id))),
        Err(err) => Ok(with_status(
            render_proxies(&app, &s, &frag, &f, Some(&super::message(&err))).await?,
            &err,
        )),
    }
}

fn proxy_values(p: &ProxyRecord) -> FormData {
    [
        ("name", &p.name),
        ("description", &p.description),
        ("http_proxy", &p.http_proxy),
        ("https_proxy", &p.https_proxy),
        ("no_proxy", &p.no_proxy),
        ("username", &p.username),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect()
}

fn render_proxy(s: &Session, frag: &Fragment, p: &ProxyRecord, v: &FormData, error: Option<&str>) -> Response {
    let mut out = format!(
        "<h1>Proxy {}</h1><p>Password: {}.</p><h2>Edit</h2>",
        e(&p.name),
        if p.password.is_some() {
            "stored (not shown)"
        } else {
            "none"
        }
    );
    form(
        &mut out,
        &format!("/ui/proxies/{}", p.id),
        &s.csrf,
        &proxy_fields(v, FormMode::Edit),
        "Save proxy",
        error,
    );
    out.push_str("<p class=\"actions\">");
    super::deletes::link(&mut out, &format!("/ui/proxies/{}/delete", p.id), "Delete proxy…");
    out.push_str("</p>");
    page(s, frag, &p.name, "/ui/proxies", Refresh::Static, &out)
}

async fn proxy(State(app): State<App>, s: Session, frag: Fragment, Path(id): Path<i64>) -> Result<Response, Response> {
    let p = app.store.proxy(id).await.map_err(store_fail)?;
    Ok(render_proxy(&s, &frag, &p, &proxy_values(&p), None))
}

async fn update_proxy(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    match api_proxies::update(
        State(app.clone()),
        Path(id.to_string()),
        Ok(Json(proxy_params(&f, FormMode::Edit))),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/proxies/{id}"))),
        Err(err) => {
            let p = app.store.proxy(id).await.map_err(store_fail)?;
            Ok(with_status(
                render_proxy(&s, &frag, &p, &f, Some(&super::message(&err))),
                &err,
            ))
        }
    }
}

fn proxy_confirm(p: &ProxyRecord) -> Confirm<'static> {
    Confirm {
        what: format!("proxy {}", p.name),
        consequence:
            "The proxy and its credentials are removed for good. garm refuses while a pool or scale set uses it.",
        action: format!("/ui/proxies/{}/delete", p.id),
        back: format!("/ui/proxies/{}", p.id),
        current: "/ui/proxies",
        extra: String::new(),
    }
}

async fn ask_proxy(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let p = app.store.proxy(id).await.map_err(store_fail)?;
    Ok(confirm(&s, &frag, &proxy_confirm(&p), None))
}

async fn delete_proxy(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let p = app.store.proxy(id).await.map_err(store_fail)?;
    match api_proxies::delete(State(app.clone()), Path(id.to_string())).await {
        Ok(_) => Ok(see_other("/ui/proxies")),
        Err(err) => Ok(confirm(&s, &frag, &proxy_confirm(&p), Some(&err))),
    }
}
