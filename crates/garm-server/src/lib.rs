//! The `garm` server: configuration, the REST API compatible with garm's `/api/v1`,
//! authentication, and the wiring of store, forge and providers.
//!
//! HTTP lives here and nowhere else; the store does SQL, the forge crate speaks
//! GitHub, the provider crates run provider executables.

pub mod api;
pub mod attest;
pub mod auth;
pub mod bootstrap;
pub mod client_addr;
pub mod config;
pub mod convert;
pub mod error;
pub mod events;
pub mod import;
pub mod intake_queue;
pub mod lifecycle;
pub mod logging;
pub mod login_limit;
pub mod providers;
pub mod routes;
pub mod serve;
pub mod state;
pub mod stream;
pub mod strength;
pub mod tokens;
pub mod ui;
pub mod ws;

pub use routes::service;
pub use state::App;

/// The version reported in `controller-info`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"), "-garm-rs");

/// Opens the store, seeds it and returns the application state and the receiver the
/// scheduler consumes (see [`start`]).
pub async fn build(config: config::Config) -> anyhow::Result<(App, tokio::sync::mpsc::UnboundedReceiver<state::Key>)> {
    let settings = garm_pool::Settings {
        resync: config.pool_manager.resync,
        idle_resync: config.pool_manager.idle_resync,
        scale_down_grace: config.pool_manager.scale_down_grace,
        orphan_scan: config.pool_manager.orphan_scan,
        provider_scan: config.pool_manager.provider_scan,
        forge_poll_share: config.pool_manager.forge_poll_share,
        missed_webhook_scan: config.pool_manager.missed_webhook_scan,
        missed_webhook_scan_max: config.pool_manager.missed_webhook_scan_max,
        queued_job_check_after: config.pool_manager.queued_job_check_after,
        lease_ttl: config.lease_ttl,
        ..garm_pool::Settings::default()
    };
    build_with(config, settings, Box::new(garm_pool::GithubConnector)).await
}

/// [`build`] with explicit pool manager timings and forge connector (tests).
pub async fn build_with(
    config: config::Config,
    settings: garm_pool::Settings,
    connector: Box<dyn garm_pool::ForgeConnector>,
) -> anyhow::Result<(App, tokio::sync::mpsc::UnboundedReceiver<state::Key>)> {
    let store = garm_store::Store::connect(&config.database_url, garm_store::Sealer::new(&config.passphrase)).await?;
    store.seed_github_com().await?;
    store.seed_system_templates(&api::templates::builtins()).await?;
    let controller = store.ensure_controller().await?;
    let (nudge, rx) = garm_pool::Nudge::channel();
    let keys = std::sync::Arc::new(tokens::Keys::new(&config.jwt_secret));
    let metrics = std::sync::Arc::new(garm_pool::Metrics::default());
    let providers = providers::from_config(&config, &controller.controller_id, &metrics);
    // On PostgreSQL several replicas may share the database: the pool manager acts only on the
    // entities whose lease this process holds, and its writes are fenced (`garm_pool::leases`).
    // A single SQLite process does all the work, unfenced.
    let pool_store = match store.backend() {
        garm_store::Backend::Postgres => store.fenced(garm_store::Fence::new(replica_id())),
        garm_store::Backend::Sqlite => store.clone(),
    };
    let ctx = garm_pool::Ctx::new(garm_pool::Wiring {
        store: pool_store,
        providers,
        forges: garm_pool::Forges::new(connector),
        tokens: std::sync::Arc::new(tokens::Minter(keys.clone())),
        controller_id: controller.controller_id.clone(),
        settings,
        nudge,
        metrics,
    });
    let app = App::new(store, config, controller.controller_id, keys, std::sync::Arc::new(ctx));
    // Instance and job changes reach the events stream from the store's feed.
    ws::events::relay(app.store.clone(), app.streams.clone(), app.pool.shutdown.clone());
    Ok((app, rx))
}

/// This process's replica id: unique per start (a restarted replica is a new one).
fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "garm".into());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &nonce[..8])
}

/// Starts the scheduler; it stops when `app.pool.shutdown` is cancelled.
pub fn start(app: &App, rx: tokio::sync::mpsc::UnboundedReceiver<state::Key>) -> tokio::task::JoinHandle<()> {
    app.pool.tasks.spawn(garm_pool::leases::keep(app.pool.clone()));
    app.pool.tasks.spawn(garm_pool::scaleset::run(app.pool.clone()));
    tokio::spawn(garm_pool::scheduler::run(app.pool.clone(), rx))
}
