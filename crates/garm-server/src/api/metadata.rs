//! The instance-facing endpoints: what a booting runner fetches and reports, under
//! `/api/v1/metadata` and `/api/v1/callbacks`, authenticated by its instance token.

use crate::auth::{bearer, TokenFrom};
use crate::error::ApiError;
use crate::state::App;
use crate::tokens::InstanceClaims;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use garm_api_types as api;
use garm_model::{InstanceStatus, RunnerStatus};
use garm_pool::bootstrap;
use garm_store::{EntityKind, EntityRecord, InstanceRecord, PoolRecord, Transition};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/callbacks/status", post(status))
        .route("/api/v1/callbacks/system-info", post(system_info))
        .route("/api/v1/metadata/runner-registration-token", get(registration_token))
        .route("/api/v1/metadata/credentials/{file}", get(credentials_file))
        .route("/api/v1/metadata/system/service-name", get(service_name))
        .route("/api/v1/metadata/systemd/unit-file", get(unit_file))
        .route("/api/v1/metadata/system/cert-bundle", get(cert_bundle))
        .route("/api/v1/metadata/install-script", get(install_script))
        .route("/api/v1/metadata/runner-metadata", get(runner_metadata))
        .route("/api/v1/metadata/attestation/nonce", get(attestation_nonce))
        .route("/api/v1/metadata/attestation/evidence", post(attestation_evidence))
        .route("/api/v1/metadata/tools/garm-attest", get(attest_tool))
}

/// An authenticated instance: garm's five rules (token, instance, runner still
/// setting up, current create attempt, instance alive).
pub struct Caller {
    pub token: String,
    pub instance: InstanceRecord,
    pub pool: PoolRecord,
    pub entity: EntityRecord,
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers, TokenFrom::Header).ok_or(ApiError::AuthFailed)?;
        let claims: InstanceClaims = app.keys.verify(&token)?;
        if claims.is_agent {
            return Err(ApiError::AuthFailed);
        }
        let instance = app
            .store
            .instance(&claims.name)
            .await
            .map_err(|_| ApiError::AuthFailed)?;
        let pool = app
            .store
            .pool(&instance.pool_id)
            .await
            .map_err(|_| ApiError::AuthFailed)?;
        let entity = app
            .store
            .entity_any(&pool.entity_id)
            .await
            .map_err(|_| ApiError::AuthFailed)?;
        let setting_up = matches!(instance.runner_status, RunnerStatus::Pending | RunnerStatus::Installing);
        let alive = matches!(instance.status, InstanceStatus::Creating | InstanceStatus::Running);
        if !setting_up || !alive || claims.create_attempt != instance.create_attempt || claims.id != instance.id {
            if matches!(
                instance.runner_status,
                RunnerStatus::Active | RunnerStatus::Idle | RunnerStatus::Terminated
            ) {
                // A runner that took its job before its last setup callback: setup is over.
                tracing::info!(instance = %instance.name, runner_status = %instance.runner_status, "instance token no longer accepted: the runner is past setup");
            } else {
                tracing::warn!(instance = %instance.name, runner_status = %instance.runner_status, status = %instance.status, "instance token refused");
            }
            return Err(ApiError::AuthFailed);
        }
        Ok(Caller {
            token,
            instance,
            pool,
            entity,
        })
    }
}

async fn status(
    State(app): State<App>,
    caller: Caller,
    body: Result<Json<api::InstanceStatusUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<super::Empty, ApiError> {
    let Json(update) = body?;
    let to: RunnerStatus = update.status.parse().map_err(ApiError::BadRequest)?;
    let instance = &caller.instance;
    if instance.runner_status.is_terminal() {
        return Ok(super::Empty);
    }
    if let Some(id) = update.agent_id.filter(|id| *id != 0) {
        if instance.agent_id != 0 && instance.agent_id != id {
            return Err(ApiError::bad("agent ID mismatch"));
        }
    }
    let updated = app
        .store
        .modify_instance(&instance.name, Transition::Checked, |i| {
            i.runner_status = to;
            if let Some(id) = update.agent_id.filter(|id| *id != 0) {
                i.agent_id = id;
            }
            i.heartbeat = chrono::Utc::now();
        })
        .await?;
    let level = if to == RunnerStatus::Failed { "error" } else { "info" };
    app.store
        .add_instance_event(&instance.id, "status", level, &update.message)
        .await?;
    match to {
        RunnerStatus::Idle => {
            app.pool
                .metrics
                .observe_created_to_idle((chrono::Utc::now() - instance.created_at).to_std().unwrap_or_default());
            tracing::info!(instance = %instance.name, agent_id = updated.agent_id, "runner registered and idle");
        }
        RunnerStatus::Failed => {
            tracing::warn!(instance = %instance.name, message = %update.message, "runner setup failed")
        }
        _ => tracing::info!(instance = %instance.name, status = %to, message = %update.message, "runner status"),
    }
    app.nudge.pool(&instance.pool_id);
    Ok(super::Empty)
}

async fn system_info(
    State(app): State<App>,
    caller: Caller,
    body: Result<Json<api::SystemInfoUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<super::Empty, ApiError> {
    let Json(info) = body?;
    if info.os_name.is_empty() && info.os_version.is_empty() && info.agent_id.is_none() {
        return Ok(super::Empty);
    }
    app.store
        .modify_instance(&caller.instance.name, Transition::Forced, |i| {
            if !info.os_name.is_empty() {
                i.os_name = info.os_name.clone();
            }
            if !info.os_version.is_empty() {
                i.os_version = info.os_version.clone();
            }
            if let Some(id) = info.agent_id.filter(|id| *id != 0) {
                i.agent_id = id;
            }
        })
        .await?;
    Ok(super::Empty)
}

async fn registration_token(State(app): State<App>, caller: Caller) -> Result<Response, ApiError> {
    let i = &caller.instance;
    if i.jit_config.is_some() || i.token_fetched {
        return Err(ApiError::AuthFailed);
    }
    attestation_gate(&app, &caller, "runner registration token").await?;
    let forge = app
        .pool
        .forges
        .for_entity(&app.store, &caller.entity)
        .await
        .map_err(|err| ApiError::internal(std::io::Error::other(err.chain())))?;
    let token = forge
        .registration_token()
        .await
        .map_err(|err| ApiError::internal(std::io::Error::other(err.to_string())))?;
    app.store
        .modify_instance(&i.name, Transition::Checked, |r| r.token_fetched = true)
        .await?;
    app.store
        .add_instance_event(&i.id, "fetchToken", "info", "runner registration token was retrieved")
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], token.expose().to_string()).into_response())
}

async fn credentials_file(
    State(app): State<App>,
    caller: Caller,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let Some(jit) = caller.instance.jit_config.as_ref() else {
        return Err(ApiError::NotFound("instance has no JIT configuration".into()));
    };
    attestation_gate(&app, &caller, "JIT configuration").await?;
    if !matches!(file.as_str(), "runner" | "credentials" | "credentials_rsaparams") {
        return Err(ApiError::NotFound(format!("no such file: {file}")));
    }
    let files: Value =
        serde_json::from_str(jit.expose()).map_err(|_| ApiError::NotFound("JIT configuration is unreadable".into()))?;
    let name = format!(".{file}");
    let encoded = files
        .get(&name)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::NotFound(format!("no such file: {name}")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| ApiError::NotFound(format!("{name} is not base64")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename={name}")),
        ],
        bytes,
    )
        .into_response())
}

fn service_name_of(entity: &EntityRecord) -> String {
    match entity.kind {
        EntityKind::Repository => format!("actions.runner.{}.{}", entity.owner, entity.name),
        _ => format!("actions.runner.{}", entity.name),
    }
}

async fn service_name(caller: Caller) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], service_name_of(&caller.entity)).into_response()
}

#[derive(Deserialize)]
struct UnitQuery {
    #[serde(default, rename = "runAsUser")]
    run_as_user: Option<String>,
}

/// The pool's proxy as its runners get it (credentials in the URLs); empty without one.
async fn pool_proxy(app: &App, pool: &garm_store::PoolRecord) -> Result<bootstrap::ProxyConfig, ApiError> {
    let proxy = match pool.proxy_id {
        Some(id) => match app.store.proxy(id).await {
            Ok(p) => Some(p),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    Ok(bootstrap::proxy_config(proxy.as_ref()))
}

/// `Environment=` lines for the proxy, both letter cases, `%` escaped for systemd.
fn proxy_environment(proxy: &bootstrap::ProxyConfig) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("HTTP_PROXY", &proxy.http_proxy),
        ("HTTPS_PROXY", &proxy.https_proxy),
        ("NO_PROXY", &proxy.no_proxy),
    ] {
        if value.is_empty() {
            continue;
        }
        let value = value.replace('%', "%%").replace('"', "\\\"");
        out.push_str(&format!("Environment=\"{name}={value}\"\n"));
        out.push_str(&format!("Environment=\"{}={value}\"\n", name.to_lowercase()));
    }
    out
}

async fn unit_file(State(app): State<App>, caller: Caller, Query(q): Query<UnitQuery>) -> Result<Response, ApiError> {
    let user = q
        .run_as_user
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "runner".into());
    // The name goes into `User=` and paths of the unit: anything but a plain user name could
    // add lines to it.
    garm_model::names::check_unix_user("runAsUser", &user).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let service = service_name_of(&caller.entity);
    let environment = proxy_environment(&pool_proxy(&app, &caller.pool).await?);
    let unit = format!(
        "[Unit]\nDescription=GitHub Actions Runner ({service})\nAfter=network.target\n\n[Service]\nExecStart=/home/{user}/actions-runner/runsvc.sh\nUser={user}\nWorkingDirectory=/home/{user}/actions-runner\n{environment}KillMode=process\nKillSignal=SIGTERM\nTimeoutStopSec=5min\n\n[Install]\nWantedBy=multi-user.target\n"
    );
    Ok(([(header::CONTENT_TYPE, "text/plain")], unit).into_response())
}

async fn ca_bundle(app: &App, entity: &EntityRecord) -> Result<Vec<u8>, ApiError> {
    let endpoint = app.store.endpoint(&entity.endpoint_name).await?;
    let controller = app.store.controller().await?;
    let mut bundle = endpoint.ca_cert_bundle;
    if !controller.ca_cert_bundle.is_empty() && controller.ca_cert_bundle != bundle {
        bundle.extend_from_slice(&controller.ca_cert_bundle);
    }
    Ok(bundle)
}

async fn cert_bundle(State(app): State<App>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let bundle = ca_bundle(&app, &caller.entity).await?;
    let mut certs = serde_json::Map::new();
    for der in rustls_pemfile::certs(&mut std::io::BufReader::new(&bundle[..])).flatten() {
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) {
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                base64::engine::general_purpose::STANDARD.encode(der.as_ref())
            );
            certs.insert(
                cert.serial.to_string(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(pem)),
            );
        }
    }
    Ok(Json(json!({ "root_certificates": certs })))
}

async fn install_script(State(app): State<App>, caller: Caller) -> Result<Response, ApiError> {
    let stored = match caller.pool.template_id {
        Some(id) => match app.store.template(id).await {
            Ok(t) => Some(t.data),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    let Some(source) = bootstrap::script_template(&caller.pool, stored.as_deref()) else {
        return Err(ApiError::Conflict("pool has no install template".into()));
    };
    let endpoint = app.store.endpoint(&caller.entity.endpoint_name).await?;
    let tools = app
        .pool
        .forges
        .tools(&app.store, &caller.entity, app.pool.settings.tools_ttl)
        .await
        .unwrap_or_default();
    let bundle = ca_bundle(&app, &caller.entity).await?;
    let proxy = pool_proxy(&app, &caller.pool).await?;
    let context = bootstrap::script_context(bootstrap::ScriptInput {
        instance: &caller.instance,
        pool: &caller.pool,
        repo_url: bootstrap::repo_url(&endpoint, &caller.entity),
        tools: &tools,
        token: &caller.token,
        ca_bundle: &bundle,
        controller_id: &app.controller_id,
        proxy: &proxy,
    });
    let rendered = garm_template::parse(&source)
        .and_then(|t| t.render(&context))
        .map_err(|err| ApiError::bad(format!("rendering the install script: {err}")))?;
    tracing::info!(instance = %caller.instance.name, "install script served");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], rendered).into_response())
}

async fn runner_metadata(State(app): State<App>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let endpoint = app.store.endpoint(&caller.entity.endpoint_name).await?;
    let tools = app
        .pool
        .forges
        .tools(&app.store, &caller.entity, app.pool.settings.tools_ttl)
        .await
        .unwrap_or_default();
    let tool = garm_pool::forge::pick_tool(&tools, &caller.pool.os_type, &caller.pool.os_arch);
    let bundle = ca_bundle(&app, &caller.entity).await?;
    let mut bundles = serde_json::Map::new();
    if !bundle.is_empty() {
        bundles.insert(
            caller.entity.endpoint_name.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(&bundle)),
        );
    }
    let specs: Value = caller
        .pool
        .extra_specs
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(json!({}));
    let jit = caller.instance.jit_config.is_some();
    Ok(Json(json!({
        "metadata_access": {
            "callback_url": caller.instance.callback_url,
            "metadata_url": caller.instance.metadata_url,
            "agent_url": "",
        },
        "forge_type": "github",
        "runner_registration_url": bootstrap::repo_url(&endpoint, &caller.entity),
        "runner_name": caller.instance.name,
        "runner_labels": if jit { Vec::new() } else { bootstrap::runner_labels(&caller.pool, &app.controller_id) },
        "ca_bundles": bundles,
        "extra_specs": specs,
        "agent_mode": false,
        "agent_token": "",
        "agent_shell_enabled": false,
        "jit_enabled": jit,
        "runner_tools": tool.map(|t| json!({
            "os": t.os, "architecture": t.architecture, "download_url": t.download_url, "filename": t.filename,
            "temp_download_token": t.temp_download_token.clone().unwrap_or_default(),
            "sha256_checksum": t.sha256_checksum.clone().unwrap_or_default(),
        })),
    })))
}

// ---- attestation ----------------------------------------------------------------

/// Runner credentials go only to an instance that proved, with accepted evidence, that it
/// is a confidential VM — when its pool requires it. Any other caller is refused with
/// the reason, and its instance is marked failed so the pool manager deletes it.
async fn attestation_gate(app: &App, caller: &Caller, what: &str) -> Result<(), ApiError> {
    let required = match garm_attest::from_extra_specs(caller.pool.extra_specs.as_deref()) {
        Ok(settings) => settings.required(),
        // Checked when the pool was written; should it not parse now, the pool may have
        // meant to require attestation, so nothing is handed out.
        Err(err) => {
            let reason = format!("the pool's attestation settings are invalid: {err}");
            fail_instance(app, &caller.instance, &format!("{what} refused: {reason}")).await?;
            return Err(ApiError::Forbidden(reason));
        }
    };
    if !required {
        return Ok(());
    }
    let reason = match app.store.attestation(&caller.instance.id).await? {
        Some(recorded) if recorded.accepted => return Ok(()),
        Some(recorded) => {
            let code = serde_json::from_str::<garm_attest::Verdict>(&recorded.verdict)
                .map(|v| v.reason)
                .unwrap_or_else(|_| "refused".into());
            format!("attestation was refused ({code})")
        }
        None => "the pool requires attestation and this instance has not attested: get a nonce from /api/v1/metadata/attestation/nonce and post evidence to /api/v1/metadata/attestation/evidence".into(),
    };
    fail_instance(app, &caller.instance, &format!("{what} refused: {reason}")).await?;
    Err(ApiError::Forbidden(reason))
}

/// Marks an instance's runner failed and, when its state allows, pending deletion.
async fn fail_instance(app: &App, instance: &InstanceRecord, message: &str) -> Result<(), ApiError> {
    let after = app
        .store
        .modify_instance(&instance.name, Transition::Checked, |i| {
            i.runner_status = RunnerStatus::Failed;
            if i.status.can_become(InstanceStatus::PendingDelete) {
                i.status = InstanceStatus::PendingDelete;
            }
        })
        .await?;
    app.store
        .add_instance_event(&instance.id, "attestation", "error", message)
        .await?;
    tracing::warn!(instance = %instance.name, pool = %instance.pool_id, status = %after.status, "{message}; the instance is marked failed and will be deleted");
    app.nudge.pool(&instance.pool_id);
    Ok(())
}

async fn attestation_nonce(State(app): State<App>, caller: Caller) -> Json<Value> {
    let nonce = app.attest.issue(&caller.instance.id);
    tracing::info!(instance = %caller.instance.name, fixed = app.attest.fixed_nonce(), "attestation nonce issued");
    Json(json!({
        "nonce": hex::encode(nonce),
        "expires_in_seconds": app.attest.ttl().as_secs(),
    }))
}

async fn attestation_evidence(
    State(app): State<App>,
    caller: Caller,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let instance = &caller.instance;
    let settings = garm_attest::from_extra_specs(caller.pool.extra_specs.as_deref()).unwrap_or_default();
    let policy = settings.policy.unwrap_or_default();
    // A body that is not evidence at all is a client error: nothing is recorded and the
    // nonce stays outstanding. Evidence that fails a check is a verdict.
    let evidence = garm_attest::Evidence::from_json(&body.to_string())
        .map_err(|err| ApiError::BadRequest(format!("not attestation evidence: {err}")))?;
    let Some(nonce) = app.attest.take(&instance.id) else {
        return Err(ApiError::Conflict(
            "no outstanding nonce for this instance: nonces are single-use and expire; get one from /api/v1/metadata/attestation/nonce".into(),
        ));
    };
    let at = app.attest.now();
    let checked = policy.clone();
    let mut verdict = tokio::task::spawn_blocking(move || garm_attest::verify(&evidence, &nonce, &checked, at))
        .await
        .map_err(ApiError::internal)?;
    let names_its_vm = verdict.facts.as_ref().is_some_and(|f| f.vm_unique_id.is_some());
    if verdict.accepted && (names_its_vm || policy.require_vm_identity) {
        // Genuine and within policy: now it must also be the VM garm's provider created (the
        // provider is asked only when there is a VM id to compare, or the pool requires one).
        let provider_vm_id = provider_vm_id(&app, &caller).await.map_err(|reason| {
            tracing::warn!(instance = %instance.name, pool = %instance.pool_id, %reason, "attestation not decided: the provider could not be asked for the VM's id");
            ApiError::Unavailable(format!(
                "the evidence could not be matched with the VM the provider created ({reason}); get a new nonce and post the evidence again"
            ))
        })?;
        match provider_vm_id {
            ProviderVm::Reported(id) => garm_attest::bind_vm_identity(&mut verdict, id.as_deref(), &policy),
            ProviderVm::Gone => garm_attest::refuse_vm_not_found(&mut verdict),
        }
    }
    let recorded = serde_json::to_string(&verdict).expect("a verdict serializes");
    app.store
        .record_attestation(&instance.id, verdict.accepted, &recorded)
        .await?;
    if verdict.accepted {
        let facts = verdict.facts.as_ref();
        let summary = facts
            .map(|f| {
                format!(
                    "attestation accepted: SEV-SNP {} at VMPL {}, TCB {}, measurement {}",
                    f.product.as_str(),
                    f.vmpl,
                    f.reported_tcb,
                    f.measurement
                )
            })
            .unwrap_or_else(|| "attestation accepted".into());
        app.store
            .add_instance_event(&instance.id, "attestation", "info", &summary)
            .await?;
        tracing::info!(instance = %instance.name, pool = %instance.pool_id, product = %facts.map(|f| f.product.as_str()).unwrap_or_default(), measurement = %facts.map(|f| f.measurement.as_str()).unwrap_or_default(), vm_unique_id = %facts.and_then(|f| f.vm_unique_id.as_deref()).unwrap_or_default(), provider_vm_id = %facts.and_then(|f| f.provider_vm_id.as_deref()).unwrap_or("not reported"), "attestation accepted");
        return Ok(Json(serde_json::to_value(&verdict).expect("a verdict serializes")));
    }
    let reason = format!("attestation refused ({}): {}", verdict.reason, verdict.detail);
    fail_instance(&app, instance, &reason).await?;
    Err(ApiError::Forbidden(reason))
}

/// What the instance's provider says of its VM.
enum ProviderVm {
    /// The instance exists; its VM id (`GetInstance`'s `vm_id`, Azure's ARM `vmId`), if the
    /// provider reports one.
    Reported(Option<String>),
    /// The provider has no such instance.
    Gone,
}

/// Asks the instance's provider for its VM. An error is a provider that could not be asked;
/// no verdict is recorded then.
async fn provider_vm_id(app: &App, caller: &Caller) -> Result<ProviderVm, String> {
    let pool = &caller.pool;
    let provider = app
        .pool
        .provider(&pool.provider_name)
        .ok_or_else(|| format!("provider {} is not configured", pool.provider_name))?;
    let instance = &caller.instance;
    let id = instance.provider_id.as_deref().unwrap_or(&instance.name);
    match provider
        .get(id, garm_provider::PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
        .await
    {
        Ok(found) => Ok(ProviderVm::Reported(
            Some(found.vm_id).filter(|vm_id| !vm_id.trim().is_empty()),
        )),
        Err(garm_provider::ProviderError::NotFound) => Ok(ProviderVm::Gone),
        Err(err) => Err(crate::error::chain(&err)),
    }
}

/// The `garm-attest` binary an attesting instance runs: `[attestation] tool_path`, or
/// `garm-attest` next to the `garm` executable.
async fn attest_tool(State(app): State<App>, _caller: Caller) -> Result<Response, ApiError> {
    let path = match &app.config.attestation.tool_path {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(ApiError::internal)?
            .with_file_name("garm-attest"),
    };
    let bytes = tokio::fs::read(&path).await.map_err(|err| {
        tracing::warn!(path = %path.display(), error = %err, "garm-attest binary not available");
        ApiError::NotFound("garm-attest is not available on this server".into())
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=garm-attest".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
