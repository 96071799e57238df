//! Repository and organization webhooks: list, create, get, delete, ping.

use http::Method;
use serde::{Deserialize, Deserializer};

use super::{GithubClient, Removed, Scope};
use crate::{ForgeError, Secret};

/// A webhook as GitHub returns it (the secret is never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: i64,
    pub active: bool,
    pub events: Vec<String>,
    /// `config.url`: where deliveries go; find garm's own hook by it.
    pub url: Option<String>,
    /// `config.content_type`: `json` or `form`.
    pub content_type: Option<String>,
    /// `config.insecure_ssl`: TLS verification of the receiver is off.
    pub insecure_ssl: bool,
}

#[derive(Deserialize)]
struct WireHook {
    id: i64,
    #[serde(default)]
    active: bool,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    config: WireHookConfig,
}

#[derive(Default, Deserialize)]
struct WireHookConfig {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default, deserialize_with = "insecure_ssl")]
    insecure_ssl: bool,
}

/// GitHub sends `"0"`/`"1"` and documents a number too.
fn insecure_ssl<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => text.trim() == "1",
        Some(serde_json::Value::Number(number)) => number.as_u64() == Some(1),
        Some(serde_json::Value::Bool(flag)) => flag,
        _ => false,
    })
}

impl From<WireHook> for Hook {
    fn from(wire: WireHook) -> Self {
        Hook {
            id: wire.id,
            active: wire.active,
            events: wire.events,
            url: wire.config.url,
            content_type: wire.config.content_type,
            insecure_ssl: wire.config.insecure_ssl,
        }
    }
}

impl GithubClient {
    /// Every webhook of a repository or organization (all pages).
    pub async fn list_hooks(&self, scope: &Scope) -> Result<Vec<Hook>, ForgeError> {
        let url = self.hooks_url(scope, &[])?;
        self.get_all(url, "hook scope", |hooks: Vec<WireHook>| {
            hooks.into_iter().map(Hook::from).collect()
        })
        .await
    }

    /// Creates an active `json` hook for `workflow_job` events delivering to `url`, signed with `secret`.
    pub async fn create_hook(
        &self,
        scope: &Scope,
        url: &str,
        secret: &Secret,
        insecure_ssl: bool,
    ) -> Result<Hook, ForgeError> {
        let what = "hook scope";
        let endpoint = self.hooks_url(scope, &[])?;
        let body = serde_json::json!({
            "name": "web",
            "active": true,
            "events": ["workflow_job"],
            "config": {
                "url": url,
                "content_type": "json",
                "secret": secret.expose(),
                "insecure_ssl": if insecure_ssl { "1" } else { "0" },
            },
        });
        let answer = self.call(Method::POST, endpoint, Some(&body), what).await?;
        super::decode::<WireHook>(&answer.body, what).map(Hook::from)
    }

    pub async fn get_hook(&self, scope: &Scope, hook_id: i64) -> Result<Hook, ForgeError> {
        let id = hook_id.to_string();
        let url = self.hooks_url(scope, &[&id])?;
        self.get_json::<WireHook>(url, "hook").await.map(Hook::from)
    }

    /// Deletes a hook; one that is already gone is [`Removed::Gone`].
    pub async fn delete_hook(&self, scope: &Scope, hook_id: i64) -> Result<Removed, ForgeError> {
        let id = hook_id.to_string();
        let url = self.hooks_url(scope, &[&id])?;
        match self.call(Method::DELETE, url, None, "hook").await {
            Ok(_) => Ok(Removed::Deleted),
            Err(ForgeError::NotFound { .. }) => Ok(Removed::Gone),
            Err(err) => Err(err),
        }
    }

    /// Asks GitHub to send a `ping` delivery to the hook.
    pub async fn ping_hook(&self, scope: &Scope, hook_id: i64) -> Result<(), ForgeError> {
        let id = hook_id.to_string();
        let url = self.hooks_url(scope, &[&id, "pings"])?;
        self.call(Method::POST, url, None, "hook").await.map(drop)
    }

    /// Enterprises have no webhook API of this kind.
    fn hooks_url(&self, scope: &Scope, rest: &[&str]) -> Result<url::Url, ForgeError> {
        if matches!(scope, Scope::Enterprise(_)) {
            return Err(ForgeError::Unsupported {
                operation: "webhook management",
            });
        }
        let mut segments = vec!["hooks"];
        segments.extend_from_slice(rest);
        Ok(self.scope_url(scope, &segments))
    }
}
