//! A small built-in resource SKU table: sizes tests use, with the capabilities the provider reads.

use serde_json::{json, Value};

/// One VM size.
#[derive(Debug, Clone, Copy)]
pub struct Sku {
    pub name: &'static str,
    pub family: &'static str,
    pub vcpus: u32,
    pub memory_gb: u32,
    pub arch: &'static str,
    pub ephemeral_os_disk: bool,
    pub cached_disk_bytes: u64,
    pub max_resource_volume_mb: u64,
    /// `SNP`, `TDX` or empty.
    pub confidential: &'static str,
}

const GIB: u64 = 1 << 30;

const fn sku(
    name: &'static str,
    family: &'static str,
    (vcpus, memory_gb): (u32, u32),
    arch: &'static str,
    cached_gb: u64,
    resource_mb: u64,
    confidential: &'static str,
) -> Sku {
    Sku {
        name,
        family,
        vcpus,
        memory_gb,
        arch,
        ephemeral_os_disk: cached_gb > 0 || resource_mb > 0,
        cached_disk_bytes: cached_gb * GIB,
        max_resource_volume_mb: resource_mb,
        confidential,
    }
}

/// The sizes the fake knows.
pub const SKUS: &[Sku] = &[
    sku("Standard_DC2as_v5", "standardDCASv5Family", (2, 8), "x64", 0, 0, "SNP"),
    sku("Standard_DC4as_v5", "standardDCASv5Family", (4, 16), "x64", 0, 0, "SNP"),
    sku(
        "Standard_DC2ads_v5",
        "standardDCADSv5Family",
        (2, 8),
        "x64",
        47,
        76800,
        "SNP",
    ),
    sku("Standard_EC2as_v5", "standardECASv5Family", (2, 16), "x64", 0, 0, "SNP"),
    sku("Standard_DC2es_v5", "standardDCESv5Family", (2, 8), "x64", 0, 0, "TDX"),
    sku("Standard_D2s_v5", "standardDSv5Family", (2, 8), "x64", 0, 0, ""),
    sku("Standard_D2ds_v5", "standardDDSv5Family", (2, 8), "x64", 50, 76800, ""),
    sku("Standard_D2ps_v5", "standardDPSv5Family", (2, 8), "Arm64", 0, 0, ""),
    sku("Standard_B2s", "standardBSFamily", (2, 4), "x64", 0, 8192, ""),
    sku("Standard_D1_v2", "standardDv2Family", (1, 3), "x64", 43, 51200, ""),
    sku("Standard_D2_v2", "standardDv2Family", (2, 7), "x64", 86, 102400, ""),
    sku("Standard_DS3_v2", "standardDSv2Family", (4, 14), "x64", 172, 28672, ""),
];

/// The size called `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static Sku> {
    SKUS.iter().find(|sku| sku.name.eq_ignore_ascii_case(name))
}

/// The SKU list entry of `sku` in `location`, shaped like `Microsoft.Compute/skus`.
pub fn entry(sku: &Sku, location: &str) -> Value {
    let flag = |value: bool| if value { "True" } else { "False" };
    let mut capabilities = vec![
        json!({"name": "vCPUs", "value": sku.vcpus.to_string()}),
        json!({"name": "MemoryGB", "value": sku.memory_gb.to_string()}),
        json!({"name": "CpuArchitectureType", "value": sku.arch}),
        json!({"name": "HyperVGenerations", "value": "V1,V2"}),
        json!({"name": "EphemeralOSDiskSupported", "value": flag(sku.ephemeral_os_disk)}),
        json!({"name": "CachedDiskBytes", "value": sku.cached_disk_bytes.to_string()}),
        json!({"name": "MaxResourceVolumeMB", "value": sku.max_resource_volume_mb.to_string()}),
        json!({"name": "AcceleratedNetworkingEnabled", "value": "True"}),
    ];
    if !sku.confidential.is_empty() {
        capabilities.push(json!({"name": "ConfidentialComputingType", "value": sku.confidential}));
        capabilities.push(json!({"name": "HyperVGenerations", "value": "V2"}));
    }
    json!({
        "resourceType": "virtualMachines",
        "name": sku.name,
        "tier": "Standard",
        "size": sku.name.trim_start_matches("Standard_"),
        "family": sku.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": [], "zoneDetails": []}],
        "capabilities": capabilities,
        "restrictions": []
    })
}
