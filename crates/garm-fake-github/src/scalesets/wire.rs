//! The JSON the scale set service sends: scale sets, sessions, runners ("agents"),
//! exceptions, and the JWTs it issues.

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::model::{ScaleSet, ScaleSetSession};
use crate::model::Runner;
use crate::world::World;

pub(crate) fn time(t: DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A JSON answer.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An exception of the Actions service, `{"typeName", "message"}`, with the assembly-qualified
/// name the real service uses.
pub(crate) fn exception(status: StatusCode, short: &str, message: &str) -> Response {
    reply(
        status,
        json!({
            "$id": "1",
            "innerException": null,
            "message": message,
            "typeName": format!("GitHub.Actions.Runtime.WebApi.{short}, GitHub.Actions.Runtime.WebApi"),
            "typeKey": short,
            "errorCode": 0,
            "eventId": 3000,
        }),
    )
}

pub(crate) fn unauthorized() -> Response {
    exception(
        StatusCode::UNAUTHORIZED,
        "VssUnauthorizedException",
        "TF400813: The user is not authorized to access this resource.",
    )
}

pub(crate) fn scale_set_not_found(id: u64) -> Response {
    exception(
        StatusCode::NOT_FOUND,
        "RunnerScaleSetNotFoundException",
        &format!("The runner scale set with id {id} does not exist."),
    )
}

/// The scale set object (`scalesets.md` §3.2).
pub(crate) fn scale_set(w: &World, set: &ScaleSet, svc: &str) -> Value {
    let labels: Vec<Value> = set
        .labels
        .iter()
        .map(|l| json!({"type": "System", "name": l}))
        .collect();
    let base = format!("{svc}_apis/runtime/runnerscalesets/{}", set.id);
    let mut value = json!({
        "id": set.id,
        "name": set.name,
        "runnerGroupId": set.runner_group_id,
        "runnerGroupName": set.runner_group_name,
        "labels": labels,
        "RunnerSetting": {
            "ephemeral": set.ephemeral,
            "isElastic": set.is_elastic,
            "disableUpdate": set.disable_update,
        },
        "createdOn": time(set.created_on),
        "runnerJitConfigUrl": format!("{base}/generatejitconfig"),
        "getAcquirableJobsUrl": format!("{base}/acquirablejobs"),
        "acquireJobsUrl": format!("{base}/acquirejobs"),
        "statistics": w.statistics(set.id),
    });
    if let Some(enabled) = set.enabled {
        value["enabled"] = json!(enabled);
    }
    value
}

/// The session object (§4.1), with the newest queue token.
pub(crate) fn session(w: &World, session: &ScaleSetSession, svc: &str) -> Value {
    let set = w.ss.sets.get(&session.scale_set_id);
    json!({
        "sessionId": session.id,
        "ownerName": session.owner,
        "runnerScaleSet": set.map(|s| scale_set(w, s, svc)),
        "messageQueueUrl": session.queue_url,
        "messageQueueAccessToken": session.tokens.last().map(|(t, _)| t.clone()).unwrap_or_default(),
        "statistics": w.statistics(session.scale_set_id),
    })
}

/// The runner ("agent") object (§7.3).
pub(crate) fn agent(runner: &Runner) -> Value {
    let labels: Vec<Value> = runner
        .labels
        .iter()
        .map(|l| {
            let kind = if l.kind == "read-only" { "System" } else { "User" };
            json!({"id": l.id, "name": l.name, "type": kind})
        })
        .collect();
    json!({
        "id": runner.id,
        "name": runner.name,
        "runnerScaleSetId": runner.scale_set_id.unwrap_or(0),
        "os": runner.os,
        "version": runner.version.clone().unwrap_or_default(),
        "createdOn": time(runner.created_at),
        "runnerGroupId": runner.group_id,
        "runnerGroupName": runner.group_name,
        "enabled": true,
        "ephemeral": runner.ephemeral,
        "disableUpdate": false,
        "busy": runner.busy,
        "status": runner.status,
        "provisioningState": "Provisioned",
        "labels": labels,
    })
}

/// `{count, value}`.
pub(crate) fn list(items: Vec<Value>) -> Value {
    json!({"count": items.len(), "value": items})
}
