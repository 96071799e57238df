//! `ProviderError`: what can go wrong when garm asks a provider to do something.

use std::path::PathBuf;

use garm_provider_protocol::ValidationError;

/// A failed provider operation. Classify with the `is_*` methods or by variant, never by text.
///
/// An instance that is already gone when deleting is not an error: see [`crate::Deleted`].
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider has no such instance (exit code 30 from `GetInstance`, `StartInstance`, `StopInstance`).
    #[error("the provider has no such instance")]
    NotFound,
    /// The call ran into its time limit; the process (and its process group) was killed.
    #[error("the provider did not finish in time and was killed")]
    Timeout,
    /// The provider exited non-zero (or was killed by a signal, `exit_code: None`).
    ///
    /// `stderr` is kept so callers can show it in the instance's status messages.
    #[error("{}", exit_message(*exit_code))]
    Failed {
        exit_code: Option<i32>,
        stderr: String,
        stdout: String,
    },
    /// The provider exited 0 but its stdout is not what the command promises.
    #[error("the provider's answer is invalid")]
    InvalidOutput {
        stdout: String,
        stderr: String,
        #[source]
        source: OutputError,
    },
    /// The executable could not be started.
    #[error("could not start the provider executable {}", executable.display())]
    Spawn {
        executable: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Talking to the running process (stdin, stdout, waiting) failed.
    #[error("lost contact with the provider process")]
    Io(#[source] std::io::Error),
}

fn exit_message(exit_code: Option<i32>) -> String {
    match exit_code {
        Some(code) => format!("the provider exited with code {code}"),
        None => "the provider was killed by a signal".to_owned(),
    }
}

/// What was wrong with a provider's stdout.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("stdout is not the expected JSON document")]
    Decode(#[source] serde_json::Error),
    #[error("instance {index} of the list is invalid")]
    InvalidListEntry {
        index: usize,
        #[source]
        source: ValidationError,
    },
    #[error("the instance is invalid")]
    Invalid(#[source] ValidationError),
}

impl ProviderError {
    /// The provider says the instance does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound)
    }

    /// The call was killed for taking too long.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ProviderError::Timeout)
    }

    /// The provider's exit code, when it exited non-zero on its own.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ProviderError::Failed { exit_code, .. } => *exit_code,
            _ => None,
        }
    }

    /// What the provider wrote on stderr, if this error carries it.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            ProviderError::Failed { stderr, .. } | ProviderError::InvalidOutput { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}
