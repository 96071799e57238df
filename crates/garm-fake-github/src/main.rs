//! `garm-fake-github`: serves the fake GitHub on a port and prints its URL on stdout.
//!
//! Seed it with flags (`--pat`, `--org`, `--repo`, `--app`) or through the `/_fake/` control
//! API, then point a garm endpoint at the printed URL (API base: the URL plus `/api/v3`).
//! It runs until interrupted; all state is in memory and lost on exit.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use garm_fake_github::{AppSpec, FakeConfig, FakeGithub, PatSpec};

#[derive(Parser)]
#[command(
    name = "garm-fake-github",
    about = "A stateful fake of the GitHub API subset garm uses"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Folder with webhooks/ and openapi/ (default: shared/fixtures/github next to the workspace).
    #[arg(long, env = "GARM_FIXTURES_DIR")]
    fixtures: Option<PathBuf>,
    /// The simulated runner started by the archive's config.sh/run.sh.
    #[arg(long)]
    runner_binary: Option<PathBuf>,
    /// A personal access token and its scopes: TOKEN[:scope,scope...]. Repeatable.
    #[arg(long = "pat", value_name = "TOKEN[:SCOPES]")]
    pats: Vec<String>,
    /// A GitHub App: ID:PATH-TO-PUBLIC-KEY.pem. Repeatable.
    #[arg(long = "app", value_name = "ID:PEM")]
    apps: Vec<String>,
    /// An organization to create. Repeatable.
    #[arg(long = "org")]
    orgs: Vec<String>,
    /// A repository to create, OWNER/NAME. Repeatable.
    #[arg(long = "repo")]
    repos: Vec<String>,
    /// Base URL written into payloads and JIT configurations (default: http://<bound address>).
    #[arg(long)]
    public_url: Option<url::Url>,
    /// API prefix written into URLs (the API is served at / and /api/v3 regardless).
    #[arg(long, default_value = "/api/v3")]
    api_prefix: String,
    /// Installation token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    installation_token_lifetime_secs: u64,
    /// Primary rate limit per token and hour.
    #[arg(long, default_value_t = 5000)]
    rate_limit: u32,
    /// Longest hold of a runner's message poll, in seconds.
    #[arg(long, default_value_t = 50)]
    long_poll_secs: u64,
    /// Remove JIT runners that never connected after this many seconds.
    #[arg(long)]
    jit_unused_ttl_secs: Option<u64>,
    /// Longest hold of a scale set listener's message-queue poll, in seconds.
    #[arg(long, default_value_t = 50)]
    scaleset_long_poll_secs: u64,
    /// Offer jobs to scale sets with JobAvailable and assign them only after acquirejobs (GHES).
    #[arg(long)]
    scaleset_acquire: bool,
    /// Withdraw and requeue a scale set job no runner took within this many seconds.
    #[arg(long)]
    scaleset_reassign_after_secs: Option<u64>,
}

fn app_spec(text: &str) -> anyhow::Result<AppSpec> {
    let (id, path) = text.split_once(':').context("--app wants ID:PEM")?;
    let public_key_pem = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(AppSpec {
        id: id.parse().context("--app id is not a number")?,
        client_id: None,
        slug: None,
        public_key_pem,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = FakeConfig {
        bind: cli.bind,
        public_url: cli.public_url,
        api_prefix: cli.api_prefix,
        pats: cli.pats.iter().map(|p| PatSpec::parse(p)).collect(),
        apps: cli.apps.iter().map(|a| app_spec(a)).collect::<anyhow::Result<_>>()?,
        installation_token_lifetime: Duration::from_secs(cli.installation_token_lifetime_secs),
        rate_limit: cli.rate_limit,
        long_poll: Duration::from_secs(cli.long_poll_secs),
        jit_unused_ttl: cli.jit_unused_ttl_secs.map(Duration::from_secs),
        ..FakeConfig::default()
    };
    config.scale_sets.long_poll = Duration::from_secs(cli.scaleset_long_poll_secs);
    config.scale_sets.reassign_after = cli.scaleset_reassign_after_secs.map(Duration::from_secs);
    if cli.scaleset_acquire {
        config.scale_sets.mode = garm_fake_github::AssignMode::Acquire;
    }
    if let Some(dir) = cli.fixtures {
        config.fixtures_dir = dir;
    }
    if let Some(path) = cli.runner_binary {
        config.runner_binary = path;
    }
    let handle = FakeGithub::start(config).await.context("starting the fake GitHub")?;
    for org in &cli.orgs {
        handle.state().add_org(org);
    }
    for repo in &cli.repos {
        let (owner, name) = repo.split_once('/').context("--repo wants OWNER/NAME")?;
        handle.state().add_repo(owner, name);
    }
    println!("{}", handle.url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    handle.shutdown();
    Ok(())
}
