//! Repository and organization webhooks: CRUD, ping, delivery log and redelivery.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::runners::{json_body, scope_of};
use super::{no_content, reply, with_link, ApiError, ApiResult, Ctx};
use crate::auth::{authorize, Need};
use crate::body;
use crate::model::{Hook, Scope};
use crate::state::FakeState;
use crate::world::{Pending, World};

type Params = Path<HashMap<String, String>>;

fn admit(w: &World, ctx: &Ctx, params: &HashMap<String, String>) -> Result<Scope, ApiError> {
    let scope = scope_of(params).ok_or_else(ApiError::not_found)?;
    if !w.scope_exists(&scope) {
        return Err(ApiError::not_found());
    }
    authorize(w, &ctx.caller, &Need::Hooks(scope.clone()), false)?;
    Ok(scope)
}

fn hook_in(w: &World, scope: &Scope, params: &HashMap<String, String>) -> Result<Hook, ApiError> {
    let id: u64 = params
        .get("hook_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    w.hooks
        .get(&id)
        .filter(|h| h.scope.same_as(scope))
        .cloned()
        .ok_or_else(ApiError::not_found)
}

fn validation_failed(message: &str) -> ApiError {
    ApiError::new(422, "Validation Failed")
        .with_errors(json!([{"resource": "Hook", "code": "custom", "message": message}]))
}

async fn list(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hooks = w.hooks_of(&scope);
        let (page, link) = ctx.paginate(&hooks);
        let body: Vec<Value> = page.iter().map(|h| body::hook(w, h)).collect();
        Ok(with_link(reply(200, Value::Array(body)), link))
    })
}

async fn create(State(state): State<FakeState>, Path(params): Params, ctx: Ctx, bytes: Bytes) -> ApiResult {
    let request = json_body(&bytes)?;
    state.with(|w, now| {
        let scope = admit(w, &ctx, &params)?;
        if let Some(name) = request.get("name") {
            if name.as_str() != Some("web") {
                return Err(validation_failed("Name must be \"web\""));
            }
        }
        let config = &request["config"];
        let url = config["url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| validation_failed("Config must contain URL"))?;
        if w.hooks_of(&scope).iter().any(|h| h.url == url) {
            let what = match scope {
                Scope::Repo { .. } => "repository",
                _ => "organization",
            };
            return Err(validation_failed(&format!("Hook already exists on this {what}")));
        }
        let content_type = config["content_type"].as_str().unwrap_or("form");
        if content_type != "json" && content_type != "form" {
            return Err(validation_failed("Content type must be json or form"));
        }
        let insecure_ssl = match &config["insecure_ssl"] {
            Value::String(text) => text.clone(),
            Value::Number(n) => n.to_string(),
            _ => "0".to_owned(),
        };
        let events = match &request["events"] {
            Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => vec!["push".to_owned()],
        };
        let hook = Hook {
            id: w.ids.hook.next(),
            scope: scope.clone(),
            active: request["active"].as_bool().unwrap_or(true),
            events,
            url: url.to_owned(),
            content_type: content_type.to_owned(),
            secret: config["secret"].as_str().filter(|s| !s.is_empty()).map(str::to_owned),
            insecure_ssl,
            created_at: now,
            updated_at: now,
            last_response_code: None,
            last_response_status: "unused".to_owned(),
            last_response_message: None,
        };
        w.hooks.insert(hook.id, hook.clone());
        if hook.active {
            w.emit_ping(&hook);
        }
        let location = format!("{}{}/{}", ctx.base, ctx.path.trim_end_matches('/'), hook.id);
        let mut response = reply(201, body::hook(w, &hook));
        if let Ok(value) = HeaderValue::try_from(location) {
            response.headers_mut().insert(http::header::LOCATION, value);
        }
        Ok(response)
    })
}

async fn get_one(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hook = hook_in(w, &scope, &params)?;
        Ok(reply(200, body::hook(w, &hook)))
    })
}

async fn delete(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.with(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hook = hook_in(w, &scope, &params)?;
        w.hooks.remove(&hook.id);
        Ok(no_content())
    })
}

async fn ping(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.with(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hook = hook_in(w, &scope, &params)?;
        w.emit_ping(&hook);
        Ok(no_content())
    })
}

async fn deliveries(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.quiet(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hook = hook_in(w, &scope, &params)?;
        let per_page = ctx
            .query
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(30)
            .min(100);
        let cursor: Option<u64> = match ctx.query.get("cursor").filter(|c| !c.is_empty()) {
            Some(text) => Some(text.parse().map_err(|_| ApiError::new(400, "Invalid cursor"))?),
            None => None,
        };
        let status = ctx.query.get("status").map(String::as_str);
        if !matches!(status, None | Some("success") | Some("failure")) {
            return Err(ApiError::new(422, "Validation Failed").with_errors(json!([
                {"resource": "HookDelivery", "code": "invalid", "field": "status"}
            ])));
        }
        // Newest first, as GitHub lists them; the cursor is the id to continue from.
        let mut matching: Vec<_> = w
            .deliveries
            .iter()
            .filter(|d| d.hook_id == hook.id)
            .filter(|d| cursor.is_none_or(|c| d.id <= c))
            .filter(|d| match status {
                Some("success") => (200..300).contains(&d.status_code),
                Some("failure") => !(200..300).contains(&d.status_code),
                _ => true,
            })
            .collect();
        matching.sort_by_key(|d| std::cmp::Reverse(d.id));
        let page: Vec<Value> = matching
            .iter()
            .take(per_page)
            .map(|d| body::delivery_item(w, d))
            .collect();
        let link = matching.get(per_page).map(|next| {
            format!(
                "<{}{}?per_page={per_page}&cursor={}>; rel=\"next\"",
                ctx.base, ctx.path, next.id
            )
        });
        Ok(with_link(reply(200, Value::Array(page)), link))
    })
}

async fn redeliver(State(state): State<FakeState>, Path(params): Params, ctx: Ctx) -> ApiResult {
    state.with(|w, _| {
        let scope = admit(w, &ctx, &params)?;
        let hook = hook_in(w, &scope, &params)?;
        let id: u64 = params
            .get("delivery_id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(ApiError::not_found)?;
        let original = w
            .deliveries
            .iter()
            .find(|d| d.id == id && d.hook_id == hook.id)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        w.outbox.push(Pending {
            hook,
            guid: original.guid,
            event: original.event,
            action: original.action,
            repository_id: original.repository_id,
            redelivery: true,
            payload: original.payload,
        });
        Ok(reply(202, json!({})))
    })
}

pub(super) fn routes() -> Router<FakeState> {
    let mut router = Router::new();
    for prefix in ["/repos/{owner}/{repo}", "/orgs/{org}"] {
        router = router
            .route(&format!("{prefix}/hooks"), get(list).post(create))
            .route(&format!("{prefix}/hooks/{{hook_id}}"), get(get_one).delete(delete))
            .route(&format!("{prefix}/hooks/{{hook_id}}/pings"), post(ping))
            .route(&format!("{prefix}/hooks/{{hook_id}}/deliveries"), get(deliveries))
            .route(
                &format!("{prefix}/hooks/{{hook_id}}/deliveries/{{delivery_id}}/attempts"),
                post(redeliver),
            );
    }
    router
}
