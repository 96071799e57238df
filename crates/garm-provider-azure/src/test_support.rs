//! Builders shared by the unit tests.

use garm_provider_protocol::BootstrapInstance;

use crate::config::Config;
use crate::extra_specs::{CheckedSpecs, ExtraSpecs};

pub const CONTROLLER: &str = "c0ffee00-0000-4000-8000-000000000001";
pub const POOL: &str = "9dcf590a-1192-4a9c-b3e4-e0902974c2c0";
pub const CVM_IMAGE: &str = "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest";

/// A config for westeurope with `extra` TOML appended at the top level.
pub fn config(extra: &str) -> Config {
    let text = format!(
        "location = \"westeurope\"\n{extra}\n[credentials]\nsubscription_id = \"00000000-0000-0000-0000-000000000001\"\n"
    );
    Config::parse(&text, |_| None).unwrap()
}

/// The pool: a Standard_DC2as_v5 confidential Ubuntu runner, with `specs` as extra specs.
pub fn bootstrap(specs: serde_json::Value) -> BootstrapInstance {
    let json = serde_json::json!({
        "name": "garm-k3v9q2wz8d1a",
        "tools": [{"os": "linux", "architecture": "x64",
                   "download_url": "https://example.invalid/actions-runner-linux-x64-2.327.1.tar.gz",
                   "filename": "actions-runner-linux-x64-2.327.1.tar.gz"}],
        "repo_url": "https://github.com/my-org/my-repo",
        "callback-url": "https://garm.example.com/api/v1/callbacks",
        "metadata-url": "https://garm.example.com/api/v1/metadata",
        "instance-token": "instance-token-value",
        "ssh-keys": null,
        "extra_specs": specs,
        "github-runner-group": "",
        "ca-cert-bundle": "",
        "arch": "amd64",
        "os_type": "linux",
        "flavor": "Standard_DC2as_v5",
        "image": CVM_IMAGE,
        "labels": null,
        "pool_id": POOL,
        "user_data_options": {"disable_updates_on_boot": false, "extra_packages": null, "enable_boot_debug": false},
        "jit_config_enabled": true,
        "proxy_config": {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
    });
    serde_json::from_value(json).unwrap()
}

pub fn specs(bootstrap: &BootstrapInstance) -> CheckedSpecs {
    ExtraSpecs::parse(bootstrap.extra_specs_json()).unwrap()
}
