//! The `garm` binary: runs the server, or performs offline admin tasks on its database.

use anyhow::Context;
use clap::{Parser, Subcommand};
use garm_server::config::Config;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "garm", version = garm_server::VERSION, about = "GitHub Actions Runner Manager (garm-rs)")]
struct Cli {
    /// Path to config.toml.
    #[arg(long, global = true, default_value = "/etc/garm/config.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Offline administration of the admin user.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Offline, idempotent setup from `GARM_*` variables, for an init container.
    Bootstrap(garm_server::bootstrap::Args),
    /// Prints the version and exits (no configuration is read).
    Version,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Prints the admin user.
    List,
    /// Sets a new password and invalidates all tokens of the user.
    PasswordReset {
        username: String,
        /// Also read from GARM_NEW_PASSWORD, so that it need not be on a command line.
        #[arg(long, env = "GARM_NEW_PASSWORD", hide_env_values = true)]
        new_password: String,
    },
    /// Takes over a stopped garm: imports its database into this garm-rs's store.
    ImportGarm(garm_server::import::Args),
}

/// glibc's malloc and free were 15 % of garm's CPU under webhook load (docs/benchmarks.md);
/// mimalloc's thread-local heaps make them a fraction of that. Its arenas are not committed
/// eagerly (`.cargo/config.toml`), so memory freed after a burst leaves the resident set.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    if let Some(code) = garm_server::strength::child_main() {
        std::process::exit(code);
    }
    let cli = Cli::parse();
    let load = || Config::load(&cli.config).map_err(|err| anyhow::anyhow!("{err}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            None => run(load()?).await,
            // A dry run reads only garm's database: it needs (and touches) no garm-rs database.
            Some(Command::Admin {
                command: AdminCommand::ImportGarm(args),
            }) if args.dry_run => garm_server::import::dry_run(&args).await,
            Some(Command::Admin { command }) => admin(load()?, command).await,
            Some(Command::Bootstrap(args)) => {
                let config = load()?;
                for key in &config.unknown_keys {
                    eprintln!("warning: config key `{key}` is not known to garm-rs and is ignored");
                }
                garm_server::bootstrap::main(config, args).await
            }
            // No configuration is read: `garm version` works anywhere.
            Some(Command::Version) => {
                println!("{}", garm_server::VERSION);
                Ok(())
            }
        }
    })
}

async fn run(config: Config) -> anyhow::Result<()> {
    garm_server::logging::init(&config.logging)?;
    for key in &config.unknown_keys {
        tracing::warn!(key = %key, "config key is not known to garm-rs and is ignored (a typo?)");
    }
    let addr = std::net::SocketAddr::new(config.bind, config.port);
    let tls = config.tls.clone();
    let connections = config.connections;
    // The stand-in hash unknown users' logins are checked against, made before the first login.
    tokio::task::spawn_blocking(garm_server::api::controller::prepare_login);
    let (app, triggers) = garm_server::build(config).await.context("opening the database")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    // After the bind: the first pass reconciles everything, and the API should not wait for it.
    let scheduler = garm_server::start(&app, triggers);
    tracing::info!(%addr, tls = tls.is_some(), controller_id = %app.controller_id, version = garm_server::VERSION, "garm listening");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    let streams = app.streams.closing.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        streams.cancel();
        signal.cancel();
    });
    let served = garm_server::serve::run(
        listener,
        garm_server::service(app.clone()),
        tls.as_ref(),
        connections,
        shutdown,
    )
    .await;
    app.pool.shutdown.cancel();
    let _ = scheduler.await;
    served
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler cannot fail at startup");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let store = garm_store::Store::connect(&config.database_url, garm_store::Sealer::new(&config.passphrase)).await?;
    match command {
        AdminCommand::List => {
            println!("{:<38} {:<20} {:<30} Enabled", "ID", "Username", "Email");
            for u in store.list_users().await? {
                println!("{:<38} {:<20} {:<30} {}", u.id, u.username, u.email, u.enabled);
            }
        }
        AdminCommand::PasswordReset { username, new_password } => {
            if !garm_server::strength::strong(&new_password, &[&username]) {
                anyhow::bail!("password is too weak");
            }
            let hash = bcrypt::hash(new_password, garm_server::api::controller::BCRYPT_COST)?;
            store.reset_password(&username, &hash).await?;
            println!("password of {username} reset; existing tokens are no longer valid");
        }
        AdminCommand::ImportGarm(args) => garm_server::import::run(&store, &args).await?,
    }
    Ok(())
}
