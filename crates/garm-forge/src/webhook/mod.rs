//! Webhook deliveries: header names, body decoding, signature checks and typed payloads.

mod payload;
mod signature;

use http::HeaderMap;

pub use payload::{JobAction, Repository, WorkflowJob, WorkflowJobEvent};
pub use signature::{sign_sha256, verify, SignatureError};

const EVENT: &str = "x-github-event";
const GITEA_EVENT: &str = "x-gitea-event";
const DELIVERY: &str = "x-github-delivery";
const GITEA_DELIVERY: &str = "x-gitea-delivery";
const SIGNATURE_256: &str = "x-hub-signature-256";
const HOOK_ID: &str = "x-github-hook-id";
const TARGET_TYPE: &str = "x-github-hook-installation-target-type";
const GITEA_TARGET_TYPE: &str = "x-gitea-hook-installation-target-type";

/// Why a delivery could not be read. Every case is the sender's fault (the server answers 400).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the delivery has no X-GitHub-Event header")]
    MissingEvent,
    #[error("header {name} is not valid text")]
    InvalidHeader { name: &'static str },
    #[error("the delivery body is empty")]
    EmptyBody,
    #[error("the form-encoded body has no payload field")]
    MissingFormPayload,
    #[error("the {event} payload is malformed")]
    MalformedPayload {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("hook target type {0:?} is not known")]
    UnknownTargetType(String),
}

/// Which forge sent the delivery: Gitea adds its own `X-Gitea-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    Github,
    Gitea,
}

/// What the hook that fired is installed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    Repository,
    Organization,
    /// GitHub's `business`.
    Enterprise,
    /// Gitea's `system`: a hook on the whole forge instance.
    ForgeInstance,
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// The body is the JSON document (also assumed when the header is missing or unknown).
    Json,
    /// `application/x-www-form-urlencoded` with the JSON document in the `payload` field.
    Form,
}

/// A parsed webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    WorkflowJob(Box<WorkflowJobEvent>),
    Ping,
    /// Any other event, by its `X-GitHub-Event` name; garm acknowledges and ignores these.
    Other(String),
}

/// What the headers of one delivery say: which forge, which event, which signature, which target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    forge: ForgeKind,
    event: String,
    delivery_id: Option<String>,
    hook_id: Option<String>,
    signature: Option<String>,
    target_type: Option<String>,
    content_type: ContentType,
}

impl Delivery {
    /// Reads the delivery headers (names are case-insensitive).
    ///
    /// Fails when there is no event header (`X-GitHub-Event`, or Gitea's `X-Gitea-Event`)
    /// or when a header this code reads is not visible ASCII. The target type is checked
    /// later, by [`Delivery::target_type`], so that a caller can first decide whether the
    /// delivery is for it at all.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, WebhookError> {
        let event = match header(headers, EVENT)? {
            Some(event) => event,
            None => header(headers, GITEA_EVENT)?.ok_or(WebhookError::MissingEvent)?,
        };
        let delivery_id = match header(headers, DELIVERY)? {
            Some(id) => Some(id),
            None => header(headers, GITEA_DELIVERY)?,
        };
        // An unreadable hook id only weakens de-duplication; it does not refuse the delivery.
        let hook_id = header(headers, HOOK_ID).ok().flatten().filter(|id| !id.is_empty());
        // Only the SHA-256 header counts; a delivery signed with the legacy SHA-1 header
        // alone is treated as unsigned.
        let signature = header(headers, SIGNATURE_256)?;
        let gitea_target = header(headers, GITEA_TARGET_TYPE)?;
        let forge = if gitea_target.is_some() {
            ForgeKind::Gitea
        } else {
            ForgeKind::Github
        };
        let target_type = match gitea_target {
            Some(target) => Some(target),
            None => header(headers, TARGET_TYPE)?,
        };
        let content_type = match header(headers, "content-type")? {
            Some(value) if media_type(&value) == "application/x-www-form-urlencoded" => ContentType::Form,
            _ => ContentType::Json,
        };
        Ok(Self {
            forge,
            event,
            delivery_id,
            hook_id,
            signature,
            target_type,
            content_type,
        })
    }

    pub fn forge(&self) -> ForgeKind {
        self.forge
    }

    /// The event name, e.g. `workflow_job`.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The delivery GUID; a redelivery repeats it.
    pub fn delivery_id(&self) -> Option<&str> {
        self.delivery_id.as_deref()
    }

    /// `X-GitHub-Hook-ID`: the hook that sent this delivery.
    pub fn hook_id(&self) -> Option<&str> {
        self.hook_id.as_deref()
    }

    /// What identifies this delivery to this receiver: GitHub shares one GUID among the
    /// deliveries of an event to several hooks (repository and organization), so the
    /// hook id is part of it when known: `<hook id>:<guid>`, else the GUID alone.
    pub fn dedup_key(&self) -> Option<String> {
        let guid = self.delivery_id.as_deref().filter(|g| !g.is_empty())?;
        Some(match &self.hook_id {
            Some(hook) => format!("{hook}:{guid}"),
            None => guid.to_owned(),
        })
    }

    /// `X-Hub-Signature-256` (the legacy SHA-1 `X-Hub-Signature` is ignored).
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// What the hook is installed on; a missing or unknown value is [`WebhookError::UnknownTargetType`].
    pub fn target_type(&self) -> Result<TargetType, WebhookError> {
        let raw = self.target_type.as_deref().unwrap_or_default();
        let known = |name: &str| raw.eq_ignore_ascii_case(name);
        match self.forge {
            _ if known("repository") => Ok(TargetType::Repository),
            _ if known("organization") => Ok(TargetType::Organization),
            ForgeKind::Github if known("business") => Ok(TargetType::Enterprise),
            ForgeKind::Gitea if known("system") => Ok(TargetType::ForgeInstance),
            _ => Err(WebhookError::UnknownTargetType(raw.to_owned())),
        }
    }

    /// Decodes the body according to the event: `workflow_job` is parsed (an empty or
    /// malformed body is an error), `ping` and every other event are recognised by name only.
    pub fn parse(&self, raw_body: &[u8]) -> Result<Event, WebhookError> {
        match self.event.as_str() {
            "workflow_job" => {
                let json = self.json_body(raw_body)?;
                let wire: payload::WirePayload =
                    serde_json::from_slice(&json).map_err(|source| WebhookError::MalformedPayload {
                        event: self.event.clone(),
                        source,
                    })?;
                Ok(Event::WorkflowJob(Box::new(wire.into())))
            }
            "ping" => Ok(Event::Ping),
            other => Ok(Event::Other(other.to_owned())),
        }
    }

    /// Checks the delivery's signature against `secret` over the raw body; see [`verify`].
    pub fn verify(&self, secret: &[u8], raw_body: &[u8]) -> Result<(), SignatureError> {
        verify(secret, self.signature(), raw_body)
    }

    /// The JSON document: the body itself, or the URL-decoded `payload` field of a form body.
    fn json_body(&self, raw_body: &[u8]) -> Result<Vec<u8>, WebhookError> {
        if raw_body.iter().all(u8::is_ascii_whitespace) {
            return Err(WebhookError::EmptyBody);
        }
        match self.content_type {
            ContentType::Json => Ok(raw_body.to_vec()),
            ContentType::Form => url::form_urlencoded::parse(raw_body)
                .find(|(name, _)| name == "payload")
                .map(|(_, payload)| payload.into_owned().into_bytes())
                .ok_or(WebhookError::MissingFormPayload),
        }
    }
}

fn header(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, WebhookError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map(|text| text.trim().to_owned())
                .map_err(|_| WebhookError::InvalidHeader { name })
        })
        .transpose()
}

/// `application/json; charset=utf-8` → `application/json`, lowercased.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
