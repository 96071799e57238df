//! A stateful fake of the GitHub subset a runner manager talks to, for tests and demos.
//!
//! [`FakeGithub::start`] serves, on loopback, the REST operations of the OpenAPI subsets in
//! `shared/fixtures/github/openapi` (under `/` and under `/api/v3`), checks PATs, App JWTs
//! and installation tokens, counts rate limits, sends signed `workflow_job` and `ping`
//! webhooks built from the published payload examples, and assigns queued jobs to runners
//! that connect through a small fake-private Actions service (`/_fake/actions/`).
//! The same package ships `garm-fake-runner`, a simulated `actions/runner`, and serves a
//! runner archive whose `config.sh`/`run.sh` start it. A control API under `/_fake/`
//! lets other processes seed state, enqueue jobs, flip failure switches, revoke tokens and
//! read the log of REST requests answered.
//!
//! It also implements the runner scale set API ([`scalesets`], `scalesets.md`): the token
//! exchange answers a per-scope `{svc}` (`/_fake/actions/tenant/{n}/`) and an admin JWT;
//! scale sets, message sessions, the long-polled message queue, `acquirejobs`,
//! `generatejitconfig` and the agents API behave as ARC, `actions/scaleset` and garm expect.
//! A queued job whose labels all match a scale set in scope goes to that scale set
//! (`JobAssigned`, or `JobAvailable` then `JobAssigned` in acquire mode) and then only to
//! its JIT runners; other jobs stay with ordinary runners. Fault knobs and the state are on
//! [`FakeState`] and under `/_fake/`.
//!
//! It does not run workflows and keeps everything in memory. It owns its wire types: it
//! shares no code with the garm crates, so a misreading in our client is not mirrored here.

mod actions;
mod archive;
mod auth;
mod body;
pub mod config;
mod control;
pub mod delivery;
mod error;
pub mod files;
mod fixtures;
pub mod jobs;
pub mod model;
mod payload;
mod rest;
pub mod runner;
pub mod scalesets;
mod state;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::Router;
use tokio::sync::{mpsc, oneshot, watch};

pub use config::{AppSpec, FakeConfig, PatSpec, RUNNER_VERSION};
pub use fixtures::FixtureError;
pub use jobs::JobError;
pub use model::scalesets::{
    ActionsCall, ActionsFaults, ActionsFaultsPatch, AssignMode, QueuedMessage, ScaleSet, ScaleSetConfig, ScaleSetJob,
    ScaleSetJobStatus, ScaleSetSession,
};
pub use model::{
    Delivery, Enterprise, Hook, Installation, Job, JobStatus, Org, Repo, RequestRecord, Runner, RunnerGroup,
    RunnerLabel, Scope, Switches, SwitchesPatch,
};
pub use state::FakeState;

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot load the fixtures")]
    Fixtures(#[from] FixtureError),
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the runner archive")]
    Archive(#[source] std::io::Error),
    #[error("public URL {0} is not a valid base URL")]
    PublicUrl(String),
}

/// Entry point: `FakeGithub::start(config).await?` binds and serves in the background.
pub struct FakeGithub;

impl FakeGithub {
    /// Loads the fixtures, builds the runner archive, binds `config.bind` and serves until
    /// the returned handle is shut down or dropped.
    pub async fn start(config: FakeConfig) -> Result<FakeHandle, StartError> {
        let fixtures = fixtures::Fixtures::load(&config.fixtures_dir)?;
        fixtures.check(&config.fixtures_dir)?;
        let runner_binary = std::path::absolute(&config.runner_binary).unwrap_or_else(|_| config.runner_binary.clone());
        let archive = archive::build(&runner_binary).map_err(StartError::Archive)?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let public = match &config.public_url {
            Some(url) => url.clone(),
            None => {
                let text = format!("http://{addr}");
                url::Url::parse(&text).map_err(|_| StartError::PublicUrl(text))?
            }
        };
        let urls = fixtures::Urls::new(&public, &config.api_prefix);
        let mut world = world::World::new(Arc::new(fixtures), urls.clone(), config.runner_offline_after);
        world.ss = world::Service::new(config.scale_sets.clone());
        for pat in &config.pats {
            world.pats.insert(pat.token.clone(), pat.clone());
        }
        for app in &config.apps {
            world.apps.insert(app.id, app.clone());
        }
        let (outbox, queue) = mpsc::unbounded_channel();
        let (changed, _) = watch::channel(0u64);
        let archive_sha256 = archive::sha256_hex(&archive);
        let state = FakeState(Arc::new(state::Shared {
            config,
            world: Mutex::new(world),
            outbox,
            changed,
            archive,
            archive_sha256,
        }));
        let mut tasks = vec![tokio::spawn(delivery::run(state.clone(), queue))];
        tasks.push(tokio::spawn(sweep(state.clone())));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        tasks.push(tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %err, "fake GitHub server stopped");
            }
        }));
        Ok(FakeHandle {
            addr,
            url: urls.web,
            api_url: urls.api,
            state,
            stop: Some(stop),
            tasks,
        })
    }
}

/// Keeps runner status and token expiry moving while nobody calls in.
async fn sweep(state: FakeState) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        state.quiet(|_, _| ());
    }
}

async fn not_found() -> axum::response::Response {
    (
        http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        })),
    )
        .into_response()
}

fn router(state: FakeState) -> Router {
    let rest = rest::router(state.clone(), actions::rest_routes());
    Router::new()
        .merge(control::routes())
        .merge(actions::service_routes())
        .merge(scalesets::routes())
        .merge(scalesets::control_routes())
        .with_state(state)
        .nest("/api/v3", rest.clone())
        .merge(rest)
        .fallback(not_found)
}

/// A running fake; dropping it stops the server and the webhook sender.
pub struct FakeHandle {
    addr: SocketAddr,
    url: String,
    api_url: String,
    state: FakeState,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FakeHandle {
    /// The web root, `http://127.0.0.1:PORT` (no trailing slash): use it as the base URL
    /// and for `config.sh --url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The REST root written into bodies (the web root plus the API prefix, `/api/v3`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state, for seeding and assertions.
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Stops serving and sending.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.stop_all();
    }
}
