//! Long-running operations: starting them, their `Azure-AsyncOperation`/`Location` URLs, polls
//! that advance virtual time, and what finishing one does to the world.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::Rng as _;
use serde_json::{json, Value};

use crate::boot;
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::state::{timestamp, Effect, Namespace, Operation, World};

/// What a fault did to an operation when it started.
#[derive(Debug, Clone, Default)]
pub struct OpTweaks {
    pub fail_with: Option<(String, String)>,
    pub extra_polls: u32,
}

/// Starts an operation; returns its ID.
pub fn begin(
    world: &mut World,
    namespace: Namespace,
    location: &str,
    api_version: &str,
    effect: Effect,
    tweaks: &OpTweaks,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let op = Operation {
        id: id.clone(),
        namespace,
        location: location.to_ascii_lowercase().replace(' ', ""),
        api_version: api_version.to_owned(),
        p: uuid::Uuid::new_v4().to_string(),
        polls_left: world.settings.polls_to_complete.max(1) + tweaks.extra_polls,
        status: "InProgress".to_owned(),
        error: None,
        start_time: timestamp(),
        end_time: None,
        effect,
        fail_with: tweaks.fail_with.clone(),
    };
    world.operations.insert(id.clone(), op);
    id
}

/// The `Azure-AsyncOperation` URL of an operation.
pub fn async_url(world: &World, base: &str, op_id: &str) -> String {
    let op = &world.operations[op_id];
    let sub = &world.config.subscription_id;
    match op.namespace {
        Namespace::Network => format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.Network/locations/{}/operations/{}?api-version={}",
            op.location, op.id, op.api_version
        ),
        Namespace::Compute | Namespace::Resources => format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{}/operations/{}?p={}&api-version={}",
            op.location, op.id, op.p, op.api_version
        ),
    }
}

/// The `Location` URL of an operation.
pub fn location_url(world: &World, base: &str, op_id: &str) -> String {
    let op = &world.operations[op_id];
    let sub = &world.config.subscription_id;
    match op.namespace {
        Namespace::Network => format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.Network/locations/{}/operationResults/{}?api-version={}",
            op.location, op.id, op.api_version
        ),
        Namespace::Compute => format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{}/operations/{}?p={}&monitor=true&api-version={}",
            op.location, op.id, op.p, op.api_version
        ),
        Namespace::Resources => {
            let job = json!({"jobId": format!("RESOURCEGROUPDELETIONJOB-{}", op.id), "jobLocation": op.location});
            format!(
                "{base}/subscriptions/{sub}/operationresults/{}?api-version={}",
                URL_SAFE_NO_PAD.encode(job.to_string()),
                op.api_version
            )
        }
    }
}

/// The operation ID inside a Resources `operationresults` token.
pub fn op_id_from_opaque(opaque: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(opaque).ok()?;
    let job: Value = serde_json::from_slice(&bytes).ok()?;
    let id = job.get("jobId")?.as_str()?;
    id.strip_prefix("RESOURCEGROUPDELETIONJOB-").map(str::to_owned)
}

/// One poll: advances the operation and returns its status afterwards.
pub fn advance(world: &mut World, op_id: &str) {
    let Some(op) = world.operations.get_mut(op_id) else {
        return;
    };
    if op.status != "InProgress" {
        return;
    }
    op.polls_left = op.polls_left.saturating_sub(1);
    if op.polls_left == 0 {
        finish(world, op_id);
    }
}

/// Advances every running operation by `steps` polls (`/_fake/clock`).
pub fn advance_all(world: &mut World, steps: u32) {
    let ids: Vec<String> = world
        .operations
        .values()
        .filter(|op| op.status == "InProgress")
        .map(|op| op.id.clone())
        .collect();
    for id in ids {
        for _ in 0..steps {
            advance(world, &id);
        }
    }
}

/// Ends an operation, applying its effect (or its injected failure).
pub fn finish(world: &mut World, op_id: &str) {
    let Some(op) = world.operations.get_mut(op_id) else {
        return;
    };
    op.end_time = Some(timestamp());
    let effect = op.effect.clone();
    if let Some((code, message)) = op.fail_with.clone() {
        op.status = "Failed".to_owned();
        op.error = Some((code.clone(), message.clone()));
        fail(world, &effect, &code, &message);
        return;
    }
    op.status = "Succeeded".to_owned();
    apply(world, &effect);
}

fn fail(world: &mut World, effect: &Effect, code: &str, message: &str) {
    match effect {
        Effect::Provision { id }
        | Effect::VmCreate { id }
        | Effect::Power { id, .. }
        | Effect::DeleteResource { id } => {
            if let Some(resource) = world.resource_mut(id) {
                resource.provisioning = "Failed".to_owned();
                resource.failure = Some((code.to_owned(), message.to_owned()));
                if matches!(effect, Effect::VmCreate { .. }) {
                    resource.power = None;
                }
            }
        }
        Effect::DeleteGroup { group } => {
            if let Some(group) = world.groups.get_mut(group) {
                group.state = "Succeeded".to_owned();
            }
        }
    }
}

fn apply(world: &mut World, effect: &Effect) {
    match effect {
        Effect::Provision { id } => {
            let public = next_public_ip(world);
            if let Some(resource) = world.resource_mut(id) {
                resource.provisioning = "Succeeded".to_owned();
                resource.failure = None;
                if resource.kind == crate::state::Kind::PublicIp
                    && resource.model.pointer("/properties/ipAddress").is_none()
                {
                    resource.model["properties"]["ipAddress"] = json!(public);
                }
            }
        }
        Effect::VmCreate { id } => {
            let Some(resource) = world.resource_mut(id) else { return };
            resource.provisioning = "Succeeded".to_owned();
            resource.power = Some("running".to_owned());
            resource.failure = None;
            let name = resource.name.clone();
            let custom_data = resource.custom_data.clone();
            let linux = resource
                .model
                .pointer("/properties/osProfile/linuxConfiguration")
                .is_some();
            if let (Some(dir), Some(data), true) = (world.config.boot_dir.clone(), custom_data, linux) {
                match boot::start(&dir, &name, &data) {
                    Ok(Some(handle)) => {
                        world.boots.insert(id.to_ascii_lowercase(), handle);
                    }
                    Ok(None) => tracing::info!(vm = name, "custom data has no install script; nothing to boot"),
                    Err(err) => tracing::warn!(vm = name, error = %err, "cannot boot the VM's install script"),
                }
            }
        }
        Effect::Power { id, to } => {
            if let Some(resource) = world.resource_mut(id) {
                resource.power = Some(to.clone());
                resource.provisioning = "Succeeded".to_owned();
            }
            if matches!(to.as_str(), "deallocated" | "stopped") {
                stop_boot(world, id);
            }
        }
        Effect::DeleteResource { id } => remove_resource(world, id),
        Effect::DeleteGroup { group } => {
            let ids: Vec<String> = world
                .resources
                .values()
                .filter(|resource| resource.group == *group)
                .map(|resource| resource.id.clone())
                .collect();
            for id in ids {
                remove_resource(world, &id);
            }
            world.groups.remove(group);
        }
    }
}

/// Removes a resource and its children, stopping a booted VM.
pub fn remove_resource(world: &mut World, id: &str) {
    stop_boot(world, id);
    let children: Vec<String> = world
        .children(id)
        .iter()
        .map(|child| child.id.to_ascii_lowercase())
        .collect();
    for child in children {
        world.resources.remove(&child);
    }
    world.resources.remove(&id.to_ascii_lowercase());
}

/// Kills the install script a VM booted, if any.
pub fn stop_boot(world: &mut World, vm_id: &str) {
    if let Some(handle) = world.boots.remove(&vm_id.to_ascii_lowercase()) {
        handle.kill();
    }
}

fn next_public_ip(world: &mut World) -> String {
    world.next_public += 1;
    // TEST-NET-3 (RFC 5737): never a real address.
    format!("203.0.113.{}", (world.next_public % 250) + 1)
}

/// Headers every accepted operation carries.
pub fn accepted_headers(
    world: &World,
    reply: Reply,
    base: &str,
    op_id: &str,
    with_async: bool,
    with_location: bool,
) -> Reply {
    let mut reply = reply.header("Retry-After", world.settings.retry_after_secs.to_string());
    if with_async {
        reply = reply.header("Azure-AsyncOperation", async_url(world, base, op_id));
    }
    if with_location {
        reply = reply.header("Location", location_url(world, base, op_id));
    }
    reply
}

/// `GET` of an `Azure-AsyncOperation` URL.
pub fn poll_async(world: &mut World, op_id: &str) -> Reply {
    if !world.operations.contains_key(op_id) {
        return arm_error(404, "NotFound", &format!("The operation '{op_id}' was not found."));
    }
    advance(world, op_id);
    let op = &world.operations[op_id];
    let mut body = match op.namespace {
        Namespace::Network => json!({"status": op.status}),
        _ => json!({"startTime": op.start_time, "status": op.status, "name": op.id}),
    };
    if op.namespace != Namespace::Network {
        if let Some(end) = &op.end_time {
            body["endTime"] = json!(end);
        }
    }
    if let Some((code, message)) = &op.error {
        body["error"] = json!({"code": code, "message": message});
    }
    let mut reply = Reply::json(200, &body);
    if op.status == "InProgress" {
        reply = reply.header("Retry-After", world.settings.retry_after_secs.to_string());
    }
    reply
}

/// `GET` of a `Location` URL: 202 while running, then 200 or 204 (both legal; chosen by the
/// seeded RNG for Compute), or the operation's error.
pub fn poll_location(world: &mut World, req: &Req, op_id: &str) -> Reply {
    if !world.operations.contains_key(op_id) {
        return arm_error(404, "NotFound", &format!("The operation '{op_id}' was not found."));
    }
    advance(world, op_id);
    let op = world.operations[op_id].clone();
    match op.status.as_str() {
        "InProgress" => Reply::empty(202)
            .header("Location", req.url())
            .header("Retry-After", world.settings.retry_after_secs.to_string()),
        "Failed" => {
            let (code, message) = op.error.unwrap_or_default();
            arm_error(400, &code, &message)
        }
        _ => match op.namespace {
            Namespace::Compute if world.rng.gen_bool(0.5) => Reply::empty(204),
            Namespace::Network => Reply::empty(204),
            _ => Reply::empty(200),
        },
    }
}
