//! Microsoft.Resources: resource groups (create, read, exists, list with tag filter, delete with
//! `forceDeletionTypes`), their deletion `operationresults`, and helpers shared by the handlers.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::ops::{self, OpTweaks};
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::state::{Effect, Group, Namespace, World};
use crate::validate;

const FORCE_TYPES: [&str; 2] = [
    "microsoft.compute/virtualmachines",
    "microsoft.compute/virtualmachinescalesets",
];

/// 404 `ResourceGroupNotFound`.
pub fn group_not_found(name: &str) -> Reply {
    arm_error(
        404,
        "ResourceGroupNotFound",
        &format!("Resource group '{name}' could not be found."),
    )
}

/// The group a resource PUT goes into: it must exist, not be deleting, and (when enforced)
/// share the resource's region.
pub fn group_for_put(world: &World, name: &str, location: Option<&str>) -> Result<Group, Reply> {
    let group = world.group(name).cloned().ok_or_else(|| group_not_found(name))?;
    if group.state == "Deleting" {
        return Err(arm_error(
            409,
            "ResourceGroupBeingDeleted",
            &format!(
                "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                group.name
            ),
        ));
    }
    if let Some(location) = location {
        if world.settings.enforce_group_location && normalize(location) != normalize(&group.location) {
            return Err(arm_error(
                400,
                "LocationNotAvailableForResourceGroup",
                &format!(
                    "The resource location '{location}' does not match the resource group's location '{}'.",
                    group.location
                ),
            ));
        }
    }
    Ok(group)
}

/// `West Europe` and `westeurope` are the same region.
pub fn normalize(location: &str) -> String {
    location.to_ascii_lowercase().replace(' ', "")
}

/// One page of `items`, with an absolute `nextLink` carrying the request's query and a skip token.
pub fn page(world: &World, req: &Req, items: Vec<Value>) -> Reply {
    let offset: usize = req.q("$skiptoken").and_then(|token| token.parse().ok()).unwrap_or(0);
    let size = world.settings.page_size.max(1);
    let end = (offset + size).min(items.len());
    let value: Vec<Value> = items.get(offset.min(items.len())..end).unwrap_or_default().to_vec();
    let mut body = json!({"value": value});
    if end < items.len() {
        let mut url = url::Url::parse(&format!("{}{}", req.base, req.path)).expect("the request URL parses");
        {
            let mut pairs = url.query_pairs_mut();
            for (key, val) in req
                .query
                .iter()
                .filter(|(key, _)| !key.eq_ignore_ascii_case("$skiptoken"))
            {
                pairs.append_pair(key, val);
            }
            pairs.append_pair("$skiptoken", &end.to_string());
        }
        body["nextLink"] = json!(url.to_string());
    }
    Reply::json(200, &body)
}

fn render(world: &World, group: &Group) -> Value {
    json!({
        "id": world.group_id(&group.name),
        "name": group.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": group.location,
        "tags": group.tags,
        "properties": {"provisioningState": group.state},
    })
}

fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

/// `PUT|GET|HEAD|DELETE /subscriptions/{sub}/resourcegroups/{name}`.
pub fn group(world: &mut World, req: &Req, name: &str) -> Reply {
    let key = name.to_ascii_lowercase();
    match req.method.as_str() {
        "PUT" => {
            if !valid_group_name(name) {
                return arm_error(
                    400,
                    "InvalidResourceGroup",
                    &format!("The provided resource group name '{name}' has these invalid characters or is too long."),
                );
            }
            let body = match req.json() {
                Ok(body) => body,
                Err(err) => {
                    return arm_error(
                        400,
                        "InvalidRequestContent",
                        &format!("The request content was invalid and could not be deserialized: '{err}'."),
                    )
                }
            };
            let location = match validate::tracked(&body) {
                Ok(location) => location,
                Err(reply) => return reply,
            };
            let tags: BTreeMap<String, String> = body
                .get("tags")
                .and_then(Value::as_object)
                .map(|tags| {
                    tags.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let status = match world.groups.get_mut(&key) {
                Some(existing) if existing.state == "Deleting" => {
                    return arm_error(
                        409,
                        "ResourceGroupBeingDeleted",
                        &format!(
                            "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                            existing.name
                        ),
                    );
                }
                Some(existing) => {
                    if normalize(&existing.location) != normalize(&location) {
                        return arm_error(409, "InvalidResourceGroupLocation", &format!("Invalid resource group location '{location}'. The Resource group already exists in location '{}' in resource group '{}'.", existing.location, existing.name));
                    }
                    existing.tags = tags;
                    200
                }
                None => {
                    world.groups.insert(
                        key.clone(),
                        Group {
                            id: world.group_id(name),
                            name: name.to_owned(),
                            location,
                            tags,
                            state: "Succeeded".to_owned(),
                        },
                    );
                    201
                }
            };
            Reply::json(status, &render(world, &world.groups[&key]))
        }
        "GET" => match world.groups.get(&key) {
            Some(group) => Reply::json(200, &render(world, group)),
            None => group_not_found(name),
        },
        "HEAD" => Reply::empty(if world.groups.contains_key(&key) { 204 } else { 404 }),
        "DELETE" => delete_group(world, req, name),
        _ => arm_error(405, "MethodNotAllowed", "The requested method is not allowed."),
    }
}

fn delete_group(world: &mut World, req: &Req, name: &str) -> Reply {
    let key = name.to_ascii_lowercase();
    let Some(group) = world.groups.get(&key).cloned() else {
        return group_not_found(name);
    };
    if let Some(types) = req.q("forceDeletionTypes") {
        let all_known = types
            .split(',')
            .all(|kind| FORCE_TYPES.contains(&kind.trim().to_ascii_lowercase().as_str()));
        if world.settings.reject_force_deletion || !all_known {
            return arm_error(
                400,
                "UnsupportedForceDeletionResourceTypeInQueryString",
                &format!("The resource types '{types}' in the query string are not supported for forced deletion."),
            );
        }
    }
    let existing = world
        .operations
        .values()
        .find(|op| op.status == "InProgress" && matches!(&op.effect, Effect::DeleteGroup { group } if *group == key))
        .map(|op| op.id.clone());
    let op_id = existing.unwrap_or_else(|| {
        ops::begin(
            world,
            Namespace::Resources,
            &group.location,
            req.q("api-version").unwrap_or("2021-04-01"),
            Effect::DeleteGroup { group: key.clone() },
            &OpTweaks::default(),
        )
    });
    if let Some(group) = world.groups.get_mut(&key) {
        group.state = "Deleting".to_owned();
    }
    for resource in world.resources.values_mut().filter(|resource| resource.group == key) {
        resource.provisioning = "Deleting".to_owned();
    }
    ops::accepted_headers(world, Reply::empty(202), &req.base, &op_id, false, true)
}

/// Parses `tagName eq 'k' and tagValue eq 'v'` (keywords case-insensitive).
fn tag_filter(filter: &str) -> Option<(String, Option<String>)> {
    let quoted = |text: &str| -> Option<String> {
        let text = text.trim();
        let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(inner.replace("''", "'"))
    };
    let lower = filter.to_ascii_lowercase();
    let start = lower.find("tagname eq ")? + "tagname eq ".len();
    let rest = &filter[start..];
    let (name, value) = match rest.to_ascii_lowercase().find(" and tagvalue eq ") {
        Some(index) => (&rest[..index], Some(&rest[index + " and tagvalue eq ".len()..])),
        None => (rest, None),
    };
    Some((quoted(name)?, value.map(quoted).unwrap_or(None)))
}

/// `GET /subscriptions/{sub}/resourcegroups[?$filter=tagName eq 'k' and tagValue eq 'v']`.
pub fn list_groups(world: &mut World, req: &Req) -> Reply {
    let filter = match req.q("$filter") {
        None => None,
        Some(text) => match tag_filter(text) {
            Some(filter) => Some(filter),
            None => {
                return arm_error(
                    400,
                    "InvalidFilterInQueryString",
                    &format!("Invalid $filter '{text}' specified in the query string."),
                )
            }
        },
    };
    let items: Vec<Value> = world
        .groups
        .values()
        .filter(|group| match &filter {
            None => true,
            Some((name, value)) => group.tags.iter().any(|(key, tag_value)| {
                key.eq_ignore_ascii_case(name) && value.as_ref().is_none_or(|value| value == tag_value)
            }),
        })
        .map(|group| render(world, group))
        .collect();
    page(world, req, items)
}

/// `GET /subscriptions/{sub}/operationresults/{opaque}`.
pub fn operation_result(world: &mut World, req: &Req, opaque: &str) -> Reply {
    match ops::op_id_from_opaque(opaque) {
        Some(id) => ops::poll_location(world, req, &id),
        None => arm_error(404, "NotFound", "The operation was not found."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filters_parse_like_arm_reads_them() {
        assert_eq!(
            tag_filter("tagName eq 'garm-controller-id' and tagValue eq 'c1'"),
            Some(("garm-controller-id".into(), Some("c1".into())))
        );
        assert_eq!(tag_filter("TAGNAME eq 'a'"), Some(("a".into(), None)));
        assert_eq!(
            tag_filter("tagName eq 'o''k' and tagValue eq 'it''s'"),
            Some(("o'k".into(), Some("it's".into())))
        );
        assert_eq!(tag_filter("name eq 'x'"), None);
    }
}
