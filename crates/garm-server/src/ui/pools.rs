//! Pools: list, detail, create, edit, enable/disable and delete, through the REST handlers
//! (`crate::api::pools`), so a form is validated exactly as the API validates a request.

use super::html::{self, e, filter, form, thead, Field, Kind};
use super::{
    checked, entity_options, field, number, opts, page, page_no, see_other, FormData, FormMode, Fragment, Refresh,
    Session,
};
use crate::api::pools as api_pools;
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use garm_api_types as api;
use garm_model::PoolId;
use garm_store::PoolRecord;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/pools", get(list).post(create))
        .route("/ui/pools/new", get(new_form))
        .route("/ui/pools/{id}", get(show).post(update))
        .route("/ui/pools/{id}/edit", get(edit_form))
        .route("/ui/pools/{id}/toggle", post(toggle))
        .route("/ui/pools/{id}/delete", post(delete))
}

fn tags(p: &PoolRecord) -> String {
    p.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The pools page's `<main>`: `q` filters by id, entity, provider, image, flavor or label.
pub async fn render_pools(app: &App, q: &str, page_no: usize, csrf: &str) -> Result<String, ApiError> {
    let pools = app.store.pools(None).await?;
    let entities: HashMap<String, String> = app
        .store
        .all_entities()
        .await?
        .into_iter()
        .map(|e| (e.id.to_string(), e.display_name()))
        .collect();
    let count = app.store.instance_counts().await?.per_pool;
    let needle = q.to_lowercase();
    let shown: Vec<&PoolRecord> = pools
        .iter()
        .filter(|p| {
            needle.is_empty()
                || [
                    &p.id.to_string(),
                    &p.provider_name,
                    &p.image,
                    &p.flavor,
                    entities.get(p.entity_id.as_str()).unwrap_or(&String::new()),
                ]
                .iter()
                .any(|s| s.to_lowercase().contains(&needle))
                || p.tags.iter().any(|t| t.name.to_lowercase().contains(&needle))
        })
        .collect();
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<h1>Pools</h1><p><a class=\"button\" href=\"/ui/pools/new\">Add a pool</a></p>");
    filter(&mut out, "/ui/pools", q, "pools");
    let (rows, nav) = html::page(&shown, page_no, &format!("/ui/pools?q={}&", html::url_part(q)));
    thead(
        &mut out,
        &format!("{} of {} pools", shown.len(), pools.len()),
        &[
            "Pool",
            "Entity",
            "Provider",
            "Image / flavor",
            "Labels",
            "Runners",
            "State",
            "Actions",
        ],
    );
    for p in rows {
        let n = count.get(&p.id).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/pools/{}\">{}</a></td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{n}/{} (min idle {})</td><td>{}</td><td>",
            html::url_part(&p.id),
            e(&p.id),
            e(entities.get(p.entity_id.as_str()).map_or("", String::as_str)),
            e(&p.provider_name),
            e(&p.image),
            e(&p.flavor),
            e(&tags(p)),
            p.max_runners,
            p.min_idle_runners,
            if p.enabled { "enabled" } else { "disabled" }
        );
        let label = if p.enabled { "Disable" } else { "Enable" };
        html::button(
            &mut out,
            &format!("/ui/pools/{}/toggle", html::url_part(&p.id)),
            csrf,
            label,
            "small",
        );
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
    out.push_str(&nav);
    Ok(out)
}

async fn list(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let filter = q.get("q").map(String::as_str).unwrap_or("");
    let body = render_pools(&app, filter, page_no(&q), &s.csrf)
        .await
        .map_err(super::fail)?;
    Ok(page(
        &s,
        &frag,
        "Pools",
        "/ui/pools",
        Refresh::live_if(filter.is_empty()),
        &body,
    ))
}

async fn show(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = PoolId::from(id);
    let p = app.store.pool(&id).await.map_err(|e| super::fail(e.into()))?;
    let entity = app
        .store
        .entity_any(&p.entity_id)
        .await
        .map_err(|e| super::fail(e.into()))?;
    let instances = app.store.pool_instances(&id).await.map_err(|e| super::fail(e.into()))?;
    let mut out = String::new();
    let _ = write!(out, "<h1>Pool {}</h1><dl class=\"props\">", e(&p.id));
    let entity_link = format!(
        "<a href=\"/ui/{}/{}\">{}</a>",
        super::kind_path(entity.kind),
        html::url_part(&entity.id),
        e(&entity.display_name())
    );
    for (k, v) in [
        ("Entity", entity_link),
        ("State", (if p.enabled { "enabled" } else { "disabled" }).to_string()),
        ("Provider", e(&p.provider_name).to_string()),
        ("Image", e(&p.image).to_string()),
        ("Flavor", e(&p.flavor).to_string()),
        ("OS", format!("{} {}", e(&p.os_type), e(&p.os_arch))),
        ("Labels", e(&tags(&p)).to_string()),
        (
            "Runners",
            format!(
                "{} of max {}, min idle {}",
                instances.len(),
                p.max_runners,
                p.min_idle_runners
            ),
        ),
        ("Runner prefix", e(&p.runner_prefix).to_string()),
        ("Bootstrap timeout", format!("{} min", p.bootstrap_timeout)),
        ("Priority", p.priority.to_string()),
        (
            "Extra specs",
            format!("<code>{}</code>", e(p.extra_specs.as_deref().unwrap_or(""))),
        ),
        ("Generation", p.generation.to_string()),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl><p class=\"actions\">");
    if p.scale_set_id.is_none() {
        let _ = write!(
            out,
            "<a class=\"button\" href=\"/ui/pools/{}/edit\">Edit</a> ",
            html::url_part(&p.id)
        );
        let label = if p.enabled { "Disable" } else { "Enable" };
        html::button(
            &mut out,
            &format!("/ui/pools/{}/toggle", html::url_part(&p.id)),
            &s.csrf,
            label,
            "",
        );
        html::button(
            &mut out,
            &format!("/ui/pools/{}/delete", html::url_part(&p.id)),
            &s.csrf,
            "Delete pool",
            "danger",
        );
    }
    out.push_str("</p>");
    let verdicts = super::attest::Verdicts::load(&app.store, [&p])
        .await
        .map_err(|e| super::fail(e.into()))?;
    super::runners::instance_table(&mut out, "Instances of this pool", &instances, &verdicts);
    Ok(page(
        &s,
        &frag,
        &format!("Pool {}", p.id),
        "/ui/pools",
        Refresh::Live,
        &out,
    ))
}

/// The create and edit forms share their controls; `v` holds the values shown.
fn pool_fields<'a>(app: &App, v: &FormData, entities: Option<Vec<(String, String)>>) -> Vec<Field<'a>> {
    let val = |k: &str, d: &str| v.get(k).cloned().unwrap_or_else(|| d.to_string());
    let mut fields = Vec::new();
    if let Some(options) = entities {
        fields.push(
            Field::new(
                "entity",
                "Repository, organization or enterprise",
                Kind::Select(options),
            )
            .value(val("entity", "")),
        );
        let providers: Vec<&str> = app.config.providers.iter().map(|p| p.name.as_str()).collect();
        fields.push(
            Field::new("provider_name", "Provider", Kind::Select(opts(&providers))).value(val("provider_name", "")),
        );
    }
    fields.extend([
        Field::new("image", "Image", Kind::Text)
            .value(val("image", ""))
            .required(),
        Field::new("flavor", "Flavor", Kind::Text)
            .value(val("flavor", ""))
            .required(),
        Field::new("tags", "Labels", Kind::Text)
            .value(val("tags", ""))
            .help("Comma separated, e.g. self-hosted, linux, x64."),
        Field::new("os_type", "OS type", Kind::Select(opts(&["linux", "windows"]))).value(val("os_type", "linux")),
        Field::new(
            "os_arch",
            "OS architecture",
            Kind::Select(opts(&["amd64", "arm64", "arm", "386"])),
        )
        .value(val("os_arch", "amd64")),
        Field::new("min_idle_runners", "Minimum idle runners", Kind::Number).value(val("min_idle_runners", "0")),
        Field::new("max_runners", "Maximum runners", Kind::Number).value(val("max_runners", "5")),
        Field::new("runner_bootstrap_timeout", "Bootstrap timeout (minutes)", Kind::Number)
            .value(val("runner_bootstrap_timeout", "20")),
        Field::new("runner_prefix", "Runner name prefix", Kind::Text).value(val("runner_prefix", "garm")),
        Field::new("priority", "Priority", Kind::Number).value(val("priority", "0")),
        Field::new("github_runner_group", "Runner group", Kind::Text).value(val("github_runner_group", "")),
        Field::new("extra_specs", "Extra specs (JSON)", Kind::Textarea)
            .value(val("extra_specs", ""))
            .help("Provider specific, e.g. {\"confidential\": true}."),
        Field::new("enabled", "Enabled", Kind::Checkbox).value(val("enabled", "true")),
        Field::new("enable_shell", "Enable shell", Kind::Checkbox).value(val("enable_shell", "")),
    ]);
    fields
}

/// The REST body a pool form stands for (the API's own types parse it).
fn pool_body(f: &FormData, mode: FormMode) -> Result<String, ApiError> {
    let mut body = Map::new();
    for k in [
        "image",
        "flavor",
        "os_type",
        "os_arch",
        "runner_prefix",
        "github-runner-group",
    ] {
        let form_key = if k == "github-runner-group" {
            "github_runner_group"
        } else {
            k
        };
        body.insert(k.into(), json!(field(f, form_key).trim()));
    }
    for k in [
        "min_idle_runners",
        "max_runners",
        "runner_bootstrap_timeout",
        "priority",
    ] {
        body.insert(k.into(), number(f, k)?);
    }
    let tags: Vec<&str> = field(f, "tags")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    body.insert("tags".into(), json!(tags));
    body.insert("enabled".into(), json!(checked(f, "enabled")));
    body.insert("enable_shell".into(), json!(checked(f, "enable_shell")));
    let specs = field(f, "extra_specs").trim();
    if !specs.is_empty() {
        let parsed: Value =
            serde_json::from_str(specs).map_err(|err| ApiError::bad(format!("extra_specs: not JSON: {err}")))?;
        body.insert("extra_specs".into(), parsed);
    }
    if mode == FormMode::Create {
        body.insert("provider_name".into(), json!(field(f, "provider_name")));
    }
    Ok(Value::Object(body).to_string())
}

async fn new_form(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Query(q): Query<FormData>,
) -> Result<Response, Response> {
    render_new(&app, &s, &frag, &q, None, StatusCode::OK).await
}

async fn render_new(
    app: &App,
    s: &Session,
    frag: &Fragment,
    values: &FormData,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Response> {
    let entities = app.store.all_entities().await.map_err(|e| super::fail(e.into()))?;
    let mut out = String::from("<h1>Add a pool</h1>");
    if entities.is_empty() {
        out.push_str("<p>Add a <a href=\"/ui/repositories\">repository</a>, organization or enterprise first.</p>");
    } else {
        let fields = pool_fields(app, values, Some(entity_options(&entities)));
        form(&mut out, "/ui/pools", &s.csrf, &fields, "Create pool", error);
    }
    let mut resp = page(s, frag, "Add a pool", "/ui/pools", Refresh::Static, &out);
    *resp.status_mut() = status;
    Ok(resp)
}

async fn create(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let result = async {
        let entity = app.store.entity_any(&field(&f, "entity").into()).await?;
        let params: api::CreatePoolParams =
            serde_json::from_str(&pool_body(&f, FormMode::Create)?).map_err(|err| ApiError::bad(err.to_string()))?;
        let Json(pool) = api_pools::create(
            State(app.clone()),
            entity.kind,
            Path(entity.id.to_string()),
            Ok(Json(params)),
        )
        .await?;
        Ok::<_, ApiError>(pool.id)
    }
    .await;
    match result {
        Ok(id) => Ok(see_other(&format!("/ui/pools/{}", html::url_part(&id)))),
        Err(err) => render_new(&app, &s, &frag, &f, Some(&super::message(&err)), err.status()).await,
    }
}

fn values_of(p: &PoolRecord) -> FormData {
    let mut v = FormData::new();
    for (k, x) in [
        ("image", p.image.clone()),
        ("flavor", p.flavor.clone()),
        ("tags", tags(p)),
        ("os_type", p.os_type.clone()),
        ("os_arch", p.os_arch.clone()),
        ("min_idle_runners", p.min_idle_runners.to_string()),
        ("max_runners", p.max_runners.to_string()),
        ("runner_bootstrap_timeout", p.bootstrap_timeout.to_string()),
        ("runner_prefix", p.runner_prefix.clone()),
        ("priority", p.priority.to_string()),
        ("github_runner_group", p.runner_group.clone()),
        ("extra_specs", p.extra_specs.clone().unwrap_or_default()),
        ("enabled", p.enabled.to_string()),
        ("enable_shell", p.enable_shell.to_string()),
    ] {
        v.insert(k.into(), x);
    }
    v
}

fn render_edit(app: &App, s: &Session, frag: &Fragment, id: &str, v: &FormData, error: Option<&str>) -> Response {
    let mut out = format!("<h1>Edit pool {}</h1>", e(id));
    let action = format!("/ui/pools/{}", html::url_part(id));
    form(
        &mut out,
        &action,
        &s.csrf,
        &pool_fields(app, v, None),
        "Save pool",
        error,
    );
    page(s, frag, "Edit pool", "/ui/pools", Refresh::Static, &out)
}

async fn edit_form(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = PoolId::from(id);
    let p = app.store.pool(&id).await.map_err(|e| super::fail(e.into()))?;
    Ok(render_edit(&app, &s, &frag, &id, &values_of(&p), None))
}

async fn update(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let result = async {
        let params: api::UpdatePoolParams =
            serde_json::from_str(&pool_body(&f, FormMode::Edit)?).map_err(|err| ApiError::bad(err.to_string()))?;
        api_pools::update(State(app.clone()), Path(id.clone()), Ok(Json(params))).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/ui/pools/{}", html::url_part(&id)))),
        Err(err) => {
            let mut resp = render_edit(&app, &s, &frag, &id, &f, Some(&super::message(&err)));
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn toggle(
    State(app): State<App>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    let id = PoolId::from(id);
    s.check(&f)?;
    let p = app.store.pool(&id).await.map_err(|e| super::fail(e.into()))?;
    let params = api::UpdatePoolParams {
        enabled: Some(!p.enabled),
        ..Default::default()
    };
    let _updated = api_pools::update(State(app.clone()), Path(id.to_string()), Ok(Json(params)))
        .await
        .map_err(super::fail)?;
    Ok(see_other(&format!("/ui/pools/{}", html::url_part(&id))))
}

async fn delete(
    State(app): State<App>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    match api_pools::delete(State(app.clone()), Path(id.clone())).await {
        Ok(_) => Ok(see_other("/ui/pools")),
        Err(err) => Ok((err.status(), super::error_page(&err)).into_response()),
    }
}
