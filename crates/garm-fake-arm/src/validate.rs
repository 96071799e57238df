//! Request validation: the required properties of the fixture request shapes, and the subset of
//! Azure's rules (including confidential VM rules) the fake enforces.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::reply::{arm_error, arm_error_target, Reply};
use crate::skus;

/// Admin user names Azure refuses.
const RESERVED_USERS: [&str; 28] = [
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
];
const ENCRYPTION_TYPES: [&str; 3] = ["VMGuestStateOnly", "DiskWithVMGuestState", "NonPersistedTPM"];
const DISK_TYPES: [&str; 5] = [
    "Standard_LRS",
    "StandardSSD_LRS",
    "StandardSSD_ZRS",
    "Premium_LRS",
    "Premium_ZRS",
];
/// Azure's limit on decoded custom data.
pub const MAX_CUSTOM_DATA: usize = 65_535;

fn invalid(target: &str, message: &str) -> Reply {
    arm_error_target(400, "InvalidParameter", message, target)
}

fn missing(target: &str) -> Reply {
    invalid(target, &format!("Required parameter '{target}' is missing (null)."))
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// `location` present, tags within Azure's limits.
pub fn tracked(body: &Value) -> Result<String, Reply> {
    let Some(location) = text(body, "/location") else {
        return Err(arm_error(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    if let Some(tags) = body.get("tags") {
        let Some(tags) = tags.as_object() else {
            return Err(arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid: tags must be an object.",
            ));
        };
        if tags.len() > 50 {
            return Err(arm_error(
                400,
                "InvalidTagCount",
                "The resource may have at most 50 tags.",
            ));
        }
        for (name, value) in tags {
            let value_len = value.as_str().map(|text| text.chars().count()).unwrap_or(0);
            if name.chars().count() > 512 || value_len > 256 || !value.is_string() {
                return Err(arm_error(
                    400,
                    "InvalidTagNameCharacters",
                    &format!("The tag '{name}' exceeds Azure's limits (name 512, value 256 characters)."),
                ));
            }
        }
    }
    Ok(location.to_owned())
}

/// An IPv4 CIDR as `(network, prefix)`.
pub fn cidr(text: &str) -> Option<(u32, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|prefix| *prefix <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    (u32::from(address) & mask == u32::from(address)).then_some((u32::from(address), prefix))
}

fn within(inner: (u32, u8), outer: (u32, u8)) -> bool {
    let mask = if outer.1 == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(outer.1))
    };
    inner.1 >= outer.1 && inner.0 & mask == outer.0
}

/// A virtual network: address prefixes, and inline subnets inside them.
pub fn virtual_network(body: &Value) -> Result<(), Reply> {
    let prefixes: Vec<&str> = body
        .pointer("/properties/addressSpace/addressPrefixes")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if prefixes.is_empty() {
        return Err(missing("properties.addressSpace.addressPrefixes"));
    }
    let mut spaces = Vec::new();
    for prefix in prefixes {
        spaces.push(cidr(prefix).ok_or_else(|| arm_error(400, "InvalidAddressPrefixFormat", &format!("Address prefix {prefix} of resource is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.")))?);
    }
    for subnet in body
        .pointer("/properties/subnets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if text(subnet, "/name").is_none() {
            return Err(missing("properties.subnets.name"));
        }
        subnet_prefix(subnet, &spaces)?;
    }
    Ok(())
}

/// A subnet's `addressPrefix`, inside one of `spaces` when given.
pub fn subnet_prefix(subnet: &Value, spaces: &[(u32, u8)]) -> Result<(), Reply> {
    let Some(prefix) = text(subnet, "/properties/addressPrefix") else {
        return Err(missing("properties.addressPrefix"));
    };
    let parsed = cidr(prefix).ok_or_else(|| {
        arm_error(
            400,
            "InvalidAddressPrefixFormat",
            &format!("Address prefix {prefix} is not formatted correctly."),
        )
    })?;
    if !spaces.is_empty() && !spaces.iter().any(|space| within(parsed, *space)) {
        return Err(arm_error(
            400,
            "NetcfgSubnetRangeOutsideVnet",
            &format!("Subnet prefix {prefix} is not within the address space of its virtual network."),
        ));
    }
    Ok(())
}

/// Security rules: required properties, priorities 100–4096, no two with one priority and direction.
pub fn security_group(body: &Value) -> Result<(), Reply> {
    let mut seen: Vec<(String, i64, String)> = Vec::new();
    for rule in body
        .pointer("/properties/securityRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text(rule, "/name")
            .ok_or_else(|| missing("properties.securityRules.name"))?
            .to_owned();
        for field in ["protocol", "access", "direction"] {
            if text(rule, &format!("/properties/{field}")).is_none() {
                return Err(missing(&format!("properties.securityRules.properties.{field}")));
            }
        }
        let priority = rule
            .pointer("/properties/priority")
            .and_then(Value::as_i64)
            .ok_or_else(|| missing("properties.securityRules.properties.priority"))?;
        if !(100..=4096).contains(&priority) {
            return Err(arm_error(400, "SecurityRuleInvalidPriority", &format!("Security rule {name} has invalid Priority {priority}. Value provided: {priority} Allowed range 100-4096.")));
        }
        let direction = text(rule, "/properties/direction").unwrap_or_default().to_owned();
        if let Some((other, _, _)) = seen
            .iter()
            .find(|(_, p, d)| *p == priority && d.eq_ignore_ascii_case(&direction))
        {
            return Err(arm_error(400, "SecurityRuleConflict", &format!("Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.")));
        }
        if seen.iter().any(|(other, _, _)| other.eq_ignore_ascii_case(&name)) {
            return Err(arm_error(
                400,
                "InvalidRequestFormat",
                &format!("Duplicate security rule name {name}."),
            ));
        }
        seen.push((name, priority, direction));
    }
    Ok(())
}

/// A public IP: Standard SKU needs static allocation.
pub fn public_ip(body: &Value) -> Result<(), Reply> {
    let sku = text(body, "/sku/name").unwrap_or("Basic");
    let method = text(body, "/properties/publicIPAllocationMethod").unwrap_or("Dynamic");
    if sku.eq_ignore_ascii_case("Standard") && !method.eq_ignore_ascii_case("Static") {
        return Err(invalid(
            "properties.publicIPAllocationMethod",
            "Standard sku publicIp must have AllocationMethod set to Static.",
        ));
    }
    Ok(())
}

/// A NIC: at least one IP configuration with a name; the first one needs a subnet.
pub fn network_interface(body: &Value) -> Result<(), Reply> {
    let configs = body
        .pointer("/properties/ipConfigurations")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| missing("properties.ipConfigurations"))?;
    for config in configs {
        if text(config, "/name").is_none() {
            return Err(missing("properties.ipConfigurations.name"));
        }
    }
    if text(&configs[0], "/properties/subnet/id").is_none() {
        return Err(missing("properties.ipConfigurations.properties.subnet.id"));
    }
    Ok(())
}

/// Whether a marketplace image reference names a confidential VM image.
fn looks_like_cvm_image(reference: &Value) -> bool {
    let field = |name: &str| {
        text(reference, &format!("/{name}"))
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    field("sku").contains("cvm") || field("offer").contains("cvm")
}

/// The VM model: size, image, disk, OS profile, custom data and the confidential VM rules.
/// Returns whether the VM is Windows.
pub fn virtual_machine(body: &Value) -> Result<bool, Reply> {
    let size =
        text(body, "/properties/hardwareProfile/vmSize").ok_or_else(|| missing("properties.hardwareProfile.vmSize"))?;
    let Some(sku) = skus::find(size) else {
        return Err(arm_error_target(
            400,
            "InvalidParameter",
            &format!("The value {size} provided for the VM size is not valid."),
            "vmSize",
        ));
    };
    let reference = body
        .pointer("/properties/storageProfile/imageReference")
        .ok_or_else(|| missing("properties.storageProfile.imageReference"))?;
    let marketplace = ["publisher", "offer", "sku", "version"]
        .iter()
        .all(|field| text(reference, &format!("/{field}")).is_some());
    if !marketplace && text(reference, "/id").is_none() && text(reference, "/communityGalleryImageId").is_none() {
        return Err(invalid(
            "imageReference",
            "The image reference needs publisher, offer, sku and version, an id, or a communityGalleryImageId.",
        ));
    }
    let os_disk = body.pointer("/properties/storageProfile/osDisk");
    if let Some(disk) = os_disk {
        if text(disk, "/createOption").is_none() {
            return Err(missing("properties.storageProfile.osDisk.createOption"));
        }
        if let Some(kind) = text(disk, "/managedDisk/storageAccountType") {
            if !DISK_TYPES.contains(&kind) {
                return Err(invalid(
                    "storageAccountType",
                    &format!("Storage account type {kind} is not valid for an OS disk."),
                ));
            }
        }
    }
    let diff_disk = os_disk.and_then(|disk| disk.get("diffDiskSettings"));
    if diff_disk.is_some() && !sku.ephemeral_os_disk {
        return Err(arm_error(
            400,
            "BadRequest",
            &format!("Ephemeral OS disk is not supported for VM size {size}."),
        ));
    }
    if diff_disk.is_some() && os_disk.and_then(|disk| text(disk, "/caching")) != Some("ReadOnly") {
        return Err(invalid(
            "osDisk.caching",
            "Ephemeral OS disks support only ReadOnly caching.",
        ));
    }

    let profile = body
        .pointer("/properties/osProfile")
        .ok_or_else(|| missing("properties.osProfile"))?;
    let computer_name = text(profile, "/computerName").ok_or_else(|| missing("properties.osProfile.computerName"))?;
    let user = text(profile, "/adminUsername").ok_or_else(|| missing("properties.osProfile.adminUsername"))?;
    if RESERVED_USERS.contains(&user.to_ascii_lowercase().as_str()) {
        return Err(invalid(
            "adminUsername",
            &format!("The Admin Username specified is not allowed: {user}."),
        ));
    }
    let windows = profile.get("windowsConfiguration").is_some();
    let host_limit = if windows { 15 } else { 64 };
    if computer_name.chars().count() > host_limit {
        return Err(invalid(
            "computerName",
            &format!("The length of the computer name {computer_name} exceeds {host_limit} characters."),
        ));
    }
    if let Some(linux) = profile.get("linuxConfiguration") {
        let keys = linux
            .pointer("/ssh/publicKeys")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        let no_password = linux.get("disablePasswordAuthentication").and_then(Value::as_bool) == Some(true);
        if no_password && keys == 0 {
            return Err(invalid(
                "linuxConfiguration.ssh.publicKeys",
                "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
            ));
        }
        if !no_password && text(profile, "/adminPassword").is_none() {
            return Err(missing("properties.osProfile.adminPassword"));
        }
    }
    if let Some(data) = profile.get("customData") {
        let decoded = data.as_str().and_then(|text| STANDARD.decode(text).ok());
        match decoded {
            None => return Err(invalid("osProfile.customData", "Custom data in OSProfile must be in Base64 encoding.")),
            Some(bytes) if bytes.len() > MAX_CUSTOM_DATA => {
                return Err(invalid("osProfile.customData", &format!("Custom data in OSProfile must be in Base64 encoding and with a maximum length of {MAX_CUSTOM_DATA} characters after decoding.")))
            }
            Some(_) => {}
        }
    }
    let nics = body
        .pointer("/properties/networkProfile/networkInterfaces")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| missing("properties.networkProfile.networkInterfaces"))?;
    if nics.iter().any(|nic| text(nic, "/id").is_none()) {
        return Err(missing("properties.networkProfile.networkInterfaces.id"));
    }

    let security_type = text(body, "/properties/securityProfile/securityType");
    let encryption = os_disk.and_then(|disk| text(disk, "/managedDisk/securityProfile/securityEncryptionType"));
    let confidential = security_type.is_some_and(|kind| kind.eq_ignore_ascii_case("ConfidentialVM"));
    if confidential {
        if body
            .pointer("/properties/securityProfile/uefiSettings/vTpmEnabled")
            .and_then(Value::as_bool)
            != Some(true)
        {
            return Err(invalid(
                "securityProfile.uefiSettings.vTpmEnabled",
                "vTPM must be enabled for a VM with security type ConfidentialVM.",
            ));
        }
        match encryption {
            Some(kind) if ENCRYPTION_TYPES.contains(&kind) => {}
            Some(kind) => {
                return Err(invalid(
                    "securityEncryptionType",
                    &format!("The value {kind} of securityEncryptionType is not valid."),
                ))
            }
            None => {
                return Err(invalid(
                    "securityEncryptionType",
                    "securityEncryptionType is required for a VM with security type ConfidentialVM.",
                ))
            }
        }
        if sku.confidential.is_empty() {
            return Err(arm_error(
                400,
                "BadRequest",
                &format!(
                    "The VM size {size} is not supported for confidential VMs; choose a DCasv5/ECasv5 family size."
                ),
            ));
        }
        if marketplace && !looks_like_cvm_image(reference) {
            return Err(arm_error(
                400,
                "BadRequest",
                "The image is not supported for confidential VMs; choose a confidential VM image.",
            ));
        }
        if diff_disk.is_some() {
            return Err(arm_error(
                400,
                "BadRequest",
                "Ephemeral OS disks are not supported for confidential VMs.",
            ));
        }
        let des = os_disk.and_then(|disk| disk.pointer("/managedDisk/securityProfile/diskEncryptionSet/id"));
        if des.is_some() && encryption != Some("DiskWithVMGuestState") {
            return Err(invalid("diskEncryptionSet", "A disk encryption set for confidential disk encryption needs securityEncryptionType DiskWithVMGuestState."));
        }
    } else if encryption.is_some() {
        return Err(invalid(
            "securityEncryptionType",
            "securityEncryptionType can only be set for a VM with security type ConfidentialVM.",
        ));
    }
    Ok(windows)
}

/// Duplicate NIC references in one VM.
pub fn distinct_ids(ids: &[String]) -> bool {
    let set: HashSet<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    set.len() == ids.len()
}
