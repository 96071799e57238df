//! `{svc}` operations with the admin token: runner groups, scale sets, sessions, JIT
//! configurations and runners ("agents").

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::model::{ScaleSet, ScaleSetSession};
use super::service::{Call, Route};
use super::wire::{self, exception, reply, scale_set_not_found};
use crate::world::{random_token, World};

/// A member of a JSON object, matching the key case-insensitively (as Go and .NET decode).
pub(crate) fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn bad_request(message: &str) -> Response {
    exception(StatusCode::BAD_REQUEST, "ArgumentException", message)
}

pub(crate) fn dispatch(w: &mut World, now: DateTime<Utc>, call: &Call, route: Route) -> Response {
    match route {
        Route::Groups => groups(w, call),
        Route::ListSets => list_sets(w, call),
        Route::CreateSet => create_set(w, now, call),
        Route::Agents => agents(w, call),
        Route::GetAgent(id) => get_agent(w, call, id),
        Route::DeleteAgent(id) => delete_agent(w, now, call, id),
        route => {
            let sid = match &route {
                Route::GetSet(s)
                | Route::UpdateSet(s)
                | Route::DeleteSet(s)
                | Route::CreateSession(s)
                | Route::RefreshSession(s, _)
                | Route::DeleteSession(s, _)
                | Route::Acquirable(s)
                | Route::Jit(s) => *s,
                _ => return exception(StatusCode::NOT_FOUND, "ResourceNotFoundException", "Not found."),
            };
            if !w.ss.sets.get(&sid).is_some_and(|s| s.scope.same_as(&call.scope)) {
                return scale_set_not_found(sid);
            }
            match route {
                Route::GetSet(_) => reply(StatusCode::OK, wire::scale_set(w, &w.ss.sets[&sid], &call.svc)),
                Route::UpdateSet(_) => update_set(w, now, call, sid),
                Route::DeleteSet(_) => {
                    w.delete_scale_set(sid, now);
                    StatusCode::NO_CONTENT.into_response()
                }
                Route::CreateSession(_) => create_session(w, now, call, sid),
                Route::RefreshSession(_, id) => refresh_session(w, now, call, sid, &id),
                Route::DeleteSession(_, id) => delete_session(w, sid, &id),
                Route::Acquirable(_) => acquirable(w, sid),
                Route::Jit(_) => generate_jit(w, now, call, sid),
                _ => exception(StatusCode::NOT_FOUND, "ResourceNotFoundException", "Not found."),
            }
        }
    }
}

fn groups(w: &World, call: &Call) -> Response {
    let wanted = call.query.get("groupname");
    let items: Vec<Value> = w
        .groups_of(&call.scope)
        .iter()
        .filter(|g| wanted.is_none_or(|name| g.name.eq_ignore_ascii_case(name)))
        .map(|g| {
            let size = w
                .runners
                .values()
                .filter(|r| r.scope.same_as(&call.scope) && r.group_id == g.id)
                .count();
            json!({"id": g.id, "name": g.name, "size": size, "isDefaultGroup": g.default})
        })
        .collect();
    reply(StatusCode::OK, wire::list(items))
}

fn list_sets(w: &World, call: &Call) -> Response {
    let name = call.query.get("name");
    let group = call.query.get("runnergroupid").and_then(|g| g.parse::<u64>().ok());
    let items: Vec<Value> =
        w.ss.sets
            .values()
            .filter(|s| s.scope.same_as(&call.scope))
            .filter(|s| name.is_none_or(|n| s.name.eq_ignore_ascii_case(n)))
            .filter(|s| group.is_none_or(|g| s.runner_group_id == g))
            .map(|s| wire::scale_set(w, s, &call.svc))
            .collect();
    reply(StatusCode::OK, wire::list(items))
}

/// Label names of a request (`[{type, name}]` or plain strings).
fn label_names(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| match item {
                    Value::String(name) => Some(name.clone()),
                    other => field(other, "name").and_then(Value::as_str).map(str::to_owned),
                })
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Applies `RunnerSetting` members that are present (in any key case).
fn apply_settings(set: &mut ScaleSet, request: &Value) {
    let Some(settings) = field(request, "runnerSetting") else {
        return;
    };
    let flag = |name: &str| field(settings, name).and_then(Value::as_bool);
    if let Some(v) = flag("ephemeral") {
        set.ephemeral = v;
    }
    if let Some(v) = flag("isElastic") {
        set.is_elastic = v;
    }
    if let Some(v) = flag("disableUpdate") {
        set.disable_update = v;
    }
}

fn name_taken(w: &World, call: &Call, name: &str, group: u64, except: Option<u64>) -> bool {
    w.ss.sets.values().any(|s| {
        Some(s.id) != except
            && s.scope.same_as(&call.scope)
            && s.runner_group_id == group
            && s.name.eq_ignore_ascii_case(name)
    })
}

/// The name first, then the other labels without case-insensitive duplicates.
fn labels_with_name(name: &str, labels: Vec<String>, only_name: bool) -> Vec<String> {
    let mut all = vec![name.to_owned()];
    if !only_name {
        for label in labels {
            if !all.iter().any(|l| l.eq_ignore_ascii_case(&label)) {
                all.push(label);
            }
        }
    }
    all
}

fn create_set(w: &mut World, now: DateTime<Utc>, call: &Call) -> Response {
    let Some(request) = call.json().filter(Value::is_object) else {
        return bad_request("The request body must be a runner scale set object.");
    };
    let Some(name) = field(&request, "name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return bad_request("The runner scale set name is required.");
    };
    let group_id = field(&request, "runnerGroupId")
        .and_then(Value::as_u64)
        .filter(|g| *g != 0)
        .unwrap_or(1);
    let Some(group) = w.group(&call.scope, group_id).cloned() else {
        return exception(
            StatusCode::NOT_FOUND,
            "RunnerGroupNotFoundException",
            &format!("Runner group {group_id} does not exist."),
        );
    };
    if name_taken(w, call, name, group_id, None) {
        return exception(
            StatusCode::BAD_REQUEST,
            "RunnerScaleSetExistsException",
            &format!(
                "A runner scale set named {name} already exists in runner group {}.",
                group.name
            ),
        );
    }
    let labels = labels_with_name(
        name,
        label_names(field(&request, "labels")),
        w.ss.faults.drop_extra_labels,
    );
    let mut set = ScaleSet {
        id: w.ss.next_set_id(),
        scope: call.scope.clone(),
        name: name.to_owned(),
        runner_group_id: group.id,
        runner_group_name: group.name.clone(),
        labels,
        ephemeral: false,
        is_elastic: false,
        disable_update: false,
        enabled: field(&request, "enabled").and_then(Value::as_bool),
        created_on: now,
        last_capacity: None,
        last_message_id: 0,
        pending_events: Vec::new(),
        messages: Vec::new(),
        acquired: Vec::new(),
    };
    apply_settings(&mut set, &request);
    let id = set.id;
    w.ss.sets.insert(id, set);
    w.schedule(now);
    reply(StatusCode::OK, wire::scale_set(w, &w.ss.sets[&id], &call.svc))
}

fn update_set(w: &mut World, now: DateTime<Utc>, call: &Call, sid: u64) -> Response {
    let Some(request) = call.json().filter(Value::is_object) else {
        return bad_request("The request body must be a runner scale set object.");
    };
    let mut set = w.ss.sets[&sid].clone();
    if let Some(group_id) = field(&request, "runnerGroupId")
        .and_then(Value::as_u64)
        .filter(|g| *g != 0)
    {
        let Some(group) = w.group(&call.scope, group_id).cloned() else {
            return exception(
                StatusCode::NOT_FOUND,
                "RunnerGroupNotFoundException",
                &format!("Runner group {group_id} does not exist."),
            );
        };
        set.runner_group_id = group.id;
        set.runner_group_name = group.name;
    }
    if let Some(name) = field(&request, "name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        let old = set.name.clone();
        set.name = name.to_owned();
        if let Some(first) = set.labels.first_mut().filter(|l| l.eq_ignore_ascii_case(&old)) {
            *first = name.to_owned();
        }
    }
    if name_taken(w, call, &set.name, set.runner_group_id, Some(sid)) {
        return exception(
            StatusCode::BAD_REQUEST,
            "RunnerScaleSetExistsException",
            &format!("A runner scale set named {} already exists.", set.name),
        );
    }
    let labels = label_names(field(&request, "labels"));
    if !labels.is_empty() {
        set.labels = labels_with_name(&set.name, labels, w.ss.faults.drop_extra_labels);
    }
    if let Some(enabled) = field(&request, "enabled").and_then(Value::as_bool) {
        set.enabled = Some(enabled);
    }
    apply_settings(&mut set, &request);
    w.ss.sets.insert(sid, set);
    w.schedule(now);
    reply(StatusCode::OK, wire::scale_set(w, &w.ss.sets[&sid], &call.svc))
}

fn new_queue_token(w: &World, session_id: &str, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let lifetime = chrono::Duration::from_std(w.ss.config.queue_token_lifetime).unwrap_or_default();
    let expires = now + lifetime;
    (
        crate::world::jwt(&w.ss.secret, session_id, "queue", expires, now),
        expires,
    )
}

fn create_session(w: &mut World, now: DateTime<Utc>, call: &Call, sid: u64) -> Response {
    if w.ss.session_of(sid).is_some() {
        let name = w.ss.sets[&sid].name.clone();
        return exception(
            StatusCode::CONFLICT,
            "RunnerScaleSetSessionConflictException",
            &format!("The actions runner scaleset {name} already has an active session."),
        );
    }
    let request = call.json().unwrap_or_default();
    let owner = field(&request, "ownerName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = uuid::Uuid::new_v4().to_string();
    let queue_key = random_token("q", 24).to_lowercase();
    let token = new_queue_token(w, &id, now);
    let session = ScaleSetSession {
        id: id.clone(),
        scale_set_id: sid,
        owner,
        created_at: now,
        last_poll: None,
        open_polls: 0,
        refreshes: 0,
        queue_url: format!("{}/_fake/actions/queue/{queue_key}/message?sessionId={id}", call.base),
        queue_key,
        tokens: vec![token],
    };
    w.ss.sessions.insert(id.clone(), session);
    reply(StatusCode::OK, wire::session(w, &w.ss.sessions[&id], &call.svc))
}

fn refresh_session(w: &mut World, now: DateTime<Utc>, call: &Call, sid: u64, id: &str) -> Response {
    if w.ss.sessions.get(id).is_none_or(|s| s.scale_set_id != sid) {
        return exception(
            StatusCode::NOT_FOUND,
            "RunnerScaleSetSessionNotFoundException",
            &format!("The session identifier {id} does not exist."),
        );
    }
    let grace = chrono::Duration::from_std(w.ss.config.queue_token_grace).unwrap_or_default();
    let token = new_queue_token(w, id, now);
    if let Some(session) = w.ss.sessions.get_mut(id) {
        for (_, exp) in &mut session.tokens {
            *exp = (*exp).min(now + grace);
        }
        session.tokens.push(token);
        session.refreshes += 1;
    }
    reply(StatusCode::OK, wire::session(w, &w.ss.sessions[id], &call.svc))
}

fn delete_session(w: &mut World, sid: u64, id: &str) -> Response {
    if w.ss.sessions.get(id).is_some_and(|s| s.scale_set_id == sid) {
        w.ss.sessions.remove(id);
        return StatusCode::NO_CONTENT.into_response();
    }
    exception(
        StatusCode::BAD_REQUEST,
        "RunnerScaleSetSessionExpiredException",
        &format!("The session identifier {id} is not valid."),
    )
}

fn acquirable(w: &World, sid: u64) -> Response {
    let items: Vec<Value> =
        w.ss.jobs
            .values()
            .filter(|j| j.status == super::model::ScaleSetJobStatus::Available && j.offered_to.contains(&sid))
            .filter_map(|j| {
                let job = w.jobs.get(&j.job_id)?;
                let tenant = w.ss.tenants.iter().position(|s| s.same_as(&w.ss.sets[&sid].scope))? + 1;
                Some(json!({
                    "acquireJobUrl": format!(
                        "{}/_fake/actions/tenant/{tenant}/_apis/runtime/runnerscalesets/{sid}/acquirejobs",
                        w.urls.web
                    ),
                    "messageType": "JobAvailable",
                    "runnerRequestId": j.request_id,
                    "repositoryName": job.repo,
                    "ownerName": job.owner,
                    "jobWorkflowRef": format!("{}/{}/.github/workflows/ci.yml@refs/heads/main", job.owner, job.repo),
                    "eventName": "push",
                    "requestLabels": job.labels,
                }))
            })
            .collect();
    if items.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    reply(StatusCode::OK, wire::list(items))
}

fn generate_jit(w: &mut World, now: DateTime<Utc>, call: &Call, sid: u64) -> Response {
    let request = call.json().unwrap_or_default();
    let Some(name) = field(&request, "name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return bad_request("The runner name is required.");
    };
    let work_folder = field(&request, "workFolder")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .unwrap_or("_work")
        .to_owned();
    if w.runner_by_name(&call.scope, name).is_some() {
        return exception(
            StatusCode::CONFLICT,
            "AgentExistsException",
            &format!("Agent {name} already exists in the scope."),
        );
    }
    let set = w.ss.sets[&sid].clone();
    let Some(group) = w
        .group(&set.scope, set.runner_group_id)
        .or_else(|| w.group(&set.scope, 1))
        .cloned()
    else {
        return exception(
            StatusCode::NOT_FOUND,
            "RunnerGroupNotFoundException",
            "No runner group.",
        );
    };
    let labels: Vec<(String, &str)> = set.labels.iter().map(|l| (l.clone(), "custom")).collect();
    let mut runner = w.create_runner(&set.scope, name, &group, &labels, true, true, "unknown", now);
    runner.scale_set_id = Some(sid);
    if let Some(stored) = w.runners.get_mut(&runner.id) {
        stored.scale_set_id = Some(sid);
    }
    let web = w.urls.web.clone();
    let blob = crate::rest::jit_blob(w, &runner, &group.name, &work_folder, &web);
    reply(
        StatusCode::OK,
        json!({"runner": wire::agent(&runner), "encodedJITConfig": blob}),
    )
}

fn agents(w: &World, call: &Call) -> Response {
    let name = call.query.get("agentname");
    let items: Vec<Value> = w
        .runners_of(&call.scope)
        .iter()
        .filter(|r| name.is_none_or(|n| &r.name == n))
        .map(wire::agent)
        .collect();
    reply(StatusCode::OK, wire::list(items))
}

fn agent_not_found(id: u64) -> Response {
    exception(
        StatusCode::NOT_FOUND,
        "AgentNotFoundException",
        &format!("No agent found with identifier {id}."),
    )
}

fn get_agent(w: &World, call: &Call, id: u64) -> Response {
    match w.runners.get(&id).filter(|r| r.scope.same_as(&call.scope)) {
        Some(runner) => reply(StatusCode::OK, wire::agent(runner)),
        None => agent_not_found(id),
    }
}

fn delete_agent(w: &mut World, now: DateTime<Utc>, call: &Call, id: u64) -> Response {
    let Some(runner) = w.runners.get(&id).filter(|r| r.scope.same_as(&call.scope)) else {
        return agent_not_found(id);
    };
    if runner.busy {
        return exception(
            StatusCode::BAD_REQUEST,
            "JobStillRunningException",
            &format!("Agent {} is running a job and cannot be deleted.", runner.name),
        );
    }
    w.remove_runner(id);
    w.schedule(now);
    StatusCode::NO_CONTENT.into_response()
}
