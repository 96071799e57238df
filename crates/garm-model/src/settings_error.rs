//! The error every pool-setting and name check returns. A leaf of its own so that `names`
//! (the character rules) and `pool` (the settings that use them) both depend on it rather
//! than on each other.

/// A pool setting that garm refuses, with the JSON field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PoolSettingsError {
    pub field: &'static str,
    pub message: String,
}

impl PoolSettingsError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
