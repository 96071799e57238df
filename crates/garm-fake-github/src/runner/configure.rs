//! `config.sh`: registration through the runner-admin flow, and `config.sh remove`.

use std::path::Path;

use serde_json::{json, Value};

use super::{api_base, client, delete_files, read, rejected, send, write, RunnerError};
use crate::config::RUNNER_VERSION;
use crate::files::{self, CredentialData, Credentials, RsaParams, RunnerSettings};

/// What `config.sh` is given.
#[derive(Debug, Clone, Default)]
pub struct ConfigureArgs {
    pub url: String,
    pub token: String,
    pub name: String,
    pub labels: Vec<String>,
    pub runner_group: Option<String>,
    pub work: String,
    pub ephemeral: bool,
    pub no_default_labels: bool,
    pub replace: bool,
    pub disable_update: bool,
}

/// The labels the real runner adds unless `--no-default-labels`.
pub fn default_labels() -> Vec<String> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "ARM64",
        "arm" => "ARM",
        _ => "X64",
    };
    vec!["self-hosted".to_owned(), "Linux".to_owned(), arch.to_owned()]
}

/// Registers a runner (`config.sh`) and writes its three files into `dir`.
pub async fn configure(args: &ConfigureArgs, dir: &Path) -> Result<RunnerSettings, RunnerError> {
    if args.no_default_labels && args.labels.is_empty() {
        return Err(RunnerError::Config("--no-default-labels requires --labels".to_owned()));
    }
    let url = url::Url::parse(&args.url).map_err(|_| RunnerError::Config(format!("invalid --url {}", args.url)))?;
    let scope_path = crate::model::Scope::from_web_path(url.path())
        .ok_or_else(|| {
            RunnerError::Config(format!(
                "--url {} names no repository, organization or enterprise",
                args.url
            ))
        })?
        .api_path();
    let api = api_base(&url);
    let http = client();
    let auth = format!("RemoteAuth {}", args.token);
    let what = "runner-registration";
    let request = http
        .post(format!("{api}/actions/runner-registration"))
        .header("Authorization", &auth)
        .json(&json!({"url": args.url, "runner_event": "register"}));
    let (status, _service) = send(what, request).await?;
    if status != 200 {
        return Err(rejected(what, status, &_service));
    }
    let what = "runner-groups";
    let request = http
        .get(format!("{api}{scope_path}/actions/runner-groups"))
        .header("Authorization", &auth);
    let (status, groups) = send(what, request).await?;
    if status != 200 {
        return Err(rejected(what, status, &groups));
    }
    let groups = groups["runner_groups"].as_array().cloned().unwrap_or_default();
    let group = match &args.runner_group {
        Some(name) => groups
            .iter()
            .find(|g| g["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))),
        None => groups.iter().find(|g| g["default"].as_bool() == Some(true)),
    }
    .ok_or_else(|| {
        RunnerError::Config(format!(
            "could not find runner group {:?}",
            args.runner_group.as_deref().unwrap_or("Default")
        ))
    })?;
    let (group_id, group_name) = (
        group["id"].as_u64().unwrap_or(1),
        group["name"].as_str().unwrap_or("Default").to_owned(),
    );
    let what = "runners?name";
    let request = http
        .get(format!("{api}{scope_path}/actions/runners"))
        .query(&[("name", args.name.as_str())])
        .header("Authorization", &auth);
    let (status, existing) = send(what, request).await?;
    if status != 200 {
        return Err(rejected(what, status, &existing));
    }
    let existing_id = existing["runners"][0]["id"].as_u64();
    if existing_id.is_some() && !args.replace {
        return Err(RunnerError::Config(format!(
            "a runner exists with the same name {}",
            args.name
        )));
    }
    let rsa = RsaParams::random();
    let mut labels: Vec<Value> = Vec::new();
    if !args.no_default_labels {
        labels.extend(
            default_labels()
                .into_iter()
                .map(|l| json!({"name": l, "type": "read-only"})),
        );
    }
    labels.extend(args.labels.iter().map(|l| json!({"name": l, "type": "custom"})));
    let mut body = json!({
        "url": args.url,
        "group_id": group_id,
        "name": args.name,
        "version": RUNNER_VERSION,
        "updates_disabled": args.disable_update,
        "ephemeral": args.ephemeral,
        "labels": labels,
        "public_key": rsa.public_key_xml(),
        "os": "linux",
    });
    if let Some(id) = existing_id {
        body["runner_id"] = json!(id);
        body["replace"] = json!(true);
    }
    let what = "register";
    let request = http
        .post(format!("{api}/actions/runners/register"))
        .header("Authorization", &auth)
        .json(&body);
    let (status, registered) = send(what, request).await?;
    if status != 201 && status != 200 {
        return Err(rejected(what, status, &registered));
    }
    let authorization = &registered["authorization"];
    let server_url = authorization["server_url"].as_str().unwrap_or_default().to_owned();
    let settings = RunnerSettings {
        agent_id: registered["id"].as_u64().unwrap_or_default(),
        agent_name: args.name.clone(),
        pool_id: group_id,
        pool_name: group_name,
        server_url: server_url.clone(),
        git_hub_url: args.url.clone(),
        work_folder: args.work.clone(),
        ephemeral: args.ephemeral,
        disable_update: args.disable_update,
        use_v2_flow: true,
        server_url_v2: server_url,
    };
    let credentials = Credentials {
        scheme: "OAuth".to_owned(),
        data: CredentialData {
            client_id: authorization["client_id"].as_str().unwrap_or_default().to_owned(),
            authorization_url: authorization["authorization_url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            require_fips_cryptography: "False".to_owned(),
        },
    };
    for (name, bytes) in files::jit_files(&settings, &credentials, &rsa) {
        write(dir, name, &bytes)?;
    }
    Ok(settings)
}

/// Unregisters the runner configured in `dir` with a remove token and deletes its files.
pub async fn remove(token: &str, dir: &Path) -> Result<(), RunnerError> {
    let settings: RunnerSettings = serde_json::from_slice(&read(dir, ".runner")?)
        .map_err(|_| RunnerError::Config(".runner is not valid".to_owned()))?;
    let url =
        url::Url::parse(&settings.git_hub_url).map_err(|_| RunnerError::Config("gitHubUrl is not a URL".to_owned()))?;
    let http = client();
    let auth = format!("RemoteAuth {token}");
    let what = "runner-registration";
    let request = http
        .post(format!("{}/actions/runner-registration", api_base(&url)))
        .header("Authorization", &auth)
        .json(&json!({"url": settings.git_hub_url, "runner_event": "remove"}));
    let (status, service) = send(what, request).await?;
    if status != 200 {
        return Err(rejected(what, status, &service));
    }
    let server = service["url"].as_str().unwrap_or(&settings.server_url).to_owned();
    let what = "remove runner";
    let request = http
        .delete(format!("{server}runners/{}", settings.agent_id))
        .header("Authorization", &auth);
    let (status, body) = send(what, request).await?;
    if status != 204 && status != 404 {
        return Err(rejected(what, status, &body));
    }
    delete_files(dir);
    Ok(())
}
