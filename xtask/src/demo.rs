//! `cargo xtask demo`: the whole system on one machine, without a GitHub account.
//!
//! Starts the fake GitHub and `garm` (SQLite), configures credentials, a repository and
//! a pool through garm's API, queues jobs on the fake (which sends the signed webhooks),
//! shows their progress, prints a summary and cleans up.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Demo-Passw0rd_for-garm!";
const PAT: &str = "ghp_demoTokenForTheFakeGitHub000000000";
const LABELS: [&str; 3] = ["self-hosted", "linux", "demo"];

struct Options {
    jobs: usize,
    keep_running: bool,
    provider: String,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        jobs: 5,
        keep_running: false,
        provider: "auto".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--jobs" => {
                o.jobs = it
                    .next()
                    .context("--jobs needs a number")?
                    .parse()
                    .context("--jobs needs a number")?
            }
            "--keep-running" => o.keep_running = true,
            "--provider" => o.provider = it.next().context("--provider needs test or docker")?.clone(),
            other => bail!("unknown option {other} (use --jobs N, --keep-running, --provider test|docker)"),
        }
    }
    Ok(o)
}

/// Child processes killed (with their process groups) when dropped.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for c in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Api {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.parse()?, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text()?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn docker_available() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = parse(args)?;
    let root = crate::root();
    let provider = match opts.provider.as_str() {
        "test" => "test",
        "docker" => "docker",
        "auto" => {
            if docker_available() {
                "docker"
            } else {
                println!("demo: no Docker engine answers; using the local test provider instead (runners run as sandboxed processes)");
                "test"
            }
        }
        other => bail!("unknown provider {other} (test or docker)"),
    };
    println!("demo: building (this takes a while the first time)…");
    let mut packages = vec!["garm-server", "garm-cli", "garm-test-provider", "garm-fake-github"];
    if provider == "docker" {
        packages.push("garm-provider-docker");
    }
    let mut build = Command::new(env!("CARGO"));
    build.current_dir(&root).args(["build", "--quiet", "--bins"]);
    for p in &packages {
        build.args(["-p", p]);
    }
    if !build.status()?.success() {
        bail!("build failed");
    }
    let bins = root.join("target/debug");
    if provider == "docker" {
        println!("demo: using the Docker provider (runners run in containers of garm-rs/runner-test, built offline)");
        let image = Command::new("bash")
            .arg(root.join("images/build-test-image.sh"))
            .status()?;
        if !image.success() {
            bail!("building the runner test image failed");
        }
    }
    let dir = std::env::temp_dir().join(format!("garm-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = demo(&opts, provider, &bins, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn demo(opts: &Options, provider: &str, bins: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut procs = Procs(Vec::new());
    // Fake GitHub.
    let fake_port = free_port()?;
    let mut fake = Command::new(bins.join("garm-fake-github"))
        .args([
            "--bind",
            &format!("127.0.0.1:{fake_port}"),
            "--pat",
            &format!("{PAT}:repo"),
            "--repo",
            "demo/app",
        ])
        .arg("--runner-binary")
        .arg(bins.join("garm-fake-runner"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("fake-github.log"))?)
        .spawn()
        .context("starting the fake GitHub")?;
    let fake_url = {
        let mut line = String::new();
        BufReader::new(fake.stdout.take().context("fake stdout")?).read_line(&mut line)?;
        line.trim().to_string()
    };
    procs.0.push(fake);
    let fake_url = if fake_url.starts_with("http") {
        fake_url
    } else {
        format!("http://127.0.0.1:{fake_port}")
    };

    // garm with the chosen provider.
    let port = free_port()?;
    let pdir = dir.join("provider");
    std::fs::create_dir_all(&pdir)?;
    let (exe, extra_specs) = if provider == "docker" {
        std::fs::write(pdir.join("config.toml"), "network_mode = \"host\"\ndefault_image = \"garm-rs/runner-test:latest\"\n[labels]\n\"garm-rs.demo\" = \"true\"\n[flavors.small]\ncpus = 1\nmemory_mb = 512\n")?;
        // The fake's runner archive starts the simulated runner at this absolute path.
        let runner = bins.join("garm-fake-runner");
        let specs = json!({"mounts": [{"source": runner, "target": runner, "read_only": true}]});
        (bins.join("garm-provider-docker"), Some(specs))
    } else {
        std::fs::write(
            pdir.join("config.toml"),
            "state_dir = \"state\"\nsandbox_dir = \"sandboxes\"\nrun_userdata = true\n",
        )?;
        (bins.join("garm-test-provider"), None)
    };
    let config = format!(
        "[logging]\nlog_file = \"{log}\"\n[pool_manager]\nscale_down_grace = \"10s\"\n[metrics]\nenable = true\ndisable_auth = true\n[jwt_auth]\nsecret = \"dEm0-jwt-Secret-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c\"\ntime_to_live = \"8760h\"\n[apiserver]\nbind = \"127.0.0.1\"\nport = {port}\n[database]\nbackend = \"sqlite3\"\npassphrase = \"Qm7rT2xZ9pL4vN8wK3sD6fG1hJ5yB0cE\"\n[database.sqlite3]\ndb_file = \"{db}\"\n[[provider]]\nname = \"local\"\nprovider_type = \"external\"\ndescription = \"local sandboxes\"\n[provider.external]\nprovider_executable = \"{exe}\"\nconfig_file = \"{pconf}\"\n",
        log = dir.join("garm.log").display(),
        db = dir.join("garm.db").display(),
        exe = exe.display(),
        pconf = pdir.join("config.toml").display(),
    );
    std::fs::write(dir.join("config.toml"), config)?;
    let garm = Command::new(bins.join("garm"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("garm.stderr"))?)
        .spawn()
        .context("starting garm")?;
    procs.0.push(garm);
    let base = format!("http://127.0.0.1:{port}");
    let mut api = Api {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: base.clone(),
        token: String::new(),
    };
    let start = Instant::now();
    while api.http.get(format!("{base}/api/v1/first-run")).send().is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("garm did not start; see {}", dir.join("garm.stderr").display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("demo: garm listening on {base}, fake GitHub on {fake_url}");

    // Configure through the API, as garm-cli would.
    api.call(
        "POST",
        "/api/v1/first-run",
        Some(json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD})),
    )?;
    api.token = api.call(
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": "admin", "password": PASSWORD})),
    )?["token"]
        .as_str()
        .context("token")?
        .to_string();
    api.call("PUT", "/api/v1/controller", Some(json!({"metadata_url": format!("{base}/api/v1/metadata"), "callback_url": format!("{base}/api/v1/callbacks"), "webhook_url": format!("{base}/webhooks"), "minimum_job_age_backoff": 0})))?;
    let api_url = format!("{fake_url}/api/v3");
    api.call("POST", "/api/v1/github/endpoints", Some(json!({"name": "fake", "description": "fake GitHub", "base_url": fake_url, "api_base_url": api_url, "upload_base_url": api_url})))?;
    api.call(
        "POST",
        "/api/v1/github/credentials",
        Some(json!({"name": "demo", "endpoint": "fake", "auth_type": "pat", "pat": {"oauth2_token": PAT}})),
    )?;
    let secret = "demo-webhook-secret";
    let repo = api.call(
        "POST",
        "/api/v1/repositories",
        Some(json!({"owner": "demo", "name": "app", "credentials_name": "demo", "webhook_secret": secret})),
    )?;
    let repo_id = repo["id"].as_str().context("repo id")?;
    let mut pool = json!({"provider_name": "local", "image": if provider == "docker" { "garm-rs/runner-test:latest" } else { "local" }, "flavor": "small", "tags": LABELS, "enabled": true, "min_idle_runners": 0, "max_runners": 4});
    if let Some(specs) = extra_specs {
        pool["extra_specs"] = specs;
    }
    api.call("POST", &format!("/api/v1/repositories/{repo_id}/pools"), Some(pool))?;
    let hook_url = api.call("GET", "/api/v1/controller-info", None)?["controller_webhook_url"]
        .as_str()
        .context("webhook url")?
        .to_string();
    let fake_api = Api {
        http: api.http.clone(),
        base: fake_url.clone(),
        token: String::new(),
    };
    fake_api.call("POST", "/_fake/hooks", Some(json!({"scope": {"kind": "repo", "owner": "demo", "repo": "app"}, "url": hook_url, "secret": secret, "content_type": "json"})))?;
    println!(
        "demo: repository demo/app with a pool (labels {}, max 4 runners); queueing {} jobs",
        LABELS.join(","),
        opts.jobs
    );

    let mut ids = Vec::new();
    for n in 0..opts.jobs {
        let job = fake_api.call("POST", "/_fake/jobs", Some(json!({"owner": "demo", "repo": "app", "labels": LABELS, "run_for_ms": 1500 + 300 * (n as u64 % 4), "conclusion": "success"})))?;
        ids.push(job["id"].as_u64().context("job id")?);
    }

    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut last = String::new();
    let jobs = loop {
        let jobs: Vec<Value> = fake_api
            .call("GET", "/_fake/jobs", None)?
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ours: Vec<&Value> = jobs
            .iter()
            .filter(|j| ids.contains(&j["id"].as_u64().unwrap_or(0)))
            .collect();
        let count = |s: &str| ours.iter().filter(|j| j["status"] == s).count();
        let instances = api
            .call("GET", "/api/v1/instances", None)?
            .as_array()
            .cloned()
            .unwrap_or_default();
        let rs = |s: &str| instances.iter().filter(|i| i["runner_status"] == s).count();
        let line = format!(
            "[{:>5.1}s] jobs: {} queued, {} running, {} done | runners: {} starting, {} idle, {} busy",
            started.elapsed().as_secs_f64(),
            count("queued"),
            count("in_progress"),
            count("completed"),
            rs("pending") + rs("installing"),
            rs("idle"),
            rs("active"),
        );
        if tty {
            print!("\r{line}   ");
            std::io::stdout().flush()?;
        } else if line[9..] != last.get(9..).unwrap_or_default()[..] {
            println!("{line}");
        }
        last = line;
        if count("completed") == ids.len() && instances.is_empty() {
            break jobs;
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!(
                "the jobs did not finish in 5 minutes; see {}",
                dir.join("garm.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if tty {
        println!();
    }
    println!("\njob            runner               queued → running   conclusion");
    let mut latencies = Vec::new();
    for j in jobs.iter().filter(|j| ids.contains(&j["id"].as_u64().unwrap_or(0))) {
        let created = j["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let begun = j["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let latency = match (created, begun) {
            (Some(c), Some(s)) => (s - c).num_milliseconds() as f64 / 1000.0,
            _ => f64::NAN,
        };
        latencies.push(latency);
        println!(
            "{:<14} {:<20} {:>8.2} s          {}",
            j["id"],
            j["runner_name"].as_str().unwrap_or("-"),
            latency,
            j["conclusion"].as_str().unwrap_or("-")
        );
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let median = latencies.get(latencies.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "\n{} jobs served by ephemeral runners in {:.1} s; median queued → running {:.2} s; every instance deleted.",
        ids.len(),
        started.elapsed().as_secs_f64(),
        median
    );
    if opts.keep_running {
        println!("\n--keep-running: garm at {base} (admin / {PASSWORD}), fake GitHub at {fake_url}. Ctrl-C to stop.");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    drop(procs);
    let left = if provider == "docker" {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=garm-rs.demo=true"])
            .output()?;
        String::from_utf8_lossy(&out.stdout).lines().count()
    } else {
        std::fs::read_dir(pdir.join("sandboxes"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    if left > 0 {
        bail!("{left} runner instances left behind");
    }
    Ok(())
}
