//! Temp directories, script providers and process checks shared by the tests.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use garm_provider::{ExternalProvider, ExternalProviderConfig, InterfaceVersion};

/// Prints a valid instance for Create/Get and an empty list for List.
pub const ANSWER: &str = r#"
case "$GARM_COMMAND" in
  CreateInstance|GetInstance) printf '%s\n' '{"provider_id":"p-1","name":"garm-1","status":"running"}' ;;
  ListInstances) printf '%s\n' '[]' ;;
esac
"#;

/// A directory removed at the end of the test.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = std::env::temp_dir().join(format!("garm-provider-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("provider.toml"), "").unwrap();
        Sandbox { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes an executable bash script; `{dir}` in `body` becomes the sandbox path.
    pub fn script(&self, body: &str) -> PathBuf {
        let path = self.path(&format!("provider-{}.sh", uuid::Uuid::new_v4()));
        let body = body.replace("{dir}", &self.dir.display().to_string());
        std::fs::write(&path, format!("#!/bin/bash\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn config(&self, executable: &Path, version: InterfaceVersion) -> ExternalProviderConfig {
        ExternalProviderConfig {
            name: "script".into(),
            executable: executable.to_owned(),
            config_file: Some(self.path("provider.toml")),
            interface_version: version,
            environment_variables: Vec::new(),
            exec_timeout: Some(Duration::from_secs(30)),
            disable_jit_config: false,
        }
    }

    pub fn provider(&self, body: &str, version: InterfaceVersion) -> ExternalProvider {
        let script = self.script(body);
        ExternalProvider::new(self.config(&script, version), "controller-1".into())
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Script lines that save the process's initial environment to `{dir}/<file>`, one `NAME=value` a line.
pub fn dump_env(file: &str) -> String {
    format!("while IFS= read -r -d '' var; do printf '%s\\n' \"$var\"; done < /proc/$$/environ > \"{{dir}}/{file}\"\n")
}

pub fn parse_env(dump: &str) -> BTreeMap<String, String> {
    dump.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// `sleep`, by absolute path: providers run without PATH.
pub fn sleep_binary() -> &'static str {
    ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .expect("sleep is installed")
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
pub fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Polls until `pid` has exited, for at most `limit`.
pub async fn wait_exited(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if has_exited(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    has_exited(pid)
}
