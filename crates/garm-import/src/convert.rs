//! garm's controller, users, endpoints, credentials and entities as garm-rs records.

use crate::read::{Col, Reader};
use crate::report::Report;
use crate::unseal::GarmUnsealer;
use crate::ImportError;
use base64::Engine;
use garm_model::{BalancerType, Secret};
use garm_store::*;
use std::collections::{HashMap, HashSet};

/// Newest events kept per entity (garm-rs keeps as many).
const EVENTS_KEPT: usize = 30;

/// What has been carried so far, for the objects that refer to it.
pub(crate) struct Taken<'u> {
    pub unsealer: &'u GarmUnsealer,
    pub set: ImportSet,
    pub report: Report,
    /// Carried endpoint names.
    pub endpoints: HashSet<String>,
    /// Endpoint name → endpoint type, for every endpoint of the source.
    pub endpoint_types: HashMap<String, String>,
    pub credentials: HashSet<i64>,
    /// Carried entity id → display name.
    pub entities: HashMap<String, String>,
}

impl Taken<'_> {
    pub fn unseal(&mut self, what: impl FnOnce() -> String, sealed: &[u8]) -> Result<Vec<u8>, ImportError> {
        match self.unsealer.open(sealed) {
            Ok((plain, format)) => {
                self.report.sealed_value(format);
                Ok(plain)
            }
            Err(source) => Err(ImportError::Unseal { what: what(), source }),
        }
    }

    fn unseal_text(&mut self, what: impl Fn() -> String, sealed: &[u8]) -> Result<String, ImportError> {
        let plain = self.unseal(&what, sealed)?;
        String::from_utf8(plain).map_err(|_| ImportError::Corrupt {
            what: format!("{} is not UTF-8 text", what()),
        })
    }
}

pub(crate) async fn controller(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    let rows = r
        .rows(
            "controller_infos",
            &[
                Col::Text("controller_id"),
                Col::Text("callback_url"),
                Col::Text("metadata_url"),
                Col::Text("webhook_base_url"),
                Col::Text("agent_url"),
                Col::Text("garm_agent_releases_url"),
                Col::Flag("sync_garm_agent_tools"),
                Col::Text("garm_agent_version"),
                Col::Int("minimum_job_age_backoff"),
                Col::Flag("allow_insecure_garm_agent"),
                Col::Bytes("ca_cert_bundle"),
            ],
            "created_at",
        )
        .await?;
    let Some(row) = rows.first() else {
        t.report
            .notes
            .push("garm was never initialized (no controller row)".into());
        return Ok(());
    };
    let controller = ControllerRecord {
        controller_id: row.text("controller_id")?,
        metadata_url: row.text("metadata_url")?,
        callback_url: row.text("callback_url")?,
        webhook_url: row.text("webhook_base_url")?,
        agent_url: row.text("agent_url")?,
        minimum_job_age_backoff: row.int("minimum_job_age_backoff")?.max(0) as u32,
        ca_cert_bundle: row.bytes("ca_cert_bundle")?.unwrap_or_default(),
        garm_agent_releases_url: row.text("garm_agent_releases_url")?,
        enable_agent_tools_sync: row.flag("sync_garm_agent_tools")?,
        garm_agent_version: row.text("garm_agent_version")?,
        allow_insecure_garm_agent: row.flag("allow_insecure_garm_agent")?,
    };
    t.report.controller_id = Some(controller.controller_id.clone());
    t.report.carry("controller", controller.controller_id.clone());
    t.set.controller = Some(controller);
    Ok(())
}

pub(crate) async fn users(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    let cols = [
        Col::Text("id"),
        Col::Text("username"),
        Col::Text("full_name"),
        Col::Text("email"),
        Col::Text("password"),
        Col::Int("generation"),
        Col::Flag("is_admin"),
        Col::Flag("enabled"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    for row in r.rows("users", &cols, "created_at, id").await? {
        let user = UserRecord {
            id: row.text("id")?,
            username: row.text("username")?,
            email: row.text("email")?,
            full_name: row.text("full_name")?,
            // bcrypt hashes are carried as they are: the same passwords keep working.
            password_hash: row.text("password")?,
            generation: row.int("generation")?,
            is_admin: row.flag("is_admin")?,
            enabled: row.flag("enabled")?,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        };
        t.report.carry("users", user.username.clone());
        t.set.users.push(user);
    }
    Ok(())
}

pub(crate) async fn endpoints(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    let cols = [
        Col::Text("name"),
        Col::Text("endpoint_type"),
        Col::Text("description"),
        Col::Text("api_base_url"),
        Col::Text("upload_base_url"),
        Col::Text("base_url"),
        Col::Bytes("ca_cert_bundle"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    for row in r.rows("github_endpoints", &cols, "created_at, name").await? {
        let name = row.text("name")?;
        let endpoint_type = row.opt_text("endpoint_type")?.unwrap_or_else(|| "github".into());
        t.endpoint_types.insert(name.clone(), endpoint_type.clone());
        if endpoint_type != "github" {
            t.report.skip(
                "endpoint",
                &name,
                format!("{endpoint_type} endpoints are not supported by garm-rs"),
            );
            continue;
        }
        t.report.carry("endpoints", name.clone());
        t.endpoints.insert(name.clone());
        t.set.endpoints.push(EndpointRecord {
            name,
            endpoint_type,
            description: row.text("description")?,
            api_base_url: row.text("api_base_url")?,
            upload_base_url: row.text("upload_base_url")?,
            base_url: row.text("base_url")?,
            ca_cert_bundle: row.bytes("ca_cert_bundle")?.unwrap_or_default(),
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        });
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct GarmCredentialsPayload {
    #[serde(default)]
    oauth2_token: String,
    #[serde(default)]
    app_id: i64,
    #[serde(default)]
    installation_id: i64,
    /// Go `[]byte`: base64 of the PEM file.
    #[serde(default)]
    private_key_bytes: String,
}

pub(crate) async fn credentials(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    let cols = [
        Col::Int("id"),
        Col::Text("name"),
        Col::Text("description"),
        Col::Text("auth_type"),
        Col::Bytes("payload"),
        Col::Text("endpoint_name"),
        Col::Text("created_at"),
        Col::Text("updated_at"),
    ];
    for row in r.rows("github_credentials", &cols, "id").await? {
        let name = row.text("name")?;
        let endpoint_name = row.text("endpoint_name")?;
        if !t.endpoints.contains(&endpoint_name) {
            t.report.skip(
                "credentials",
                &name,
                format!("endpoint {endpoint_name:?} is not carried"),
            );
            continue;
        }
        let what = || format!("credentials {name}");
        let plain = t.unseal_text(what, &row.bytes("payload")?.unwrap_or_default())?;
        let payload: GarmCredentialsPayload = serde_json::from_str(&plain).map_err(|_| ImportError::Corrupt {
            what: format!("the payload of credentials {name} is not garm's JSON"),
        })?;
        let secret = match row.text("auth_type")?.as_str() {
            "app" => {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(&payload.private_key_bytes)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| ImportError::Corrupt {
                        what: format!("the private key of credentials {name} is not base64 PEM"),
                    })?;
                CredentialSecret::App {
                    app_id: payload.app_id,
                    installation_id: payload.installation_id,
                    private_key_pem: Secret::new(pem),
                }
            }
            _ => CredentialSecret::Pat {
                token: Secret::new(payload.oauth2_token),
            },
        };
        let id = row.int("id")?;
        t.credentials.insert(id);
        t.report.carry("credentials", name.clone());
        t.set.credentials.push(CredentialsRecord {
            id,
            name,
            description: row.text("description")?,
            forge_type: "github".into(),
            endpoint_name,
            secret,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        });
    }
    for row in r.rows("gitea_credentials", &[Col::Text("name")], "id").await? {
        t.report.skip(
            "credentials",
            row.text("name")?,
            "Gitea credentials are not supported by garm-rs",
        );
    }
    Ok(())
}

pub(crate) async fn entities(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    for kind in [EntityKind::Repository, EntityKind::Organization, EntityKind::Enterprise] {
        let table = match kind {
            EntityKind::Repository => "repositories",
            EntityKind::Organization => "organizations",
            EntityKind::Enterprise => "enterprises",
        };
        // Enterprises have no owner and no Gitea credentials: those read as unset.
        let cols = [
            Col::Text("id"),
            Col::Text("owner"),
            Col::Int("gitea_credentials_id"),
            Col::Text("name"),
            Col::Int("credentials_id"),
            Col::Bytes("webhook_secret"),
            Col::Text("pool_balancer_type"),
            Col::Flag("agent_mode"),
            Col::Text("endpoint_name"),
            Col::Text("created_at"),
            Col::Text("updated_at"),
        ];
        for row in r.rows(table, &cols, "created_at, id").await? {
            let owner = row.text("owner")?;
            let name = row.text("name")?;
            let display = if owner.is_empty() {
                name.clone()
            } else {
                format!("{owner}/{name}")
            };
            let endpoint_name = row.text("endpoint_name")?;
            let credentials_id = row.opt_int("credentials_id")?;
            let gitea = row.opt_int("gitea_credentials_id")?.is_some()
                || t.endpoint_types.get(&endpoint_name).is_some_and(|k| k != "github");
            let why_not = if gitea {
                Some("Gitea entities are not supported by garm-rs".to_string())
            } else if !t.endpoints.contains(&endpoint_name) {
                Some(format!("endpoint {endpoint_name:?} is not carried"))
            } else if !credentials_id.is_some_and(|id| t.credentials.contains(&id)) {
                Some("its credentials are not carried".to_string())
            } else {
                None
            };
            if let Some(reason) = why_not {
                t.report.skip(kind.as_str(), &display, reason);
                continue;
            }
            let what = || format!("the webhook secret of {} {display}", kind.as_str());
            let secret = match row.bytes("webhook_secret")? {
                Some(sealed) if !sealed.is_empty() => t.unseal_text(what, &sealed)?,
                _ => String::new(),
            };
            let id = row.text("id")?;
            t.entities.insert(id.clone(), display.clone());
            t.report.carry(table, display);
            t.set.entities.push(EntityRecord {
                id: id.into(),
                kind,
                owner,
                name,
                endpoint_name,
                credentials_id: credentials_id.unwrap_or_default(),
                webhook_secret: Secret::new(secret),
                balancer: BalancerType::parse(&row.text("pool_balancer_type")?).unwrap_or_default(),
                agent_mode: row.flag("agent_mode")?,
                pool_manager_running: false,
                failure_reason: String::new(),
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
            });
        }
    }
    for row in r
        .rows("forge_instances", &[Col::Text("endpoint_name")], "created_at")
        .await?
    {
        t.report.skip(
            "gitea instance",
            row.text("endpoint_name")?,
            "Gitea entities are not supported by garm-rs",
        );
    }
    Ok(())
}

pub(crate) async fn events(r: &mut Reader<'_>, t: &mut Taken<'_>) -> Result<(), ImportError> {
    for (table, owner) in [
        ("repository_events", "repo_id"),
        ("organization_events", "org_id"),
        ("enterprise_events", "enterprise_id"),
    ] {
        let cols = [
            Col::Text(owner),
            Col::Text("event_type"),
            Col::Text("event_level"),
            Col::Text("message"),
            Col::Text("created_at"),
        ];
        let mut per_entity: std::collections::BTreeMap<String, Vec<EventRecord>> = Default::default();
        for row in r.rows(table, &cols, "id").await? {
            let entity_id = row.text(owner)?;
            if !t.entities.contains_key(&entity_id) {
                continue;
            }
            per_entity.entry(entity_id).or_default().push(EventRecord {
                id: 0,
                created_at: row.time("created_at")?,
                event_type: row.text("event_type")?,
                event_level: row.text("event_level")?,
                message: row.text("message")?,
            });
        }
        for (entity_id, list) in per_entity {
            let skip = list.len().saturating_sub(EVENTS_KEPT);
            let kept = list.len() - skip;
            t.report
                .carry("entity events", format!("{} ({kept})", t.entities[&entity_id]));
            for event in list.into_iter().skip(skip) {
                t.set.entity_events.push((entity_id.clone().into(), event));
            }
        }
    }
    Ok(())
}
