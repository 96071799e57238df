//! What an instance is given to bootstrap: the provider's bootstrap parameters with
//! garm's install wrapper injected, and the context of the install script.

use crate::forge::{pick_tool, Tool};
use crate::{controller_label, pool_label};
use base64::Engine;
pub use garm_provider_protocol::ProxyConfig;
use garm_provider_protocol::{BootstrapInstance, RunnerApplicationDownload, UserDataOptions};
use garm_store::{EndpointRecord, EntityKind, EntityRecord, InstanceRecord, PoolRecord, ProxyRecord};
use serde_json::{json, Value};

/// The entity's URL on the forge (`config.sh --url`, JIT `gitHubUrl`).
pub fn repo_url(endpoint: &EndpointRecord, entity: &EntityRecord) -> String {
    let base = endpoint.base_url.trim_end_matches('/');
    match entity.kind {
        EntityKind::Repository => format!("{base}/{}/{}", entity.owner, entity.name),
        EntityKind::Organization => format!("{base}/{}", entity.name),
        EntityKind::Enterprise => format!("{base}/enterprises/{}", entity.name),
    }
}

/// Labels the forge gets for a pool's runners: the tags plus controller and pool labels.
pub fn runner_labels(pool: &PoolRecord, controller_id: &str) -> Vec<String> {
    let mut labels: Vec<String> = pool.tags.iter().map(|t| t.name.clone()).collect();
    labels.push(controller_label(controller_id));
    labels.push(pool_label(&pool.id));
    labels
}

/// Inserts `runner_install_template` into the operator's extra specs without touching
/// anything else byte-wise. Extra specs that already name a template, or that are not
/// a JSON object, are returned unchanged.
pub fn inject_wrapper(extra_specs: Option<&str>, wrapper: &str) -> Option<String> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(wrapper);
    let field = format!("\"runner_install_template\":{}", Value::String(encoded));
    let raw = match extra_specs.map(str::trim) {
        None | Some("") | Some("null") => return Some(format!("{{{field}}}")),
        Some(raw) => raw,
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) if !map.contains_key("runner_install_template") => {
            let open = raw.find('{').expect("a JSON object starts with a brace");
            let rest = &raw[open + 1..];
            let sep = if map.is_empty() { "" } else { "," };
            Some(format!("{}{{{field}{sep}{rest}", &raw[..open]))
        }
        _ => Some(raw.to_string()),
    }
}

/// A pool's proxy as runners get it: credentials composed into the URLs (garm's
/// `http://user:pass@host:port`); all empty without a proxy.
pub fn proxy_config(proxy: Option<&ProxyRecord>) -> ProxyConfig {
    match proxy {
        None => ProxyConfig::default(),
        Some(p) => ProxyConfig {
            http_proxy: p.with_credentials(&p.http_proxy),
            https_proxy: p.with_credentials(&p.https_proxy),
            no_proxy: p.no_proxy.clone(),
        },
    }
}

/// Renders garm's install wrapper for an instance.
pub fn render_wrapper(
    os_type: &str,
    metadata_url: &str,
    callback_url: &str,
    token: &str,
    proxy: &ProxyConfig,
) -> Result<String, garm_template::TemplateError> {
    let template = garm_template::parse(garm_template::wrapper_template(os_type))?;
    template.render(&json!({
        "MetadataURL": metadata_url,
        "CallbackURL": callback_url,
        "CallbackToken": token,
        "HTTPProxy": proxy.http_proxy,
        "HTTPSProxy": proxy.https_proxy,
        "NoProxy": proxy.no_proxy,
    }))
}

/// Everything `CreateInstance` needs on its stdin.
pub struct BootstrapInput<'a> {
    pub instance: &'a InstanceRecord,
    pub pool: &'a PoolRecord,
    pub repo_url: String,
    pub tools: &'a [Tool],
    pub token: String,
    pub ca_bundle: Vec<u8>,
    pub controller_id: &'a str,
    pub proxy: ProxyConfig,
}

pub fn params(input: BootstrapInput<'_>) -> Result<BootstrapInstance, garm_template::TemplateError> {
    let BootstrapInput {
        instance,
        pool,
        repo_url,
        tools,
        token,
        ca_bundle,
        controller_id,
        proxy,
    } = input;
    let wrapper = render_wrapper(
        &pool.os_type,
        &instance.metadata_url,
        &instance.callback_url,
        &token,
        &proxy,
    )?;
    let extra_specs = inject_wrapper(pool.extra_specs.as_deref(), &wrapper)
        .and_then(|raw| serde_json::value::RawValue::from_string(raw).ok());
    let jit = instance.jit_config.is_some();
    Ok(BootstrapInstance {
        name: instance.name.to_string(),
        tools: tools
            .iter()
            .map(|t| RunnerApplicationDownload {
                os: t.os.clone(),
                architecture: t.architecture.clone(),
                download_url: t.download_url.clone(),
                filename: t.filename.clone(),
                temp_download_token: t.temp_download_token.clone(),
                sha256_checksum: t.sha256_checksum.clone(),
            })
            .collect(),
        repo_url,
        callback_url: instance.callback_url.clone(),
        metadata_url: instance.metadata_url.clone(),
        instance_token: token,
        ssh_keys: None,
        extra_specs,
        github_runner_group: pool.runner_group.clone(),
        ca_cert_bundle: ca_bundle,
        arch: pool.os_arch.clone(),
        os_type: pool.os_type.clone(),
        flavor: pool.flavor.clone(),
        image: pool.image.clone(),
        labels: (!jit).then(|| runner_labels(pool, controller_id)),
        pool_id: pool.id.to_string(),
        user_data_options: UserDataOptions::default(),
        jit_config_enabled: jit,
        proxy_config: proxy,
    })
}

/// The install script's template context (garm's `InstallRunnerParams`).
pub struct ScriptInput<'a> {
    pub instance: &'a InstanceRecord,
    pub pool: &'a PoolRecord,
    pub repo_url: String,
    pub tools: &'a [Tool],
    pub token: &'a str,
    pub ca_bundle: &'a [u8],
    pub controller_id: &'a str,
    pub proxy: &'a ProxyConfig,
}

pub fn script_context(input: ScriptInput<'_>) -> Value {
    let ScriptInput {
        instance,
        pool,
        repo_url,
        tools,
        token,
        ca_bundle,
        controller_id,
        proxy,
    } = input;
    let tool = pick_tool(tools, &pool.os_type, &pool.os_arch);
    let specs: Value = pool
        .extra_specs
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let jit = instance.jit_config.is_some();
    json!({
        "FileName": tool.map(|t| t.filename.clone()).unwrap_or_default(),
        "DownloadURL": tool.map(|t| t.download_url.clone()).unwrap_or_default(),
        "TempDownloadToken": tool.and_then(|t| t.temp_download_token.clone()).unwrap_or_default(),
        "RunnerUsername": "runner",
        "RunnerGroup": "runner",
        "RepoURL": repo_url,
        "MetadataURL": instance.metadata_url,
        "CallbackURL": instance.callback_url,
        "CallbackToken": token,
        "RunnerName": instance.name,
        "RunnerLabels": if jit { String::new() } else { runner_labels(pool, controller_id).join(",") },
        "GitHubRunnerGroup": pool.runner_group,
        "CABundle": String::from_utf8_lossy(ca_bundle),
        "UseJITConfig": jit,
        // Attested pools (see docs/attestation.md): the script runs garm-attest first.
        "Attestation": specs.pointer("/attestation/required").and_then(Value::as_bool).unwrap_or(false),
        "AttestationReplay": specs.get("attestation_replay").and_then(Value::as_str).unwrap_or_default(),
        "EnableBootDebug": specs.get("enable_boot_debug").and_then(Value::as_bool).unwrap_or(false),
        "ExtraContext": specs.get("extra_context").cloned().unwrap_or_else(|| json!({})),
        "HTTPProxy": proxy.http_proxy,
        "HTTPSProxy": proxy.https_proxy,
        "NoProxy": proxy.no_proxy,
        "AgentMode": false,
    })
}

/// The install script source for a pool, in garm's order: the operator's
/// `runner_install_template` (base64 in extra specs) if set, else `stored` (the text of the
/// pool's `template_id` template), else the built-in template for its OS.
pub fn script_template(pool: &PoolRecord, stored: Option<&str>) -> Option<String> {
    let specs: Value = pool
        .extra_specs
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    if let Some(encoded) = specs.get("runner_install_template").and_then(Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        return String::from_utf8(bytes).ok();
    }
    if let Some(text) = stored {
        return Some(text.to_owned());
    }
    garm_template::system_template("github", &pool.os_type).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_is_added_without_touching_the_operators_bytes() {
        let out = inject_wrapper(Some(r#"{"confidential":   true, "disk_size_gb": 64}"#), "#!/bin/bash").unwrap();
        assert!(out.ends_with(r#""confidential":   true, "disk_size_gb": 64}"#), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["runner_install_template"],
            base64::engine::general_purpose::STANDARD.encode("#!/bin/bash")
        );
        assert_eq!(v["confidential"], true);
    }

    #[test]
    fn an_operators_template_or_a_non_object_is_left_alone() {
        let own = r#"{"runner_install_template": "eA=="}"#;
        assert_eq!(inject_wrapper(Some(own), "w").as_deref(), Some(own));
        assert_eq!(inject_wrapper(Some("[1]"), "w").as_deref(), Some("[1]"));
        let empty: Value = serde_json::from_str(&inject_wrapper(Some("{}"), "w").unwrap()).unwrap();
        assert!(empty["runner_install_template"].is_string());
        let none: Value = serde_json::from_str(&inject_wrapper(None, "w").unwrap()).unwrap();
        assert!(none["runner_install_template"].is_string());
    }
}
