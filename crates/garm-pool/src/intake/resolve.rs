//! Which of our entities a `workflow_job` delivery is for, proven by its signature.
//!
//! The handler hands over the parsed delivery and its raw body and gets back a
//! [`Resolution`] or a [`ResolveError`]; it never looks up entities or computes an HMAC
//! itself. Each distinct candidate secret costs at most one HMAC per delivery
//! ([`Signatures`]), however many lookups (in-memory view, database, every entity of the
//! endpoint) the resolution goes through.

use garm_base::Secret;
use garm_forge::webhook::{Delivery, SignatureError, TargetType, WebhookError, WorkflowJobEvent};
use garm_store::{EntityKind, EntityRecord, Store, StoreError, WebhookView};
use std::sync::Arc;

/// Who a delivery is for.
pub enum Resolution {
    /// One of our entities, and the delivery is signed with its secret. `view` is the
    /// in-memory view that settled it (the fast path), if any.
    Ours {
        entity: Box<EntityRecord>,
        view: Option<Arc<WebhookView>>,
    },
    /// Signed with the secret of one of our entities on that endpoint (a hook we
    /// configured), but for an owner we do not manage: recorded with this reason.
    Unmanaged { reason: String },
    /// For an owner we do not manage and not provably from a hook of ours: acknowledged
    /// and dropped.
    Ignored { owner: String },
}

/// Why a delivery is refused (the server turns each into its HTTP status).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Unreadable(#[from] WebhookError),
    #[error("forge instance hooks are not supported")]
    ForgeInstanceHook,
    /// The delivery names one of our entities but is not signed with its secret.
    #[error("webhook signature for {owner} rejected: {source}")]
    Signature {
        owner: String,
        #[source]
        source: SignatureError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The signature checks of one delivery, remembered per secret: a secret already
/// checked is answered from memory, so one delivery costs at most one HMAC per
/// distinct candidate secret.
pub struct Signatures<'a> {
    delivery: &'a Delivery,
    body: &'a [u8],
    checked: Vec<(Secret, Result<(), SignatureError>)>,
    computed: usize,
}

impl<'a> Signatures<'a> {
    pub fn new(delivery: &'a Delivery, body: &'a [u8]) -> Self {
        Self {
            delivery,
            body,
            checked: Vec::new(),
            computed: 0,
        }
    }

    /// Whether the delivery is signed with `secret`.
    pub fn check(&mut self, secret: &Secret) -> Result<(), SignatureError> {
        if let Some((_, result)) = self.checked.iter().find(|(s, _)| s == secret) {
            return result.clone();
        }
        self.computed += 1;
        let result = self.delivery.verify(secret.expose().as_bytes(), self.body);
        self.checked.push((secret.clone(), result.clone()));
        result
    }

    /// How many HMACs were computed (for tests and the bench).
    pub fn computed(&self) -> usize {
        self.computed
    }
}

/// The entity kind, owner and name the delivery's hook target names.
fn target(delivery: &Delivery, event: &WorkflowJobEvent) -> Result<(EntityKind, String, String), ResolveError> {
    Ok(match delivery.target_type()? {
        TargetType::Repository => (
            EntityKind::Repository,
            event.repository.owner_login.clone(),
            event.repository.name.clone(),
        ),
        TargetType::Organization => (
            EntityKind::Organization,
            String::new(),
            event.organization_login.clone().unwrap_or_default(),
        ),
        TargetType::Enterprise => (
            EntityKind::Enterprise,
            String::new(),
            event.enterprise_slug.clone().unwrap_or_default(),
        ),
        TargetType::ForgeInstance => return Err(ResolveError::ForgeInstanceHook),
    })
}

/// `repository owner/name`, `organization name`: how logs and reasons name the owner.
pub fn describe(kind: EntityKind, owner: &str, name: &str) -> String {
    if owner.is_empty() {
        format!("{} {name}", kind.as_str())
    } else {
        format!("{} {owner}/{name}", kind.as_str())
    }
}

/// Resolves a parsed `workflow_job` delivery to one of our entities.
///
/// The in-memory view answers first; whatever it does not settle (an owner it does not
/// know, a secret that does not verify: another replica may have changed either) is
/// looked up in the database. Nothing is written here.
pub async fn resolve(
    store: &Store,
    delivery: &Delivery,
    body: &[u8],
    event: &WorkflowJobEvent,
) -> Result<Resolution, ResolveError> {
    let (kind, owner, name) = target(delivery, event)?;
    let mut signatures = Signatures::new(delivery, body);
    let base = event.endpoint_base_url().unwrap_or_default();
    let view = store.webhook_view().await?;
    let cached = view
        .endpoint(&base)
        .and_then(|ep| view.entity(kind, &owner, &name, &ep.name))
        .cloned();
    if let Some(entity) = cached {
        if signatures.check(&entity.webhook_secret).is_ok() {
            return Ok(Resolution::Ours {
                entity: Box::new(entity),
                view: Some(view),
            });
        }
    }
    let describe = describe(kind, &owner, &name);
    let job = &event.job;
    tracing::info!(delivery = %delivery.delivery_id().unwrap_or_default(), action = %event.action.as_str(), job_id = job.id, owner = %describe, labels = ?job.labels, "hook received");
    let endpoints = store.endpoints("github").await?;
    let endpoint = endpoints.iter().find(|e| {
        e.base_url
            .trim_end_matches('/')
            .eq_ignore_ascii_case(base.trim_end_matches('/'))
    });
    let Some(endpoint) = endpoint else {
        return Ok(Resolution::Ignored { owner: describe });
    };
    if let Some(entity) = store.find_entity(kind, &owner, &name, &endpoint.name).await? {
        return match signatures.check(&entity.webhook_secret) {
            Ok(()) => Ok(Resolution::Ours {
                entity: Box::new(entity),
                view: None,
            }),
            Err(source) => Err(ResolveError::Signature {
                owner: describe,
                source,
            }),
        };
    }
    // An owner we do not manage: record it (with the reason) only if a hook of ours sent it.
    let ours = store.all_entities().await?;
    let authentic = ours
        .iter()
        .filter(|e| e.endpoint_name == endpoint.name)
        .any(|e| signatures.check(&e.webhook_secret).is_ok());
    Ok(if authentic {
        Resolution::Unmanaged {
            reason: format!("no {describe} is managed by this garm"),
        }
    } else {
        Resolution::Ignored { owner: describe }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use garm_forge::webhook::sign_sha256;

    fn delivery(signature: &str) -> Delivery {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-github-event", "workflow_job".parse().unwrap());
        headers.insert("x-hub-signature-256", signature.parse().unwrap());
        Delivery::from_headers(&headers).unwrap()
    }

    #[test]
    fn each_distinct_secret_costs_one_hmac_however_often_it_is_asked() {
        let body = br#"{"action":"queued"}"#;
        let d = delivery(&sign_sha256(b"right", body));
        let mut signatures = Signatures::new(&d, body);
        let right = Secret::new("right");
        let wrong = Secret::new("wrong");
        assert!(signatures.check(&wrong).is_err());
        assert!(signatures.check(&wrong).is_err());
        assert!(signatures.check(&right).is_ok());
        assert!(signatures.check(&right).is_ok());
        assert!(signatures.check(&Secret::new("wrong")).is_err());
        assert_eq!(signatures.computed(), 2);
    }
}
