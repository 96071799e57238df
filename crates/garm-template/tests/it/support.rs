//! Shared fixtures: a sample render context, scratch directories and tool detection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

/// A render context shaped like the one garm builds for a GitHub Linux instance (spec 3.5).
pub fn context(jit: bool) -> Value {
    json!({
        "FileName": "actions-runner-linux-x64-2.320.0.tar.gz",
        "DownloadURL": "https://github.com/actions/runner/releases/download/v2.320.0/actions-runner-linux-x64-2.320.0.tar.gz",
        "TempDownloadToken": "",
        "RunnerUsername": "runner",
        "RunnerGroup": "runner",
        "RepoURL": "https://github.com/example/repo",
        "MetadataURL": "https://garm.example.com/api/v1/metadata",
        "CallbackURL": "https://garm.example.com/api/v1/callbacks",
        "CallbackToken": "instance-jwt-token",
        "RunnerName": "garm-ny9heeqyw2rl",
        "RunnerLabels": if jit { "" } else { "ubuntu,x64,runner-controller-id=c1" },
        "GitHubRunnerGroup": "",
        "CABundle": "",
        "UseJITConfig": jit,
        "EnableBootDebug": false,
        "ExtraContext": {},
        "HTTPProxy": "",
        "HTTPSProxy": "",
        "NoProxy": "",
    })
}

/// Renders an embedded template with `data`, panicking with the error on failure.
pub fn render(template: &str, data: &Value) -> String {
    garm_template::parse(template)
        .expect("embedded template parses")
        .render(data)
        .expect("embedded template renders")
}

/// A scratch directory removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("garm-template-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when `tool` can be executed; tests needing it print a line and skip otherwise.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Checks shell syntax with `bash -n`.
pub fn assert_bash_syntax(script: &str) {
    if !have("bash") {
        println!("skipping bash -n: bash is not installed");
        return;
    }
    let dir = ScratchDir::new("syntax");
    let path = dir.path().join("script.sh");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "bash -n rejected the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
