//! `AzureError`: everything that can go wrong in the provider, classified for exit codes and retries.

/// A failed provider step.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// The provider's TOML config is unusable.
    #[error("invalid provider config: {0}")]
    Config(String),
    /// The pool's extra specs are malformed or use unknown keys.
    #[error("invalid extra specs: {0}")]
    ExtraSpecs(String),
    /// The requested instance cannot be built as asked; nothing was created.
    #[error("refused before creating anything: {0}")]
    Refused(String),
    /// No credential produced a token.
    #[error("cannot get a token for Azure Resource Manager: {0}")]
    Credential(String),
    /// Azure Resource Manager answered with an error.
    #[error("{method} {url}: HTTP {status} {code}: {message}")]
    Arm {
        method: String,
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The request never got an answer.
    #[error("request {method} {url} failed")]
    Transport {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A long-running operation finished unsuccessfully.
    #[error("Azure operation ended {status}: {code}: {message}")]
    OperationFailed {
        status: String,
        code: String,
        message: String,
    },
    /// The command's deadline passed.
    #[error("gave up {0}: the deadline passed")]
    Deadline(String),
    /// Azure answered something this provider cannot interpret.
    #[error("unexpected answer from Azure: {0}")]
    Protocol(String),
}

impl AzureError {
    /// The HTTP status of an ARM error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Arm { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The ARM or operation error code, if Azure gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::Arm { code, .. } | AzureError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether ARM said the resource (or its group) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
