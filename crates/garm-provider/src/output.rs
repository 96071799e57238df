//! Interpreting a finished provider process: exit codes and stdout, per command.

use garm_provider_protocol::{ProviderInstance, EXIT_NOT_FOUND};

use crate::error::{OutputError, ProviderError};
use crate::process::Finished;
use crate::Deleted;

/// `DeleteInstance`: exit 30 means the instance was already gone.
pub(crate) fn deleted(finished: Finished) -> Result<Deleted, ProviderError> {
    if finished.status.code() == Some(i32::from(EXIT_NOT_FOUND)) {
        return Ok(Deleted::AlreadyGone);
    }
    succeeded(finished).map(|_| Deleted::Done)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 0, or [`ProviderError::Failed`] with the captured output.
pub(crate) fn succeeded(finished: Finished) -> Result<Finished, ProviderError> {
    if finished.status.success() {
        return Ok(finished);
    }
    Err(ProviderError::Failed {
        exit_code: finished.status.code(),
        stderr: lossy(&finished.stderr),
        stdout: lossy(&finished.stdout),
    })
}

/// Like [`succeeded`], but exit 30 is [`ProviderError::NotFound`].
pub(crate) fn succeeded_or_not_found(finished: Finished) -> Result<Finished, ProviderError> {
    if finished.status.code() == Some(i32::from(EXIT_NOT_FOUND)) {
        return Err(ProviderError::NotFound);
    }
    succeeded(finished)
}

fn invalid(finished: &Finished, source: OutputError) -> ProviderError {
    ProviderError::InvalidOutput {
        stdout: lossy(&finished.stdout),
        stderr: lossy(&finished.stderr),
        source,
    }
}

/// One valid instance on stdout (`CreateInstance`, `GetInstance`).
pub(crate) fn parse_instance(finished: Finished) -> Result<ProviderInstance, ProviderError> {
    let instance: ProviderInstance =
        serde_json::from_slice(&finished.stdout).map_err(|err| invalid(&finished, OutputError::Decode(err)))?;
    instance
        .validate()
        .map_err(|err| invalid(&finished, OutputError::Invalid(err)))?;
    Ok(instance)
}

/// A JSON array (or `null`) of valid instances on stdout (`ListInstances`).
pub(crate) fn parse_list(finished: Finished) -> Result<Vec<ProviderInstance>, ProviderError> {
    // Go providers print `null` for an empty (nil) list.
    let instances: Option<Vec<ProviderInstance>> =
        serde_json::from_slice(&finished.stdout).map_err(|err| invalid(&finished, OutputError::Decode(err)))?;
    let instances = instances.unwrap_or_default();
    for (index, instance) in instances.iter().enumerate() {
        instance
            .validate()
            .map_err(|source| invalid(&finished, OutputError::InvalidListEntry { index, source }))?;
    }
    Ok(instances)
}
