//! The `garm` server: configuration, the REST API compatible with garm's `/api/v1`,
//! authentication, and the wiring of store, forge and providers.
//!
//! HTTP lives here and nowhere else; the store does SQL, the forge crate speaks
//! GitHub, the provider crates run provider executables.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod logging;
pub mod serve;
pub mod state;

pub use api::service;
pub use state::App;

/// The version reported in `controller-info`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"), "-garm-rs");

/// Opens the store, seeds it and returns the application state.
pub async fn build(
    config: config::Config,
) -> anyhow::Result<(App, tokio::sync::mpsc::UnboundedReceiver<state::Key>)> {
    let store = garm_store::Store::connect(
        &config.database_url,
        garm_store::Sealer::new(&config.passphrase),
    )
    .await?;
    store.seed_github_com().await?;
    let controller = store.ensure_controller().await?;
    let (nudge, rx) = state::Nudge::channel();
    Ok((App::new(store, config, controller.controller_id, nudge), rx))
}
