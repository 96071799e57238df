//! Instance lifecycle steps shared by the API and the reconcilers.

use crate::error::ApiError;
use crate::state::App;
use garm_store::InstanceRecord;

/// Removes the instance's runner from the forge before the instance is deleted.
///
/// Until the forge client is wired in, instances have no forge runner to remove.
pub async fn remove_forge_runner(
    _app: &App,
    _instance: &InstanceRecord,
    _bypass_unauthorized: bool,
) -> Result<(), ApiError> {
    Ok(())
}
