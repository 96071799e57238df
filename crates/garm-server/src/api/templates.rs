//! Runner install templates (`/api/v1/templates`): list, show, create, update, delete and
//! restore, with garm's rules: the text must parse as a Go template, the built-in (system)
//! templates can only be restored, and a template a pool uses cannot be deleted.

use super::Empty;
use crate::auth::admin_claims;
use crate::convert::{self, Detail};
use crate::error::ApiError;
use crate::state::App;
use crate::stream::{EntityType, Operation};
use crate::ws::published;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use garm_api_types as api;
use garm_store::{TemplateFilter, TemplateRecord};
use serde::Deserialize;

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The only forge garm-rs serves; Gitea templates can be stored but not yet used.
const FORGES: [&str; 2] = ["github", "gitea"];
const OS_TYPES: [&str; 2] = ["linux", "windows"];

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/templates", get(list).post(create))
        .route("/api/v1/templates/restore", post(restore))
        .route("/api/v1/templates/{template_id}", get(show).put(update).delete(delete))
}

/// The built-in templates, in the order garm seeds them (so a fresh database gives them
/// garm's ids: `github_windows` 1, `github_linux` 2).
pub fn builtins() -> Vec<TemplateRecord> {
    let now = chrono::Utc::now();
    [
        (
            "github_windows",
            "windows",
            "Default Windows runner install template for GitHub",
        ),
        (
            "github_linux",
            "linux",
            "Default Linux runner install template for GitHub",
        ),
    ]
    .into_iter()
    .filter_map(|(name, os, description)| {
        let data = garm_template::system_template("github", os)?;
        Some(TemplateRecord {
            id: 0,
            name: name.into(),
            description: description.into(),
            os_type: os.into(),
            forge_type: "github".into(),
            owner_id: TemplateRecord::SYSTEM.into(),
            data: data.into(),
            created_at: now,
            updated_at: now,
        })
    })
    .collect()
}

#[derive(Debug, Deserialize, Default)]
struct ListQuery {
    #[serde(default, rename = "partialName")]
    partial_name: Option<String>,
    #[serde(default, rename = "osType")]
    os_type: Option<String>,
    #[serde(default, rename = "forgeType")]
    forge_type: Option<String>,
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad(format!("invalid template ID {text:?}")))
}

/// The text must be UTF-8 and parse as a Go template; the error names the line.
fn check_text(data: &[u8]) -> Result<String, ApiError> {
    let text = String::from_utf8(data.to_vec()).map_err(|_| ApiError::bad("data: the template is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad("data: the template is empty"));
    }
    garm_template::parse(&text).map_err(|err| ApiError::bad(format!("data: invalid template: {err}")))?;
    Ok(text)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    garm_model::names::check_printable("name", name, garm_model::names::MAX_NAME_LEN)
        .map_err(|err| ApiError::BadRequest(err.to_string()))
}

async fn list(State(app): State<App>, Query(q): Query<ListQuery>) -> Result<Json<Vec<api::Template>>, ApiError> {
    let filter = TemplateFilter {
        partial_name: q.partial_name.filter(|s| !s.is_empty()),
        os_type: q.os_type.filter(|s| !s.is_empty()),
        forge_type: q.forge_type.filter(|s| !s.is_empty()),
    };
    let all = app.store.templates(&filter).await?;
    Ok(Json(
        all.iter().map(|t| convert::template(t, Detail::Summary)).collect(),
    ))
}

async fn show(State(app): State<App>, Path(id): Path<String>) -> Result<Json<api::Template>, ApiError> {
    let t = app.store.template(parse_id(&id)?).await?;
    Ok(Json(convert::template(&t, Detail::Full)))
}

pub(crate) async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    body: JsonBody<api::CreateTemplateParams>,
) -> Result<Json<api::Template>, ApiError> {
    let Json(p) = body?;
    check_name(&p.name)?;
    if !OS_TYPES.contains(&p.os_type.as_str()) {
        return Err(ApiError::bad(format!(
            "os_type: {:?} is not linux or windows",
            p.os_type
        )));
    }
    let forge_type = if p.forge_type.is_empty() {
        "github".to_owned()
    } else {
        p.forge_type
    };
    if !FORGES.contains(&forge_type.as_str()) {
        return Err(ApiError::bad(format!(
            "forge_type: {forge_type:?} is not github or gitea"
        )));
    }
    let data = check_text(&p.data)?;
    let claims = admin_claims(&app, &headers).await?;
    let now = chrono::Utc::now();
    let created = app
        .store
        .create_template(&TemplateRecord {
            id: 0,
            name: p.name,
            description: p.description,
            os_type: p.os_type,
            forge_type,
            owner_id: claims.user,
            data,
            created_at: now,
            updated_at: now,
        })
        .await?;
    tracing::info!(template = created.id, name = %created.name, "template created");
    let out = convert::template(&created, Detail::Full);
    Ok(Json(published(&app, EntityType::Template, Operation::Create, out)))
}

pub(crate) async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    body: JsonBody<api::UpdateTemplateParams>,
) -> Result<Json<api::Template>, ApiError> {
    let Json(p) = body?;
    let mut t = app.store.template(parse_id(&id)?).await?;
    if t.is_system() {
        return Err(ApiError::bad(
            "system templates cannot be changed; copy one and edit the copy, or restore it",
        ));
    }
    if let Some(name) = p.name.filter(|n| !n.is_empty()) {
        check_name(&name)?;
        t.name = name;
    }
    if let Some(description) = p.description {
        t.description = description;
    }
    if let Some(data) = p.data {
        t.data = check_text(&data)?;
    }
    let updated = app.store.update_template(&t).await?;
    tracing::info!(template = updated.id, name = %updated.name, "template updated");
    let out = convert::template(&updated, Detail::Full);
    Ok(Json(published(&app, EntityType::Template, Operation::Update, out)))
}

pub(crate) async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<Empty, ApiError> {
    let t = app.store.template(parse_id(&id)?).await?;
    if t.is_system() {
        return Err(ApiError::bad("system templates cannot be deleted"));
    }
    app.store.delete_template(t.id).await?;
    tracing::info!(template = t.id, name = %t.name, "template deleted");
    app.streams.publish(
        EntityType::Template,
        Operation::Delete,
        &convert::template(&t, Detail::Summary),
    );
    Ok(Empty)
}

async fn restore(State(app): State<App>, body: JsonBody<api::RestoreTemplateRequest>) -> Result<Empty, ApiError> {
    let Json(p) = body?;
    let chosen: Vec<TemplateRecord> = builtins()
        .into_iter()
        .filter(|t| p.restore_all || (t.forge_type == p.forge && t.os_type == p.os_type))
        .collect();
    if chosen.is_empty() {
        return Err(ApiError::bad(format!(
            "no built-in template for forge {:?} and os_type {:?}",
            p.forge, p.os_type
        )));
    }
    for t in &chosen {
        let restored = app.store.restore_system_template(t).await?;
        tracing::info!(template = restored.id, name = %restored.name, "system template restored");
        app.streams.publish(
            EntityType::Template,
            Operation::Update,
            &convert::template(&restored, Detail::Full),
        );
    }
    Ok(Empty)
}

/// The template a pool of `os_type` uses: the one asked for (it must exist and be for that
/// OS and for GitHub), else the system template of that OS.
pub async fn for_pool(app: &App, asked: Option<u64>, os_type: &str) -> Result<i64, ApiError> {
    match asked.filter(|id| *id > 0) {
        Some(id) => {
            let t = app.store.template(id as i64).await?;
            if t.os_type != os_type {
                return Err(ApiError::bad(format!(
                    "template_id: template {id} is for {}, the pool is {os_type}",
                    t.os_type
                )));
            }
            if t.forge_type != "github" {
                return Err(ApiError::bad(format!(
                    "template_id: template {id} is for {}, the pool's entity is on github",
                    t.forge_type
                )));
            }
            Ok(t.id)
        }
        None => app
            .store
            .system_template(os_type, "github")
            .await?
            .map(|t| t.id)
            .ok_or_else(|| ApiError::bad(format!("template_id: no system template for github on {os_type}"))),
    }
}
