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

use crate::config::Config;
use crate::state::App;
use crate::tokens::{random_token_id, UserClaims};
use anyhow::Context as _;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use tower::ServiceExt as _;

mod inputs;

use inputs::invalid;
pub use inputs::{vars, AdminInput, CredentialsInput, InputError, Inputs, PoolInput, RepositoryInput};

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
