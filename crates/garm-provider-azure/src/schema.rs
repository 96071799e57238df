//! JSON schemas of the config file and the pool extra specs (`GetConfigJSONSchema`, `GetExtraSpecsJSONSchema`).

/// The pool extra specs: closed, as the parser is.
pub const EXTRA_SPECS: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "garm-provider-azure extra specs",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "allocate_public_ip": {"type": "boolean"},
    "open_inbound_ports": {"type": "object", "properties": {
      "Tcp": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}},
      "Udp": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
    "storage_account_type": {"type": "string", "enum": ["Standard_LRS", "StandardSSD_LRS", "StandardSSD_ZRS", "Premium_LRS", "Premium_ZRS"]},
    "disk_size_gb": {"type": "integer", "minimum": 1, "maximum": 4095},
    "extra_tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}},
    "ssh_public_keys": {"type": "array", "items": {"type": "string"}},
    "confidential": {"type": "boolean"},
    "confidential_disk_encryption": {"type": "string", "enum": ["VMGuestStateOnly", "DiskWithVMGuestState", "NonPersistedTPM"]},
    "disk_encryption_set_id": {"type": "string"},
    "trustedlaunch": {"type": "boolean"},
    "use_ephemeral_storage": {"type": "boolean"},
    "virtual_network_cidr": {"type": "string"},
    "use_accelerated_networking": {"type": "boolean"},
    "vnet_subnet_id": {"type": "string"},
    "disable_isolated_networks": {"type": "boolean"},
    "disable_updates": {"type": "boolean"},
    "enable_boot_debug": {"type": "boolean"},
    "extra_packages": {"type": "array", "items": {"type": "string"}},
    "runner_install_template": {"type": "string", "contentEncoding": "base64"},
    "extra_context": {"type": "object", "additionalProperties": {"type": "string"}},
    "pre_install_scripts": {"type": "object", "additionalProperties": {"type": "string", "contentEncoding": "base64"}}
  }
}"#;

/// The TOML config file, as JSON schema.
pub const CONFIG: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "garm-provider-azure config",
  "type": "object",
  "required": ["location", "credentials"],
  "properties": {
    "location": {"type": "string"},
    "use_ephemeral_storage": {"type": "boolean"},
    "virtual_network_cidr": {"type": "string"},
    "use_accelerated_networking": {"type": "boolean"},
    "vnet_subnet_id": {"type": "string"},
    "disable_isolated_networks": {"type": "boolean"},
    "credentials": {"type": "object", "required": ["subscription_id"], "properties": {
      "subscription_id": {"type": "string"},
      "service_principal": {"type": "object", "properties": {
        "tenant_id": {"type": "string"}, "client_id": {"type": "string"}, "client_secret": {"type": "string"}}},
      "workload_identity": {"type": "object", "properties": {
        "tenant_id": {"type": "string"}, "client_id": {"type": "string"}, "federated_token_file": {"type": "string"}}},
      "managed_identity": {"type": "object", "properties": {"client_id": {"type": "string"}}},
      "client_options": {"type": "object"}}},
    "endpoints": {"type": "object", "properties": {
      "resource_manager": {"type": "string"}, "management": {"type": "string"},
      "authority_host": {"type": "string"}, "login": {"type": "string"},
      "imds": {"type": "string"},
      "token_audience": {"type": "string"}, "resource_manager_audience": {"type": "string"},
      "allow_http": {"type": "boolean"}, "ca_bundle": {"type": "string"}}},
    "timeouts": {"type": "object", "properties": {
      "command": {"type": "integer"}, "cleanup": {"type": "integer"}, "vm_create_wait": {"type": "integer"},
      "max_retry_after": {"type": "integer"}, "poll_interval": {"type": "integer"}}}
  }
}"#;
