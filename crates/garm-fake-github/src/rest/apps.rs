//! GitHub App endpoints: the App itself, its installations and installation access tokens.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::runners::json_body;
use super::{reply, with_link, ApiError, ApiResult, Ctx};
use crate::auth::{authorize, Caller, Need};
use crate::body;
use crate::model::Installation;
use crate::state::FakeState;
use crate::world::{random_token, InstallToken, World};

type Params = Path<HashMap<String, String>>;

/// The App behind a JWT caller.
fn app_id(w: &World, ctx: &Ctx) -> Result<u64, ApiError> {
    authorize(w, &ctx.caller, &Need::App, false)?;
    match ctx.caller {
        Caller::App { app_id } => Ok(app_id),
        _ => Err(ApiError::new(401, "A JSON web token could not be decoded")),
    }
}

fn installation_of(w: &World, app: u64, params: &HashMap<String, String>) -> Result<Installation, ApiError> {
    let id: u64 = params
        .get("installation_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    w.installations
        .get(&id)
        .filter(|i| i.app_id == app)
        .cloned()
        .ok_or_else(ApiError::not_found)
}

async fn get_app(State(state): State<FakeState>, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let app = app_id(w, &ctx)?;
        let spec = w.apps.get(&app).ok_or_else(ApiError::not_found)?;
        Ok(reply(200, body::integration(w, spec)))
    })
}

async fn list_installations(State(state): State<FakeState>, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let app = app_id(w, &ctx)?;
        let installations: Vec<Installation> = w.installations.values().filter(|i| i.app_id == app).cloned().collect();
        let (page, link) = ctx.paginate(&installations);
        let body: Vec<Value> = page.iter().map(|i| body::installation(w, i)).collect();
        Ok(with_link(reply(200, Value::Array(body)), link))
    })
}

async fn get_installation(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let app = app_id(w, &ctx)?;
        let installation = installation_of(w, app, &params)?;
        Ok(reply(200, body::installation(w, &installation)))
    })
}

async fn access_token(State(state): State<FakeState>, Path(params): Params, ctx: Ctx, bytes: Bytes) -> ApiResult {
    let request = json_body(&bytes)?;
    let lifetime = state.config().installation_token_lifetime;
    state.with(|w, now| {
        let app = app_id(w, &ctx)?;
        let mut installation = installation_of(w, app, &params)?;
        // A token may be narrowed to some repositories, never widened.
        if let Some(names) = request["repositories"].as_array() {
            let mut selected = Vec::new();
            for name in names.iter().filter_map(Value::as_str) {
                let full = format!("{}/{name}", installation.account);
                if !installation.covers_repo(&installation.account, name) || w.repo(&installation.account, name).is_none() {
                    return Err(ApiError::new(422, "There is at least one repository that does not exist or is not accessible to the parent installation."));
                }
                selected.push(full);
            }
            installation.repositories = Some(selected);
        }
        let token = random_token("ghs_", 36);
        let expires_at = now + chrono::Duration::from_std(lifetime).unwrap_or_default();
        w.install_tokens.insert(
            token.clone(),
            InstallToken {
                installation_id: installation.id,
                expires_at,
            },
        );
        Ok(reply(201, body::installation_token(w, &installation, &token, expires_at)))
    })
}

async fn installation_for(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let app = app_id(w, &ctx)?;
        let found = w.installations.values().filter(|i| i.app_id == app).find(|i| {
            if let (Some(owner), Some(repo)) = (params.get("owner"), params.get("repo")) {
                i.covers_repo(owner, repo)
            } else if let Some(org) = params.get("org") {
                i.target_type == "Organization" && i.account.eq_ignore_ascii_case(org)
            } else if let Some(slug) = params.get("enterprise") {
                i.target_type == "Enterprise" && i.account.eq_ignore_ascii_case(slug)
            } else {
                false
            }
        });
        let installation = found.ok_or_else(ApiError::not_found)?;
        Ok(reply(200, body::installation(w, installation)))
    })
}

pub(super) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/app", get(get_app))
        .route("/app/installations", get(list_installations))
        .route("/app/installations/{installation_id}", get(get_installation))
        .route("/app/installations/{installation_id}/access_tokens", post(access_token))
        .route("/repos/{owner}/{repo}/installation", get(installation_for))
        .route("/orgs/{org}/installation", get(installation_for))
        .route("/enterprises/{enterprise}/installation", get(installation_for))
}
