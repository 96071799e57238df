//! Self-hosted runners, registration/remove tokens, JIT configuration, downloads and runner groups.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::{no_content, reply, with_link, ApiError, ApiResult, Ctx};
use crate::auth::{authorize, Need};
use crate::body;
use crate::files::{self, CredentialData, Credentials, RsaParams, RunnerSettings};
use crate::model::Scope;
use crate::state::FakeState;
use crate::world::{RunnerKey, TokenKind, World};

/// The scope named by the path parameters (`owner`+`repo`, `org` or `enterprise`).
pub(super) fn scope_of(params: &HashMap<String, String>) -> Option<Scope> {
    if let (Some(owner), Some(repo)) = (params.get("owner"), params.get("repo")) {
        return Some(Scope::repo(owner, repo));
    }
    if let Some(org) = params.get("org") {
        return Some(Scope::org(org));
    }
    params.get("enterprise").map(|e| Scope::enterprise(e))
}

/// Authenticates, authorises and checks that the scope exists, in GitHub's order.
pub(super) fn admit(
    w: &World,
    ctx: &Ctx,
    params: &HashMap<String, String>,
    remote_ok: bool,
) -> Result<Scope, ApiError> {
    let scope = scope_of(params).ok_or_else(ApiError::not_found)?;
    if !w.scope_exists(&scope) {
        return Err(ApiError::not_found());
    }
    authorize(w, &ctx.caller, &Need::Runners(scope.clone()), remote_ok)?;
    Ok(scope)
}

fn id_param(params: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    params
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)
}

type Params = Path<HashMap<String, String>>;

async fn list(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params, true)?;
        let mut runners = w.runners_of(&scope);
        if let Some(name) = ctx.query.get("name") {
            runners.retain(|r| &r.name == name);
        }
        let (page, link) = ctx.paginate(&runners);
        let body = json!({
            "total_count": runners.len(),
            "runners": page.iter().map(|r| body::runner(w, r)).collect::<Vec<_>>(),
        });
        Ok(with_link(reply(200, body), link))
    })
}

async fn get_one(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params, false)?;
        let id = id_param(&params, "runner_id")?;
        let runner = w
            .runners
            .get(&id)
            .filter(|r| r.scope.same_as(&scope))
            .ok_or_else(ApiError::not_found)?;
        Ok(reply(200, body::runner(w, runner)))
    })
}

async fn delete(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.with(|w, now| {
        let scope = admit(w, &ctx, &params, false)?;
        let id = id_param(&params, "runner_id")?;
        let runner = w
            .runners
            .get(&id)
            .filter(|r| r.scope.same_as(&scope))
            .ok_or_else(ApiError::not_found)?;
        if runner.busy {
            let message = format!("Bad request - Runner \"{}\" is still running a job\"", runner.name);
            return Err(ApiError::new(422, &message));
        }
        w.remove_runner(id);
        w.schedule(now);
        Ok(no_content())
    })
}

async fn token(state: FakeState, params: HashMap<String, String>, ctx: Ctx, kind: TokenKind) -> ApiResult {
    let lifetime = state.config().registration_token_lifetime;
    state.with(|w, now| {
        let scope = admit(w, &ctx, &params, false)?;
        let (token, expires_at) = w.mint_runner_token(kind, &scope, lifetime, now);
        Ok(reply(201, body::authentication_token(w, &token, expires_at)))
    })
}

async fn registration_token(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    token(state, params, ctx, TokenKind::Registration).await
}

async fn remove_token(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    token(state, params, ctx, TokenKind::Remove).await
}

/// Parses a JSON request body as GitHub does: not JSON → 400.
pub(super) fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::new(400, "Problems parsing JSON"))
}

fn invalid(reason: &str) -> ApiError {
    ApiError::new(422, "Invalid request.").with_errors(json!([reason]))
}

/// The read-only labels GitHub gives every runner unless told otherwise.
pub(crate) const DEFAULT_LABELS: [&str; 3] = ["self-hosted", "Linux", "X64"];

async fn generate_jitconfig(State(state): State<FakeState>, Path(params): Params, ctx: Ctx, bytes: Bytes) -> ApiResult {
    let request = json_body(&bytes)?;
    state.with(|w, now| {
        let scope = admit(w, &ctx, &params, false)?;
        let name = request["name"]
            .as_str()
            .ok_or_else(|| invalid("\"name\" wasn't supplied."))?;
        let group_id = request["runner_group_id"]
            .as_u64()
            .ok_or_else(|| invalid("\"runner_group_id\" wasn't supplied."))?;
        let labels: Vec<String> = match &request["labels"] {
            Value::Array(items) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            Value::Null => return Err(invalid("\"labels\" wasn't supplied.")),
            _ => return Err(invalid("For 'properties/labels', it is not an array of strings.")),
        };
        if labels.is_empty() || labels.len() > 100 {
            return Err(invalid(
                "For 'properties/labels', it must have between 1 and 100 items.",
            ));
        }
        let work_folder = request["work_folder"].as_str().unwrap_or("_work").to_owned();
        let group = w.group(&scope, group_id).cloned().ok_or_else(ApiError::not_found)?;
        if w.runner_by_name(&scope, name).is_some() {
            return Err(ApiError::new(
                409,
                "Already exists - A runner with the same name already exists.",
            ));
        }
        let mut all: Vec<(String, &str)> = DEFAULT_LABELS.iter().map(|l| ((*l).to_owned(), "read-only")).collect();
        all.extend(labels.iter().map(|l| (l.clone(), "custom")));
        let runner = w.create_runner(&scope, name, &group, &all, true, true, "unknown", now);
        let web = w.urls.web.clone();
        let blob = jit_blob(w, &runner, &group.name, &work_folder, &web);
        Ok(reply(
            201,
            json!({"runner": body::runner(w, &runner), "encoded_jit_config": blob}),
        ))
    })
}

/// Mints the runner's key and client id and encodes its three files.
pub(crate) fn jit_blob(
    w: &mut World,
    runner: &crate::model::Runner,
    pool_name: &str,
    work_folder: &str,
    web: &str,
) -> String {
    let rsa = RsaParams::random();
    let client_id = uuid::Uuid::new_v4().to_string();
    w.runner_keys.insert(
        runner.id,
        RunnerKey {
            client_id: client_id.clone(),
            key: rsa.signing_key(),
        },
    );
    let server_url = format!("{web}/_fake/actions/");
    let settings = RunnerSettings {
        agent_id: runner.id,
        agent_name: runner.name.clone(),
        pool_id: runner.group_id,
        pool_name: pool_name.to_owned(),
        server_url: server_url.clone(),
        git_hub_url: format!("{web}/{}", runner.scope.path()),
        work_folder: work_folder.to_owned(),
        ephemeral: true,
        disable_update: false,
        use_v2_flow: true,
        server_url_v2: server_url.clone(),
    };
    let credentials = Credentials {
        scheme: "OAuth".to_owned(),
        data: CredentialData {
            client_id,
            authorization_url: format!("{server_url}oauth2/token"),
            require_fips_cryptography: "False".to_owned(),
        },
    };
    files::encode_jit(&files::jit_files(&settings, &credentials, &rsa))
}

async fn downloads(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    let sha = state.archive_sha256().to_owned();
    state.quiet(|w, _| {
        admit(w, &ctx, &params, false)?;
        Ok(reply(200, body::downloads(w, &sha)))
    })
}

async fn groups(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params, true)?;
        let groups = w.groups_of(&scope);
        let (page, link) = ctx.paginate(&groups);
        let body = json!({
            "total_count": groups.len(),
            "runner_groups": page.iter().map(|g| body::runner_group(w, g)).collect::<Vec<_>>(),
        });
        Ok(with_link(reply(200, body), link))
    })
}

async fn group(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params, false)?;
        let id = id_param(&params, "runner_group_id")?;
        let group = w.group(&scope, id).ok_or_else(ApiError::not_found)?;
        Ok(reply(200, body::runner_group(w, group)))
    })
}

pub(super) fn routes() -> Router<FakeState> {
    let mut router = Router::new();
    for prefix in ["/repos/{owner}/{repo}", "/orgs/{org}", "/enterprises/{enterprise}"] {
        router = router
            .route(&format!("{prefix}/actions/runners"), get(list))
            .route(
                &format!("{prefix}/actions/runners/{{runner_id}}"),
                get(get_one).delete(delete),
            )
            .route(
                &format!("{prefix}/actions/runners/registration-token"),
                post(registration_token),
            )
            .route(&format!("{prefix}/actions/runners/remove-token"), post(remove_token))
            .route(
                &format!("{prefix}/actions/runners/generate-jitconfig"),
                post(generate_jitconfig),
            )
            .route(&format!("{prefix}/actions/runners/downloads"), get(downloads))
            // Repositories have no public group endpoints; the runner's configuration asks anyway.
            .route(&format!("{prefix}/actions/runner-groups"), get(groups))
            .route(
                &format!("{prefix}/actions/runner-groups/{{runner_group_id}}"),
                get(group),
            );
    }
    router
}
