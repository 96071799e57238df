//! `BootstrapInstance`: the JSON garm writes to a provider's stdin for `CreateInstance`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::go_bytes::{base64_bytes, null_as_default};

/// Everything a provider needs to create one instance (spec 6.5).
///
/// Serializes with exactly garm's keys, hyphens and underscores mixed as garm has them;
/// every key is present except `extra_specs`, which is omitted when `None`.
/// Decoding is as lenient as Go's: missing keys and `null`s become empty values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BootstrapInstance {
    /// The instance name; providers use it as the VM name.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// Runner downloads for the entity.
    #[serde(deserialize_with = "null_as_default")]
    pub tools: Vec<RunnerApplicationDownload>,
    /// The entity's forge URL.
    #[serde(deserialize_with = "null_as_default")]
    pub repo_url: String,
    #[serde(rename = "callback-url", deserialize_with = "null_as_default")]
    pub callback_url: String,
    #[serde(rename = "metadata-url", deserialize_with = "null_as_default")]
    pub metadata_url: String,
    /// The instance's JWT for the metadata and callback endpoints.
    #[serde(rename = "instance-token", deserialize_with = "null_as_default")]
    pub instance_token: String,
    /// Unused by garm, which sends `null`.
    #[serde(rename = "ssh-keys")]
    pub ssh_keys: Option<Vec<String>>,
    /// The pool's extra specs plus the injected `runner_install_template`, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(rename = "github-runner-group", deserialize_with = "null_as_default")]
    pub github_runner_group: String,
    /// PEM bundle (endpoint CA and controller CA), base64 in JSON; empty when there is none.
    #[serde(rename = "ca-cert-bundle", with = "base64_bytes")]
    pub ca_cert_bundle: Vec<u8>,
    /// The pool's `os_arch` (`amd64`, `arm64`, `arm`).
    #[serde(deserialize_with = "null_as_default")]
    pub arch: String,
    /// The pool's `os_type` (`linux`, `windows`).
    #[serde(deserialize_with = "null_as_default")]
    pub os_type: String,
    #[serde(deserialize_with = "null_as_default")]
    pub flavor: String,
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    /// Runner labels when JIT is not used; `None` otherwise.
    pub labels: Option<Vec<String>>,
    #[serde(deserialize_with = "null_as_default")]
    pub pool_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub user_data_options: UserDataOptions,
    pub jit_config_enabled: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub proxy_config: ProxyConfig,
}

/// One runner archive the instance may download (go-github's `RunnerApplicationDownload`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunnerApplicationDownload {
    /// `linux`, `win` or `osx` on GitHub.
    #[serde(deserialize_with = "null_as_default")]
    pub os: String,
    /// `x64`, `arm` or `arm64` on GitHub.
    #[serde(deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(deserialize_with = "null_as_default")]
    pub download_url: String,
    #[serde(deserialize_with = "null_as_default")]
    pub filename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_download_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_checksum: Option<String>,
}

/// Cloud-init tweaks; garm never sets them, but always sends the object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserDataOptions {
    pub disable_updates_on_boot: bool,
    pub extra_packages: Option<Vec<String>>,
    pub enable_boot_debug: bool,
}

/// The pool's proxy as the instance should use it; empty strings when there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub http_proxy: String,
    #[serde(deserialize_with = "null_as_default")]
    pub https_proxy: String,
    #[serde(deserialize_with = "null_as_default")]
    pub no_proxy: String,
}

impl BootstrapInstance {
    /// The raw extra specs JSON text, if any.
    pub fn extra_specs_json(&self) -> Option<&str> {
        self.extra_specs.as_deref().map(RawValue::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's example (6.5), with the elisions filled in.
    const EXAMPLE: &str = r#"{
  "name": "garm-k3v9q2wz8d1a",
  "tools": [{"os": "linux", "architecture": "x64",
             "download_url": "https://github.com/actions/runner/releases/download/v2.327.1/actions-runner-linux-x64-2.327.1.tar.gz",
             "filename": "actions-runner-linux-x64-2.327.1.tar.gz",
             "sha256_checksum": "abc123"}],
  "repo_url": "https://github.com/my-org/my-repo",
  "callback-url": "https://garm.example.com/api/v1/callbacks",
  "metadata-url": "https://garm.example.com/api/v1/metadata",
  "instance-token": "eyJhbGciOiJIUzI1NiIs",
  "ssh-keys": null,
  "extra_specs": {"confidential": true,  "runner_install_template": "IyEvYmluL2Jhc2gK"},
  "github-runner-group": "",
  "ca-cert-bundle": "",
  "arch": "amd64",
  "os_type": "linux",
  "flavor": "Standard_DC2as_v5",
  "image": "Canonical:ubuntu-24_04-lts:server:latest",
  "labels": null,
  "pool_id": "9dcf590a-1192-4a9c-b3e4-e0902974c2c0",
  "user_data_options": {"disable_updates_on_boot": false, "extra_packages": null, "enable_boot_debug": false},
  "jit_config_enabled": true,
  "proxy_config": {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
}"#;

    const KEYS: [&str; 19] = [
        "name",
        "tools",
        "repo_url",
        "callback-url",
        "metadata-url",
        "instance-token",
        "ssh-keys",
        "extra_specs",
        "github-runner-group",
        "ca-cert-bundle",
        "arch",
        "os_type",
        "flavor",
        "image",
        "labels",
        "pool_id",
        "user_data_options",
        "jit_config_enabled",
        "proxy_config",
    ];

    fn keys(json: &str) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn spec_example_round_trips_with_exactly_the_spec_keys() {
        let bootstrap: BootstrapInstance = serde_json::from_str(EXAMPLE).unwrap();
        assert_eq!(bootstrap.name, "garm-k3v9q2wz8d1a");
        assert_eq!(bootstrap.callback_url, "https://garm.example.com/api/v1/callbacks");
        assert_eq!(bootstrap.tools[0].sha256_checksum.as_deref(), Some("abc123"));
        assert!(bootstrap.jit_config_enabled);

        let written = serde_json::to_string(&bootstrap).unwrap();
        assert_eq!(keys(&written), sorted(&KEYS));
        let original: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        let again: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn extra_specs_pass_through_byte_for_byte() {
        let bootstrap: BootstrapInstance = serde_json::from_str(EXAMPLE).unwrap();
        let expected = r#"{"confidential": true,  "runner_install_template": "IyEvYmluL2Jhc2gK"}"#;
        assert_eq!(bootstrap.extra_specs_json(), Some(expected));
        let written = serde_json::to_string(&bootstrap).unwrap();
        assert!(written.contains(expected), "{written}");
    }

    #[test]
    fn missing_extra_specs_are_omitted_and_every_other_key_is_present() {
        let written = serde_json::to_string(&BootstrapInstance::default()).unwrap();
        let expected: Vec<&str> = KEYS.into_iter().filter(|key| *key != "extra_specs").collect();
        assert_eq!(keys(&written), sorted(&expected));
        assert!(written.contains(r#""ca-cert-bundle":"""#), "{written}");
        assert!(written.contains(r#""ssh-keys":null"#), "{written}");
        assert!(written.contains(r#""labels":null"#), "{written}");
    }

    #[test]
    fn ca_cert_bundle_is_base64_of_the_bytes() {
        let bootstrap = BootstrapInstance {
            ca_cert_bundle: b"-----BEGIN CERTIFICATE-----".to_vec(),
            ..BootstrapInstance::default()
        };
        let written = serde_json::to_string(&bootstrap).unwrap();
        let value: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["ca-cert-bundle"], "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t");
        let back: BootstrapInstance = serde_json::from_str(&written).unwrap();
        assert_eq!(back.ca_cert_bundle, bootstrap.ca_cert_bundle);
    }

    #[test]
    fn decoding_is_as_lenient_as_go() {
        let bootstrap: BootstrapInstance =
            serde_json::from_str(r#"{"name": "x", "tools": null, "ca-cert-bundle": null, "extra_specs": null}"#)
                .unwrap();
        assert_eq!(bootstrap.name, "x");
        assert!(bootstrap.tools.is_empty());
        assert!(bootstrap.ca_cert_bundle.is_empty());
        assert!(bootstrap.extra_specs.is_none());
    }

    #[test]
    fn invalid_base64_in_ca_cert_bundle_is_rejected() {
        let res = serde_json::from_str::<BootstrapInstance>(r#"{"ca-cert-bundle": "not base64!"}"#);
        assert!(res.is_err());
    }
}
