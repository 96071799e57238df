//! "Booting" a Linux VM: the install script cloud-init would run, run detached in a sandbox
//! directory (`HOME` = that directory), and killed when the VM is deallocated or deleted.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use yaml_rust2::YamlLoader;

/// Marks the processes of a sandbox (inherited by everything the script starts).
pub const SANDBOX_DIR_VAR: &str = "GARM_SANDBOX_DIR";
/// Where cloud-config userdata from garm-style providers puts the install script.
pub const INSTALL_SCRIPT_PATH: &str = "/install_runner.sh";

/// A running install script.
#[derive(Debug)]
pub struct Boot {
    pub pgid: i32,
    pub dir: PathBuf,
}

/// The script cloud-init would run as the runner: the `write_files` entry at
/// `/install_runner.sh` of a `#cloud-config` document, or a `#!` userdata script itself.
pub fn install_script(custom_data_b64: &str) -> Result<Option<Vec<u8>>, String> {
    let bytes = STANDARD
        .decode(custom_data_b64.trim())
        .map_err(|err| format!("customData is not base64: {err}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.starts_with("#!") {
        return Ok(Some(bytes));
    }
    if !text.starts_with("#cloud-config") {
        return Ok(None);
    }
    let docs = YamlLoader::load_from_str(&text).map_err(|err| format!("cloud-config is not YAML: {err}"))?;
    let Some(doc) = docs.first() else { return Ok(None) };
    let Some(files) = doc["write_files"].as_vec() else {
        return Ok(None);
    };
    for file in files {
        if file["path"].as_str() != Some(INSTALL_SCRIPT_PATH) {
            continue;
        }
        let content = file["content"].as_str().unwrap_or_default();
        return match file["encoding"].as_str() {
            Some("b64" | "base64") => STANDARD
                .decode(content.trim())
                .map(Some)
                .map_err(|err| format!("{INSTALL_SCRIPT_PATH} content is not base64: {err}")),
            None | Some("text/plain") => Ok(Some(content.as_bytes().to_vec())),
            Some(other) => Err(format!("unsupported write_files encoding {other:?}")),
        };
    }
    Ok(None)
}

/// Starts the install script of `custom_data_b64` in `<boot_dir>/<vm>`; `Ok(None)` when the
/// custom data carries no script.
pub fn start(boot_dir: &Path, vm: &str, custom_data_b64: &str) -> Result<Option<Boot>, String> {
    let Some(script) = install_script(custom_data_b64)? else {
        return Ok(None);
    };
    let dir = boot_dir.join(vm);
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    std::fs::write(dir.join("install.sh"), script).map_err(|err| format!("cannot write install.sh: {err}"))?;
    let log = File::create(dir.join("install.log")).map_err(|err| format!("cannot create install.log: {err}"))?;
    let log_err = log.try_clone().map_err(|err| err.to_string())?;
    let mut child = Command::new("bash")
        .arg("install.sh")
        .current_dir(&dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &dir)
        .env(SANDBOX_DIR_VAR, &dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    // Invariant: with `process_group(0)` the child's pid is its process group id.
    let pgid = i32::try_from(child.id()).map_err(|err| err.to_string())?;
    // Reap it whenever it ends, so no zombie outlives the script.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    tracing::info!(vm, dir = %dir.display(), "booted: install script started");
    Ok(Some(Boot { pgid, dir }))
}

impl Boot {
    /// Kills the script's process group and every process carrying its sandbox marker.
    pub fn kill(&self) {
        if self.pgid > 1 {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
        let marker = format!("{SANDBOX_DIR_VAR}={}", self.dir.display());
        let own = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == own {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if environ.split(|byte| *byte == 0).any(|var| var == marker.as_bytes()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        tracing::info!(dir = %self.dir.display(), "VM stopped: install script killed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_script_is_found_in_cloud_config_write_files() {
        let script = STANDARD.encode("#!/bin/bash\necho hi\n");
        let cloud_config = format!(
            "#cloud-config\nwrite_files:\n  - path: \"/etc/x\"\n    content: \"x\"\n  - path: \"/install_runner.sh\"\n    encoding: \"b64\"\n    content: \"{script}\"\n"
        );
        let found = install_script(&STANDARD.encode(cloud_config)).unwrap().unwrap();
        assert_eq!(found, b"#!/bin/bash\necho hi\n");
        assert_eq!(
            install_script(&STANDARD.encode("#cloud-config\npackages: [curl]\n")).unwrap(),
            None
        );
        let shell = install_script(&STANDARD.encode("#!/bin/sh\ntrue\n")).unwrap().unwrap();
        assert_eq!(shell, b"#!/bin/sh\ntrue\n");
        assert!(install_script("%%%").is_err());
    }
}
