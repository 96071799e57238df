//! Repositories, organizations, workflow jobs and `/rate_limit`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;

use super::{reply, ApiError, ApiResult, Ctx};
use crate::auth::{authorize, Caller, Need};
use crate::body;
use crate::state::FakeState;

type Params = Path<HashMap<String, String>>;

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

async fn get_repo(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let (owner, name) = (param(&params, "owner"), param(&params, "repo"));
        let repo = w.repo(owner, name).cloned().ok_or_else(ApiError::not_found)?;
        let need = Need::RepoRead {
            owner: repo.owner.clone(),
            repo: repo.name.clone(),
            private: repo.private,
        };
        authorize(w, &ctx.caller, &need, false)?;
        Ok(reply(200, body::full_repository(w, &repo)))
    })
}

async fn get_org(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let org = w.org(param(&params, "org")).cloned().ok_or_else(ApiError::not_found)?;
        authorize(w, &ctx.caller, &Need::OrgRead(org.login.clone()), false)?;
        Ok(reply(200, body::organization_full(w, &org)))
    })
}

async fn get_job(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let (owner, name) = (param(&params, "owner"), param(&params, "repo"));
        let repo = w.repo(owner, name).cloned().ok_or_else(ApiError::not_found)?;
        let need = Need::RepoRead {
            owner: repo.owner.clone(),
            repo: repo.name.clone(),
            private: repo.private,
        };
        authorize(w, &ctx.caller, &need, false)?;
        let id: u64 = param(&params, "job_id").parse().map_err(|_| ApiError::not_found())?;
        let job = w.job_in(owner, name, id).ok_or_else(ApiError::not_found)?;
        Ok(reply(200, body::job(w, job)))
    })
}

async fn rate_limit(State(state): State<FakeState>, ctx: Ctx) -> ApiResult {
    let limit = state.config().rate_limit;
    let window = state.config().rate_limit_window.as_secs() as i64;
    state.quiet(|w, now| {
        let default_limit = if matches!(ctx.caller, Caller::Anonymous) {
            60
        } else {
            limit
        };
        let bucket = ctx.caller.bucket().and_then(|key| w.buckets.get(&key).cloned());
        let (limit, mut used, mut reset) = match bucket {
            Some(b) => (b.limit, b.used, b.reset),
            None => (default_limit, 0, now.timestamp() + window),
        };
        if let Some(until) = w.switches.rate_limit_exhausted_until.filter(|u| *u > now.timestamp()) {
            used = limit;
            reset = until;
        }
        Ok(reply(200, body::rate_limit(w, limit, used, reset)))
    })
}

pub(super) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/orgs/{org}", get(get_org))
        .route("/repos/{owner}/{repo}/actions/jobs/{job_id}", get(get_job))
        .route("/rate_limit", get(rate_limit))
}
