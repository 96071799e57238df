//! The bootstrap files uploaded into each container under `/garm`, and the tar archive that carries them.

use std::collections::BTreeMap;

use garm_provider_protocol::BootstrapInstance;

use crate::extra_specs::ExtraSpecs;
use crate::reserved::BOOTSTRAP_DIR;

/// The container's entrypoint and command: bash runs the bootstrap entry point.
pub const ENTRYPOINT: [&str; 1] = ["/bin/bash"];
pub const COMMAND: [&str; 1] = ["/garm/entrypoint.sh"];

/// Runs pre-install scripts and the install script, then keeps the container alive while the runner runs.
const ENTRYPOINT_SCRIPT: &str = include_str!("bootstrap/entrypoint.sh");
/// The install script when the pool has no `runner_install_template`: fetches garm's and runs it.
const FETCH_INSTALL_SCRIPT: &str = include_str!("bootstrap/fetch_install_script.sh");

/// The files of one instance's `/garm` directory.
///
/// `install.sh` and `instance.env` hold the instance token: they only ever travel inside the
/// archive uploaded through the Engine API, never in the container's config (which
/// `docker inspect` shows).
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    /// Path relative to `/garm` → (mode, content), in archive order.
    entries: BTreeMap<String, (u32, Vec<u8>)>,
}

impl Files {
    /// The files for `bootstrap` with checked extra specs `specs`.
    pub fn new(bootstrap: &BootstrapInstance, specs: &ExtraSpecs) -> Files {
        let mut entries = BTreeMap::new();
        let mut add = |path: &str, mode: u32, content: Vec<u8>| {
            entries.insert(path.to_owned(), (mode, content));
        };
        add("entrypoint.sh", 0o755, ENTRYPOINT_SCRIPT.into());
        let install_script = specs
            .install_script
            .clone()
            .unwrap_or_else(|| FETCH_INSTALL_SCRIPT.into());
        add("install.sh", 0o755, install_script);
        add("instance.env", 0o644, instance_env(bootstrap).into_bytes());
        add("proxy.env", 0o644, proxy_env(bootstrap).into_bytes());
        if !bootstrap.ca_cert_bundle.is_empty() {
            add("ca-bundle.pem", 0o644, bootstrap.ca_cert_bundle.clone());
        }
        for (name, script) in &specs.pre_install_scripts {
            add(&format!("pre-install/{name}"), 0o755, script.clone());
        }
        Files { entries }
    }

    /// The content of `path` (relative to `/garm`), if the instance has that file.
    #[cfg(test)]
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.entries.get(path).map(|(_, content)| content.as_slice())
    }

    /// A tar archive of the `garm/` directory, to be extracted at `/` in the container.
    pub fn archive(&self) -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let dir = BOOTSTRAP_DIR.trim_start_matches('/');
        append_dir(&mut tar, &format!("{dir}/"))?;
        if self.entries.keys().any(|path| path.starts_with("pre-install/")) {
            append_dir(&mut tar, &format!("{dir}/pre-install/"))?;
        }
        for (path, (mode, content)) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_path(format!("{dir}/{path}"))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(content.len() as u64);
            header.set_mtime(0);
            header.set_cksum();
            tar.append(&header, content.as_slice())?;
        }
        tar.into_inner()
    }
}

fn append_dir(tar: &mut tar::Builder<Vec<u8>>, path: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_path(path)?;
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    header.set_mtime(0);
    header.set_cksum();
    tar.append(&header, std::io::empty())
}

/// Quotes `text` for a POSIX shell: single quotes, with embedded ones spelled `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What the built-in fetch script needs; not exported, so the install script does not inherit the token.
fn instance_env(bootstrap: &BootstrapInstance) -> String {
    [
        ("GARM_METADATA_URL", &bootstrap.metadata_url),
        ("GARM_CALLBACK_URL", &bootstrap.callback_url),
        ("GARM_INSTANCE_TOKEN", &bootstrap.instance_token),
    ]
    .iter()
    .map(|(name, value)| format!("{name}={}\n", shell_quote(value)))
    .collect()
}

/// The pool's proxy, exported in both spellings for everything the entry point starts.
fn proxy_env(bootstrap: &BootstrapInstance) -> String {
    let proxy = &bootstrap.proxy_config;
    let mut text = String::new();
    for (names, value) in [
        (["HTTP_PROXY", "http_proxy"], &proxy.http_proxy),
        (["HTTPS_PROXY", "https_proxy"], &proxy.https_proxy),
        (["NO_PROXY", "no_proxy"], &proxy.no_proxy),
    ] {
        if !value.is_empty() {
            for name in names {
                text.push_str(&format!("export {name}={}\n", shell_quote(value)));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn bootstrap() -> BootstrapInstance {
        BootstrapInstance {
            name: "garm-abc".into(),
            metadata_url: "http://127.0.0.1:9997/api/v1/metadata".into(),
            callback_url: "http://127.0.0.1:9997/api/v1/callbacks".into(),
            instance_token: "tok'en".into(),
            ..BootstrapInstance::default()
        }
    }

    fn run_bash(script: &str) -> String {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn shell_quoting_survives_any_text() {
        for text in ["plain", "it's", "a'b'c", "$HOME `id` \"q\" \\ \n newline", ""] {
            let printed = run_bash(&format!("printf %s {}", shell_quote(text)));
            assert_eq!(printed, text);
        }
    }

    #[test]
    fn without_a_template_the_install_script_fetches_garms() {
        let files = Files::new(&bootstrap(), &ExtraSpecs::default());
        let install = std::str::from_utf8(files.get("install.sh").unwrap()).unwrap();
        assert!(install.contains("/install-script/"), "{install}");
        let env = std::str::from_utf8(files.get("instance.env").unwrap()).unwrap();
        let printed = run_bash(&format!(
            "{env}\nprintf '%s|%s|%s' \"$GARM_METADATA_URL\" \"$GARM_CALLBACK_URL\" \"$GARM_INSTANCE_TOKEN\""
        ));
        assert_eq!(
            printed,
            "http://127.0.0.1:9997/api/v1/metadata|http://127.0.0.1:9997/api/v1/callbacks|tok'en"
        );
        assert_eq!(files.get("proxy.env"), Some(&b""[..]));
        assert_eq!(files.get("ca-bundle.pem"), None);
    }

    #[test]
    fn the_template_proxy_ca_and_pre_install_scripts_become_files() {
        let mut bootstrap = bootstrap();
        bootstrap.proxy_config.https_proxy = "http://proxy:3128".into();
        bootstrap.ca_cert_bundle = b"-----BEGIN CERTIFICATE-----".to_vec();
        let specs = ExtraSpecs {
            install_script: Some(b"echo installed".to_vec()),
            pre_install_scripts: BTreeMap::from([("01-first".to_owned(), b"true".to_vec())]),
            ..ExtraSpecs::default()
        };
        let files = Files::new(&bootstrap, &specs);
        assert_eq!(files.get("install.sh"), Some(&b"echo installed"[..]));
        assert_eq!(files.get("pre-install/01-first"), Some(&b"true"[..]));
        let proxy = std::str::from_utf8(files.get("proxy.env").unwrap()).unwrap();
        assert_eq!(
            run_bash(&format!("{proxy}\nprintf %s \"$HTTPS_PROXY $https_proxy\"")),
            "http://proxy:3128 http://proxy:3128"
        );
        assert!(files.get("ca-bundle.pem").is_some());
    }

    #[test]
    fn the_archive_holds_the_garm_directory_with_modes() {
        let specs = ExtraSpecs {
            pre_install_scripts: BTreeMap::from([("a".to_owned(), b"true".to_vec())]),
            ..ExtraSpecs::default()
        };
        let archive = Files::new(&bootstrap(), &specs).archive().unwrap();
        let mut tar = tar::Archive::new(archive.as_slice());
        let mut seen = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            if path == "garm/entrypoint.sh" {
                assert!(content.starts_with("#!/bin/bash"));
            }
            seen.push((path, mode));
        }
        let expect =
            |path: &str, mode: u32| assert!(seen.contains(&(path.to_owned(), mode)), "{path} {mode:o} in {seen:?}");
        expect("garm/", 0o755);
        expect("garm/pre-install/", 0o755);
        expect("garm/entrypoint.sh", 0o755);
        expect("garm/install.sh", 0o755);
        expect("garm/instance.env", 0o644);
        expect("garm/pre-install/a", 0o755);
    }
}
