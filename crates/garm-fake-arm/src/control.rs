//! The test control API under `/_fake/`: journal, faults, virtual clock, settings, state and seeding.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::SettingsPatch;
use crate::fault_rules::{FaultRule, FaultState};
use crate::ops;
use crate::reply::Reply;
use crate::request::Req;
use crate::state::{Group, Kind, Resource, World};

/// A VM planted directly in the state (for other controllers' or pools' instances).
#[derive(Debug, Clone, Deserialize)]
pub struct SeedVm {
    pub group: String,
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `running`, `deallocated`, …
    #[serde(default = "default_power")]
    pub power_state: String,
}

fn default_location() -> String {
    "westeurope".to_owned()
}

fn default_power() -> String {
    "running".to_owned()
}

fn bad(message: &str) -> Reply {
    Reply::json(400, &json!({"error": message}))
}

/// Adds a group if missing (tags are the VM's) and a VM in it.
pub fn seed_vm(world: &mut World, seed: &SeedVm) {
    let key = seed.group.to_ascii_lowercase();
    if !world.groups.contains_key(&key) {
        world.groups.insert(
            key.clone(),
            Group {
                id: world.group_id(&seed.group),
                name: seed.group.clone(),
                location: seed.location.clone(),
                tags: seed.tags.clone(),
                state: "Succeeded".to_owned(),
            },
        );
    }
    let id = format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{}",
        world.group_id(&seed.group),
        seed.name
    );
    let model = json!({
        "id": id, "name": seed.name, "type": Kind::Vm.arm_type(), "location": seed.location, "tags": seed.tags,
        "properties": {"vmId": uuid::Uuid::new_v4().to_string(), "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "osProfile": {"computerName": seed.name, "adminUsername": "runner", "secrets": []},
            "storageProfile": {"dataDisks": []}, "networkProfile": {"networkInterfaces": []}}
    });
    world.resources.insert(
        id.to_ascii_lowercase(),
        Resource {
            id,
            kind: Kind::Vm,
            name: seed.name.clone(),
            group: key,
            model,
            provisioning: "Succeeded".to_owned(),
            power: Some(seed.power_state.clone()),
            failure: None,
            custom_data: None,
        },
    );
}

/// Adds fault rules; a rule with an invalid regex is refused whole.
pub fn add_faults(world: &mut World, rules: Vec<FaultRule>) -> Result<(), String> {
    let states = rules.into_iter().map(FaultState::new).collect::<Result<Vec<_>, _>>()?;
    world.faults.extend(states);
    Ok(())
}

/// A summary of groups and resources.
pub fn state(world: &World) -> Value {
    json!({
        "groups": world.groups.values().collect::<Vec<_>>(),
        "resources": world.resources.values().map(|r| json!({"id": r.id, "kind": r.kind, "provisioningState": r.provisioning, "powerState": r.power})).collect::<Vec<_>>(),
        "operations": world.operations.values().filter(|op| op.status == "InProgress").count(),
    })
}

/// Forgets everything but the config.
pub fn reset(world: &mut World) {
    for (_, boot) in world.boots.drain() {
        boot.kill();
    }
    let config = world.config.clone();
    *world = World::new(config);
}

/// `/_fake/…` requests.
pub fn handle(world: &mut World, req: &Req) -> Reply {
    let lower = req.lower();
    let route: Vec<&str> = lower[1..].iter().map(String::as_str).collect();
    match (req.method.as_str(), route.as_slice()) {
        ("GET", ["journal"]) => Reply::json(200, &json!(world.journal)),
        ("DELETE", ["journal"]) => {
            world.journal.clear();
            Reply::empty(204)
        }
        ("GET", ["faults"]) => Reply::json(200, &json!(world.faults)),
        ("POST", ["faults"]) => {
            let rules = match req.json() {
                Ok(Value::Array(items)) => serde_json::from_value::<Vec<FaultRule>>(Value::Array(items)),
                Ok(item) => serde_json::from_value::<FaultRule>(item).map(|rule| vec![rule]),
                Err(err) => return bad(&err),
            };
            match rules
                .map_err(|err| err.to_string())
                .and_then(|rules| add_faults(world, rules))
            {
                Ok(()) => Reply::empty(204),
                Err(err) => bad(&err),
            }
        }
        ("DELETE", ["faults"]) => {
            world.faults.clear();
            Reply::empty(204)
        }
        ("POST", ["clock"]) => {
            let steps = req
                .json()
                .ok()
                .and_then(|body| body.get("steps").and_then(Value::as_u64))
                .unwrap_or(1);
            ops::advance_all(world, steps as u32);
            Reply::empty(204)
        }
        ("GET", ["state"]) => Reply::json(200, &state(world)),
        ("GET", ["settings"]) => Reply::json(200, &json!(world.settings)),
        ("PATCH", ["settings"]) => match req
            .json()
            .and_then(|body| serde_json::from_value::<SettingsPatch>(body).map_err(|err| err.to_string()))
        {
            Ok(patch) => {
                world.settings.apply(patch);
                Reply::json(200, &json!(world.settings))
            }
            Err(err) => bad(&err),
        },
        ("POST", ["seed", "vm"]) => match req
            .json()
            .and_then(|body| serde_json::from_value::<SeedVm>(body).map_err(|err| err.to_string()))
        {
            Ok(seed) => {
                seed_vm(world, &seed);
                Reply::empty(204)
            }
            Err(err) => bad(&err),
        },
        ("POST", ["reset"]) => {
            reset(world);
            Reply::empty(204)
        }
        _ => Reply::json(
            404,
            &json!({"error": format!("no control route {} {}", req.method, req.path)}),
        ),
    }
}
