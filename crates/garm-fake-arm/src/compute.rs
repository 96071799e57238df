//! Microsoft.Compute: virtual machines (create, read with instance view, power actions, delete,
//! list by group and subscription), extensions, and the resource SKU list.

use serde_json::{json, Value};

use crate::ops::{self, OpTweaks};
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::resources::{group_for_put, group_not_found, page};
use crate::skus;
use crate::state::{timestamp, Effect, Kind, Namespace, Resource, World};
use crate::validate;

fn not_found(kind: Kind, name: &str, group: &str) -> Reply {
    arm_error(404, "ResourceNotFound", &format!("The Resource '{}/{name}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", kind.arm_type()))
}

fn display(state: &str) -> String {
    let mut chars = state.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The VM's instance view (`statuses` with `ProvisioningState/…` and `PowerState/…`).
pub fn instance_view(vm: &Resource) -> Value {
    let provisioning = vm.provisioning.to_ascii_lowercase();
    let mut statuses = Vec::new();
    match &vm.failure {
        Some((code, message)) if provisioning == "failed" => statuses.push(json!({
            "code": format!("ProvisioningState/failed/{code}"), "level": "Error",
            "displayStatus": "Provisioning failed", "message": message, "time": timestamp()})),
        _ => statuses.push(json!({
            "code": format!("ProvisioningState/{provisioning}"), "level": "Info",
            "displayStatus": format!("Provisioning {provisioning}"), "time": timestamp()})),
    }
    if let Some(power) = &vm.power {
        statuses.push(json!({"code": format!("PowerState/{power}"), "level": "Info", "displayStatus": format!("VM {}", display(power).to_lowercase())}));
    }
    json!({
        "computerName": vm.model.pointer("/properties/osProfile/computerName").cloned().unwrap_or(Value::Null),
        "hyperVGeneration": "V2",
        "statuses": statuses,
    })
}

/// The VM model as GET answers it.
pub fn render_vm(world: &World, vm: &Resource, with_view: bool) -> Value {
    let mut model = vm.model.clone();
    model["properties"]["provisioningState"] = json!(vm.provisioning);
    if with_view {
        model["properties"]["instanceView"] = instance_view(vm);
    }
    let extensions: Vec<Value> = world
        .children(&vm.id)
        .iter()
        .filter(|child| child.kind == Kind::Extension)
        .map(|ext| render_extension(ext))
        .collect();
    if !extensions.is_empty() {
        model["resources"] = json!(extensions);
    }
    model
}

fn render_extension(ext: &Resource) -> Value {
    let mut model = ext.model.clone();
    model["properties"]["provisioningState"] = json!(ext.provisioning);
    model
}

/// The stored VM model: the request minus secrets, plus what Azure fills in.
fn vm_model(id: &str, name: &str, body: &Value, windows: bool, existing: Option<&Resource>) -> Value {
    let mut model = body.clone();
    model["id"] = json!(id);
    model["name"] = json!(name);
    model["type"] = json!(Kind::Vm.arm_type());
    let properties = &mut model["properties"];
    if let Some(profile) = properties.get_mut("osProfile").and_then(Value::as_object_mut) {
        profile.remove("adminPassword");
        profile.remove("customData");
        profile.insert("secrets".into(), json!([]));
        profile.insert("allowExtensionOperations".into(), json!(true));
    }
    let vm_id = existing
        .and_then(|vm| vm.model.pointer("/properties/vmId").cloned())
        .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
    let created = existing
        .and_then(|vm| vm.model.pointer("/properties/timeCreated").cloned())
        .unwrap_or_else(|| json!(timestamp()));
    properties["vmId"] = vm_id;
    properties["timeCreated"] = created;
    let storage = &mut properties["storageProfile"];
    storage["dataDisks"] = storage.get("dataDisks").cloned().unwrap_or_else(|| json!([]));
    if let Some(disk) = storage.get_mut("osDisk").filter(|disk| disk.is_object()) {
        disk["osType"] = json!(if windows { "Windows" } else { "Linux" });
    }
    model
}

/// `PUT|GET|DELETE …/virtualMachines/{vm}`.
pub fn vm(world: &mut World, req: &Req, group_name: &str, id: &str, name: &str, tweaks: &OpTweaks) -> Reply {
    match req.method.as_str() {
        "PUT" => put_vm(world, req, group_name, id, name, tweaks),
        "GET" => {
            if world.group(group_name).is_none() {
                return group_not_found(group_name);
            }
            let Some(vm) = world.resource(id).filter(|vm| vm.kind == Kind::Vm) else {
                return not_found(Kind::Vm, name, group_name);
            };
            let expand = req.q("$expand").unwrap_or_default().to_ascii_lowercase();
            Reply::json(200, &render_vm(world, vm, expand.contains("instanceview")))
        }
        "DELETE" => {
            let Some(vm) = world.resource(id).filter(|vm| vm.kind == Kind::Vm).cloned() else {
                return Reply::empty(204);
            };
            let location = vm
                .model
                .get("location")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let api = req.q("api-version").unwrap_or_default().to_owned();
            let op_id = ops::begin(
                world,
                Namespace::Compute,
                &location,
                &api,
                Effect::DeleteResource { id: id.to_owned() },
                tweaks,
            );
            if let Some(vm) = world.resource_mut(id) {
                vm.provisioning = "Deleting".to_owned();
            }
            ops::accepted_headers(world, Reply::empty(202), &req.base, &op_id, true, true)
        }
        _ => arm_error(405, "MethodNotAllowed", "The requested method is not allowed."),
    }
}

fn put_vm(world: &mut World, req: &Req, group_name: &str, id: &str, name: &str, tweaks: &OpTweaks) -> Reply {
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
    if let Err(reply) = group_for_put(world, group_name, Some(&location)) {
        return reply;
    }
    let windows = match validate::virtual_machine(&body) {
        Ok(windows) => windows,
        Err(reply) => return reply,
    };
    let nic_ids: Vec<String> = body
        .pointer("/properties/networkProfile/networkInterfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|nic| nic.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if !validate::distinct_ids(&nic_ids) {
        return arm_error(
            400,
            "InvalidParameter",
            "A network interface is referenced more than once.",
        );
    }
    for nic_id in &nic_ids {
        if !world.resource(nic_id).is_some_and(|nic| nic.kind == Kind::Nic) {
            return arm_error(400, "InvalidResourceReference", &format!("Resource {nic_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."));
        }
        let attached = world.resources.values().find(|other| {
            other.kind == Kind::Vm
                && !other.id.eq_ignore_ascii_case(id)
                && other
                    .model
                    .pointer("/properties/networkProfile/networkInterfaces")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|nic| {
                        nic.get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|other_id| other_id.eq_ignore_ascii_case(nic_id))
                    })
        });
        if let Some(other) = attached {
            return arm_error(
                400,
                "NicInUse",
                &format!("Network interface {nic_id} is used by existing VM {}.", other.id),
            );
        }
    }
    let existing = world.resource(id).filter(|vm| vm.kind == Kind::Vm).cloned();
    let model = vm_model(id, name, &body, windows, existing.as_ref());
    let custom_data = body
        .pointer("/properties/osProfile/customData")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, provisioning, power, effect) = match &existing {
        Some(vm) => (
            200,
            "Updating",
            vm.power.clone(),
            Effect::Provision { id: id.to_owned() },
        ),
        None => (
            201,
            "Creating",
            Some("starting".to_owned()),
            Effect::VmCreate { id: id.to_owned() },
        ),
    };
    world.resources.insert(
        id.to_ascii_lowercase(),
        Resource {
            id: id.to_owned(),
            kind: Kind::Vm,
            name: name.to_owned(),
            group: group_name.to_ascii_lowercase(),
            model,
            provisioning: provisioning.to_owned(),
            power,
            failure: None,
            custom_data: custom_data.or(existing.and_then(|vm| vm.custom_data)),
        },
    );
    world.counters.compute_puts = world.counters.compute_puts.saturating_sub(1);
    let api = req.q("api-version").unwrap_or_default().to_owned();
    let op_id = ops::begin(world, Namespace::Compute, &location, &api, effect, tweaks);
    let body = render_vm(world, world.resource(id).expect("just inserted"), false);
    ops::accepted_headers(world, Reply::json(status, &body), &req.base, &op_id, true, false)
}

/// `GET …/virtualMachines/{vm}/instanceView`.
pub fn vm_instance_view(world: &World, group_name: &str, id: &str, name: &str) -> Reply {
    match world.resource(id).filter(|vm| vm.kind == Kind::Vm) {
        Some(vm) => Reply::json(200, &instance_view(vm)),
        None if world.group(group_name).is_none() => group_not_found(group_name),
        None => not_found(Kind::Vm, name, group_name),
    }
}

/// `POST …/virtualMachines/{vm}/{start|deallocate|powerOff|restart}`.
pub fn vm_action(
    world: &mut World,
    req: &Req,
    group_name: &str,
    id: &str,
    name: &str,
    action: &str,
    tweaks: &OpTweaks,
) -> Reply {
    let Some(vm) = world.resource(id).filter(|vm| vm.kind == Kind::Vm).cloned() else {
        return if world.group(group_name).is_none() {
            group_not_found(group_name)
        } else {
            not_found(Kind::Vm, name, group_name)
        };
    };
    let (during, to) = match action {
        "start" => ("starting", "running"),
        "deallocate" => ("deallocating", "deallocated"),
        "poweroff" => ("stopping", "stopped"),
        "restart" => ("starting", "running"),
        _ => return arm_error(404, "NotFound", &format!("Unknown action {action}.")),
    };
    if vm.provisioning == "Deleting" {
        return arm_error(
            409,
            "OperationNotAllowed",
            "Operation cannot be performed while the VM is being deleted.",
        );
    }
    let location = vm
        .model
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api = req.q("api-version").unwrap_or_default().to_owned();
    let op_id = ops::begin(
        world,
        Namespace::Compute,
        &location,
        &api,
        Effect::Power {
            id: id.to_owned(),
            to: to.to_owned(),
        },
        tweaks,
    );
    if let Some(vm) = world.resource_mut(id) {
        vm.power = Some(during.to_owned());
    }
    if matches!(action, "deallocate" | "poweroff") {
        ops::stop_boot(world, id);
    }
    ops::accepted_headers(world, Reply::empty(202), &req.base, &op_id, true, true)
}

/// `PUT|GET …/virtualMachines/{vm}/extensions/{name}`.
pub fn extension(
    world: &mut World,
    req: &Req,
    group_name: &str,
    vm_id: &str,
    vm_name: &str,
    name: &str,
    tweaks: &OpTweaks,
) -> Reply {
    let id = format!("{vm_id}/extensions/{name}");
    let Some(vm) = world.resource(vm_id).filter(|vm| vm.kind == Kind::Vm).cloned() else {
        return if world.group(group_name).is_none() {
            group_not_found(group_name)
        } else {
            not_found(Kind::Vm, vm_name, group_name)
        };
    };
    if req.method == "GET" {
        return match world.resource(&id) {
            Some(ext) => Reply::json(200, &render_extension(ext)),
            None => not_found(Kind::Extension, name, group_name),
        };
    }
    if req.method != "PUT" {
        return arm_error(405, "MethodNotAllowed", "The requested method is not allowed.");
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
    for field in ["publisher", "type", "typeHandlerVersion"] {
        if body
            .pointer(&format!("/properties/{field}"))
            .and_then(Value::as_str)
            .is_none()
        {
            return arm_error(
                400,
                "InvalidParameter",
                &format!("Required parameter 'properties.{field}' is missing (null)."),
            );
        }
    }
    let mut model = body.clone();
    model["id"] = json!(id);
    model["name"] = json!(name);
    model["type"] = json!(Kind::Extension.arm_type());
    if let Some(properties) = model.get_mut("properties").and_then(Value::as_object_mut) {
        properties.remove("protectedSettings");
    }
    let existed = world.resource(&id).is_some();
    let location = vm
        .model
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    world.resources.insert(
        id.to_ascii_lowercase(),
        Resource {
            id: id.clone(),
            kind: Kind::Extension,
            name: name.to_owned(),
            group: group_name.to_ascii_lowercase(),
            model,
            provisioning: "Creating".to_owned(),
            power: None,
            failure: None,
            custom_data: None,
        },
    );
    if vm.model.pointer("/properties/osProfile/windowsConfiguration").is_some() {
        // The real VM runs its custom data only through this extension; PowerShell cannot run here.
        tracing::info!(
            vm = vm_name,
            extension = name,
            "Windows boot hand-off recorded (not executed)"
        );
    }
    let api = req.q("api-version").unwrap_or_default().to_owned();
    let op_id = ops::begin(
        world,
        Namespace::Compute,
        &location,
        &api,
        Effect::Provision { id: id.clone() },
        tweaks,
    );
    let body = render_extension(world.resource(&id).expect("just inserted"));
    ops::accepted_headers(
        world,
        Reply::json(if existed { 200 } else { 201 }, &body),
        &req.base,
        &op_id,
        true,
        false,
    )
}

/// `GET …/virtualMachines` in a group, or in the subscription (with `statusOnly=true`).
pub fn list_vms(world: &mut World, req: &Req, group: Option<&str>) -> Reply {
    if let Some(group) = group {
        if world.group(group).is_none() {
            return group_not_found(group);
        }
    }
    let status_only = req
        .q("statusOnly")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let group = group.map(str::to_ascii_lowercase);
    let items: Vec<Value> = world
        .resources
        .values()
        .filter(|resource| resource.kind == Kind::Vm)
        .filter(|resource| group.as_ref().is_none_or(|group| resource.group == *group))
        .map(|vm| render_vm(world, vm, status_only))
        .collect();
    page(world, req, items)
}

/// `GET /subscriptions/{sub}/providers/Microsoft.Compute/skus[?$filter=location eq 'x']`.
pub fn list_skus(world: &mut World, req: &Req) -> Reply {
    let location = req
        .q("$filter")
        .and_then(|filter| filter.split_once("eq"))
        .map(|(_, value)| value.trim().trim_matches('\'').to_owned())
        .unwrap_or_else(|| "westeurope".to_owned());
    let items: Vec<Value> = skus::SKUS.iter().map(|sku| skus::entry(sku, &location)).collect();
    page(world, req, items)
}
