//! [`StepError`]: why a lifecycle step failed, with every cause it can have. Its own module
//! (re-exported as `act::StepError`) so the scale set code, which `act` calls, need not
//! import `act`.

use crate::forge::ForgeAccessError;
use garm_forge::ForgeError;
use garm_provider::ProviderError;
use garm_store::StoreError;

/// Why a lifecycle step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("store")]
    Store(#[from] StoreError),
    #[error("forge")]
    Forge(#[from] ForgeError),
    #[error("provider")]
    Provider(#[from] ProviderError),
    #[error("no provider named {0} is configured")]
    UnknownProvider(String),
    #[error("rendering the install wrapper")]
    Template(#[from] garm_template::TemplateError),
    #[error("the runner is busy running a job")]
    RunnerBusy,
    #[error("the provider reported an error: {fault}")]
    ProviderReported { fault: String },
    #[error("actions service")]
    Actions(#[from] garm_forge::actions::ActionsError),
    #[error("{0}")]
    ScaleSet(String),
}

impl StepError {
    /// The error and its causes on one line (with a provider's stderr), for logs and
    /// status messages.
    pub fn chain(&self) -> String {
        let mut out = garm_base::chain(self);
        if let Self::Provider(err) = self {
            if let Some(stderr) = err.stderr().map(str::trim).filter(|s| !s.is_empty()) {
                let tail: String = stderr
                    .chars()
                    .rev()
                    .take(500)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                out.push_str(": ");
                out.push_str(&tail);
            }
        }
        out
    }
}

impl From<ForgeAccessError> for StepError {
    fn from(err: ForgeAccessError) -> Self {
        match err {
            ForgeAccessError::Store(err) => Self::Store(err),
            ForgeAccessError::Forge(err) => Self::Forge(err),
        }
    }
}
