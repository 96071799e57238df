//! `garm-fake-arm`: serves the fake Azure Resource Manager, Entra ID token endpoint and IMDS on
//! one loopback port, for local demos and end-to-end tests in other processes.
//!
//! It prints `listening on http://ADDR` once bound and runs until interrupted. It is a test
//! double only: it accepts the credentials it is told to and keeps everything in memory.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use garm_fake_arm::{ClientSpec, FakeArm, FakeConfig};

#[derive(Parser)]
#[command(about = "A fake Azure Resource Manager for garm's Azure provider")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// A JSON file with a full FakeConfig (flags below override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Subscription ID served.
    #[arg(long)]
    subscription: Option<String>,
    /// An app with a client secret: TENANT:CLIENT_ID:SECRET (repeatable).
    #[arg(long = "client")]
    clients: Vec<String>,
    /// An app with a federated assertion: TENANT:CLIENT_ID:ASSERTION (repeatable).
    #[arg(long = "federated")]
    federated: Vec<String>,
    /// A managed identity IMDS hands tokens for: a client ID, or `system` (repeatable).
    #[arg(long = "managed-identity")]
    managed_identities: Vec<String>,
    /// Run booted Linux VMs' install scripts in DIR/<vm>.
    #[arg(long)]
    boot_runners: Option<PathBuf>,
    /// Polls until an operation finishes.
    #[arg(long)]
    polls: Option<u32>,
    /// Retry-After seconds on operations.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Items per list page.
    #[arg(long)]
    page_size: Option<usize>,
}

fn split3(text: &str, what: &str) -> anyhow::Result<(String, String, String)> {
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c)) => Ok((a.to_owned(), b.to_owned(), c.to_owned())),
        _ => anyhow::bail!("{what} must be TENANT:CLIENT_ID:VALUE"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?
        }
        None => FakeConfig::default(),
    };
    config.bind = args.bind;
    if let Some(subscription) = args.subscription {
        config.subscription_id = subscription;
    }
    for client in &args.clients {
        let (tenant_id, client_id, secret) = split3(client, "--client")?;
        config.clients.push(ClientSpec {
            tenant_id,
            client_id,
            secret: Some(secret),
            federated_assertions: Vec::new(),
        });
    }
    for client in &args.federated {
        let (tenant_id, client_id, assertion) = split3(client, "--federated")?;
        config.clients.push(ClientSpec {
            tenant_id,
            client_id,
            secret: None,
            federated_assertions: vec![assertion],
        });
    }
    for identity in &args.managed_identities {
        if identity == "system" {
            config.managed_identities.system_assigned = true;
        } else {
            config.managed_identities.user_assigned.push(identity.clone());
        }
    }
    if let Some(dir) = args.boot_runners {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        config.boot_dir = Some(std::path::absolute(&dir)?);
    }
    if let Some(polls) = args.polls {
        config.settings.polls_to_complete = polls.max(1);
    }
    if let Some(seconds) = args.retry_after {
        config.settings.retry_after_secs = seconds;
    }
    if let Some(size) = args.page_size {
        config.settings.page_size = size.max(1);
    }
    let handle = FakeArm::start(config).await?;
    println!("listening on {}", handle.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
