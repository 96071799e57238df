//! `garm bootstrap`: the offline, idempotent setup an init container runs before `garm` starts.
//!
//! It reads the wanted admin user, controller URLs, GitHub credentials, repository and pool from
//! `GARM_*` environment variables (see [`vars`]), checks all of them before writing anything, and
//! creates what is missing through the REST handlers themselves, called in-process on a router
//! built over the database: no server has to run, and the API's validation applies unchanged.
//! What already exists is left as it is and reported as `exists`, so a second run writes nothing.
//! Secrets stay in [`Secret`] and are never printed.
//!
//! `--restore-from` first copies a database snapshot into place when the SQLite file is missing
//! (the deployment keeps the live database on local disk and snapshots it to a file share).

use crate::auth::{random_token_id, UserClaims};
use crate::config::Config;
use crate::state::App;
use anyhow::Context as _;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use garm_model::pool::{check_extra_specs, check_sizing, normalize_tags};
use garm_model::{BalancerType, OsArch, OsType, Secret};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use tower::ServiceExt as _;

/// The environment variables `garm bootstrap` reads; an empty value counts as unset.
pub mod vars {
    pub const ADMIN_USERNAME: &str = "GARM_ADMIN_USERNAME";
    pub const ADMIN_PASSWORD: &str = "GARM_ADMIN_PASSWORD";
    pub const ADMIN_EMAIL: &str = "GARM_ADMIN_EMAIL";
    pub const ADMIN_FULL_NAME: &str = "GARM_ADMIN_FULL_NAME";
    pub const BASE_URL: &str = "GARM_BASE_URL";
    pub const GITHUB_TOKEN: &str = "GARM_GITHUB_TOKEN";
    pub const GITHUB_ENDPOINT: &str = "GARM_GITHUB_ENDPOINT";
    pub const CREDENTIALS_NAME: &str = "GARM_CREDENTIALS_NAME";
    pub const REPO_OWNER: &str = "GARM_REPO_OWNER";
    pub const REPO_NAME: &str = "GARM_REPO_NAME";
    pub const WEBHOOK_SECRET: &str = "GARM_WEBHOOK_SECRET";
    pub const REPO_BALANCER_TYPE: &str = "GARM_REPO_BALANCER_TYPE";
    pub const POOL_PROVIDER: &str = "GARM_POOL_PROVIDER";
    pub const POOL_IMAGE: &str = "GARM_POOL_IMAGE";
    pub const POOL_FLAVOR: &str = "GARM_POOL_FLAVOR";
    pub const POOL_TAGS: &str = "GARM_POOL_TAGS";
    pub const POOL_MIN_IDLE_RUNNERS: &str = "GARM_POOL_MIN_IDLE_RUNNERS";
    pub const POOL_MAX_RUNNERS: &str = "GARM_POOL_MAX_RUNNERS";
    pub const POOL_EXTRA_SPECS: &str = "GARM_POOL_EXTRA_SPECS";
    pub const POOL_ENABLED: &str = "GARM_POOL_ENABLED";
    pub const POOL_OS_TYPE: &str = "GARM_POOL_OS_TYPE";
    pub const POOL_OS_ARCH: &str = "GARM_POOL_OS_ARCH";
    pub const POOL_RUNNER_PREFIX: &str = "GARM_POOL_RUNNER_PREFIX";
    pub const POOL_BOOTSTRAP_TIMEOUT: &str = "GARM_POOL_BOOTSTRAP_TIMEOUT";
    /// `pool` (the default: a webhook pool) or `scaleset` (a runner scale set: no webhook needed).
    pub const POOL_KIND: &str = "GARM_POOL_KIND";
    /// The scale set's name (its first label, what workflows put in `runs-on`).
    pub const SCALESET_NAME: &str = "GARM_SCALESET_NAME";

    /// The variables that hold secrets; their values never reach the output.
    pub const SECRETS: &[&str] = &[ADMIN_PASSWORD, GITHUB_TOKEN, WEBHOOK_SECRET];

    /// Every variable above.
    pub const ALL: &[&str] = &[
        ADMIN_USERNAME,
        ADMIN_PASSWORD,
        ADMIN_EMAIL,
        ADMIN_FULL_NAME,
        BASE_URL,
        GITHUB_TOKEN,
        GITHUB_ENDPOINT,
        CREDENTIALS_NAME,
        REPO_OWNER,
        REPO_NAME,
        WEBHOOK_SECRET,
        REPO_BALANCER_TYPE,
        POOL_PROVIDER,
        POOL_IMAGE,
        POOL_FLAVOR,
        POOL_TAGS,
        POOL_MIN_IDLE_RUNNERS,
        POOL_MAX_RUNNERS,
        POOL_EXTRA_SPECS,
        POOL_ENABLED,
        POOL_OS_TYPE,
        POOL_OS_ARCH,
        POOL_RUNNER_PREFIX,
        POOL_BOOTSTRAP_TIMEOUT,
        POOL_KIND,
        SCALESET_NAME,
    ];

    pub(super) const ADMIN: &[&str] = &[ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_EMAIL, ADMIN_FULL_NAME];
    pub(super) const REPO: &[&str] = &[REPO_OWNER, REPO_NAME, WEBHOOK_SECRET, REPO_BALANCER_TYPE];
    pub(super) const POOL: &[&str] = &[
        POOL_PROVIDER,
        POOL_IMAGE,
        POOL_FLAVOR,
        POOL_TAGS,
        POOL_MIN_IDLE_RUNNERS,
        POOL_MAX_RUNNERS,
        POOL_EXTRA_SPECS,
        POOL_ENABLED,
        POOL_OS_TYPE,
        POOL_OS_ARCH,
        POOL_RUNNER_PREFIX,
        POOL_BOOTSTRAP_TIMEOUT,
        POOL_KIND,
        SCALESET_NAME,
    ];
}

/// The command line of `garm bootstrap`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Database snapshot to copy into place when the SQLite file does not exist yet.
    #[arg(long, value_name = "FILE")]
    pub restore_from: Option<PathBuf>,
    /// Stop after the restore step (the server container's entry point uses this).
    #[arg(long, requires = "restore_from")]
    pub restore_only: bool,
}

/// An input that is missing or invalid; the message names the variable, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{var} is required {because}")]
    Missing { var: &'static str, because: &'static str },
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> InputError {
    InputError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// The admin user to create.
#[derive(Debug, Clone)]
pub struct AdminInput {
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub password: Secret,
}

/// Personal-access-token credentials to create.
#[derive(Debug, Clone)]
pub struct CredentialsInput {
    pub name: String,
    pub endpoint: String,
    pub token: Secret,
}

/// The repository to create.
#[derive(Debug, Clone)]
pub struct RepositoryInput {
    pub owner: String,
    pub name: String,
    pub credentials_name: String,
    pub webhook_secret: Secret,
    pub balancer: String,
}

/// The repository's pool to create; it is identified by its provider and its tags.
#[derive(Debug, Clone)]
pub struct PoolInput {
    pub provider: String,
    pub image: String,
    pub flavor: String,
    pub tags: Vec<String>,
    pub min_idle_runners: u32,
    pub max_runners: u32,
    pub extra_specs: Option<Value>,
    pub enabled: bool,
    pub os_type: String,
    pub os_arch: String,
    pub runner_prefix: String,
    pub bootstrap_timeout: u32,
    /// Set when a scale set is wanted instead of a pool: its name (the tags are its extra labels).
    pub scale_set: Option<String>,
}

/// Everything the environment asks for, checked; `None` means the step is skipped.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub admin: Option<AdminInput>,
    pub base_url: Option<String>,
    pub credentials: Option<CredentialsInput>,
    pub repository: Option<RepositoryInput>,
    pub pool: Option<PoolInput>,
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }
    fn any(&self, group: &[&str]) -> bool {
        group.iter().any(|v| self.get(v).is_some())
    }
    fn required(&self, var: &'static str, because: &'static str) -> Result<String, InputError> {
        self.get(var).ok_or(InputError::Missing { var, because })
    }
    fn number(&self, var: &'static str, default: u32) -> Result<u32, InputError> {
        match self.get(var) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| invalid(var, format!("{text:?} is not a whole number"))),
        }
    }
    fn flag(&self, var: &'static str, default: bool) -> Result<bool, InputError> {
        match self.get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(invalid(var, format!("{other:?} is not true or false"))),
        }
    }
}

impl Inputs {
    /// Reads and checks the variables with the API's rules: password strength (zxcvbn score 4),
    /// URL shape, pool sizing, tags, OS type and architecture, extra specs JSON, and that the
    /// pool's provider is configured.
    ///
    /// A step is wanted when any of its variables is set; its required variables must then be set.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, config: &Config) -> Result<Self, InputError> {
        let env = Env(lookup);
        let admin = if env.any(vars::ADMIN) {
            let because = "to create the admin user";
            let username = env.required(vars::ADMIN_USERNAME, because)?;
            let email = env.required(vars::ADMIN_EMAIL, because)?;
            let password = env.required(vars::ADMIN_PASSWORD, because)?;
            if zxcvbn::zxcvbn(&password, &[&username, &email]).score() != zxcvbn::Score::Four {
                return Err(invalid(
                    vars::ADMIN_PASSWORD,
                    "the password is too weak (use a long random one)",
                ));
            }
            let full_name = env.get(vars::ADMIN_FULL_NAME).unwrap_or_default();
            Some(AdminInput {
                username,
                email,
                full_name,
                password: Secret::new(password),
            })
        } else {
            None
        };

        let base_url = match env.get(vars::BASE_URL) {
            None => None,
            Some(text) => {
                let parsed = url::Url::parse(&text).map_err(|err| invalid(vars::BASE_URL, err.to_string()))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(invalid(vars::BASE_URL, "must be an http or https URL with a host"));
                }
                Some(text.trim_end_matches('/').to_string())
            }
        };

        let credentials_name = env.get(vars::CREDENTIALS_NAME).unwrap_or_else(|| "garm".into());
        let credentials = env.get(vars::GITHUB_TOKEN).map(|token| CredentialsInput {
            name: credentials_name.clone(),
            endpoint: env.get(vars::GITHUB_ENDPOINT).unwrap_or_else(|| "github.com".into()),
            token: Secret::new(token),
        });

        let repository = if env.any(vars::REPO) {
            let because = "to create the repository";
            let balancer = env.get(vars::REPO_BALANCER_TYPE).unwrap_or_else(|| "roundrobin".into());
            BalancerType::parse(&balancer).map_err(|reason| invalid(vars::REPO_BALANCER_TYPE, reason))?;
            Some(RepositoryInput {
                owner: env.required(vars::REPO_OWNER, because)?,
                name: env.required(vars::REPO_NAME, because)?,
                credentials_name,
                webhook_secret: Secret::new(env.required(vars::WEBHOOK_SECRET, because)?),
                balancer,
            })
        } else {
            None
        };

        let pool = if env.any(vars::POOL) {
            if repository.is_none() {
                return Err(InputError::Missing {
                    var: vars::REPO_OWNER,
                    because: "for the pool's repository",
                });
            }
            Some(pool_from_env(&env, config)?)
        } else {
            None
        };
        Ok(Self {
            admin,
            base_url,
            credentials,
            repository,
            pool,
        })
    }
}

fn pool_from_env(env: &Env<'_>, config: &Config) -> Result<PoolInput, InputError> {
    let because = "to create the pool";
    let setting = |var: &'static str| move |err: garm_model::PoolSettingsError| invalid(var, err.message);
    let provider = env.required(vars::POOL_PROVIDER, because)?;
    if config.provider(&provider).is_none() {
        let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        return Err(invalid(
            vars::POOL_PROVIDER,
            format!("no provider named {provider:?} is configured (known: {known:?})"),
        ));
    }
    let image = env.required(vars::POOL_IMAGE, because)?;
    let flavor = env.required(vars::POOL_FLAVOR, because)?;
    let scale_set = match env.get(vars::POOL_KIND).as_deref() {
        None | Some("pool") => None,
        Some("scaleset") => {
            let name = env.required(vars::SCALESET_NAME, "to create the scale set")?;
            garm_model::names::check_provider_value("name", &name).map_err(setting(vars::SCALESET_NAME))?;
            Some(name)
        }
        Some(other) => {
            return Err(invalid(
                vars::POOL_KIND,
                format!("{other:?} is neither \"pool\" nor \"scaleset\""),
            ))
        }
    };
    // A scale set's labels are optional (its name is always one); a pool needs its tags.
    let tag_text = match scale_set {
        Some(_) => env.get(vars::POOL_TAGS).unwrap_or_default(),
        None => env.required(vars::POOL_TAGS, because)?,
    };
    let raw_tags: Vec<String> = tag_text
        .split(',')
        .filter(|t| scale_set.is_none() || !t.trim().is_empty())
        .map(str::to_string)
        .collect();
    let tags = if raw_tags.is_empty() {
        Vec::new()
    } else {
        normalize_tags(&raw_tags).map_err(setting(vars::POOL_TAGS))?
    };
    let min_idle_runners = env.number(vars::POOL_MIN_IDLE_RUNNERS, 0)?;
    let max_runners = env.number(vars::POOL_MAX_RUNNERS, 5)?;
    check_sizing(min_idle_runners, max_runners).map_err(|err| match err.field {
        "max_runners" => invalid(vars::POOL_MAX_RUNNERS, err.message),
        _ => invalid(vars::POOL_MIN_IDLE_RUNNERS, err.message),
    })?;
    let extra_specs = match env.get(vars::POOL_EXTRA_SPECS) {
        None => None,
        Some(text) => {
            check_extra_specs(&text).map_err(setting(vars::POOL_EXTRA_SPECS))?;
            garm_attest::from_extra_specs(Some(&text)).map_err(|reason| invalid(vars::POOL_EXTRA_SPECS, reason))?;
            Some(serde_json::from_str(&text).expect("check_extra_specs accepted it as JSON"))
        }
    };
    let os_type =
        OsType::parse(&env.get(vars::POOL_OS_TYPE).unwrap_or_default()).map_err(setting(vars::POOL_OS_TYPE))?;
    let os_arch =
        OsArch::parse(&env.get(vars::POOL_OS_ARCH).unwrap_or_default()).map_err(setting(vars::POOL_OS_ARCH))?;
    Ok(PoolInput {
        provider,
        image,
        flavor,
        tags,
        min_idle_runners,
        max_runners,
        extra_specs,
        enabled: env.flag(vars::POOL_ENABLED, true)?,
        os_type: os_type.as_str().into(),
        os_arch: os_arch.as_str().into(),
        runner_prefix: env.get(vars::POOL_RUNNER_PREFIX).unwrap_or_default(),
        bootstrap_timeout: env.number(vars::POOL_BOOTSTRAP_TIMEOUT, 0)?,
        scale_set,
    })
}

/// What `--restore-from` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// The database exists: it is newer than any snapshot and is never overwritten.
    KeptExisting,
    /// The database was missing and this snapshot was copied into place.
    FromSnapshot(PathBuf),
    /// Neither exists: `garm` starts with a new database.
    NoSnapshot,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `path` starts like an SQLite database (an empty or cut file does not).
fn looks_like_sqlite(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path)?;
    match file.read_exact(&mut header) {
        Ok(()) => Ok(&header == b"SQLite format 3\0"),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(err) => Err(err),
    }
}

/// Copies `snapshot` (or, if that is not an SQLite file, the previous one, `<snapshot>.1`) to
/// `db_file` unless `db_file` exists. The copy is written under a temporary name, flushed, then
/// renamed, so a crash never leaves a half-copied database behind.
///
/// Fails when snapshots exist but none is an SQLite file: starting with a new database would
/// silently forget every repository, pool and instance.
pub fn restore(db_file: &Path, snapshot: &Path) -> std::io::Result<Restore> {
    if db_file.exists() {
        return Ok(Restore::KeptExisting);
    }
    let candidates = [snapshot.to_path_buf(), with_suffix(snapshot, ".1")];
    let existing: Vec<&PathBuf> = candidates.iter().filter(|c| c.is_file()).collect();
    if existing.is_empty() {
        return Ok(Restore::NoSnapshot);
    }
    let mut chosen = None;
    for candidate in existing {
        if looks_like_sqlite(candidate)? {
            chosen = Some(candidate.clone());
            break;
        }
    }
    let Some(chosen) = chosen else {
        let message = format!(
            "{} (and {}.1) is not an SQLite database",
            snapshot.display(),
            snapshot.display()
        );
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    };
    // A WAL or journal without its database belongs to a database that is gone: replayed into the
    // restored file it would corrupt it.
    for suffix in ["-wal", "-shm", "-journal"] {
        match std::fs::remove_file(with_suffix(db_file, suffix)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    let partial = with_suffix(db_file, ".restoring");
    std::fs::copy(&chosen, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, db_file)?;
    Ok(Restore::FromSnapshot(chosen))
}

/// The SQLite file of the configuration, if it uses SQLite.
pub fn sqlite_file(config: &Config) -> Option<PathBuf> {
    config.database_url.strip_prefix("sqlite://").map(PathBuf::from)
}

/// `garm bootstrap`, reading the process environment and printing to stdout.
pub async fn main(config: Config, args: Args) -> anyhow::Result<()> {
    let lookup = |var: &str| std::env::var(var).ok();
    run(config, &args, &lookup, &mut std::io::stdout().lock()).await
}

/// Restores (if asked), checks the inputs, then creates what is missing, one line per object on
/// `out`. Fails on the first invalid input before anything is written, and on the first API error.
pub async fn run(
    config: Config,
    args: &Args,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if let Some(snapshot) = &args.restore_from {
        let db = sqlite_file(&config).context("--restore-from needs the sqlite3 database backend")?;
        let done = restore(&db, snapshot).with_context(|| format!("restoring {}", db.display()))?;
        let what = match done {
            Restore::KeptExisting => "exists; snapshot not used".to_string(),
            Restore::FromSnapshot(from) => format!("restored from {}", from.display()),
            Restore::NoSnapshot => format!("no snapshot at {}; starting with a new database", snapshot.display()),
        };
        writeln!(out, "database {}: {what}", db.display())?;
        if args.restore_only {
            return Ok(());
        }
    }
    let inputs = Inputs::from_env(lookup, &config)?;
    let (app, _triggers) = crate::build(config).await.context("opening the database")?;
    check_references(&app, &inputs).await?;
    let mut api = Api {
        router: crate::service(app.clone()),
        token: None,
    };

    admin(&app, &mut api, &inputs, out).await?;
    controller_urls(&api, &inputs, out).await?;
    credentials(&api, &inputs, out).await?;
    let repository_id = repository(&api, &inputs, out).await?;
    if let (Some(pool_input), Some(id)) = (&inputs.pool, repository_id) {
        pool(&api, &id, pool_input, out).await?;
    } else {
        writeln!(out, "pool: skipped (no {} set)", vars::POOL_IMAGE)?;
    }
    Ok(())
}

/// Checks what the inputs name in the database (endpoint, credentials) before the first write.
async fn check_references(app: &App, inputs: &Inputs) -> anyhow::Result<()> {
    if let Some(c) = &inputs.credentials {
        if app.store.endpoint(&c.endpoint).await.is_err() {
            return Err(invalid(vars::GITHUB_ENDPOINT, format!("no endpoint named {:?}", c.endpoint)).into());
        }
    }
    if let Some(r) = &inputs.repository {
        let created_now = inputs
            .credentials
            .as_ref()
            .is_some_and(|c| c.name.eq_ignore_ascii_case(&r.credentials_name));
        if !created_now && app.store.credentials_by_name(&r.credentials_name).await.is_err() {
            return Err(InputError::Missing {
                var: vars::GITHUB_TOKEN,
                because: "to create the repository's credentials",
            }
            .into());
        }
    }
    Ok(())
}

/// The REST API, answered in-process.
struct Api {
    router: axum::Router,
    token: Option<String>,
}

impl Api {
    async fn call(&self, method: Method, uri: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        let response = self.router.clone().oneshot(request.body(body)?).await?;
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// A request that must answer 200; otherwise an error naming `what`, the status and garm's details.
    async fn ok(&self, method: Method, uri: &str, body: Option<&Value>, what: &str) -> anyhow::Result<Value> {
        let (status, value) = self.call(method, uri, body).await?;
        if status != StatusCode::OK {
            let error = value["error"].as_str().unwrap_or_default();
            let details = value["details"].as_str().unwrap_or_default();
            anyhow::bail!("{what}: {status} {error}: {details}");
        }
        Ok(value)
    }
}

async fn admin(app: &App, api: &mut Api, inputs: &Inputs, out: &mut dyn Write) -> anyhow::Result<()> {
    let existing = app.store.list_users().await?.into_iter().find(|u| u.is_admin);
    match (&inputs.admin, &existing) {
        (_, Some(user)) => {
            let note = match &inputs.admin {
                Some(a) if a.username != user.username => {
                    format!("; {} is {:?}, left as it is", vars::ADMIN_USERNAME, a.username)
                }
                _ => String::new(),
            };
            writeln!(out, "admin user {}: exists{note}", user.username)?;
        }
        (Some(a), None) => {
            let body = json!({"username": a.username, "email": a.email, "full_name": a.full_name, "password": a.password.expose()});
            api.ok(
                Method::POST,
                "/api/v1/first-run",
                Some(&body),
                "creating the admin user",
            )
            .await?;
            writeln!(out, "admin user {}: created", a.username)?;
        }
        (None, None) => {
            let wanted = inputs.base_url.is_some() || inputs.credentials.is_some() || inputs.repository.is_some();
            if wanted {
                return Err(InputError::Missing {
                    var: vars::ADMIN_USERNAME,
                    because: "(no admin user exists yet)",
                }
                .into());
            }
            writeln!(out, "admin user: skipped (no {} set)", vars::ADMIN_USERNAME)?;
            return Ok(());
        }
    }
    // Invariant: an admin exists now; tokens for it are minted as `/auth/login` would, short-lived.
    let user = app
        .store
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.is_admin)
        .context("the admin user vanished")?;
    let claims = UserClaims {
        user: user.id,
        token_id: random_token_id(),
        full_name: user.full_name,
        is_admin: true,
        read_metrics: false,
        generation: user.generation,
        iss: "garm".into(),
        exp: (chrono::Utc::now() + chrono::Duration::minutes(10)).timestamp(),
    };
    api.token = Some(app.keys.sign(&claims));
    Ok(())
}

/// The URLs `garm-cli init` derives from a base URL.
fn derived_urls(base: &str) -> [(&'static str, String); 4] {
    [
        ("metadata_url", format!("{base}/api/v1/metadata")),
        ("callback_url", format!("{base}/api/v1/callbacks")),
        ("webhook_url", format!("{base}/webhooks")),
        ("agent_url", format!("{base}/agent")),
    ]
}

async fn controller_urls(api: &Api, inputs: &Inputs, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(base) = &inputs.base_url else {
        writeln!(out, "controller URLs: skipped (no {} set)", vars::BASE_URL)?;
        return Ok(());
    };
    let current = api
        .ok(Method::GET, "/api/v1/controller", None, "reading the controller")
        .await?;
    let wanted = derived_urls(base);
    let text = |key: &str| current[key].as_str().unwrap_or_default().to_string();
    if text("metadata_url").is_empty() || text("callback_url").is_empty() {
        let body: serde_json::Map<String, Value> = wanted.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        api.ok(
            Method::PUT,
            "/api/v1/controller",
            Some(&Value::Object(body)),
            "setting the controller URLs",
        )
        .await?;
        writeln!(out, "controller URLs {base}: set")?;
    } else if wanted.iter().all(|(k, v)| text(k) == *v) {
        writeln!(out, "controller URLs {base}: exist")?;
    } else {
        writeln!(
            out,
            "controller URLs: exist with metadata URL {}; {} differs, left as they are (garm-cli controller update)",
            text("metadata_url"),
            vars::BASE_URL
        )?;
    }
    Ok(())
}

async fn credentials(api: &Api, inputs: &Inputs, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(c) = &inputs.credentials else {
        writeln!(out, "github credentials: skipped (no {} set)", vars::GITHUB_TOKEN)?;
        return Ok(());
    };
    let listed = api
        .ok(Method::GET, "/api/v1/github/credentials", None, "listing credentials")
        .await?;
    let found = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&c.name)));
    if found.is_some() {
        writeln!(out, "github credentials {}: exist (token left as it is)", c.name)?;
        return Ok(());
    }
    let body = json!({
        "name": c.name, "description": "created by garm bootstrap", "endpoint": c.endpoint,
        "auth_type": "pat", "pat": {"oauth2_token": c.token.expose()},
    });
    api.ok(
        Method::POST,
        "/api/v1/github/credentials",
        Some(&body),
        "creating the credentials",
    )
    .await?;
    writeln!(out, "github credentials {}: created", c.name)?;
    Ok(())
}

/// Creates the repository unless it exists; returns its id, if a repository is wanted.
async fn repository(api: &Api, inputs: &Inputs, out: &mut dyn Write) -> anyhow::Result<Option<String>> {
    let Some(r) = &inputs.repository else {
        writeln!(out, "repository: skipped (no {} set)", vars::REPO_OWNER)?;
        return Ok(None);
    };
    let full_name = format!("{}/{}", r.owner, r.name);
    let listed = api
        .ok(Method::GET, "/api/v1/repositories", None, "listing repositories")
        .await?;
    let same = |x: &&Value| {
        x["owner"].as_str().is_some_and(|o| o.eq_ignore_ascii_case(&r.owner))
            && x["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&r.name))
    };
    if let Some(found) = listed.as_array().into_iter().flatten().find(same) {
        let id = found["id"].as_str().unwrap_or_default().to_string();
        writeln!(
            out,
            "repository {full_name}: exists (id {id}; webhook secret left as it is)"
        )?;
        return Ok(Some(id));
    }
    let body = json!({
        "owner": r.owner, "name": r.name, "credentials_name": r.credentials_name,
        "webhook_secret": r.webhook_secret.expose(), "pool_balancer_type": r.balancer, "forge_type": "github",
    });
    let created = api
        .ok(
            Method::POST,
            "/api/v1/repositories",
            Some(&body),
            "creating the repository",
        )
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    writeln!(out, "repository {full_name}: created (id {id})")?;
    Ok(Some(id))
}

fn tag_names(pool: &Value) -> Vec<String> {
    let tags = pool["tags"].as_array().into_iter().flatten();
    tags.filter_map(|t| t["name"].as_str().map(str::to_ascii_lowercase))
        .collect()
}

/// The repository's scale set, found by name; created (in the Actions service too) if missing.
async fn scale_set(
    api: &Api,
    repository_id: &str,
    p: &PoolInput,
    name: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let label = format!("scale set {name}");
    let uri = format!("/api/v1/repositories/{repository_id}/scalesets");
    let listed = api
        .ok(Method::GET, &uri, None, "listing the repository's scale sets")
        .await?;
    if let Some(found) = listed.as_array().into_iter().flatten().find(|s| s["name"] == name) {
        writeln!(out, "{label}: exists (id {})", found["id"])?;
        return Ok(());
    }
    let mut body = json!({
        "name": name, "provider_name": p.provider, "image": p.image, "flavor": p.flavor, "labels": p.tags,
        "os_type": p.os_type, "os_arch": p.os_arch, "enabled": p.enabled,
        "min_idle_runners": p.min_idle_runners, "max_runners": p.max_runners,
        "runner_bootstrap_timeout": p.bootstrap_timeout, "runner_prefix": p.runner_prefix,
    });
    if let Some(specs) = &p.extra_specs {
        body["extra_specs"] = specs.clone();
    }
    let created = api
        .ok(Method::POST, &uri, Some(&body), "creating the scale set")
        .await?;
    writeln!(
        out,
        "{label}: created (id {}, service id {})",
        created["id"], created["scale_set_id"]
    )?;
    Ok(())
}

async fn pool(api: &Api, repository_id: &str, p: &PoolInput, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(name) = &p.scale_set {
        return scale_set(api, repository_id, p, name, out).await;
    }
    let label = format!("pool {} [{}]", p.provider, p.tags.join(","));
    let uri = format!("/api/v1/repositories/{repository_id}/pools");
    let listed = api
        .ok(Method::GET, &uri, None, "listing the repository's pools")
        .await?;
    let mut wanted_tags: Vec<String> = p.tags.iter().map(|t| t.to_ascii_lowercase()).collect();
    wanted_tags.sort();
    let same = |x: &&Value| {
        let mut tags = tag_names(x);
        tags.sort();
        x["provider_name"] == p.provider.as_str() && tags == wanted_tags
    };
    if let Some(found) = listed.as_array().into_iter().flatten().find(same) {
        let id = found["id"].as_str().unwrap_or_default();
        let detail = api
            .ok(Method::GET, &format!("/api/v1/pools/{id}"), None, "reading the pool")
            .await?;
        let checks = [
            ("image", json!(p.image)),
            ("flavor", json!(p.flavor)),
            ("min_idle_runners", json!(p.min_idle_runners)),
            ("max_runners", json!(p.max_runners)),
            ("enabled", json!(p.enabled)),
            ("extra_specs", p.extra_specs.clone().unwrap_or(Value::Null)),
        ];
        // The API omits zero and false values.
        let differs: Vec<&str> = checks
            .iter()
            .filter(|(key, want)| {
                let have = &detail[*key];
                let empty = |v: &Value| v.is_null() || *v == json!(0) || *v == json!(false);
                !(have == want || (empty(have) && empty(want)))
            })
            .map(|(key, _)| *key)
            .collect();
        let note = if differs.is_empty() {
            String::new()
        } else {
            format!(
                "; its {} differ from the environment, left as they are (garm-cli pool update)",
                differs.join(", ")
            )
        };
        writeln!(out, "{label}: exists (id {id}){note}")?;
        return Ok(());
    }
    let mut body = json!({
        "provider_name": p.provider, "image": p.image, "flavor": p.flavor, "tags": p.tags,
        "os_type": p.os_type, "os_arch": p.os_arch, "enabled": p.enabled,
        "min_idle_runners": p.min_idle_runners, "max_runners": p.max_runners,
        "runner_bootstrap_timeout": p.bootstrap_timeout, "runner_prefix": p.runner_prefix,
    });
    if let Some(specs) = &p.extra_specs {
        body["extra_specs"] = specs.clone();
    }
    let created = api.ok(Method::POST, &uri, Some(&body), "creating the pool").await?;
    writeln!(
        out,
        "{label}: created (id {})",
        created["id"].as_str().unwrap_or_default()
    )?;
    Ok(())
}
