//! Repositories, organizations and enterprises: list, add, detail (pools, scale sets,
//! instances, events) and delete, through the REST handlers of `crate::api::entities`.

use super::html::{self, e, form, thead, Field, Kind};
use super::{field, kind_path, page, see_other, FormData, Fragment, Refresh, Session};
use crate::api::entities as api_entities;
use crate::state::App;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use garm_api_types as api;
use garm_model::EntityId;
use garm_store::{EntityFilter, EntityKind};
use std::fmt::Write;

pub fn routes() -> Router<App> {
    let mut r = Router::new();
    for kind in [EntityKind::Repository, EntityKind::Organization, EntityKind::Enterprise] {
        let base = format!("/ui/{}", kind_path(kind));
        r = r
            .route(
                &base,
                get(move |a, s, f| list(a, s, f, kind)).post(move |a, s, f, b| create(a, s, f, kind, b)),
            )
            .route(&format!("{base}/{{id}}"), get(move |a, s, f, p| show(a, s, f, kind, p)))
            .route(
                &format!("{base}/{{id}}/delete"),
                post(move |a, s, p, b| delete(a, s, kind, p, b)),
            );
    }
    r
}

fn title(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Repository => "Repositories",
        EntityKind::Organization => "Organizations",
        EntityKind::Enterprise => "Enterprises",
    }
}

async fn render_list(
    app: &App,
    s: &Session,
    frag: &Fragment,
    kind: EntityKind,
    values: &FormData,
    error: Option<&str>,
) -> Result<Response, Response> {
    let fail = |err: garm_store::StoreError| super::fail(err.into());
    let list = app
        .store
        .list_entities(kind, &EntityFilter::default())
        .await
        .map_err(fail)?;
    let pools = app.store.pools(None).await.map_err(fail)?;
    let creds = app.store.list_credentials("github").await.map_err(fail)?;
    let mut out = format!("<h1>{}</h1>", title(kind));
    thead(
        &mut out,
        &format!("{} {}", list.len(), title(kind).to_lowercase()),
        &["Name", "Endpoint", "Credentials", "Pools", "Pool manager"],
    );
    for x in &list {
        let n = pools.iter().filter(|p| p.entity_id == x.id).count();
        let cred = creds
            .iter()
            .find(|c| c.id == x.credentials_id)
            .map_or("", |c| c.name.as_str());
        let state = if x.pool_manager_running {
            "running".to_string()
        } else {
            format!("not running {}", x.failure_reason)
        };
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/{}/{}\">{}</a></td><td>{}</td><td>{}</td><td>{n}</td><td>{}</td></tr>",
            kind_path(kind),
            html::url_part(&x.id),
            e(&x.display_name()),
            e(&x.endpoint_name),
            e(cred),
            e(&state)
        );
    }
    out.push_str("</tbody></table>");
    let _ = write!(out, "<h2>Add {}</h2>", e(kind.as_str()));
    if creds.is_empty() {
        out.push_str("<p>Add <a href=\"/ui/credentials\">credentials</a> first.</p>");
    } else {
        let v = |k: &str| values.get(k).cloned().unwrap_or_default();
        let mut fields = Vec::new();
        if kind == EntityKind::Repository {
            fields.push(Field::new("owner", "Owner", Kind::Text).value(v("owner")).required());
        }
        fields.extend([
            Field::new("name", "Name", Kind::Text).value(v("name")).required(),
            Field::new(
                "credentials_name",
                "Credentials",
                Kind::Select(
                    creds
                        .iter()
                        .map(|c| (c.name.clone(), format!("{} ({})", c.name, c.endpoint_name)))
                        .collect(),
                ),
            )
            .value(v("credentials_name")),
            Field::new("webhook_secret", "Webhook secret", Kind::Password)
                .required()
                .help("The secret GitHub signs this entity's webhooks with."),
            Field::new(
                "pool_balancer_type",
                "Pool balancer",
                Kind::Select(vec![
                    ("roundrobin".into(), "round robin".into()),
                    ("pack".into(), "pack".into()),
                ]),
            )
            .value(v("pool_balancer_type")),
        ]);
        let action = format!("/ui/{}", kind_path(kind));
        form(
            &mut out,
            &action,
            &s.csrf,
            &fields,
            &format!("Add {}", kind.as_str()),
            error,
        );
    }
    Ok(page(
        s,
        frag,
        title(kind),
        &format!("/ui/{}", kind_path(kind)),
        Refresh::Static,
        &out,
    ))
}

async fn list(State(app): State<App>, s: Session, frag: Fragment, kind: EntityKind) -> Result<Response, Response> {
    render_list(&app, &s, &frag, kind, &FormData::new(), None).await
}

async fn create(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let params = api::CreateEntityParams {
        owner: field(&f, "owner").trim().into(),
        name: field(&f, "name").trim().into(),
        credentials_name: field(&f, "credentials_name").into(),
        webhook_secret: field(&f, "webhook_secret").into(),
        pool_balancer_type: field(&f, "pool_balancer_type").into(),
        ..Default::default()
    };
    match api_entities::create(State(app.clone()), kind, Ok(Json(params))).await {
        Ok(Json(created)) => Ok(see_other(&format!(
            "/ui/{}/{}",
            kind_path(kind),
            html::url_part(&created.id)
        ))),
        Err(err) => {
            let mut resp = render_list(&app, &s, &frag, kind, &f, Some(&super::message(&err))).await?;
            *resp.status_mut() = err.status();
            Ok(resp)
        }
    }
}

async fn show(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    kind: EntityKind,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = EntityId::from(id);
    let fail = |err: garm_store::StoreError| super::fail(err.into());
    let x = app.store.entity(kind, &id).await.map_err(fail)?;
    let pools = app.store.pools(Some(&id)).await.map_err(fail)?;
    let sets = app.store.scale_sets(Some(&id)).await.map_err(fail)?;
    let instances = app.store.entity_instances(&id).await.map_err(fail)?;
    let events = app.store.entity_events(&id).await.map_err(fail)?;
    let mut out = format!(
        "<h1>{} {}</h1><dl class=\"props\">",
        e(kind.as_str()),
        e(&x.display_name())
    );
    for (k, v) in [
        ("Id", x.id.to_string()),
        ("Endpoint", x.endpoint_name.clone()),
        ("Balancer", x.balancer.as_str().to_string()),
        (
            "Pool manager",
            if x.pool_manager_running {
                "running".into()
            } else {
                format!("not running {}", x.failure_reason)
            },
        ),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", e(&v));
    }
    out.push_str("</dl><p class=\"actions\">");
    let _ = write!(
        out,
        "<a class=\"button\" href=\"/ui/pools/new?entity={0}\">Add a pool</a> <a class=\"button\" href=\"/ui/scalesets/new?entity={0}\">Add a scale set</a> ",
        html::url_part(&x.id)
    );
    if super::hooks::managed(kind) {
        let _ = write!(
            out,
            "<a class=\"button\" href=\"/ui/{}/{}/webhook\">Webhook: show, install or remove</a> ",
            kind_path(kind),
            html::url_part(&x.id)
        );
    }
    html::button(
        &mut out,
        &format!("/ui/{}/{}/delete", kind_path(kind), html::url_part(&x.id)),
        &s.csrf,
        &format!("Delete {}", kind.as_str()),
        "danger",
    );
    out.push_str("</p>");
    thead(
        &mut out,
        "Pools",
        &["Pool", "Provider", "Flavor", "Labels", "Max", "State"],
    );
    for p in &pools {
        let tags: Vec<&str> = p.tags.iter().map(|t| t.name.as_str()).collect();
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/pools/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html::url_part(&p.id),
            e(&p.id),
            e(&p.provider_name),
            e(&p.flavor),
            e(&tags.join(", ")),
            p.max_runners,
            if p.enabled { "enabled" } else { "disabled" }
        );
    }
    out.push_str("</tbody></table>");
    super::scalesets::scale_set_table(&mut out, &sets);
    let verdicts = super::attest::Verdicts::load(&app.store, pools.iter().chain(sets.iter().map(|x| &x.pool)))
        .await
        .map_err(fail)?;
    super::runners::instance_table(&mut out, "Instances", &instances, &verdicts);
    out.push_str("<h2>Events</h2><ul class=\"msgs\">");
    for ev in events.iter().rev().take(20) {
        let _ = write!(
            out,
            "<li><time>{}</time> {}</li>",
            html::time(&ev.created_at),
            e(&ev.message)
        );
    }
    out.push_str("</ul>");
    Ok(page(
        &s,
        &frag,
        &x.display_name(),
        &format!("/ui/{}", kind_path(kind)),
        Refresh::Live,
        &out,
    ))
}

async fn delete(
    State(app): State<App>,
    s: Session,
    kind: EntityKind,
    Path(id): Path<String>,
    Form(f): Form<FormData>,
) -> Result<Response, Response> {
    s.check(&f)?;
    let q = axum::extract::Query(api_entities::DeleteQuery::default());
    match api_entities::delete(State(app.clone()), kind, Path(id), q).await {
        Ok(_) => Ok(see_other(&format!("/ui/{}", kind_path(kind)))),
        Err(err) => Ok(super::error_page(&err)),
    }
}
