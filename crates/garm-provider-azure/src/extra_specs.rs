//! The pool's extra specs: a closed schema (unknown keys and wrong types are errors), decoded and checked.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use crate::error::AzureError;
use crate::net::{check_disk_encryption_set_id, Cidr, SubnetId};

/// OS disk SKUs Azure accepts for an OS disk.
pub const OS_DISK_TYPES: [&str; 5] = [
    "Standard_LRS",
    "StandardSSD_LRS",
    "StandardSSD_ZRS",
    "Premium_LRS",
    "Premium_ZRS",
];

/// How a confidential VM's OS disk is protected (`securityEncryptionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ConfidentialDiskEncryption {
    /// Only the VM guest state (vTPM) blob is encrypted; the default.
    #[default]
    VMGuestStateOnly,
    /// The OS disk is encrypted with the guest state (confidential OS disk encryption).
    DiskWithVMGuestState,
    /// No persisted vTPM state.
    NonPersistedTPM,
}

impl ConfidentialDiskEncryption {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidentialDiskEncryption::VMGuestStateOnly => "VMGuestStateOnly",
            ConfidentialDiskEncryption::DiskWithVMGuestState => "DiskWithVMGuestState",
            ConfidentialDiskEncryption::NonPersistedTPM => "NonPersistedTPM",
        }
    }
}

/// The pool extra specs this provider understands (see `docs/azure-provider.md`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraSpecs {
    pub allocate_public_ip: Option<bool>,
    /// `{"Tcp": [22], "Udp": [53]}`; other protocol keys are ignored, as in the reference.
    pub open_inbound_ports: Option<BTreeMap<String, Vec<u16>>>,
    pub storage_account_type: Option<String>,
    pub disk_size_gb: Option<u32>,
    pub extra_tags: Option<BTreeMap<String, String>>,
    pub ssh_public_keys: Option<Vec<String>>,
    pub confidential: Option<bool>,
    /// Our extension: the confidential OS disk's `securityEncryptionType`.
    pub confidential_disk_encryption: Option<ConfidentialDiskEncryption>,
    /// Our extension: customer-managed keys for `DiskWithVMGuestState`.
    pub disk_encryption_set_id: Option<String>,
    pub trustedlaunch: Option<bool>,
    pub use_ephemeral_storage: Option<bool>,
    pub virtual_network_cidr: Option<String>,
    pub use_accelerated_networking: Option<bool>,
    pub vnet_subnet_id: Option<String>,
    pub disable_isolated_networks: Option<bool>,
    pub disable_updates: Option<bool>,
    pub enable_boot_debug: Option<bool>,
    pub extra_packages: Option<Vec<String>>,
    /// Base64 of the install script template.
    pub runner_install_template: Option<String>,
    pub extra_context: Option<BTreeMap<String, String>>,
    /// Name → base64 of a script run as root before the install script.
    pub pre_install_scripts: Option<BTreeMap<String, String>>,
}

/// Extra specs after decoding and checking.
#[derive(Debug, Clone, Default)]
pub struct CheckedSpecs {
    pub raw: ExtraSpecs,
    pub virtual_network_cidr: Option<Cidr>,
    pub vnet_subnet_id: Option<SubnetId>,
    pub runner_install_template: Option<String>,
    pub pre_install_scripts: BTreeMap<String, Vec<u8>>,
    /// Protocols this provider ignores in `open_inbound_ports`.
    pub ignored_protocols: Vec<String>,
}

fn bad(message: impl Into<String>) -> AzureError {
    AzureError::ExtraSpecs(message.into())
}

impl ExtraSpecs {
    /// Decodes and checks the extra specs JSON; `None`, `null` and `{}` mean none.
    pub fn parse(json: Option<&str>) -> Result<CheckedSpecs, AzureError> {
        let value: serde_json::Value = match json.map(str::trim) {
            None | Some("") => serde_json::Value::Null,
            Some(text) => serde_json::from_str(text).map_err(|err| bad(format!("not JSON: {err}")))?,
        };
        ExtraSpecs::from_value(value)
    }

    /// Like [`ExtraSpecs::parse`], from decoded JSON.
    pub fn from_value(value: serde_json::Value) -> Result<CheckedSpecs, AzureError> {
        let raw: ExtraSpecs = match value {
            serde_json::Value::Null => ExtraSpecs::default(),
            value @ serde_json::Value::Object(_) => {
                serde_json::from_value(value).map_err(|err| bad(err.to_string()))?
            }
            _ => return Err(bad("extra specs must be a JSON object")),
        };
        raw.check()
    }

    fn check(self) -> Result<CheckedSpecs, AzureError> {
        if let Some(kind) = &self.storage_account_type {
            if !OS_DISK_TYPES.contains(&kind.as_str()) {
                return Err(bad(format!(
                    "storage_account_type {kind:?} is not an OS disk type (one of {})",
                    OS_DISK_TYPES.join(", ")
                )));
            }
        }
        if let Some(size) = self.disk_size_gb {
            if !(1..=4095).contains(&size) {
                return Err(bad("disk_size_gb must be between 1 and 4095"));
            }
        }
        let mut ignored_protocols = Vec::new();
        for (protocol, ports) in self.open_inbound_ports.iter().flatten() {
            if !matches!(protocol.as_str(), "Tcp" | "Udp") {
                ignored_protocols.push(protocol.clone());
                continue;
            }
            if ports.contains(&0) {
                return Err(bad(format!("open_inbound_ports.{protocol}: port 0 is not a port")));
            }
        }
        check_tags(self.extra_tags.as_ref())?;
        for key in self.ssh_public_keys.iter().flatten() {
            check_ssh_public_key(key).map_err(|err| bad(format!("ssh_public_keys: {err}")))?;
        }
        let virtual_network_cidr = self
            .virtual_network_cidr
            .as_deref()
            .map(|text| Cidr::parse(text).map_err(|err| bad(format!("virtual_network_cidr: {err}"))))
            .transpose()?;
        let vnet_subnet_id = match self.vnet_subnet_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => Some(SubnetId::parse(id).map_err(|err| bad(format!("vnet_subnet_id: {err}")))?),
        };
        if let Some(id) = &self.disk_encryption_set_id {
            check_disk_encryption_set_id(id).map_err(|err| bad(format!("disk_encryption_set_id: {err}")))?;
        }
        let runner_install_template = self
            .runner_install_template
            .as_deref()
            .map(|text| decode_text("runner_install_template", text))
            .transpose()?;
        let mut pre_install_scripts = BTreeMap::new();
        for (name, content) in self.pre_install_scripts.iter().flatten() {
            if name.is_empty()
                || name.starts_with('.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(bad(format!("pre_install_scripts: {name:?} is not a usable file name")));
            }
            let script = STANDARD
                .decode(content.trim())
                .map_err(|err| bad(format!("pre_install_scripts.{name} is not base64: {err}")))?;
            pre_install_scripts.insert(name.clone(), script);
        }
        Ok(CheckedSpecs {
            raw: self,
            virtual_network_cidr,
            vnet_subnet_id,
            runner_install_template,
            pre_install_scripts,
            ignored_protocols,
        })
    }
}

fn decode_text(key: &str, text: &str) -> Result<String, AzureError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|err| bad(format!("{key} is not base64: {err}")))?;
    String::from_utf8(bytes).map_err(|_| bad(format!("{key} is not UTF-8 text")))
}

/// Azure's tag limits: at most 50 per resource, names ≤ 512 and values ≤ 256 characters,
/// and no `<>%&\?/` in names.
pub fn check_tags(tags: Option<&BTreeMap<String, String>>) -> Result<(), AzureError> {
    let Some(tags) = tags else { return Ok(()) };
    // Leave room for the six tags the provider sets itself.
    if tags.len() > 44 {
        return Err(bad(
            "extra_tags: at most 44 tags (Azure allows 50, the provider sets 6)",
        ));
    }
    for (name, value) in tags {
        if name.is_empty() || name.chars().count() > 512 || name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            return Err(bad(format!("extra_tags: {name:?} is not a valid Azure tag name")));
        }
        if value.chars().count() > 256 {
            return Err(bad(format!("extra_tags.{name}: values are limited to 256 characters")));
        }
    }
    Ok(())
}

/// Checks an OpenSSH public key line: `<type> <base64 blob> [comment]`, where the blob starts
/// with the same type name.
pub fn check_ssh_public_key(line: &str) -> Result<(), String> {
    const TYPES: [&str; 6] = [
        "ssh-rsa",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
    ];
    let mut fields = line.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(format!("{:?} is not an OpenSSH public key", abbreviate(line)));
    };
    if !TYPES.contains(&kind) {
        return Err(format!("key type {kind:?} is not supported"));
    }
    let bytes = STANDARD
        .decode(blob)
        .map_err(|_| format!("the {kind} key's data is not base64"))?;
    let embedded = bytes
        .get(..4)
        .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
        .and_then(|len| bytes.get(4..4 + len));
    if embedded != Some(kind.as_bytes()) {
        return Err(format!("the {kind} key's data does not describe a {kind} key"));
    }
    Ok(())
}

fn abbreviate(text: &str) -> String {
    text.chars().take(24).collect()
}

#[cfg(test)]
mod tests;
