//! `InstancePlan`: every decision about one instance, made and checked before any Azure call.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider_protocol::BootstrapInstance;
use rand::seq::SliceRandom as _;
use rand::Rng as _;

use crate::config::Config;
use crate::error::AzureError;
use crate::extra_specs::{CheckedSpecs, ConfidentialDiskEncryption};
use crate::image::Image;
use crate::net::{Cidr, SubnetId};
use crate::userdata::{self, OsType, UserData};
use garm_base::Secret;

/// Tag names the provider sets on the resource group and the VM.
pub mod tags {
    pub const CONTROLLER_ID: &str = "garm-controller-id";
    pub const POOL_ID: &str = "garm-pool-id";
    pub const OS_TYPE: &str = "os_type";
    pub const OS_ARCH: &str = "os_arch";
    pub const OS_NAME: &str = "os_name";
    pub const OS_VERSION: &str = "os_version";
}

/// The VM's security profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// No `securityProfile`.
    Standard,
    /// Secure boot and vTPM on a Gen2 image.
    TrustedLaunch,
    /// AMD SEV-SNP (or Intel TDX) confidential VM.
    Confidential {
        encryption: ConfidentialDiskEncryption,
        disk_encryption_set: Option<String>,
    },
}

/// One inbound allow rule of the instance's network security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsgRule {
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub priority: u16,
}

/// The OS disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    pub storage_account_type: String,
    /// `None` leaves the size to Azure (ephemeral disks get theirs from the SKU lookup).
    pub size_gb: Option<u32>,
    /// Ephemeral OS disk; placement comes from the SKU lookup.
    pub ephemeral: bool,
}

/// Network resources of the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    pub public_ip: bool,
    pub rules: Vec<NsgRule>,
    /// A per-instance virtual network with one subnet spanning it, or…
    pub vnet: Option<Cidr>,
    /// …an existing subnet (`disable_isolated_networks`).
    pub existing_subnet: Option<SubnetId>,
    pub accelerated: bool,
}

/// Everything `CreateInstance` will ask Azure for.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    /// Resource group, VM, NIC, NSG, VNet, public IP and OS disk name.
    pub name: String,
    /// Host name (Linux ≤ 63, Windows ≤ 15 characters).
    pub computer_name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub os: OsType,
    pub image: Image,
    pub vm_size: String,
    pub security: Security,
    pub disk: DiskPlan,
    pub network: NetworkPlan,
    pub admin_password: Secret,
    pub ssh_keys: Vec<String>,
    pub user_data: UserData,
    /// Things worth a log line (ignored settings).
    pub notes: Vec<String>,
}

fn refused(message: impl Into<String>) -> AzureError {
    AzureError::Refused(message.into())
}

/// Checks a garm instance name against the intersection of Azure's resource group and VM
/// naming rules: 1–64 letters, digits, `-` and `.`, not ending in `-` or `.`.
pub fn check_instance_name(name: &str) -> Result<(), AzureError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        && !name.ends_with(['-', '.'])
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(refused(format!(
            "instance name {name:?} cannot name an Azure VM and resource group (1-64 letters, digits, '-' and '.', not starting or ending with '-' or '.')"
        )))
    }
}

/// Whether `size` is a confidential VM family: DCas/ECas/DCads/ECads (AMD SEV-SNP) and
/// DCes/ECes/DCeds/ECeds (Intel TDX), v5 and v6.
pub fn is_confidential_size(size: &str) -> bool {
    let lower = size.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("standard_") else {
        return false;
    };
    let Some((family, version)) = rest.rsplit_once('_') else {
        return false;
    };
    if !matches!(version, "v5" | "v6") {
        return false;
    }
    let Some(rest) = family.strip_prefix("dc").or_else(|| family.strip_prefix("ec")) else {
        return false;
    };
    let digits = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '-').count();
    let features = &rest[digits..];
    digits > 0
        && (features.starts_with('a') || features.starts_with('e'))
        && features.ends_with('s')
        && features.chars().all(|c| matches!(c, 'a' | 'e' | 'd' | 's'))
}

/// A 24-character password with upper- and lower-case letters, digits and symbols; never shown.
pub fn random_password() -> Secret {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!#%+-.:=?@^_~";
    let mut rng = rand::thread_rng();
    let all: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
    let mut chars: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS]
        .iter()
        .map(|set| set[rng.gen_range(0..set.len())])
        .collect();
    while chars.len() < 24 {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    Secret::new(String::from_utf8(chars).expect("ASCII"))
}

/// A freshly generated Ed25519 public key whose private half is discarded: Azure wants a key
/// when password login is disabled, and this one lets nobody in.
pub fn throwaway_ssh_key() -> String {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("the system RNG works");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ring reads its own key");
    let public = ring::signature::KeyPair::public_key(&pair).as_ref().to_vec();
    let mut blob = Vec::new();
    for field in [b"ssh-ed25519".as_slice(), public.as_slice()] {
        blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
        blob.extend_from_slice(field);
    }
    format!("ssh-ed25519 {} garm-throwaway", STANDARD.encode(blob))
}

fn truncate_host_name(name: &str, limit: usize) -> String {
    let truncated: String = name.chars().take(limit).collect();
    truncated.trim_end_matches(['-', '.']).to_owned()
}

/// The checks that need only the config and the extra specs (also run by `ValidatePoolInfo`):
/// the security profile they ask for, or why it cannot be had.
pub fn check_specs(config: &Config, specs: &CheckedSpecs, notes: &mut Vec<String>) -> Result<Security, AzureError> {
    let raw = &specs.raw;
    let ephemeral = raw.use_ephemeral_storage.unwrap_or(config.use_ephemeral_storage);
    if raw.confidential.unwrap_or(false) {
        if ephemeral {
            return Err(refused(
                "a confidential VM cannot use an ephemeral OS disk (use_ephemeral_storage is on in the config or the extra specs); turn it off for this pool",
            ));
        }
        let encryption = raw.confidential_disk_encryption.unwrap_or_default();
        if raw.disk_encryption_set_id.is_some() && encryption != ConfidentialDiskEncryption::DiskWithVMGuestState {
            return Err(refused(
                "disk_encryption_set_id needs confidential_disk_encryption = \"DiskWithVMGuestState\"",
            ));
        }
        if raw.trustedlaunch == Some(true) {
            notes.push("trustedlaunch is ignored: confidential VMs have their own security profile".to_owned());
        }
        return Ok(Security::Confidential {
            encryption,
            disk_encryption_set: raw.disk_encryption_set_id.clone(),
        });
    }
    if raw.confidential_disk_encryption.is_some() || raw.disk_encryption_set_id.is_some() {
        return Err(refused(
            "confidential_disk_encryption and disk_encryption_set_id only apply with \"confidential\": true",
        ));
    }
    Ok(if raw.trustedlaunch == Some(true) {
        Security::TrustedLaunch
    } else {
        Security::Standard
    })
}

impl InstancePlan {
    /// Decides everything about `bootstrap.name` from the config and the pool's extra specs.
    ///
    /// Fails with [`AzureError::Refused`] for anything Azure would refuse or that would not be
    /// what was asked for, in particular confidential VMs with an ephemeral OS disk, a
    /// non-confidential size or image, or confidential-only options on a normal VM.
    pub fn build(
        controller_id: &str,
        pool_id: &str,
        bootstrap: &BootstrapInstance,
        config: &Config,
        specs: &CheckedSpecs,
    ) -> Result<InstancePlan, AzureError> {
        let name = bootstrap.name.clone();
        check_instance_name(&name)?;
        let os = OsType::parse(&bootstrap.os_type)?;
        let vm_size = bootstrap.flavor.trim().to_owned();
        if vm_size.is_empty() {
            return Err(refused("the pool has no flavor (VM size)"));
        }
        let image = Image::parse(&bootstrap.image)?;
        let raw = &specs.raw;
        let mut notes = Vec::new();

        let ephemeral = raw.use_ephemeral_storage.unwrap_or(config.use_ephemeral_storage);
        let security = check_specs(config, specs, &mut notes)?;
        if let Security::Confidential { .. } = security {
            check_confidential(bootstrap, &vm_size, &image)?;
        }
        let confidential = matches!(security, Security::Confidential { .. });

        let storage_account_type = raw.storage_account_type.clone().unwrap_or_else(|| {
            if confidential {
                "StandardSSD_LRS"
            } else {
                "Standard_LRS"
            }
            .to_owned()
        });
        let disk = DiskPlan {
            storage_account_type,
            size_gb: raw.disk_size_gb.or((!ephemeral).then_some(127)),
            ephemeral,
        };

        let rules = inbound_rules(specs, &mut notes)?;
        let network = network_plan(config, specs, rules, &mut notes);
        let instance_tags = instance_tags(controller_id, pool_id, bootstrap, os, &image, specs);
        let mut ssh_keys = raw.ssh_public_keys.clone().unwrap_or_default();
        if os == OsType::Linux && ssh_keys.is_empty() {
            ssh_keys.push(throwaway_ssh_key());
        }
        let computer_name = match os {
            OsType::Linux => truncate_host_name(&name, 63),
            OsType::Windows => truncate_host_name(&name, 15),
        };
        let user_data = userdata::build(bootstrap, specs, os)?;

        Ok(InstancePlan {
            name,
            computer_name,
            location: config.location.clone(),
            tags: instance_tags,
            os,
            image,
            vm_size,
            security,
            disk,
            network,
            admin_password: random_password(),
            ssh_keys,
            user_data,
            notes,
        })
    }
}

/// A confidential pool needs a confidential size, a confidential image and x86-64.
fn check_confidential(bootstrap: &BootstrapInstance, vm_size: &str, image: &Image) -> Result<(), AzureError> {
    if !is_confidential_size(vm_size) {
        return Err(refused(format!(
            "flavor {vm_size} is not a confidential VM size; use a DCasv5/ECasv5, DCadsv5/ECadsv5 (or v6, or the Intel TDX DCes/ECes) size such as Standard_DC2as_v5"
        )));
    }
    if image.is_confidential_image() == Some(false) {
        return Err(refused(format!(
            "image {} is not a confidential VM image; use a CVM image such as Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
            bootstrap.image
        )));
    }
    if !matches!(bootstrap.arch.as_str(), "amd64" | "x86_64" | "x64") {
        return Err(refused(format!(
            "confidential VMs are x86-64 only; the pool's arch is {}",
            bootstrap.arch
        )));
    }
    Ok(())
}

/// The network security rules of `open_inbound_ports` (Tcp and Udp, no repeats).
fn inbound_rules(specs: &CheckedSpecs, notes: &mut Vec<String>) -> Result<Vec<NsgRule>, AzureError> {
    let raw = &specs.raw;
    let mut rules = Vec::new();
    for protocol in ["Tcp", "Udp"] {
        let ports: Vec<u16> = raw
            .open_inbound_ports
            .as_ref()
            .and_then(|ports| ports.get(protocol))
            .cloned()
            .unwrap_or_default();
        let mut seen = Vec::new();
        for port in ports {
            if seen.contains(&port) {
                continue;
            }
            seen.push(port);
            // One counter across protocols: ARM refuses two rules with the same priority.
            let priority = 200 + rules.len() as u16;
            rules.push(NsgRule {
                name: format!("inbound_{protocol}_{port}"),
                protocol: protocol.to_owned(),
                port,
                priority,
            });
        }
    }
    if rules.len() > 1000 {
        return Err(refused("open_inbound_ports asks for more than 1000 rules"));
    }
    for protocol in &specs.ignored_protocols {
        notes.push(format!("open_inbound_ports.{protocol} is ignored (only Tcp and Udp)"));
    }
    Ok(rules)
}

/// Where the instance's NIC goes: a network of its own, or the configured subnet.
fn network_plan(config: &Config, specs: &CheckedSpecs, rules: Vec<NsgRule>, notes: &mut Vec<String>) -> NetworkPlan {
    let raw = &specs.raw;
    let isolated = !raw
        .disable_isolated_networks
        .unwrap_or(config.disable_isolated_networks);
    let subnet = specs.vnet_subnet_id.clone().or_else(|| config.vnet_subnet_id.clone());
    let (vnet, existing_subnet) = match (isolated, subnet) {
        (false, Some(subnet)) => (None, Some(subnet)),
        (false, None) => {
            notes.push(
                "disable_isolated_networks is set but no vnet_subnet_id; creating a per-instance network".to_owned(),
            );
            (
                Some(specs.virtual_network_cidr.unwrap_or(config.virtual_network_cidr)),
                None,
            )
        }
        (true, _) => (
            Some(specs.virtual_network_cidr.unwrap_or(config.virtual_network_cidr)),
            None,
        ),
    };
    NetworkPlan {
        public_ip: raw.allocate_public_ip.unwrap_or(false),
        rules,
        vnet,
        existing_subnet,
        accelerated: raw
            .use_accelerated_networking
            .unwrap_or(config.use_accelerated_networking),
    }
}

/// The instance's tags: the pool's `extra_tags`, then the provider's own (which win).
fn instance_tags(
    controller_id: &str,
    pool_id: &str,
    bootstrap: &BootstrapInstance,
    os: OsType,
    image: &Image,
    specs: &CheckedSpecs,
) -> BTreeMap<String, String> {
    let raw = &specs.raw;
    let (os_name, os_version) = image.os_name_and_version();
    let mut instance_tags: BTreeMap<String, String> = raw.extra_tags.clone().unwrap_or_default();
    // The provider's own tags win over extra_tags of the same name (compared case-insensitively, as Azure does).
    let own = [
        (tags::CONTROLLER_ID, controller_id.to_owned()),
        (tags::POOL_ID, pool_id.to_owned()),
        (tags::OS_TYPE, os.as_str().to_owned()),
        (tags::OS_ARCH, bootstrap.arch.clone()),
        (tags::OS_NAME, os_name),
        (tags::OS_VERSION, os_version),
    ];
    instance_tags.retain(|key, _| !own.iter().any(|(name, _)| key.eq_ignore_ascii_case(name)));
    for (key, value) in own {
        instance_tags.insert(key.to_owned(), value);
    }
    instance_tags
}

#[cfg(test)]
mod tests;
