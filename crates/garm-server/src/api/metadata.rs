//! The instance-facing endpoints: what a booting runner fetches and reports, under
//! `/api/v1/metadata` and `/api/v1/callbacks`, authenticated by its instance token.

use crate::auth::{bearer, InstanceClaims};
use crate::error::ApiError;
use crate::state::App;
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
        let token = bearer(&parts.headers, false).ok_or(ApiError::AuthFailed)?;
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
        .modify_instance(&i.name, Transition::Forced, |r| r.token_fetched = true)
        .await?;
    app.store
        .add_instance_event(&i.id, "fetchToken", "info", "runner registration token was retrieved")
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], token.expose().to_string()).into_response())
}

async fn credentials_file(caller: Caller, Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some(jit) = caller.instance.jit_config.as_ref() else {
        return Err(ApiError::NotFound("instance has no JIT configuration".into()));
    };
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

async fn unit_file(caller: Caller, Query(q): Query<UnitQuery>) -> Result<Response, ApiError> {
    let user = q
        .run_as_user
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "runner".into());
    // The name goes into `User=` and paths of the unit: anything but a plain user name could
    // add lines to it.
    garm_model::names::check_unix_user("runAsUser", &user).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let service = service_name_of(&caller.entity);
    let unit = format!(
        "[Unit]\nDescription=GitHub Actions Runner ({service})\nAfter=network.target\n\n[Service]\nExecStart=/home/{user}/actions-runner/runsvc.sh\nUser={user}\nWorkingDirectory=/home/{user}/actions-runner\nKillMode=process\nKillSignal=SIGTERM\nTimeoutStopSec=5min\n\n[Install]\nWantedBy=multi-user.target\n"
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
    let context = bootstrap::script_context(bootstrap::ScriptInput {
        instance: &caller.instance,
        pool: &caller.pool,
        repo_url: bootstrap::repo_url(&endpoint, &caller.entity),
        tools: &tools,
        token: &caller.token,
        ca_bundle: &bundle,
        controller_id: &app.controller_id,
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
