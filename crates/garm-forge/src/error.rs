//! `ForgeError`: what can go wrong when talking to a forge's REST API.

use chrono::{DateTime, Utc};
use url::Url;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failed forge API call. Classify with the `is_*` methods, not by message text.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("the forge rejected our credentials")]
    Unauthorized,
    #[error("the forge refused the request")]
    Forbidden,
    #[error("{what} does not exist on the forge")]
    NotFound { what: &'static str },
    #[error("the runner is busy and cannot be removed")]
    RunnerBusy,
    /// Nothing is sent to the endpoint before `reset_at`.
    #[error("rate limited until {reset_at}")]
    RateLimited { reset_at: DateTime<Utc> },
    #[error("the forge rejected the request as invalid: {message}")]
    Validation { message: String },
    #[error("the forge reports a conflict: {message}")]
    Conflict { message: String },
    #[error("the forge answered with server error {status}")]
    Server { status: u16 },
    #[error("the forge answered with unexpected status {status}: {message}")]
    UnexpectedStatus { status: u16, message: String },
    #[error("request to {endpoint} failed")]
    Transport {
        endpoint: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("could not decode the forge's answer about {what}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{operation} is not available for this scope")]
    Unsupported { operation: &'static str },
    #[error("invalid client configuration: {what}")]
    InvalidConfig {
        what: &'static str,
        #[source]
        source: Option<BoxError>,
    },
}

impl ForgeError {
    /// The credentials are missing, wrong or expired (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized)
    }

    /// The object (or the scope it lives in) does not exist, or is invisible to these credentials.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// When a rate limit blocks requests, the time they may resume.
    pub fn rate_limited_until(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::RateLimited { reset_at } => Some(*reset_at),
            _ => None,
        }
    }

    /// Trying the same call later may succeed: rate limits, 5xx answers and transport failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. } | Self::RunnerBusy
        )
    }
}
