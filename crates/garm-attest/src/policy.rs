//! A pool's attestation policy: `extra_specs.attestation`, and the checks it adds to
//! what the hardware signed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The AMD processor families whose roots are pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Product {
    Milan,
    Genoa,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
        }
    }
}

/// SNP TCB security version numbers (SVNs), compared component by component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcb {
    #[serde(default)]
    pub bootloader: u8,
    #[serde(default)]
    pub tee: u8,
    #[serde(default)]
    pub snp: u8,
    #[serde(default)]
    pub microcode: u8,
}

impl std::fmt::Display for Tcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bootloader {} tee {} snp {} microcode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// `extra_specs.attestation` of a pool. Unknown keys are refused, so a misspelt
/// setting cannot silently weaken the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Hand out JIT configurations and registration tokens only after accepted evidence.
    #[serde(default)]
    pub required: bool,
    /// The lowest acceptable `reported_tcb`, per component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tcb: Option<Tcb>,
    /// The highest VMPL the report may come from (Azure's paravisor reports at 0).
    #[serde(default)]
    pub max_vmpl: u32,
    /// Accept a guest policy that allows SMT (Azure's does).
    #[serde(default = "yes")]
    pub allow_smt: bool,
    /// Accept a guest policy that allows a migration agent.
    #[serde(default)]
    pub allow_migration_agent: bool,
    /// Accepted launch measurements (96 hex digits each); empty accepts any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<String>,
    /// Expected SHA-256 PCR values by index ("0" to "23", 64 hex digits each).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pcrs: BTreeMap<String, String>,
    /// Accepted processor families; empty accepts every pinned one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<Product>,
    /// Refuse evidence that cannot be matched with the VM the provider created: no
    /// `vmUniqueId` in it, or a provider that reports no VM id. (When both are known they
    /// must match whatever this says.)
    #[serde(default)]
    pub require_vm_identity: bool,
}

fn yes() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            required: false,
            min_tcb: None,
            max_vmpl: 0,
            allow_smt: true,
            allow_migration_agent: false,
            measurements: Vec::new(),
            pcrs: BTreeMap::new(),
            products: Vec::new(),
            require_vm_identity: false,
        }
    }
}

/// A pool's extra specs that this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolAttestation {
    pub confidential: bool,
    pub policy: Option<Policy>,
}

impl PoolAttestation {
    /// Whether instances of the pool must prove themselves before getting runner credentials.
    pub fn required(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.required)
    }
}

/// Reads and checks `confidential` and `attestation` of a pool's `extra_specs`.
/// The error names the offending field, for a 400 at pool creation.
pub fn from_extra_specs(specs: Option<&str>) -> Result<PoolAttestation, String> {
    let Some(text) = specs.filter(|s| !s.trim().is_empty()) else {
        return Ok(PoolAttestation::default());
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("extra_specs is not JSON: {err}"))?;
    let confidential = match value.get("confidential") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return Err("extra_specs.confidential must be true or false".into()),
    };
    let policy = match value.get("attestation") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let policy: Policy =
                serde_json::from_value(v.clone()).map_err(|err| format!("extra_specs.attestation: {err}"))?;
            policy.check()?;
            Some(policy)
        }
    };
    if policy.as_ref().is_some_and(|p| p.required) && !confidential {
        return Err(
            "extra_specs.attestation.required needs extra_specs.confidential = true: only a confidential VM can attest"
                .into(),
        );
    }
    Ok(PoolAttestation { confidential, policy })
}

impl Policy {
    /// The checks serde cannot express; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        if self.max_vmpl > 3 {
            return Err(format!(
                "extra_specs.attestation.max_vmpl: {} is not a VMPL (0 to 3)",
                self.max_vmpl
            ));
        }
        for (n, m) in self.measurements.iter().enumerate() {
            if hex::decode(m).map(|b| b.len()) != Ok(48) {
                return Err(format!(
                    "extra_specs.attestation.measurements[{n}]: expected 96 hex digits (a SHA-384 launch measurement)"
                ));
            }
        }
        for (index, value) in &self.pcrs {
            if !index.parse::<u8>().is_ok_and(|i| i < 24) {
                return Err(format!(
                    "extra_specs.attestation.pcrs: {index:?} is not a PCR index (0 to 23)"
                ));
            }
            if hex::decode(value).map(|b| b.len()) != Ok(32) {
                return Err(format!(
                    "extra_specs.attestation.pcrs.{index}: expected 64 hex digits (a SHA-256 PCR value)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_without_attestation_stay_as_they_are() {
        assert_eq!(from_extra_specs(None).unwrap(), PoolAttestation::default());
        let plain = from_extra_specs(Some(r#"{"confidential": true}"#)).unwrap();
        assert!(plain.confidential && !plain.required());
        let off = from_extra_specs(Some(r#"{"confidential": true, "attestation": {"required": false}}"#)).unwrap();
        assert!(!off.required());
    }

    #[test]
    fn a_full_policy_parses() {
        let specs = r#"{"confidential": true, "attestation": {"required": true,
            "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115},
            "max_vmpl": 0, "allow_smt": false, "products": ["Milan"],
            "pcrs": {"7": "32fe42b385b47cb22c906b8a7e4f134e9f2270818f90e94072d1101ef72f1c00"}}}"#;
        let parsed = from_extra_specs(Some(specs)).unwrap();
        assert!(parsed.required());
        let policy = parsed.policy.unwrap();
        assert_eq!(policy.min_tcb.unwrap().microcode, 115);
        assert!(!policy.allow_smt);
        assert_eq!(policy.products, vec![Product::Milan]);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"confidential": true, "attestation": {"requird": true}}"#,
                "unknown field `requird`",
            ),
            (r#"{"confidential": "yes"}"#, "extra_specs.confidential"),
            (
                r#"{"attestation": {"required": true}}"#,
                "needs extra_specs.confidential",
            ),
            (r#"{"confidential": true, "attestation": {"max_vmpl": 7}}"#, "max_vmpl"),
            (
                r#"{"confidential": true, "attestation": {"measurements": ["abc"]}}"#,
                "measurements[0]",
            ),
            (
                r#"{"confidential": true, "attestation": {"pcrs": {"24": "00"}}}"#,
                "not a PCR index",
            ),
            (
                r#"{"confidential": true, "attestation": {"pcrs": {"7": "00"}}}"#,
                "pcrs.7",
            ),
            (
                r#"{"confidential": true, "attestation": {"min_tcb": {"snp": 300}}}"#,
                "extra_specs.attestation",
            ),
            (
                r#"{"confidential": true, "attestation": {"products": ["Turin"]}}"#,
                "extra_specs.attestation",
            ),
            ("not json", "extra_specs is not JSON"),
        ];
        for (specs, expected) in cases {
            let err = from_extra_specs(Some(specs)).unwrap_err();
            assert!(err.contains(expected), "{specs}: {err}");
        }
    }
}
