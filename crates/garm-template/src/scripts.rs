//! The runner install scripts and install wrappers garm-rs ships, embedded at build time.

const GITHUB_LINUX: &str = include_str!("../templates/github_linux.sh.tmpl");
const GITHUB_WINDOWS: &str = include_str!("../templates/github_windows.ps1.tmpl");
const WRAPPER_LINUX: &str = include_str!("../templates/wrapper_linux.sh.tmpl");
const WRAPPER_WINDOWS: &str = include_str!("../templates/wrapper_windows.ps1.tmpl");

/// The built-in install-script template for a forge (`github`, `gitea`) and OS type
/// (`linux`, `windows`), as seeded into the database as a system template.
///
/// Returns `None` for combinations garm-rs has no script for (currently all of Gitea).
/// The template expects the context of spec 3.5 (`FileName`, `DownloadURL`,
/// `CallbackURL`, `UseJITConfig`, ...). Beyond garm's fields it honours two optional
/// `ExtraContext` keys: `RunnerDir` (install directory) and `RunnerStartMode`
/// (`systemd`/`service`, `direct`, or empty for automatic detection).
pub fn system_template(forge: &str, os: &str) -> Option<&'static str> {
    match (forge, os) {
        ("github", "linux") => Some(GITHUB_LINUX),
        ("github", "windows") => Some(GITHUB_WINDOWS),
        _ => None,
    }
}

/// The install wrapper garm injects as `extra_specs.runner_install_template` (spec 6.10):
/// the PowerShell one for `windows`, the bash one for anything else.
///
/// It is rendered with `MetadataURL`, `CallbackURL`, `CallbackToken`, `HTTPProxy`,
/// `HTTPSProxy`, `NoProxy` and optionally `CABundle`; the result contains no template
/// actions, so a provider's second rendering pass leaves it unchanged.
pub fn wrapper_template(os: &str) -> &'static str {
    match os {
        "windows" => WRAPPER_WINDOWS,
        _ => WRAPPER_LINUX,
    }
}
