//! Microsoft.Network: public IPs, network security groups, virtual networks, subnets and NICs.

use serde_json::{json, Value};

use crate::ops::{self, OpTweaks};
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::resources::{group_for_put, group_not_found};
use crate::state::{Effect, Kind, Namespace, Resource, World};
use crate::validate;

/// The `kind` path segment (lower case) of a network resource type.
pub fn kind_of(segment: &str) -> Option<(Kind, &'static str)> {
    match segment {
        "publicipaddresses" => Some((Kind::PublicIp, "publicIPAddresses")),
        "networksecuritygroups" => Some((Kind::Nsg, "networkSecurityGroups")),
        "virtualnetworks" => Some((Kind::Vnet, "virtualNetworks")),
        "networkinterfaces" => Some((Kind::Nic, "networkInterfaces")),
        _ => None,
    }
}

fn not_found(kind: Kind, name: &str, group: &str) -> Reply {
    arm_error(404, "ResourceNotFound", &format!("The Resource '{}/{name}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", kind.arm_type()))
}

const DEFAULT_RULES: [(&str, &str, &str, &str, &str, i64, &str); 6] = [
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    (
        "DenyAllInBound",
        "Deny all inbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Inbound",
    ),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    (
        "DenyAllOutBound",
        "Deny all outbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Outbound",
    ),
];

/// The model of a network resource as Azure answers it (`specs/network-2023-11-01` shapes).
fn build_model(world: &mut World, kind: Kind, id: &str, name: &str, body: &Value) -> Value {
    let mut model = json!({"name": name, "id": id, "type": kind.arm_type(), "properties": {}});
    if let Some(location) = body.get("location") {
        model["location"] = location.clone();
    }
    if let Some(tags) = body.get("tags") {
        model["tags"] = tags.clone();
    }
    let mut properties = body.get("properties").cloned().unwrap_or_else(|| json!({}));
    match kind {
        Kind::PublicIp => {
            model["sku"] = body.get("sku").cloned().unwrap_or_else(|| json!({"name": "Basic"}));
            let defaults = [
                ("publicIPAddressVersion", json!("IPv4")),
                ("publicIPAllocationMethod", json!("Dynamic")),
                ("idleTimeoutInMinutes", json!(4)),
            ];
            for (key, value) in defaults {
                if properties.get(key).is_none() {
                    properties[key] = value;
                }
            }
        }
        Kind::Nsg => {
            let rules: Vec<Value> = properties
                .get("securityRules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut rule| {
                    let rule_name = rule.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                    rule["id"] = json!(format!("{id}/securityRules/{rule_name}"));
                    rule["type"] = json!("Microsoft.Network/networkSecurityGroups/securityRules");
                    rule
                })
                .collect();
            properties["securityRules"] = json!(rules);
            let defaults: Vec<Value> = DEFAULT_RULES
                .iter()
                .map(|(rule, description, source, destination, access, priority, direction)| {
                    json!({"name": rule, "id": format!("{id}/defaultSecurityRules/{rule}"), "properties": {
                        "provisioningState": "Succeeded", "description": description, "protocol": "*",
                        "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": source,
                        "destinationAddressPrefix": destination, "access": access, "priority": priority, "direction": direction}})
                })
                .collect();
            properties["defaultSecurityRules"] = json!(defaults);
        }
        Kind::Vnet => {
            properties["virtualNetworkPeerings"] = json!([]);
            properties.as_object_mut().expect("object").remove("subnets");
        }
        Kind::Nic => {
            let mut configs = properties
                .get("ipConfigurations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (index, config) in configs.iter_mut().enumerate() {
                let config_name = config
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                config["id"] = json!(format!("{id}/ipConfigurations/{config_name}"));
                let address = private_address(world, config.pointer("/properties/subnet/id").and_then(Value::as_str));
                let props = &mut config["properties"];
                props["privateIPAddress"] = json!(address);
                if props.get("privateIPAllocationMethod").is_none() {
                    props["privateIPAllocationMethod"] = json!("Dynamic");
                }
                props["primary"] = json!(index == 0);
                props["privateIPAddressVersion"] = json!("IPv4");
            }
            properties["ipConfigurations"] = json!(configs);
            properties["dnsSettings"] = json!({"dnsServers": [], "appliedDnsServers": []});
            for (key, value) in [
                ("enableAcceleratedNetworking", json!(false)),
                ("enableIPForwarding", json!(false)),
            ] {
                if properties.get(key).is_none() {
                    properties[key] = value;
                }
            }
            properties["vnetEncryptionSupported"] = json!(false);
        }
        Kind::Subnet | Kind::Vm | Kind::Extension => {}
    }
    model["properties"] = properties;
    model
}

/// The next private address in the subnet (Azure reserves the first four).
fn private_address(world: &mut World, subnet_id: Option<&str>) -> String {
    let prefix = subnet_id
        .and_then(|id| world.resource(id))
        .and_then(|subnet| {
            subnet
                .model
                .pointer("/properties/addressPrefix")
                .and_then(Value::as_str)
        })
        .and_then(validate::cidr)
        .map(|(network, _)| network)
        .unwrap_or(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)));
    world.next_private += 1;
    std::net::Ipv4Addr::from(prefix + 3 + world.next_private).to_string()
}

/// The answer body of a network resource, with its live states and references.
pub fn render(world: &World, resource: &Resource) -> Value {
    let mut model = resource.model.clone();
    model["properties"]["provisioningState"] = json!(resource.provisioning);
    let used_by = |kind: Kind, pointer: &str| -> Vec<String> {
        world
            .resources
            .values()
            .filter(|other| other.kind == kind)
            .filter(|other| {
                other
                    .model
                    .pointer(pointer)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|item| {
                        item.pointer("/properties/publicIPAddress/id")
                            .or_else(|| item.pointer("/id"))
                            .and_then(Value::as_str)
                            .is_some_and(|id| id.eq_ignore_ascii_case(&resource.id))
                    })
            })
            .map(|other| other.id.clone())
            .collect()
    };
    match resource.kind {
        Kind::Nsg => {
            for rule in model["properties"]["securityRules"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                rule["properties"]["provisioningState"] = json!(resource.provisioning);
            }
        }
        Kind::Vnet => {
            let subnets: Vec<Value> = world
                .children(&resource.id)
                .iter()
                .filter(|child| child.kind == Kind::Subnet)
                .map(|subnet| render(world, subnet))
                .collect();
            model["properties"]["subnets"] = json!(subnets);
        }
        Kind::Nic => {
            for config in model["properties"]["ipConfigurations"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                config["properties"]["provisioningState"] = json!(resource.provisioning);
            }
            if let Some(vm) = used_by(Kind::Vm, "/properties/networkProfile/networkInterfaces").first() {
                model["properties"]["virtualMachine"] = json!({"id": vm});
            }
        }
        Kind::PublicIp => {
            if let Some(nic) = used_by(Kind::Nic, "/properties/ipConfigurations").first() {
                model["properties"]["ipConfiguration"] = json!({"id": format!("{nic}/ipConfigurations/ipConfig")});
            }
        }
        Kind::Subnet | Kind::Vm | Kind::Extension => {}
    }
    model
}

fn reference_exists(world: &World, id: Option<&str>, kind: Kind) -> Result<(), String> {
    match id {
        None => Ok(()),
        Some(id) => match world.resource(id) {
            Some(resource) if resource.kind == kind => Ok(()),
            _ => Err(id.to_owned()),
        },
    }
}

/// `PUT|GET|DELETE …/providers/Microsoft.Network/{kind}/{name}` and `…/virtualNetworks/{v}/subnets/{name}`.
pub fn resource(
    world: &mut World,
    req: &Req,
    group_name: &str,
    kind: Kind,
    id: &str,
    name: &str,
    tweaks: &OpTweaks,
) -> Reply {
    match req.method.as_str() {
        "PUT" => put(world, req, group_name, kind, id, name, tweaks),
        "GET" => {
            if world.group(group_name).is_none() {
                return group_not_found(group_name);
            }
            match world.resource(id) {
                Some(resource) if resource.kind == kind => Reply::json(200, &render(world, resource)),
                _ => not_found(kind, name, group_name),
            }
        }
        "DELETE" => delete(world, req, kind, id, tweaks),
        _ => arm_error(405, "MethodNotAllowed", "The requested method is not allowed."),
    }
}

fn put(world: &mut World, req: &Req, group_name: &str, kind: Kind, id: &str, name: &str, tweaks: &OpTweaks) -> Reply {
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
    let location = if kind == Kind::Subnet {
        None
    } else {
        match validate::tracked(&body) {
            Ok(location) => Some(location),
            Err(reply) => return reply,
        }
    };
    let group = match group_for_put(world, group_name, location.as_deref()) {
        Ok(group) => group,
        Err(reply) => return reply,
    };
    let checked = match kind {
        Kind::PublicIp => validate::public_ip(&body),
        Kind::Nsg => validate::security_group(&body),
        Kind::Vnet => validate::virtual_network(&body),
        Kind::Subnet => {
            let parent = id
                .rsplit_once("/subnets/")
                .map(|(parent, _)| parent)
                .unwrap_or_default();
            match world.resource(parent) {
                None => return not_found(Kind::Vnet, parent.rsplit('/').next().unwrap_or_default(), group_name),
                Some(vnet) => {
                    let spaces: Vec<(u32, u8)> = vnet
                        .model
                        .pointer("/properties/addressSpace/addressPrefixes")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .filter_map(validate::cidr)
                        .collect();
                    validate::subnet_prefix(&body, &spaces)
                }
            }
        }
        Kind::Nic => validate::network_interface(&body),
        Kind::Vm | Kind::Extension => Ok(()),
    };
    if let Err(reply) = checked {
        return reply;
    }
    if kind == Kind::Nic {
        let configs = body
            .pointer("/properties/ipConfigurations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut references = vec![reference_exists(
            world,
            body.pointer("/properties/networkSecurityGroup/id")
                .and_then(Value::as_str),
            Kind::Nsg,
        )];
        for config in &configs {
            references.push(reference_exists(
                world,
                config.pointer("/properties/subnet/id").and_then(Value::as_str),
                Kind::Subnet,
            ));
            references.push(reference_exists(
                world,
                config.pointer("/properties/publicIPAddress/id").and_then(Value::as_str),
                Kind::PublicIp,
            ));
        }
        if let Some(Err(missing)) = references.into_iter().find(Result::is_err) {
            return arm_error(400, "InvalidResourceReference", &format!("Resource {missing} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."));
        }
    }
    let existed = world.resource(id).is_some();
    let model = build_model(world, kind, id, name, &body);
    // Network answers PUTs with `Updating` and an async operation, new or not.
    let provisioning = "Updating";
    world.resources.insert(
        id.to_ascii_lowercase(),
        Resource {
            id: id.to_owned(),
            kind,
            name: name.to_owned(),
            group: group_name.to_ascii_lowercase(),
            model,
            provisioning: provisioning.to_owned(),
            power: None,
            failure: None,
            custom_data: None,
        },
    );
    if kind == Kind::Vnet {
        for subnet in body
            .pointer("/properties/subnets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let subnet_name = subnet
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let subnet_id = format!("{id}/subnets/{subnet_name}");
            let model = build_model(world, Kind::Subnet, &subnet_id, &subnet_name, &subnet);
            world.resources.insert(
                subnet_id.to_ascii_lowercase(),
                Resource {
                    id: subnet_id,
                    kind: Kind::Subnet,
                    name: subnet_name,
                    group: group_name.to_ascii_lowercase(),
                    model,
                    provisioning: "Succeeded".to_owned(),
                    power: None,
                    failure: None,
                    custom_data: None,
                },
            );
        }
    }
    let region = location.unwrap_or(group.location);
    let api = req.q("api-version").unwrap_or_default().to_owned();
    let op_id = ops::begin(
        world,
        Namespace::Network,
        &region,
        &api,
        Effect::Provision { id: id.to_owned() },
        tweaks,
    );
    let body = render(world, world.resource(id).expect("just inserted"));
    ops::accepted_headers(
        world,
        Reply::json(if existed { 200 } else { 201 }, &body),
        &req.base,
        &op_id,
        true,
        false,
    )
}

fn delete(world: &mut World, req: &Req, kind: Kind, id: &str, tweaks: &OpTweaks) -> Reply {
    let Some(resource) = world.resource(id).filter(|resource| resource.kind == kind).cloned() else {
        return Reply::empty(204);
    };
    if kind == Kind::Nic {
        if let Some(vm) = world.resources.values().find(|vm| {
            vm.kind == Kind::Vm
                && vm
                    .model
                    .pointer("/properties/networkProfile/networkInterfaces")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|nic| {
                        nic.get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|nic_id| nic_id.eq_ignore_ascii_case(id))
                    })
        }) {
            return arm_error(400, "NicInUse", &format!("Network Interface {id} is used by existing resource {}. In order to delete the network interface, it must be dissociated from the resource.", vm.id));
        }
    }
    let location = resource
        .model
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or("westeurope")
        .to_owned();
    let api = req.q("api-version").unwrap_or_default().to_owned();
    let op_id = ops::begin(
        world,
        Namespace::Network,
        &location,
        &api,
        Effect::DeleteResource { id: id.to_owned() },
        tweaks,
    );
    if let Some(resource) = world.resource_mut(id) {
        resource.provisioning = "Deleting".to_owned();
    }
    ops::accepted_headers(world, Reply::empty(202), &req.base, &op_id, true, true)
}
