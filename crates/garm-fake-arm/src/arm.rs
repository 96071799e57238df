//! ARM routing: bearer token, `api-version`, content type and subscription checks, then the
//! per-namespace handlers, then ARM's response headers (request IDs and rate-limit budgets).

use crate::compute;
use crate::faults::Decision;
use crate::network;
use crate::ops;
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::resources;
use crate::state::{Kind, World};

/// Which api-version list applies to a path (lower-cased segments after the subscription).
fn namespace(rest: &[String]) -> &'static str {
    if rest.iter().any(|segment| segment == "microsoft.network") {
        "network"
    } else if rest.iter().any(|segment| segment == "skus") {
        "skus"
    } else if rest.iter().any(|segment| segment == "microsoft.compute") {
        "compute"
    } else {
        "resources"
    }
}

/// Handles an ARM call; returns the answer and the caller's principal (if authenticated).
pub fn handle(world: &mut World, req: &Req, decision: &Decision) -> (Reply, Option<String>) {
    let principal = match crate::auth::check_bearer(world, req, decision.token_expired) {
        Ok(principal) => principal,
        Err(reply) => return (finish(world, req, reply), None),
    };
    let reply = route(world, req, decision);
    (finish(world, req, reply), Some(principal))
}

fn route(world: &mut World, req: &Req, decision: &Decision) -> Reply {
    let lower = req.lower();
    let seg = &req.segments;
    if lower.len() < 2 || lower[0] != "subscriptions" {
        return arm_error(404, "NotFound", "The requested path was not found.");
    }
    let rest: Vec<String> = lower[2..].to_vec();
    let Some(version) = req.q("api-version") else {
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    let ns = namespace(&rest);
    let allowed = world.config.api_versions.get(ns).cloned().unwrap_or_default();
    if !allowed.iter().any(|known| known == version) {
        return arm_error(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                allowed.join(",")
            ),
        );
    }
    if matches!(req.method.as_str(), "PUT" | "PATCH" | "POST")
        && !req.body.is_empty()
        && !req
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("application/json"))
    {
        return arm_error(
            415,
            "UnsupportedMediaType",
            "The content media type is not supported. Content-Type must be application/json.",
        );
    }
    if !seg[1].eq_ignore_ascii_case(&world.config.subscription_id) {
        return arm_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{}' could not be found.", seg[1]),
        );
    }
    let tweaks = &decision.tweaks;
    let sub = world.config.subscription_id.clone();
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    let o = &seg[2..];
    match (req.method.as_str(), r.as_slice()) {
        ("GET", ["resourcegroups"]) => resources::list_groups(world, req),
        (_, ["resourcegroups", _]) => resources::group(world, req, &o[1]),
        ("GET", ["operationresults", _]) => resources::operation_result(world, req, &o[1]),
        ("GET", ["providers", "microsoft.compute", "virtualmachines"]) => compute::list_vms(world, req, None),
        ("GET", ["providers", "microsoft.compute", "skus"]) => compute::list_skus(world, req),
        ("GET", ["providers", "microsoft.compute", "locations", _, "operations", _]) => {
            if req.q("monitor").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
                ops::poll_location(world, req, &o[5])
            } else {
                ops::poll_async(world, &o[5])
            }
        }
        ("GET", ["providers", "microsoft.network", "locations", _, "operations", _]) => ops::poll_async(world, &o[5]),
        ("GET", ["providers", "microsoft.network", "locations", _, "operationresults", _]) => {
            ops::poll_location(world, req, &o[5])
        }
        (_, ["resourcegroups", _, "providers", "microsoft.network", kind, _]) => match network::kind_of(kind) {
            Some((kind, type_name)) => {
                let (group, name) = (&o[1], &o[5]);
                let id = format!(
                    "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/{type_name}/{name}",
                    group_name(world, group)
                );
                network::resource(world, req, group, kind, &id, name, tweaks)
            }
            None => unknown_type(kind),
        },
        (_, ["resourcegroups", _, "providers", "microsoft.network", "virtualnetworks", _, "subnets", _]) => {
            let (group, vnet, name) = (&o[1], &o[5], &o[7]);
            let id = format!("/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}", group_name(world, group));
            network::resource(world, req, group, Kind::Subnet, &id, name, tweaks)
        }
        ("GET", ["resourcegroups", _, "providers", "microsoft.compute", "virtualmachines"]) => {
            compute::list_vms(world, req, Some(&o[1]))
        }
        (_, ["resourcegroups", _, "providers", "microsoft.compute", "virtualmachines", _, tail @ ..]) => {
            let (group, name) = (&o[1], &o[5]);
            let id = format!(
                "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{name}",
                group_name(world, group)
            );
            match (req.method.as_str(), tail) {
                (_, []) => compute::vm(world, req, group, &id, name, tweaks),
                ("GET", ["instanceview"]) => compute::vm_instance_view(world, group, &id, name),
                ("POST", [action @ ("start" | "deallocate" | "poweroff" | "restart")]) => {
                    compute::vm_action(world, req, group, &id, name, action, tweaks)
                }
                (_, ["extensions", _]) => compute::extension(world, req, group, &id, name, &o[7], tweaks),
                _ => arm_error(404, "NotFound", "The requested path was not found."),
            }
        }
        _ => arm_error(404, "NotFound", &format!("No route for {} {}.", req.method, req.path)),
    }
}

/// The group's creation casing, for IDs (ARM keeps the casing used at creation).
fn group_name(world: &World, group: &str) -> String {
    world
        .group(group)
        .map(|group| group.name.clone())
        .unwrap_or_else(|| group.to_owned())
}

fn unknown_type(kind: &str) -> Reply {
    arm_error(400, "InvalidResourceType", &format!("The resource type '{kind}' could not be found in the namespace 'Microsoft.Network' for api version '2023-11-01'."))
}

/// ARM's common response headers, and the rate-limit budget counting down.
fn finish(world: &mut World, req: &Req, reply: Reply) -> Reply {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut reply = reply
        .header("x-ms-request-id", request_id.clone())
        .header("x-ms-correlation-request-id", request_id.clone())
        .header(
            "x-ms-routing-request-id",
            format!("LOCAL:{}:{request_id}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
        )
        .header("Cache-Control", "no-cache");
    if let Some(client) = req.header("x-ms-client-request-id") {
        reply = reply.header("x-ms-client-request-id", client.to_owned());
    }
    if reply
        .get_header("x-ms-ratelimit-remaining-subscription-reads")
        .is_some()
        || reply
            .get_header("x-ms-ratelimit-remaining-subscription-writes")
            .is_some()
    {
        return reply;
    }
    let counters = &mut world.counters;
    let (name, value) = match req.method.as_str() {
        "GET" | "HEAD" => {
            counters.reads = counters.reads.saturating_sub(1);
            ("x-ms-ratelimit-remaining-subscription-reads", counters.reads)
        }
        "DELETE" => {
            counters.deletes = counters.deletes.saturating_sub(1);
            ("x-ms-ratelimit-remaining-subscription-deletes", counters.deletes)
        }
        _ => {
            counters.writes = counters.writes.saturating_sub(1);
            ("x-ms-ratelimit-remaining-subscription-writes", counters.writes)
        }
    };
    reply = reply.header(name, value.to_string());
    if req.method == "PUT"
        && req
            .path
            .to_ascii_lowercase()
            .contains("/microsoft.compute/virtualmachines/")
    {
        let left = counters.compute_puts;
        reply = reply.header(
            "x-ms-ratelimit-remaining-resource",
            format!(
                "Microsoft.Compute/PutVM3Min;{left},Microsoft.Compute/PutVM30Min;{}",
                left * 5
            ),
        );
    }
    reply
}
