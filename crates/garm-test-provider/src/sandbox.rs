//! Instance sandboxes: a work directory per instance, and the detached install script running in it.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Set for the install script (and inherited by what it starts); marks the sandbox's processes.
pub const SANDBOX_DIR_VAR: &str = "GARM_SANDBOX_DIR";

/// Writes `script` to `dir/install.sh` and starts `bash install.sh` in `dir`, detached.
///
/// The script gets its own process group (so it outlives this process and can be killed as a
/// group), `/dev/null` as stdin, `dir/install.log` as stdout and stderr, and only `PATH`, `HOME`
/// (= `dir`) and `GARM_SANDBOX_DIR` (= `dir`) in its environment. Returns the process group id.
///
/// A new session (`setsid`) would need `pre_exec`, i.e. unsafe code, which the workspace forbids;
/// a process group is enough to detach from the provider and to kill the script's whole tree.
pub fn start_install_script(dir: &Path, script: &[u8]) -> anyhow::Result<i32> {
    std::fs::write(dir.join("install.sh"), script).context("cannot write install.sh")?;
    let log = File::create(dir.join("install.log")).context("cannot create install.log")?;
    let child = Command::new("bash")
        .arg("install.sh")
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env(SANDBOX_DIR_VAR, dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start bash install.sh")?;
    // Invariant: with `process_group(0)` the child's pid is its process group id.
    // The child is not waited for: once this process exits, init adopts and reaps it.
    i32::try_from(child.id()).context("pid out of range")
}

/// Kills every process started for the sandbox `dir`: those carrying its `GARM_SANDBOX_DIR`
/// marker, and their process groups.
///
/// Matching on the marker rather than trusting a recorded pid means a pid reused by an
/// unrelated process is never signalled.
pub fn kill_sandbox_processes(dir: &Path) {
    let marker = format!("{SANDBOX_DIR_VAR}={}", dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    // Never our own group, whatever a confused environment says.
    let own_group = i32::try_from(std::process::id()).ok().and_then(process_group);
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        // Unreadable (another user's, or already gone) processes are not ours.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|byte| *byte == 0).any(|var| var == marker.as_bytes()) {
            continue;
        }
        if let Some(pgid) = process_group(pid).filter(|pgid| *pgid > 1 && Some(*pgid) != own_group) {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// The process group of `pid`, from `/proc/<pid>/stat`.
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state, ppid, pgrp, ...
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Removes the sandbox directory; a missing one is fine.
pub fn remove_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}
