//! Userdata: the install script rendered like garm-provider-common does, wrapped in cloud-config
//! (Linux) or run through a CustomScriptExtension command (Windows).

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider_protocol::{BootstrapInstance, RunnerApplicationDownload};
use serde_json::json;

use crate::error::AzureError;
use crate::extra_specs::CheckedSpecs;

/// The user the runner runs as, and the VM's admin user.
pub const RUNNER_USER: &str = "runner";
/// Azure's limit on decoded `customData`.
pub const MAX_CUSTOM_DATA: usize = 65_535;
/// Where the Linux install script is written and run from.
pub const INSTALL_SCRIPT_PATH: &str = "/install_runner.sh";
/// Where Azure drops custom data on Windows (without running it).
pub const WINDOWS_CUSTOM_DATA: &str = r"C:\AzureData\CustomData.bin";

/// The OS family of the runner instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsType {
    Linux,
    Windows,
}

impl OsType {
    pub fn parse(text: &str) -> Result<OsType, AzureError> {
        match text {
            "linux" => Ok(OsType::Linux),
            "windows" => Ok(OsType::Windows),
            other => Err(AzureError::Refused(format!(
                "os_type {other:?} is not supported (linux or windows)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OsType::Linux => "linux",
            OsType::Windows => "windows",
        }
    }
}

/// What the VM gets to run its install script.
///
/// `Debug` shows sizes only: the custom data carries the instance token.
#[derive(Clone)]
pub struct UserData {
    /// The raw `customData` bytes (sent base64-encoded).
    pub custom_data: Vec<u8>,
    /// Windows only: the extension's `commandToExecute`.
    pub windows_command: Option<String>,
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserData")
            .field("custom_data_bytes", &self.custom_data.len())
            .field("windows_command", &self.windows_command.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The tools entry for the instance's OS and architecture, named the way GitHub names them.
fn pick_tools(bootstrap: &BootstrapInstance, os: OsType) -> Option<&RunnerApplicationDownload> {
    let os_name = match os {
        OsType::Linux => "linux",
        OsType::Windows => "win",
    };
    let arch = match bootstrap.arch.as_str() {
        "amd64" | "x86_64" | "x64" => "x64",
        "arm64" | "aarch64" => "arm64",
        "arm" | "armv7l" => "arm",
        other => other,
    };
    bootstrap
        .tools
        .iter()
        .find(|tools| tools.os == os_name && tools.architecture == arch)
}

/// Renders the install script: `runner_install_template` (garm's wrapper, normally) or the
/// built-in GitHub script, with garm-provider-common's `InstallRunnerParams` as the context.
///
/// A missing tools entry is not an error: garm's wrapper fetches everything from the metadata
/// service and does not use `FileName`/`DownloadURL`.
pub fn install_script(bootstrap: &BootstrapInstance, specs: &CheckedSpecs, os: OsType) -> Result<String, AzureError> {
    let tools = pick_tools(bootstrap, os);
    let template_text = match &specs.runner_install_template {
        Some(text) => text.as_str(),
        None => garm_template::system_template("github", os.as_str())
            .ok_or_else(|| AzureError::Refused(format!("no built-in install script for {}", os.as_str())))?,
    };
    let labels = bootstrap.labels.clone().unwrap_or_default().join(",");
    let context = json!({
        "FileName": tools.map(|tools| tools.filename.as_str()).unwrap_or_default(),
        "DownloadURL": tools.map(|tools| tools.download_url.as_str()).unwrap_or_default(),
        "TempDownloadToken": tools.and_then(|tools| tools.temp_download_token.as_deref()).unwrap_or_default(),
        "MetadataURL": bootstrap.metadata_url,
        "RunnerUsername": RUNNER_USER,
        "RunnerGroup": RUNNER_USER,
        "RepoURL": bootstrap.repo_url,
        "RunnerName": bootstrap.name,
        "RunnerLabels": labels,
        "CallbackURL": bootstrap.callback_url,
        "CallbackToken": bootstrap.instance_token,
        "GitHubRunnerGroup": bootstrap.github_runner_group,
        "ExtraContext": specs.raw.extra_context.clone().unwrap_or_default(),
        "EnableBootDebug": enable_boot_debug(bootstrap, specs),
        "UseJITConfig": bootstrap.jit_config_enabled,
        "CABundle": String::from_utf8_lossy(&bootstrap.ca_cert_bundle),
    });
    let template = garm_template::parse(template_text)
        .map_err(|err| AzureError::Refused(format!("runner_install_template does not parse: {err}")))?;
    template
        .render(&context)
        .map_err(|err| AzureError::Refused(format!("runner_install_template does not render: {err}")))
}

fn enable_boot_debug(bootstrap: &BootstrapInstance, specs: &CheckedSpecs) -> bool {
    specs
        .raw
        .enable_boot_debug
        .unwrap_or(bootstrap.user_data_options.enable_boot_debug)
}

/// Builds the userdata for `os`; fails when the install script cannot be rendered or the
/// result exceeds Azure's 65,535-byte custom data limit.
pub fn build(bootstrap: &BootstrapInstance, specs: &CheckedSpecs, os: OsType) -> Result<UserData, AzureError> {
    let script = install_script(bootstrap, specs, os)?;
    let user_data = match os {
        OsType::Linux => UserData {
            custom_data: cloud_config(bootstrap, specs, &script).into_bytes(),
            windows_command: None,
        },
        OsType::Windows => UserData {
            custom_data: format!("#ps1_sysnative\n{script}").into_bytes(),
            windows_command: Some(windows_command()),
        },
    };
    if user_data.custom_data.len() > MAX_CUSTOM_DATA {
        return Err(AzureError::Refused(format!(
            "the userdata is {} bytes; Azure accepts at most {MAX_CUSTOM_DATA} bytes of custom data (shorten pre_install_scripts, extra_context or the CA bundle)",
            user_data.custom_data.len()
        )));
    }
    Ok(user_data)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

fn write_file(out: &mut String, path: &str, permissions: &str, content: &[u8]) {
    let _ = write!(
        out,
        "  - path: {}\n    owner: \"root:root\"\n    permissions: {}\n    encoding: \"b64\"\n    content: {}\n",
        quoted(path),
        quoted(permissions),
        quoted(&STANDARD.encode(content))
    );
}

/// The `#cloud-config` document, following garm-provider-common's layout: packages, the
/// `runner` default user, pre-install scripts, CA certificates, then the install script run
/// as `runner`.
pub fn cloud_config(bootstrap: &BootstrapInstance, specs: &CheckedSpecs, script: &str) -> String {
    let disable_updates = specs
        .raw
        .disable_updates
        .unwrap_or(bootstrap.user_data_options.disable_updates_on_boot);
    let mut packages: Vec<String> = if disable_updates {
        Vec::new()
    } else {
        vec!["curl".to_owned(), "tar".to_owned()]
    };
    let extra = specs
        .raw
        .extra_packages
        .clone()
        .or_else(|| bootstrap.user_data_options.extra_packages.clone())
        .unwrap_or_default();
    for package in extra {
        if !packages.contains(&package) {
            packages.push(package);
        }
    }

    let mut out = String::from("#cloud-config\n");
    let _ = writeln!(out, "package_upgrade: {}", !disable_updates);
    if !packages.is_empty() {
        out.push_str("packages:\n");
        for package in &packages {
            let _ = writeln!(out, "  - {}", quoted(package));
        }
    }
    out.push_str("system_info:\n  default_user:\n");
    let _ = writeln!(out, "    name: {}", quoted(RUNNER_USER));
    let _ = writeln!(out, "    home: {}", quoted("/home/runner"));
    let _ = writeln!(out, "    shell: {}", quoted("/bin/bash"));
    out.push_str("    groups: [\"sudo\", \"adm\", \"cdrom\", \"dialout\", \"dip\", \"video\", \"plugdev\", \"netdev\", \"docker\", \"lxd\"]\n");
    let _ = writeln!(out, "    sudo: {}", quoted("ALL=(ALL) NOPASSWD:ALL"));
    let keys = bootstrap.ssh_keys.clone().unwrap_or_default();
    if !keys.is_empty() {
        out.push_str("ssh_authorized_keys:\n");
        for key in &keys {
            let _ = writeln!(out, "  - {}", quoted(key));
        }
    }
    if !bootstrap.ca_cert_bundle.is_empty() {
        out.push_str("ca_certs:\n  trusted:\n");
        let _ = writeln!(
            out,
            "    - {}",
            quoted(&String::from_utf8_lossy(&bootstrap.ca_cert_bundle))
        );
    }

    out.push_str("write_files:\n");
    let proxy = &bootstrap.proxy_config;
    if !proxy.http_proxy.is_empty() || !proxy.https_proxy.is_empty() {
        let mut apt = String::new();
        if !proxy.http_proxy.is_empty() {
            let _ = writeln!(apt, "Acquire::http::Proxy \"{}\";", proxy.http_proxy);
        }
        if !proxy.https_proxy.is_empty() {
            let _ = writeln!(apt, "Acquire::https::Proxy \"{}\";", proxy.https_proxy);
        }
        write_file(&mut out, "/etc/apt/apt.conf.d/95-garm-proxy", "0644", apt.as_bytes());
    }
    for (name, content) in &specs.pre_install_scripts {
        write_file(&mut out, &format!("/garm-pre-install/{name}"), "0755", content);
    }
    write_file(&mut out, INSTALL_SCRIPT_PATH, "0755", script.as_bytes());

    out.push_str("runcmd:\n");
    for name in specs.pre_install_scripts.keys() {
        let _ = writeln!(out, "  - [{}]", quoted(&format!("/garm-pre-install/{name}")));
    }
    if !specs.pre_install_scripts.is_empty() {
        out.push_str("  - [\"rm\", \"-rf\", \"/garm-pre-install\"]\n");
    }
    let _ = writeln!(
        out,
        "  - [\"su\", \"-l\", \"-c\", {}, {}]",
        quoted(INSTALL_SCRIPT_PATH),
        quoted(RUNNER_USER)
    );
    let _ = writeln!(out, "  - [\"rm\", \"-f\", {}]", quoted(INSTALL_SCRIPT_PATH));
    out
}

/// The CustomScriptExtension command: copy the custom data to a `.ps1`, run it, delete it.
pub fn windows_command() -> String {
    let script = format!(
        "$ErrorActionPreference = 'Stop'\n\
         $script = Join-Path $env:TEMP 'garm-install-runner.ps1'\n\
         Copy-Item -Path '{WINDOWS_CUSTOM_DATA}' -Destination $script -Force\n\
         try {{ & $script }} finally {{ Remove-Item -Path $script -Force -ErrorAction SilentlyContinue }}\n"
    );
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    format!(
        "powershell.exe -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {}",
        STANDARD.encode(utf16)
    )
}

#[cfg(test)]
mod tests;
