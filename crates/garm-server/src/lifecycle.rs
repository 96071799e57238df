//! Instance lifecycle steps the API triggers, mapped to HTTP errors.

use crate::error::ApiError;
use crate::state::App;
use garm_pool::act::{self, StepError};
use garm_store::InstanceRecord;

/// What to do when the forge rejects our credentials while removing a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnauthorized {
    /// Refuse the delete with 401.
    Refuse,
    /// Delete the instance anyway (`bypassGHUnauthorized=true`), leaving the runner behind.
    RemoveAnyway,
}

/// Removes the instance's runner from the forge before the instance is deleted.
/// A busy runner is refused (400); rejected credentials fail with 401 unless bypassed.
pub async fn remove_forge_runner(
    app: &App,
    instance: &InstanceRecord,
    on_unauthorized: OnUnauthorized,
) -> Result<(), ApiError> {
    match act::remove_forge_runner(&app.pool, instance).await {
        Ok(()) => Ok(()),
        Err(StepError::RunnerBusy) => Err(ApiError::bad(format!("runner {} is busy running a job", instance.name))),
        Err(StepError::Forge(err)) if err.is_unauthorized() => {
            if on_unauthorized == OnUnauthorized::RemoveAnyway {
                tracing::warn!(instance = %instance.name, "forge rejected our credentials; removing the instance anyway (bypass requested)");
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
        Err(StepError::Forge(err)) if err.is_not_found() => Ok(()),
        Err(StepError::Actions(err)) if err.is_unauthorized() => {
            if on_unauthorized == OnUnauthorized::RemoveAnyway {
                tracing::warn!(instance = %instance.name, "the Actions service rejected our credentials; removing the instance anyway (bypass requested)");
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
        Err(err) => Err(ApiError::internal(std::io::Error::other(err.chain()))),
    }
}
