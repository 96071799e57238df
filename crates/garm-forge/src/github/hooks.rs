//! Repository and organization webhooks: list, create, get, delete, ping, and the delivery log
//! (list deliveries, redeliver one).

use chrono::{DateTime, Utc};
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

/// One attempt at delivering an event to a hook, as GitHub's delivery log lists it.
///
/// See <https://docs.github.com/en/rest/webhooks/repo-deliveries>.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    /// The id to redeliver it with.
    pub id: i64,
    /// The `X-GitHub-Delivery` value; a redelivery repeats it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub guid: String,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub redelivery: bool,
    /// `OK` or a failure text such as `Invalid HTTP Response: 503`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub status: String,
    /// What the receiver answered; `0` when it could not be reached.
    #[serde(default)]
    pub status_code: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
}

impl HookDelivery {
    /// The receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// Which deliveries to list (the `status` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFilter {
    All,
    /// Only deliveries the receiver did not answer with 2xx.
    Failed,
}

/// One page of a hook's delivery log, newest first, and the cursor of the next (older) page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    pub next_cursor: Option<String>,
}

impl GithubClient {
    /// One page (at most `per_page`, up to 100) of a hook's delivery log, newest first,
    /// starting at `cursor` (from a previous page's [`DeliveryPage::next_cursor`]).
    pub async fn list_hook_deliveries(
        &self,
        scope: &Scope,
        hook_id: i64,
        filter: DeliveryFilter,
        cursor: Option<&str>,
        per_page: u32,
    ) -> Result<DeliveryPage, ForgeError> {
        let id = hook_id.to_string();
        let mut url = self.hooks_url(scope, &[&id, "deliveries"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("per_page", &per_page.clamp(1, 100).to_string());
            if filter == DeliveryFilter::Failed {
                query.append_pair("status", "failure");
            }
            if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
                query.append_pair("cursor", cursor);
            }
        }
        let what = "hook";
        let answer = self.call(Method::GET, url, None, what).await?;
        let deliveries: Vec<HookDelivery> = super::decode(&answer.body, what)?;
        let next_cursor = super::rate_limit::next_link(&answer.headers).and_then(|next| {
            next.query_pairs()
                .find(|(name, _)| name == "cursor")
                .map(|(_, value)| value.into_owned())
        });
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }

    /// Asks GitHub to deliver a logged delivery again (same GUID and body); `202` on success.
    pub async fn redeliver_hook_delivery(
        &self,
        scope: &Scope,
        hook_id: i64,
        delivery_id: i64,
    ) -> Result<(), ForgeError> {
        let id = hook_id.to_string();
        let delivery = delivery_id.to_string();
        let url = self.hooks_url(scope, &[&id, "deliveries", &delivery, "attempts"])?;
        self.call(Method::POST, url, None, "hook delivery").await.map(drop)
    }

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
