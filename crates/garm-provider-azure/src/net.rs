//! Checked network values: IPv4 CIDRs and ARM resource IDs (subnets, disk encryption sets).

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network in CIDR notation whose host bits are zero (Azure rejects others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; refuses host bits, prefixes over 29 (Azure's smallest subnet) and
    /// anything that is not IPv4.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not in CIDR notation (a.b.c.d/n)"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text:?} does not start with an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|prefix| (8..=29).contains(prefix))
            .ok_or_else(|| format!("{text:?} needs a prefix length between 8 and 29"))?;
        let mask = u32::MAX << (32 - u32::from(prefix));
        let network = Ipv4Addr::from(u32::from(address) & mask);
        if network != address {
            return Err(format!("{text:?} has host bits set; did you mean {network}/{prefix}?"));
        }
        Ok(Cidr { address, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// Whether `text` is a UUID in its usual 8-4-4-4-12 hex form.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks `id` against `/subscriptions/<uuid>/resourceGroups/<rg>/providers/<segments…>`,
/// comparing the fixed segments case-insensitively (ARM does).
fn check_resource_id(id: &str, provider_segments: &[Option<&str>], what: &str) -> Result<(), String> {
    let shape = || {
        let mut shape = String::from("/subscriptions/<uuid>/resourceGroups/<group>/providers");
        for segment in provider_segments {
            shape.push('/');
            shape.push_str(segment.unwrap_or("<name>"));
        }
        format!("{id:?} is not a {what} ID ({shape})")
    };
    let segments: Vec<&str> = id.strip_prefix('/').ok_or_else(shape)?.split('/').collect();
    if segments.len() != 5 + provider_segments.len()
        || !segments[0].eq_ignore_ascii_case("subscriptions")
        || !is_uuid(segments[1])
        || !segments[2].eq_ignore_ascii_case("resourceGroups")
        || segments[3].is_empty()
        || !segments[4].eq_ignore_ascii_case("providers")
    {
        return Err(shape());
    }
    for (segment, expected) in segments[5..].iter().zip(provider_segments) {
        let ok = match expected {
            Some(fixed) => segment.eq_ignore_ascii_case(fixed),
            None => !segment.is_empty(),
        };
        if !ok {
            return Err(shape());
        }
    }
    Ok(())
}

/// The ARM ID of an existing subnet (`disable_isolated_networks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetId(String);

impl SubnetId {
    pub fn parse(id: &str) -> Result<SubnetId, String> {
        let id = id.trim();
        check_resource_id(
            id,
            &[
                Some("Microsoft.Network"),
                Some("virtualNetworks"),
                None,
                Some("subnets"),
                None,
            ],
            "subnet",
        )?;
        Ok(SubnetId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ARM ID of a disk encryption set (customer-managed keys for confidential OS disks).
pub fn check_disk_encryption_set_id(id: &str) -> Result<(), String> {
    check_resource_id(
        id,
        &[Some("Microsoft.Compute"), Some("diskEncryptionSets"), None],
        "disk encryption set",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_must_be_aligned_ipv4_networks() {
        assert_eq!(Cidr::parse("10.10.0.0/16").unwrap().to_string(), "10.10.0.0/16");
        assert!(Cidr::parse("10.10.1.0/16").unwrap_err().contains("10.10.0.0/16"));
        for bad in ["10.10.0.0", "10.10.0.0/33", "fd00::/64", "nope/8", "10.0.0.0/30"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subnet_ids_follow_the_arm_shape() {
        let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default";
        assert_eq!(SubnetId::parse(id).unwrap().as_str(), id);
        assert!(SubnetId::parse(&id.to_lowercase()).is_ok());
        for bad in [
            "/subscriptions/not-a-uuid/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet",
            "subnet-1",
        ] {
            assert!(SubnetId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn disk_encryption_set_ids_are_checked() {
        let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des";
        assert!(check_disk_encryption_set_id(id).is_ok());
        assert!(check_disk_encryption_set_id("/subscriptions/x/des").is_err());
    }
}
