//! Runner scale sets: list, detail, create, edit, enable/disable and delete, through the
//! REST handlers of `crate::api::scalesets`, so a form is validated (and reaches the
//! Actions service) exactly as `POST /api/v1/{entities}/{id}/scalesets` and
//! `PUT`/`DELETE /api/v1/scalesets/{id}` do.

use super::deletes::{confirm, Confirm};
use super::html::{self, e, form, thead, Field, Kind};
use super::{
    checked, entity_options, field, number, opts, page, see_other, store_fail, FormData, FormMode, Fragment, Refresh,
    Session,
};
use crate::api::scalesets as api_sets;
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use garm_api_types as api;
use garm_store::ScaleSetRecord;
use serde_json::{json, Map, Value};
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/scalesets", get(list).post(create))
        .route("/ui/scalesets/new", get(new_form))
        .route("/ui/scalesets/{id}", get(show).post(update))
        .route("/ui/scalesets/{id}/edit", get(edit_form))
        .route("/ui/scalesets/{id}/toggle", post(toggle))
        .route("/ui/scalesets/{id}/delete", get(ask_delete).post(delete))
}

pub fn scale_set_table(out: &mut String, sets: &[ScaleSetRecord]) {
    if sets.is_empty() {
        out.push_str("<p>Scale sets: none.</p>");
        return;
    }
    thead(
        out,
        "Scale sets",
        &[
            "Scale set",
            "Provider",
            "Flavor",
            "State",
            "Enabled",
            "Desired runners",
            "Max",
        ],
    );
    for s in sets {
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/scalesets/{}\">{}</a></td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.id,
            e(&s.name),
            e(&s.pool.provider_name),
            e(&s.pool.flavor),
            e(&s.state),
            e(&s.extended_state),
            if s.pool.enabled { "enabled" } else { "disabled" },
            s.desired_runner_count,
            s.pool.max_runners
        );
    }
    out.push_str("</tbody></table>");
}

async fn list(State(app): State<App>, s: Session, frag: Fragment) -> Result<Response, Response> {
    let sets = app.store.scale_sets(None).await.map_err(store_fail)?;
    let mut out = String::from(
        "<h1>Scale sets</h1><p class=\"actions\"><a class=\"button\" href=\"/ui/scalesets/new\">Add a scale set</a></p>",
    );
    scale_set_table(&mut out, &sets);
    Ok(page(&s, &frag, "Scale sets", "/ui/scalesets", Refresh::Live, &out))
}

async fn show(State(app): State<App>, s: Session, frag: Fragment, Path(id): Path<i64>) -> Result<Response, Response> {
    let set = app.store.scale_set(id).await.map_err(store_fail)?;
    let instances = app.store.pool_instances(&set.pool.id).await.map_err(store_fail)?;
    let entity = app.store.entity_any(&set.pool.entity_id).await.map_err(store_fail)?;
    let mut out = format!("<h1>Scale set {}</h1><dl class=\"props\">", e(&set.name));
    let tags: Vec<&str> = set.pool.tags.iter().map(|t| t.name.as_str()).collect();
    let _ = write!(
        out,
        "<dt>Entity</dt><dd><a href=\"/ui/{}/{}\">{}</a></dd>",
        super::kind_path(entity.kind),
        html::url_part(&entity.id),
        e(&entity.display_name())
    );
    for (k, v) in [
        ("Enabled", set.pool.enabled.to_string()),
        ("State", format!("{} {}", set.state, set.extended_state)),
        ("Service id", set.service_id.to_string()),
        ("Provider", set.pool.provider_name.clone()),
        ("Image / flavor", format!("{} / {}", set.pool.image, set.pool.flavor)),
        ("OS", format!("{} {}", set.pool.os_type, set.pool.os_arch)),
        ("Labels", tags.join(", ")),
        ("Runner group", set.pool.runner_group.clone()),
        (
            "Runners",
            format!(
                "{} of max {}, min idle {}",
                instances.len(),
                set.pool.max_runners,
                set.pool.min_idle_runners
            ),
        ),
        ("Desired runners", set.desired_runner_count.to_string()),
        ("Runner updates disabled", set.disable_update.to_string()),
        ("Extra specs", set.pool.extra_specs.clone().unwrap_or_default()),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", e(&v));
    }
    let _ = write!(
        out,
        "</dl><p class=\"actions\"><a class=\"button\" href=\"/ui/scalesets/{0}/edit\">Edit</a> ",
        set.id
    );
    html::button(
        &mut out,
        &format!("/ui/scalesets/{}/toggle", set.id),
        &s.csrf,
        if set.pool.enabled { "Disable" } else { "Enable" },
        "",
    );
    out.push(' ');
    super::deletes::link(
        &mut out,
        &format!("/ui/scalesets/{}/delete", set.id),
        "Delete scale set…",
    );
    out.push_str("</p>");
    let verdicts = super::attest::Verdicts::load(&app.store, [&set.pool])
        .await
        .map_err(store_fail)?;
    super::runners::instance_table(&mut out, "Runners", &instances, &verdicts);
    Ok(page(&s, &frag, &set.name, "/ui/scalesets", Refresh::Live, &out))
}

/// The create and edit forms share their controls; `v` holds the values shown; `create`
/// adds the entity and provider (fixed once the scale set exists).
fn fields<'a>(app: &App, v: &FormData, entities: Option<Vec<(String, String)>>) -> Vec<Field<'a>> {
    let val = |k: &str, d: &str| v.get(k).cloned().unwrap_or_else(|| d.to_string());
    let mut out = Vec::new();
    out.push(
        Field::new("name", "Name", Kind::Text)
            .value(val("name", ""))
            .required()
            .help("The scale set's name on GitHub; jobs ask for it in runs-on."),
    );
    if let Some(options) = entities {
        out.push(
            Field::new(
                "entity",
                "Repository, organization or enterprise",
                Kind::Select(options),
            )
            .value(val("entity", "")),
        );
        let providers: Vec<&str> = app.config.providers.iter().map(|p| p.name.as_str()).collect();
        out.push(
            Field::new("provider_name", "Provider", Kind::Select(opts(&providers))).value(val("provider_name", "")),
        );
        out.push(
            Field::new("labels", "Extra labels", Kind::Text)
                .value(val("labels", ""))
                .help("Comma separated; optional."),
        );
    }
    out.extend([
        Field::new("image", "Image", Kind::Text)
            .value(val("image", ""))
            .required(),
        Field::new("flavor", "Flavor", Kind::Text)
            .value(val("flavor", ""))
            .required(),
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
        Field::new("runner_group", "Runner group", Kind::Text)
            .value(val("runner_group", ""))
            .help("Empty: Default."),
        Field::new("extra_specs", "Extra specs (JSON)", Kind::Textarea)
            .value(val("extra_specs", ""))
            .help("Provider specific, e.g. {\"confidential\": true}."),
        Field::new("enabled", "Enabled", Kind::Checkbox).value(val("enabled", "true")),
        Field::new("enable_shell", "Enable shell", Kind::Checkbox).value(val("enable_shell", "")),
        Field::new("disable_update", "Disable runner self-updates", Kind::Checkbox).value(val("disable_update", "")),
    ]);
    out
}

/// The REST body a form stands for; the API's own types parse it (on create the
/// `CreateScaleSetParams` keys, else `UpdateScaleSetParams`'s).
fn body(f: &FormData, mode: FormMode) -> Result<String, ApiError> {
    let mut body = Map::new();
    for k in ["name", "image", "flavor", "os_type", "os_arch", "runner_prefix"] {
        body.insert(k.into(), json!(field(f, k).trim()));
    }
    let group_key = if mode == FormMode::Create {
        "github-runner-group"
    } else {
        "runner_group"
    };
    body.insert(group_key.into(), json!(field(f, "runner_group").trim()));
    for k in ["min_idle_runners", "max_runners", "runner_bootstrap_timeout"] {
        body.insert(k.into(), number(f, k)?);
    }
    for k in ["enabled", "enable_shell", "disable_update"] {
        body.insert(k.into(), json!(checked(f, k)));
    }
    let specs = field(f, "extra_specs").trim();
    if !specs.is_empty() {
        let parsed: Value =
            serde_json::from_str(specs).map_err(|err| ApiError::bad(format!("extra_specs: not JSON: {err}")))?;
        body.insert("extra_specs".into(), parsed);
    }
    if mode == FormMode::Create {
        body.insert("provider_name".into(), json!(field(f, "provider_name")));
        let labels: Vec<&str> = field(f, "labels")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        body.insert("labels".into(), json!(labels));
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
    let entities = app.store.all_entities().await.map_err(store_fail)?;
    let mut out = String::from("<h1>Add a scale set</h1>");
    if entities.is_empty() {
        out.push_str("<p>Add a <a href=\"/ui/repositories\">repository</a>, organization or enterprise first.</p>");
    } else {
        let fields = fields(app, values, Some(entity_options(&entities)));
        form(&mut out, "/ui/scalesets", &s.csrf, &fields, "Create scale set", error);
    }
    let mut resp = page(s, frag, "Add a scale set", "/ui/scalesets", Refresh::Static, &out);
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
        let params: api::CreateScaleSetParams =
            serde_json::from_str(&body(&f, FormMode::Create)?).map_err(|err| ApiError::bad(err.to_string()))?;
        let Json(set) = api_sets::create(
            State(app.clone()),
            entity.kind,
            Path(entity.id.to_string()),
            Ok(Json(params)),
        )
        .await?;
        Ok::<_, ApiError>(set.id)
    }
    .await;
    match result {
        Ok(id) => Ok(see_other(&format!("/ui/scalesets/{id}"))),
        Err(err) => render_new(&app, &s, &frag, &f, Some(&super::message(&err)), err.status()).await,
    }
}

fn values_of(set: &ScaleSetRecord) -> FormData {
    let p = &set.pool;
    let mut v = FormData::new();
    for (k, x) in [
        ("name", set.name.clone()),
        ("image", p.image.clone()),
        ("flavor", p.flavor.clone()),
        ("os_type", p.os_type.clone()),
        ("os_arch", p.os_arch.clone()),
        ("min_idle_runners", p.min_idle_runners.to_string()),
        ("max_runners", p.max_runners.to_string()),
        ("runner_bootstrap_timeout", p.bootstrap_timeout.to_string()),
        ("runner_prefix", p.runner_prefix.clone()),
        ("runner_group", p.runner_group.clone()),
        ("extra_specs", p.extra_specs.clone().unwrap_or_default()),
        ("enabled", p.enabled.to_string()),
        ("enable_shell", p.enable_shell.to_string()),
        ("disable_update", set.disable_update.to_string()),
    ] {
        v.insert(k.into(), x);
    }
    v
}

fn render_edit(app: &App, s: &Session, frag: &Fragment, id: i64, v: &FormData, error: Option<&str>) -> Response {
    let mut out = format!("<h1>Edit scale set {}</h1>", e(field(v, "name")));
    form(
        &mut out,
        &format!("/ui/scalesets/{id}"),
        &s.csrf,
        &fields(app, v, None),
        "Save scale set",
        error,
    );
    page(s, frag, "Edit scale set", "/ui/scalesets", Refresh::Static, &out)
}

async fn edit_form(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let set = app.store.scale_set(id).await.map_err(store_fail)?;
    Ok(render_edit(&app, &s, &frag, id, &values_of(&set), None))
}

async fn update(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let result = async {
        let params: api::UpdateScaleSetParams =
            serde_json::from_str(&body(&f, FormMode::Edit)?).map_err(|err| ApiError::bad(err.to_string()))?;
        api_sets::update(State(app.clone()), Path(id.to_string()), Ok(Json(params))).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/ui/scalesets/{id}"))),
        Err(err) => {
            let mut resp = render_edit(&app, &s, &frag, id, &f, Some(&super::message(&err)));
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn toggle(
    State(app): State<App>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let set = app.store.scale_set(id).await.map_err(store_fail)?;
    let params = api::UpdateScaleSetParams {
        enabled: Some(!set.pool.enabled),
        ..Default::default()
    };
    let _updated = api_sets::update(State(app.clone()), Path(id.to_string()), Ok(Json(params)))
        .await
        .map_err(super::fail)?;
    Ok(see_other(&format!("/ui/scalesets/{id}")))
}

fn delete_confirm(set: &ScaleSetRecord) -> Confirm<'static> {
    Confirm {
        what: format!("scale set {}", set.name),
        consequence: "The scale set is removed from GitHub's Actions service and from garm. garm refuses while it is enabled or still has runners: disable it and wait for its runners to go first.",
        action: format!("/ui/scalesets/{}/delete", set.id),
        back: format!("/ui/scalesets/{}", set.id),
        current: "/ui/scalesets",
        extra: String::new(),
    }
}

async fn ask_delete(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let set = app.store.scale_set(id).await.map_err(store_fail)?;
    Ok(confirm(&s, &frag, &delete_confirm(&set), None))
}

async fn delete(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(id): Path<i64>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let set = app.store.scale_set(id).await.map_err(store_fail)?;
    match api_sets::delete(State(app.clone()), Path(id.to_string())).await {
        Ok(_) => Ok(see_other("/ui/scalesets")),
        Err(err) => Ok(confirm(&s, &frag, &delete_confirm(&set), Some(&err))),
    }
}
