//! The image's scripts (`deploy/docker`), run on this machine against stand-ins.

use crate::{have, root, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn script(name: &str) -> String {
    root().join("deploy/docker").join(name).display().to_string()
}

/// A `garm` stand-in that appends its arguments to `garm.log` in `dir`.
fn fake_garm(dir: &TempDir) -> String {
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path("garm.log");
    let fake = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display());
    std::fs::write(bin.join("garm"), fake).unwrap();
    Command::new("chmod").arg("+x").arg(bin.join("garm")).status().unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

fn entrypoint(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("sh")
        .arg(script("garm-entrypoint"))
        .args(args)
        .env_clear()
        .env("PATH", fake_garm(dir))
        .env("GARM_CONFIG_TEMPLATE", dir.path("template.toml"))
        .env("GARM_CONFIG", dir.path("config.toml"))
        .env("GARM_DATA_DIR", dir.path("data"))
        // Run as root (CI), the entry point would hand over to user garm, who is not here.
        .env("GARM_USER", if is_root() { "root" } else { "garm" })
        .envs(env.iter().copied())
        .output()
        .expect("sh runs")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// ACI may mount the emptyDir owned by root; the image starts as root, gives the directory
/// (and whatever a root shell left in it) to its user and runs everything else as that user.
#[test]
fn the_entry_point_hands_a_root_owned_data_directory_over_and_drops_root() {
    if !is_root() || !have("setpriv", "the entry point's privilege drop") {
        println!("skipping: needs root and setpriv");
        return;
    }
    let dir = TempDir::new("entrypoint-root");
    let data = dir.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A WAL file a root shell left behind.
    std::fs::write(data.join("garm.db-wal"), "").unwrap();
    let out = Command::new("sh")
        .arg(script("garm-entrypoint"))
        .args([
            "--exec",
            "sh",
            "-c",
            "id -u; touch \"$GARM_DATA_DIR/written\"; echo \"$HOME\"",
        ])
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("GARM_DATA_DIR", &data)
        .env("GARM_USER", "nobody")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "65534", "the program ran as nobody, not root: {said}");
    assert_eq!(lines[1], "/nonexistent", "HOME is the user's: {said}");
    for file in ["", "garm.db-wal", "written"] {
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(data.join(file)).unwrap());
        assert_eq!(owner, 65534, "{file:?} is not the user's");
    }
}

const TEMPLATE: &str = r#"[jwt_auth]
secret = "${GARM_JWT_SECRET}"
[database]
passphrase = "${GARM_DB_PASSPHRASE}"
note = "$HOME and ${OTHER} stay as they are"
"#;

#[test]
fn the_entry_point_fills_the_template_from_the_environment_escaped_for_toml() {
    if !have("perl", "the entry point's template rendering") {
        return;
    }
    let dir = TempDir::new("entrypoint");
    std::fs::write(dir.path("template.toml"), TEMPLATE).unwrap();
    let jwt = "q\"uote\\back$lash\nnew ${GARM_DB_PASSPHRASE} é";
    let passphrase = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";
    let out = entrypoint(
        &dir,
        &["admin", "list"],
        &[("GARM_JWT_SECRET", jwt), ("GARM_DB_PASSPHRASE", passphrase)],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let rendered = std::fs::read_to_string(dir.path("config.toml")).unwrap();
    let config: toml::Table = rendered.parse().unwrap_or_else(|err| panic!("{err}\n{rendered}"));
    assert_eq!(
        config["jwt_auth"]["secret"].as_str(),
        Some(jwt),
        "the value arrives unchanged"
    );
    assert_eq!(config["database"]["passphrase"].as_str(), Some(passphrase));
    assert_eq!(
        config["database"]["note"].as_str(),
        Some("$HOME and ${OTHER} stay as they are")
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path("config.toml")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let log = std::fs::read_to_string(dir.path("garm.log")).unwrap();
    assert_eq!(
        log,
        format!("--config {} admin list\n", dir.path("config.toml").display())
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(passphrase), "{printed}");
}

#[test]
fn the_entry_point_names_a_missing_variable_and_starts_nothing() {
    if !have("perl", "the entry point's template rendering") {
        return;
    }
    let dir = TempDir::new("entrypoint-missing");
    std::fs::write(dir.path("template.toml"), TEMPLATE).unwrap();
    let passphrase = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";
    let out = entrypoint(&dir, &[], &[("GARM_DB_PASSPHRASE", passphrase)]);
    assert!(!out.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("GARM_JWT_SECRET is not set"), "{printed}");
    assert!(!printed.contains(passphrase), "{printed}");
    assert!(!dir.path("config.toml").exists() && !dir.path("config.toml.tmp").exists());
    assert!(!dir.path("garm.log").exists(), "garm was started");
}

#[test]
fn the_entry_point_restores_the_snapshot_before_starting_garm() {
    if !have("perl", "the entry point's template rendering") {
        return;
    }
    let dir = TempDir::new("entrypoint-restore");
    std::fs::write(dir.path("template.toml"), "[default]\n").unwrap();
    let out = entrypoint(&dir, &["bootstrap"], &[("GARM_RESTORE_FROM", "/mnt/state/garm.db")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = dir.path("config.toml").display().to_string();
    let log = std::fs::read_to_string(dir.path("garm.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "--config {config} bootstrap --restore-from /mnt/state/garm.db --restore-only\n--config {config} bootstrap\n"
        )
    );
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn snapshot_command(dir: &TempDir) -> Command {
    let mut command = Command::new("sh");
    command
        .arg(script("garm-snapshot"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GARM_DB_FILE", dir.path("data/garm.db"))
        .env("GARM_SNAPSHOT", dir.path("share/garm.db"));
    command
}

#[test]
fn a_snapshot_is_a_checked_copy_and_the_previous_one_is_kept() {
    if !have("sqlite3", "the snapshot sidecar") {
        return;
    }
    let dir = TempDir::new("snapshot");
    std::fs::create_dir_all(dir.path("data")).unwrap();
    std::fs::create_dir_all(dir.path("share")).unwrap();
    let db = dir.path("data/garm.db");
    let snapshot = dir.path("share/garm.db");

    let out = snapshot_command(&dir).arg("--once").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not exist yet"));
    assert!(!snapshot.exists());

    sqlite(
        &db,
        "PRAGMA journal_mode=WAL; CREATE TABLE jobs (id INTEGER); INSERT INTO jobs VALUES (1), (2);",
    );
    let out = snapshot_command(&dir).arg("--once").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite(&snapshot, "SELECT COUNT(*) FROM jobs"), "2");
    sqlite(&db, "INSERT INTO jobs VALUES (3);");
    let out = snapshot_command(&dir).arg("--once").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite(&snapshot, "SELECT COUNT(*) FROM jobs"), "3");
    assert_eq!(sqlite(&dir.path("share/garm.db.1"), "SELECT COUNT(*) FROM jobs"), "2");
    for leftover in [
        "share/garm.db.tmp",
        "share/garm.db.1.tmp",
        "data/garm.db.snapshot",
        "data/garm.db.previous",
    ] {
        assert!(!dir.path(leftover).exists(), "{leftover} was left behind");
    }
    // The snapshot is a whole database: no WAL beside it on the share.
    let names: Vec<String> = std::fs::read_dir(dir.path("share"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| n == "garm.db" || n == "garm.db.1"), "{names:?}");
}

/// Before an upgrade: a named copy that the snapshot rotation never touches.
#[test]
fn a_named_backup_is_checked_kept_and_never_replaced() {
    if !have("sqlite3", "the snapshot sidecar") {
        return;
    }
    let dir = TempDir::new("snapshot-backup");
    std::fs::create_dir_all(dir.path("data")).unwrap();
    std::fs::create_dir_all(dir.path("share")).unwrap();
    let db = dir.path("data/garm.db");
    sqlite(&db, "CREATE TABLE jobs (id INTEGER); INSERT INTO jobs VALUES (1);");
    let backup = |name: &str| snapshot_command(&dir).args(["--backup", name]).output().unwrap();
    let out = backup("pre-v2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("never rotated"));
    let kept = dir.path("share/backups/pre-v2.db");
    assert_eq!(sqlite(&kept, "SELECT COUNT(*) FROM jobs"), "1");

    // Later snapshots rotate garm.db and garm.db.1, never the backup.
    for n in 2..=4 {
        sqlite(&db, &format!("INSERT INTO jobs VALUES ({n});"));
        assert!(snapshot_command(&dir).arg("--once").status().unwrap().success());
    }
    assert_eq!(sqlite(&kept, "SELECT COUNT(*) FROM jobs"), "1");
    assert_eq!(sqlite(&dir.path("share/garm.db.1"), "SELECT COUNT(*) FROM jobs"), "3");

    let again = backup("pre-v2");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never replaced"));
    assert_eq!(sqlite(&kept, "SELECT COUNT(*) FROM jobs"), "1");
    for bad in ["", "../escape", ".hidden", "it's"] {
        let out = backup(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    assert!(!dir.path("share/escape.db").exists());
}

#[test]
fn a_database_of_another_controller_does_not_replace_the_snapshot() {
    if !have("sqlite3", "the snapshot sidecar") {
        return;
    }
    let dir = TempDir::new("snapshot-controller");
    std::fs::create_dir_all(dir.path("data")).unwrap();
    std::fs::create_dir_all(dir.path("share")).unwrap();
    let db = dir.path("data/garm.db");
    let snapshot = dir.path("share/garm.db");
    let controller = "CREATE TABLE controller (singleton INTEGER, controller_id TEXT);";
    sqlite(
        &db,
        &format!("{controller} INSERT INTO controller VALUES (1, 'first');"),
    );
    assert!(snapshot_command(&dir).arg("--once").status().unwrap().success());

    // The local database was lost and garm started afresh, with a new controller ID.
    std::fs::remove_file(&db).unwrap();
    sqlite(
        &db,
        &format!("{controller} INSERT INTO controller VALUES (1, 'second');"),
    );
    let out = snapshot_command(&dir).arg("--once").output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("is of controller first but") && said.contains("not replacing it"),
        "{said}"
    );
    assert_eq!(sqlite(&snapshot, "SELECT controller_id FROM controller"), "first");
    assert!(!dir.path("share/garm.db.1").exists());
    assert!(!dir.path("data/garm.db.previous").exists() && !dir.path("data/garm.db.snapshot").exists());

    let out = snapshot_command(&dir)
        .arg("--once")
        .env("GARM_SNAPSHOT_FORCE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sqlite(&snapshot, "SELECT controller_id FROM controller"), "second");
    assert_eq!(
        sqlite(&dir.path("share/garm.db.1"), "SELECT controller_id FROM controller"),
        "first"
    );
}

#[test]
fn the_snapshot_sidecar_takes_a_last_snapshot_when_stopped() {
    if !have("sqlite3", "the snapshot sidecar") {
        return;
    }
    let dir = TempDir::new("snapshot-stop");
    std::fs::create_dir_all(dir.path("data")).unwrap();
    std::fs::create_dir_all(dir.path("share")).unwrap();
    let db = dir.path("data/garm.db");
    sqlite(
        &db,
        "PRAGMA journal_mode=WAL; CREATE TABLE jobs (id INTEGER); INSERT INTO jobs VALUES (1);",
    );
    let mut child = snapshot_command(&dir)
        .env("GARM_SNAPSHOT_INTERVAL", "3600")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("updated"), "{first}");

    sqlite(&db, "INSERT INTO jobs VALUES (2);");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("updated"), "{rest}");
    assert_eq!(sqlite(&dir.path("share/garm.db"), "SELECT COUNT(*) FROM jobs"), "2");
}

/// Answers one HTTP request on loopback with `status`; returns the URL.
fn answer_once(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/controller-info", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    url
}

fn healthcheck(url: &str) -> bool {
    let out = Command::new("sh")
        .arg(script("garm-healthcheck"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GARM_HEALTHCHECK_URL", url)
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn the_health_check_wants_an_answer_that_is_not_a_server_error() {
    if !have("curl", "the health check") {
        return;
    }
    assert!(
        healthcheck(&answer_once("401 Unauthorized")),
        "a refused anonymous request means garm is up"
    );
    assert!(
        healthcheck(&answer_once("409 Conflict")),
        "init_required still means garm is up"
    );
    assert!(!healthcheck(&answer_once("500 Internal Server Error")));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(!healthcheck(&format!("http://{closed}/api/v1/controller-info")));
}

#[test]
fn the_scripts_pass_shellcheck() {
    if !have("shellcheck", "shellcheck of deploy/docker") {
        return;
    }
    let out = Command::new("shellcheck")
        .args(["-s", "sh"])
        .args(["garm-entrypoint", "garm-snapshot", "garm-healthcheck", "garm-shell"].map(script))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
