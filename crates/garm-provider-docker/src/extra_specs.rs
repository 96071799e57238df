//! The pool extra specs this provider understands, checked strictly: unknown keys are refused.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use crate::reserved::BOOTSTRAP_DIR;

/// The checked extra specs of a pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraSpecs {
    /// Host paths bind-mounted into the container.
    pub mounts: Vec<Mount>,
    /// Environment variables of the container.
    pub env: BTreeMap<String, String>,
    /// Runs the container privileged; off unless asked for.
    pub privileged: bool,
    /// The decoded `runner_install_template` (garm injects its install wrapper here).
    pub install_script: Option<Vec<u8>>,
    /// Decoded `pre_install_scripts`, run in name order before the install script.
    pub pre_install_scripts: BTreeMap<String, Vec<u8>>,
}

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Absolute host path; it must exist.
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub read_only: bool,
}

/// Every key a pool may set; keep in sync with [`SCHEMA`] and the docs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default, deserialize_with = "null_as_default")]
    mounts: Vec<Mount>,
    #[serde(default, deserialize_with = "null_as_default")]
    env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    privileged: bool,
    /// Injected by garm: base64 of the install script (its install wrapper, as a rule).
    #[serde(default)]
    runner_install_template: Option<String>,
    /// garm-provider-common's key: script name → base64 content.
    #[serde(default, deserialize_with = "null_as_default")]
    pre_install_scripts: BTreeMap<String, String>,
    /// Read by garm when it renders install scripts; accepted and not used here.
    #[serde(default, deserialize_with = "null_as_default")]
    #[allow(dead_code)]
    extra_context: BTreeMap<String, String>,
    /// Read by garm when it renders install scripts; accepted and not used here.
    #[serde(default, deserialize_with = "null_as_default")]
    #[allow(dead_code)]
    enable_boot_debug: bool,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Why a pool's extra specs are refused.
#[derive(Debug, thiserror::Error)]
pub enum ExtraSpecsError {
    #[error("the pool's extra specs are not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("the pool's extra specs must be a JSON object")]
    NotAnObject,
    #[error("the pool's extra specs are invalid for the docker provider")]
    Decode(#[source] serde_json::Error),
    #[error("extra specs key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ExtraSpecsError {
    ExtraSpecsError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

impl ExtraSpecs {
    /// Checks raw extra specs JSON as garm sends it on stdin; `None` and `null` mean none.
    pub fn from_json_text(text: Option<&str>) -> Result<ExtraSpecs, ExtraSpecsError> {
        match text {
            None => Ok(ExtraSpecs::default()),
            Some(text) => {
                let value = serde_json::from_str(text).map_err(ExtraSpecsError::Json)?;
                ExtraSpecs::from_value(&value)
            }
        }
    }

    /// Checks decoded extra specs; `null` means none.
    pub fn from_value(value: &serde_json::Value) -> Result<ExtraSpecs, ExtraSpecsError> {
        if value.is_null() {
            return Ok(ExtraSpecs::default());
        }
        if !value.is_object() {
            return Err(ExtraSpecsError::NotAnObject);
        }
        let raw = Raw::deserialize(value).map_err(ExtraSpecsError::Decode)?;
        for (index, mount) in raw.mounts.iter().enumerate() {
            check_mount(index, mount)?;
        }
        for (name, value) in &raw.env {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(invalid(
                    format!("env.{name}"),
                    "names must be non-empty without `=`, and no NUL characters anywhere",
                ));
            }
        }
        let install_script = raw
            .runner_install_template
            .as_deref()
            .map(|text| decode("runner_install_template".to_owned(), text))
            .transpose()?;
        let mut pre_install_scripts = BTreeMap::new();
        for (name, text) in &raw.pre_install_scripts {
            let key = format!("pre_install_scripts.{name}");
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                return Err(invalid(key, "script names must be plain file names"));
            }
            pre_install_scripts.insert(name.clone(), decode(key, text)?);
        }
        Ok(ExtraSpecs {
            mounts: raw.mounts,
            env: raw.env,
            privileged: raw.privileged,
            install_script,
            pre_install_scripts,
        })
    }
}

fn decode(key: String, text: &str) -> Result<Vec<u8>, ExtraSpecsError> {
    STANDARD
        .decode(text.trim())
        .map_err(|err| invalid(key, format!("must be standard base64 ({err})")))
}

fn check_mount(index: usize, mount: &Mount) -> Result<(), ExtraSpecsError> {
    let key = |field: &str| format!("mounts[{index}].{field}");
    if !mount.source.starts_with('/') {
        return Err(invalid(key("source"), "must be an absolute host path"));
    }
    if !mount.target.starts_with('/') || mount.target == "/" {
        return Err(invalid(key("target"), "must be an absolute path other than `/`"));
    }
    let target = mount.target.trim_end_matches('/');
    if target == BOOTSTRAP_DIR || target.starts_with(&format!("{BOOTSTRAP_DIR}/")) {
        return Err(invalid(
            key("target"),
            format!("{BOOTSTRAP_DIR} is reserved for the provider's bootstrap files"),
        ));
    }
    if mount.source.contains('\0') || mount.target.contains('\0') {
        return Err(invalid(key("source"), "contains a NUL character"));
    }
    Ok(())
}

/// JSON schema of the extra specs, printed for `GetExtraSpecsJSONSchema`.
pub const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "garm-provider-docker extra specs",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "mounts": {
      "description": "Host paths bind-mounted into the container.",
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["source", "target"],
        "properties": {
          "source": {"type": "string", "description": "Absolute host path; it must exist."},
          "target": {"type": "string", "description": "Absolute path in the container (not /garm)."},
          "read_only": {"type": "boolean", "default": false}
        }
      }
    },
    "env": {
      "description": "Environment variables of the container.",
      "type": "object",
      "additionalProperties": {"type": "string"}
    },
    "privileged": {"type": "boolean", "default": false, "description": "Run the container privileged."},
    "runner_install_template": {"type": "string", "description": "Base64 install script; garm injects its install wrapper here."},
    "pre_install_scripts": {
      "description": "Script name to base64 content, run in name order before the install script.",
      "type": "object",
      "additionalProperties": {"type": "string"}
    },
    "extra_context": {
      "description": "Read by garm when it renders install scripts.",
      "type": "object",
      "additionalProperties": {"type": "string"}
    },
    "enable_boot_debug": {"type": "boolean", "description": "Read by garm when it renders install scripts."}
  }
}"#;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: serde_json::Value) -> Result<ExtraSpecs, String> {
        ExtraSpecs::from_value(&value).map_err(|err| {
            let mut message = err.to_string();
            if let Some(source) = std::error::Error::source(&err) {
                message = format!("{message}: {source}");
            }
            message
        })
    }

    #[test]
    fn no_extra_specs_mean_no_mounts_no_env_and_no_privileges() {
        assert_eq!(ExtraSpecs::from_json_text(None).unwrap(), ExtraSpecs::default());
        assert_eq!(ExtraSpecs::from_json_text(Some("null")).unwrap(), ExtraSpecs::default());
        let specs = check(json!({})).unwrap();
        assert!(!specs.privileged);
        assert!(specs.mounts.is_empty() && specs.env.is_empty());
        assert_eq!(specs.install_script, None);
    }

    #[test]
    fn every_documented_key_is_read() {
        let specs = check(json!({
            "mounts": [{"source": "/srv/cache", "target": "/cache", "read_only": true},
                       {"source": "/srv/work", "target": "/work"}],
            "env": {"RUNNER_ENV": "docker"},
            "privileged": true,
            "runner_install_template": "IyEvYmluL2Jhc2gK",
            "pre_install_scripts": {"10-apt": "ZWNobyBoaQ=="},
            "extra_context": {"RunnerDir": "/opt/runner"},
            "enable_boot_debug": false
        }))
        .unwrap();
        assert_eq!(specs.mounts.len(), 2);
        assert!(specs.mounts[0].read_only && !specs.mounts[1].read_only);
        assert_eq!(specs.env["RUNNER_ENV"], "docker");
        assert!(specs.privileged);
        assert_eq!(specs.install_script.as_deref(), Some(&b"#!/bin/bash\n"[..]));
        assert_eq!(specs.pre_install_scripts["10-apt"], b"echo hi");
    }

    #[test]
    fn garm_injected_keys_alone_are_accepted() {
        let specs = ExtraSpecs::from_json_text(Some(
            r#"{"runner_install_template": "IyEvYmluL2Jhc2gK", "extra_context": null, "pre_install_scripts": null}"#,
        ))
        .unwrap();
        assert!(specs.install_script.is_some());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = check(json!({"privileged": false, "disk_size_gb": 64})).unwrap_err();
        assert!(err.contains("unknown field `disk_size_gb`"), "{err}");
        assert!(err.contains("expected one of"), "{err}");
        let err = check(json!({"mounts": [{"source": "/a", "target": "/b", "rw": true}]})).unwrap_err();
        assert!(err.contains("unknown field `rw`"), "{err}");
    }

    #[test]
    fn wrong_shapes_and_values_are_refused_with_their_key() {
        let cases = [
            (json!([1, 2]), "must be a JSON object"),
            (json!({"privileged": "yes"}), "invalid type"),
            (
                json!({"mounts": [{"source": "rel", "target": "/b"}]}),
                "`mounts[0].source`",
            ),
            (
                json!({"mounts": [{"source": "/a", "target": "/"}]}),
                "`mounts[0].target`",
            ),
            (json!({"mounts": [{"source": "/a", "target": "/garm/x"}]}), "reserved"),
            (json!({"env": {"A=B": "c"}}), "`env.A=B`"),
            (json!({"runner_install_template": "%%%"}), "`runner_install_template`"),
            (
                json!({"pre_install_scripts": {"../x": "YQ=="}}),
                "`pre_install_scripts.../x`",
            ),
        ];
        for (value, expected) in cases {
            let err = check(value.clone()).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }

    #[test]
    fn the_schema_is_json_and_lists_every_key() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        for key in [
            "mounts",
            "env",
            "privileged",
            "runner_install_template",
            "pre_install_scripts",
            "extra_context",
            "enable_boot_debug",
        ] {
            assert!(keys.iter().any(|k| *k == key), "{key}");
        }
        assert_eq!(keys.len(), 7);
    }
}
