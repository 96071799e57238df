//! `ProviderInstance`: what a provider prints for `CreateInstance`, `GetInstance` and `ListInstances`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::go_bytes::{base64_bytes, null_as_default};

/// One instance as the provider reports it (spec 6.6).
///
/// Serializes like garm-provider-common (every key `omitempty`); decoding accepts missing keys
/// and `null`s, so call [`ProviderInstance::validate`] before trusting the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderInstance {
    /// The provider's own id (often the name); required.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub provider_id: String,
    /// Required; garm does not compare it with the requested name.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub os_type: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub os_name: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub os_version: String,
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub os_arch: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub addresses: Vec<Address>,
    #[serde(skip_serializing_if = "ProviderStatus::is_empty")]
    pub status: ProviderStatus,
    /// Error detail from the provider; base64 in JSON.
    #[serde(skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    pub provider_fault: Vec<u8>,
    /// garm-rs's extension (garm ignores the key): the platform's own id of the VM, when it
    /// has one garm can compare with attestation evidence (Azure: the ARM `vmId`, which the
    /// VM's HCL report carries as `vmUniqueId`). Empty when the provider does not know it.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub vm_id: String,
}

/// One address of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(deserialize_with = "null_as_default")]
    pub address: String,
    /// `public` or `private` ([`Address::PUBLIC`], [`Address::PRIVATE`]); not validated, as in garm.
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
}

impl Address {
    pub const PUBLIC: &'static str = "public";
    pub const PRIVATE: &'static str = "private";
}

/// The instance status a provider reports.
///
/// Anything but the four known values decodes as `Other` and fails [`ProviderInstance::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum ProviderStatus {
    Running,
    Stopped,
    Error,
    Unknown,
    /// A value garm rejects.
    Other(String),
    /// No status given (serializes as an omitted key).
    #[default]
    Missing,
}

impl ProviderStatus {
    /// The JSON value; empty for [`ProviderStatus::Missing`].
    pub fn as_str(&self) -> &str {
        match self {
            ProviderStatus::Running => "running",
            ProviderStatus::Stopped => "stopped",
            ProviderStatus::Error => "error",
            ProviderStatus::Unknown => "unknown",
            ProviderStatus::Other(other) => other,
            ProviderStatus::Missing => "",
        }
    }

    /// Whether garm accepts this status from a provider.
    pub fn is_valid(&self) -> bool {
        matches!(
            self,
            ProviderStatus::Running | ProviderStatus::Stopped | ProviderStatus::Error | ProviderStatus::Unknown
        )
    }

    fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl From<&str> for ProviderStatus {
    fn from(value: &str) -> Self {
        match value {
            "running" => ProviderStatus::Running,
            "stopped" => ProviderStatus::Stopped,
            "error" => ProviderStatus::Error,
            "unknown" => ProviderStatus::Unknown,
            "" => ProviderStatus::Missing,
            other => ProviderStatus::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProviderStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        Ok(ProviderStatus::from(text.as_str()))
    }
}

/// Why garm would reject a provider's instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("provider_id is missing or empty")]
    MissingProviderId,
    #[error("name is missing or empty")]
    MissingName,
    #[error("status {0:?} is not one of running, stopped, error, unknown")]
    InvalidStatus(String),
}

impl ProviderInstance {
    /// Checks what garm checks: non-empty `provider_id` and `name`, and a known status.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.provider_id.is_empty() {
            return Err(ValidationError::MissingProviderId);
        }
        if self.name.is_empty() {
            return Err(ValidationError::MissingName);
        }
        if !self.status.is_valid() {
            return Err(ValidationError::InvalidStatus(self.status.as_str().to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = r#"{"provider_id":"test-provider-id","name":"test-instance-name", "os_type":"linux","os_name":"ubuntu","os_version":"20.04","os_arch":"x86_64","status":"running"}"#;

    #[test]
    fn reference_fake_provider_output_decodes_and_validates() {
        let instance: ProviderInstance = serde_json::from_str(REFERENCE).unwrap();
        assert_eq!(instance.provider_id, "test-provider-id");
        assert_eq!(instance.status, ProviderStatus::Running);
        assert_eq!(instance.validate(), Ok(()));
    }

    #[test]
    fn empty_fields_are_omitted_and_fault_is_base64() {
        let instance = ProviderInstance {
            provider_id: "i-1".into(),
            name: "garm-1".into(),
            status: ProviderStatus::Error,
            provider_fault: b"quota exceeded".to_vec(),
            ..ProviderInstance::default()
        };
        let written = serde_json::to_string(&instance).unwrap();
        assert_eq!(
            written,
            r#"{"provider_id":"i-1","name":"garm-1","status":"error","provider_fault":"cXVvdGEgZXhjZWVkZWQ="}"#
        );
        assert_eq!(serde_json::from_str::<ProviderInstance>(&written).unwrap(), instance);
    }

    #[test]
    fn the_vm_id_extension_is_optional_and_omitted_when_empty() {
        let plain: ProviderInstance = serde_json::from_str(REFERENCE).unwrap();
        assert_eq!(plain.vm_id, "");
        assert!(!serde_json::to_string(&plain).unwrap().contains("vm_id"));
        let azure: ProviderInstance = serde_json::from_str(
            r#"{"provider_id":"a","name":"a","status":"running","vm_id":"26f8bc30-774e-4290-8e7a-535f3b672aee"}"#,
        )
        .unwrap();
        assert_eq!(azure.vm_id, "26f8bc30-774e-4290-8e7a-535f3b672aee");
        assert_eq!(azure.validate(), Ok(()));
    }

    #[test]
    fn addresses_use_the_type_key() {
        let instance: ProviderInstance =
            serde_json::from_str(r#"{"addresses":[{"address":"10.0.0.4","type":"private"}]}"#).unwrap();
        assert_eq!(instance.addresses[0].kind, Address::PRIVATE);
        let written = serde_json::to_string(&instance.addresses[0]).unwrap();
        assert_eq!(written, r#"{"address":"10.0.0.4","type":"private"}"#);
    }

    #[test]
    fn validation_requires_ids_and_a_known_status() {
        let valid: ProviderInstance = serde_json::from_str(REFERENCE).unwrap();
        let no_id = ProviderInstance {
            provider_id: String::new(),
            ..valid.clone()
        };
        assert_eq!(no_id.validate(), Err(ValidationError::MissingProviderId));
        let no_name = ProviderInstance {
            name: String::new(),
            ..valid.clone()
        };
        assert_eq!(no_name.validate(), Err(ValidationError::MissingName));

        let pending: ProviderInstance =
            serde_json::from_str(r#"{"provider_id":"a","name":"a","status":"pending_create"}"#).unwrap();
        assert_eq!(
            pending.validate(),
            Err(ValidationError::InvalidStatus("pending_create".into()))
        );
        let missing: ProviderInstance = serde_json::from_str(r#"{"provider_id":"a","name":"a"}"#).unwrap();
        assert_eq!(missing.validate(), Err(ValidationError::InvalidStatus(String::new())));
    }

    #[test]
    fn invalid_statuses_survive_a_round_trip() {
        let instance: ProviderInstance = serde_json::from_str(r#"{"status":"creating"}"#).unwrap();
        assert_eq!(instance.status, ProviderStatus::Other("creating".into()));
        assert_eq!(serde_json::to_string(&instance).unwrap(), r#"{"status":"creating"}"#);
    }
}
