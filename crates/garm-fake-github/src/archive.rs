//! The runner archive: a gzip tarball whose `config.sh`/`run.sh` hand over to `garm-fake-runner`.

use std::io::Write as _;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn scripts(runner: &str) -> Vec<(&'static str, String)> {
    let header = "#!/bin/bash\n# Simulated actions/runner script served by garm-fake-github.\nset -e\nRUNNER_ROOT=\"$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)\"\ncd \"$RUNNER_ROOT\"\n";
    vec![
        (
            "config.sh",
            format!(
                "{header}if [ \"$1\" = \"remove\" ]; then\n    shift\n    exec {runner} remove \"$@\"\nfi\nexec {runner} configure \"$@\"\n"
            ),
        ),
        ("run.sh", format!("{header}exec {runner} run \"$@\"\n")),
        (
            "svc.sh",
            format!(
                "{header}case \"$1\" in\n    install|uninstall) exit 0 ;;\n    start)\n        mkdir -p _diag\n        nohup ./run.sh >>_diag/runner.log 2>&1 &\n        echo $! >.service.pid\n        ;;\n    stop) [ -f .service.pid ] && kill \"$(cat .service.pid)\" || true ;;\n    status) [ -f .service.pid ] && kill -0 \"$(cat .service.pid)\" ;;\n    *) echo \"usage: svc.sh install|start|stop|status|uninstall\" >&2; exit 1 ;;\nesac\n"
            ),
        ),
        (
            "bin/runsvc.sh",
            "#!/bin/bash\n# Simulated actions/runner service entry point.\ncd \"$(dirname \"${BASH_SOURCE[0]}\")/..\"\nexec ./run.sh \"$@\"\n".to_owned(),
        ),
        (
            "bin/installdependencies.sh",
            "#!/bin/bash\n# The simulated runner needs nothing installed.\nexit 0\n".to_owned(),
        ),
    ]
}

/// Builds the tarball; `runner` is the absolute path of the simulated runner binary.
pub(crate) fn build(runner: &Path) -> std::io::Result<Vec<u8>> {
    let runner = shell_quote(&runner.display().to_string());
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_path("bin/")?;
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    dir.set_cksum();
    tar.append(&dir, std::io::empty())?;
    for (path, text) in scripts(&runner) {
        let mut header = tar::Header::new_gnu();
        header.set_path(path)?;
        header.set_mode(0o755);
        header.set_size(text.len() as u64);
        header.set_mtime(0);
        header.set_cksum();
        tar.append(&header, text.as_bytes())?;
    }
    let mut gzip = tar.into_inner()?;
    gzip.flush()?;
    gzip.finish()
}

/// Lowercase hex SHA-256, as `sha256_checksum` in the downloads list.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}
