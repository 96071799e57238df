//! ARM request bodies for the per-instance resources, built from an [`InstancePlan`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::plan::{InstancePlan, Security};
use crate::userdata::{OsType, RUNNER_USER};

/// ARM IDs inside the instance's resource group.
#[derive(Debug, Clone)]
pub struct Ids {
    pub subscription: String,
    pub group: String,
}

impl Ids {
    pub fn new(subscription: &str, group: &str) -> Ids {
        Ids {
            subscription: subscription.to_owned(),
            group: group.to_owned(),
        }
    }

    pub fn group(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.subscription, self.group)
    }

    /// `…/providers/<namespace>/<kind>/<name>` inside the group.
    pub fn resource(&self, namespace: &str, kind: &str, name: &str) -> String {
        format!("{}/providers/{namespace}/{kind}/{name}", self.group())
    }

    pub fn network(&self, kind: &str, name: &str) -> String {
        self.resource("Microsoft.Network", kind, name)
    }

    pub fn subnet(&self, vnet: &str, subnet: &str) -> String {
        format!("{}/subnets/{subnet}", self.network("virtualNetworks", vnet))
    }
}

/// Where an ephemeral OS disk lives, from the VM size's capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EphemeralPlacement {
    /// `CacheDisk` or `ResourceDisk`.
    pub placement: &'static str,
    pub size_gb: u32,
}

fn tags(plan: &InstancePlan) -> Value {
    json!(plan.tags)
}

pub fn resource_group(plan: &InstancePlan) -> Value {
    json!({"location": plan.location, "tags": tags(plan)})
}

/// A Standard-SKU static public IP (Basic is being retired and is still the API default).
pub fn public_ip(plan: &InstancePlan) -> Value {
    json!({
        "location": plan.location,
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"}
    })
}

pub fn network_security_group(plan: &InstancePlan) -> Value {
    let rules: Vec<Value> = plan
        .network
        .rules
        .iter()
        .map(|rule| {
            json!({
                "name": rule.name,
                "properties": {
                    "protocol": rule.protocol,
                    "access": "Allow",
                    "direction": "Inbound",
                    "priority": rule.priority,
                    "sourceAddressPrefix": "*",
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": rule.port.to_string(),
                }
            })
        })
        .collect();
    json!({"location": plan.location, "properties": {"securityRules": rules}})
}

/// The per-instance virtual network with one subnet (named like the instance) spanning it.
pub fn virtual_network(plan: &InstancePlan, cidr: &str) -> Value {
    json!({
        "location": plan.location,
        "properties": {
            "addressSpace": {"addressPrefixes": [cidr]},
            "subnets": [{"name": plan.name, "properties": {"addressPrefix": cidr}}]
        }
    })
}

pub fn network_interface(plan: &InstancePlan, subnet_id: &str, nsg_id: &str, public_ip_id: Option<&str>) -> Value {
    let mut ip = json!({"privateIPAllocationMethod": "Dynamic", "subnet": {"id": subnet_id}});
    if let Some(id) = public_ip_id {
        ip["publicIPAddress"] = json!({"id": id});
    }
    json!({
        "location": plan.location,
        "properties": {
            "enableAcceleratedNetworking": plan.network.accelerated,
            "networkSecurityGroup": {"id": nsg_id},
            "ipConfigurations": [{"name": "ipConfig", "properties": ip}]
        }
    })
}

fn os_disk(plan: &InstancePlan, ephemeral: Option<EphemeralPlacement>) -> Value {
    let mut managed = Map::new();
    managed.insert("storageAccountType".into(), json!(plan.disk.storage_account_type));
    if let Security::Confidential {
        encryption,
        disk_encryption_set,
    } = &plan.security
    {
        let mut profile = json!({"securityEncryptionType": encryption.as_str()});
        if let Some(id) = disk_encryption_set {
            profile["diskEncryptionSet"] = json!({"id": id});
        }
        managed.insert("securityProfile".into(), profile);
    }
    let mut disk = json!({
        "name": plan.name,
        "createOption": "FromImage",
        "caching": "ReadWrite",
        "deleteOption": "Delete",
        "managedDisk": managed,
    });
    match ephemeral {
        Some(placement) => {
            disk["caching"] = json!("ReadOnly");
            disk["diffDiskSettings"] = json!({"option": "Local", "placement": placement.placement});
            disk["diskSizeGB"] = json!(placement.size_gb);
        }
        None => {
            if let Some(size) = plan.disk.size_gb {
                disk["diskSizeGB"] = json!(size);
            }
        }
    }
    disk
}

fn security_profile(security: &Security) -> Option<Value> {
    let uefi = json!({"secureBootEnabled": true, "vTpmEnabled": true});
    match security {
        Security::Standard => None,
        Security::TrustedLaunch => Some(json!({"securityType": "TrustedLaunch", "uefiSettings": uefi})),
        Security::Confidential { .. } => Some(json!({"securityType": "ConfidentialVM", "uefiSettings": uefi})),
    }
}

/// The VM model; `customData` is the base64 of the plan's userdata.
pub fn virtual_machine(plan: &InstancePlan, nic_id: &str, ephemeral: Option<EphemeralPlacement>) -> Value {
    let mut os_profile = json!({
        "computerName": plan.computer_name,
        "adminUsername": RUNNER_USER,
        "adminPassword": plan.admin_password.expose(),
        "customData": STANDARD.encode(&plan.user_data.custom_data),
    });
    match plan.os {
        OsType::Linux => {
            let keys: Vec<Value> = plan
                .ssh_keys
                .iter()
                .map(|key| json!({"path": format!("/home/{RUNNER_USER}/.ssh/authorized_keys"), "keyData": key}))
                .collect();
            os_profile["linuxConfiguration"] = json!({
                "disablePasswordAuthentication": true,
                "ssh": {"publicKeys": keys}
            });
        }
        OsType::Windows => {
            os_profile["windowsConfiguration"] = json!({"provisionVMAgent": true, "enableAutomaticUpdates": true});
        }
    }
    let mut properties = json!({
        "hardwareProfile": {"vmSize": plan.vm_size},
        "storageProfile": {
            "imageReference": plan.image.reference(),
            "osDisk": os_disk(plan, ephemeral),
        },
        "osProfile": os_profile,
        "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": true, "deleteOption": "Delete"}}]},
        // Boot diagnostics in a storage account Azure manages (no storageUri): the serial log
        // that `az vm boot-diagnostics get-boot-log` reads when a runner never calls back.
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": true}},
    });
    if let Some(profile) = security_profile(&plan.security) {
        properties["securityProfile"] = profile;
    }
    json!({
        "location": plan.location,
        "tags": tags(plan),
        "identity": {"type": "None"},
        "properties": properties,
    })
}

/// The Windows CustomScriptExtension that runs the custom data (the command is protected).
pub fn custom_script_extension(plan: &InstancePlan, command: &str) -> Value {
    json!({
        "location": plan.location,
        "properties": {
            "publisher": "Microsoft.Compute",
            "type": "CustomScriptExtension",
            "typeHandlerVersion": "1.10",
            "autoUpgradeMinorVersion": true,
            "protectedSettings": {"commandToExecute": command}
        }
    })
}

#[cfg(test)]
mod tests;
