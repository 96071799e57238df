//! The stream commands, run with the built `garm-cli` against a live garm: `debug-events`
//! prints the change events the filter selects, `debug-log` the server's log, `top` the
//! dashboard; with the log streamer off, `debug-log` reports garm's refusal.

use garm_e2e::{bin, Garm, ProviderSpec, TempDir, PASSWORD};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const AZURE: ProviderSpec = ProviderSpec {
    name: "azure_external",
    extra: "",
    run_userdata: false,
};

fn cli(home: &TempDir, args: &[&str]) -> String {
    let out = Command::new(bin("garm-cli"))
        .args(args)
        .env("HOME", &home.0)
        .output()
        .expect("garm-cli runs");
    assert!(
        out.status.success(),
        "garm-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A long-running `garm-cli` whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(home: &TempDir, args: &[&str]) -> Self {
        let mut child = Command::new(bin("garm-cli"))
            .args(args)
            .env("HOME", &home.0)
            .env_remove("TERM")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("garm-cli runs");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line satisfying `want`, within 20 s.
    fn wait_line(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no {what} line; got:\n{}", seen.join("\n"));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init(garm: &Garm, home: &TempDir) {
    let url = garm.url();
    cli(
        home,
        &[
            "init",
            "--name",
            "local",
            "--url",
            &url,
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            PASSWORD,
        ],
    );
    cli(
        home,
        &[
            "github",
            "credentials",
            "add",
            "--name",
            "garm",
            "--description",
            "PAT",
            "--endpoint",
            "github.com",
            "--auth-type",
            "pat",
            "--pat-oauth-token",
            "ghp_streams",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_events_debug_log_and_top_follow_a_live_garm() {
    let mut garm = Garm::configure(&[AZURE]).unwrap();
    let config = std::fs::read_to_string(garm.config_path()).unwrap();
    let config = config.replacen("[logging]\n", "[logging]\nenable_log_streamer = true\n", 1);
    std::fs::write(garm.config_path(), config).unwrap();
    garm.spawn().await.unwrap();
    let home = TempDir::new("streams-home");
    init(&garm, &home);

    let events = Running::start(
        &home,
        &[
            "debug-events",
            "--filters",
            r#"{"filters":[{"entity-type":"repository","operations":["create"]}]}"#,
        ],
    );
    let log = Running::start(&home, &["debug-log", "--filter", "msg=entity created"]);
    // Give both streams a moment to connect and send their filter.
    std::thread::sleep(Duration::from_secs(2));
    cli(
        &home,
        &[
            "repo",
            "add",
            "--owner",
            "acme",
            "--name",
            "streamed",
            "--credentials",
            "garm",
            "--webhook-secret",
            "s3cret-s3cret",
        ],
    );

    let line = events.wait_line("repository create event", |l| {
        l.contains("\"entity-type\":\"repository\"")
    });
    let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ev["operation"], "create");
    assert_eq!(ev["payload"]["name"], "streamed");
    assert_eq!(ev["payload"]["owner"], "acme");

    // debug-log formats the record: `<time> [INFO ] entity created entity=acme/streamed …`.
    let line = log.wait_line("entity created log", |l| l.contains("entity created"));
    assert!(line.contains("[INFO ] entity created"), "{line}");
    assert!(line.contains("entity=acme/streamed"), "{line}");
    assert!(!line.contains('\x1b'), "no colour without a terminal: {line:?}");

    // top prints a frame with the entity from the metrics snapshot.
    let top = Running::start(&home, &["top"]);
    top.wait_line("the repository in top", |l| {
        l.contains("acme/streamed") && l.contains("repository")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_log_reports_a_disabled_log_streamer() {
    let garm = Garm::start(&[AZURE]).await.unwrap();
    let home = TempDir::new("streams-off-home");
    init(&garm, &home);
    let out = Command::new(bin("garm-cli"))
        .arg("debug-log")
        .env("HOME", &home.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to stream logs") && err.contains("log streamer is disabled") && err.contains("400"),
        "{err}"
    );
}
