//! How garm talks to providers: the [`Provider`] trait the pool code uses, and
//! [`ExternalProvider`], which implements it by running a garm external provider executable
//! exactly as garm does (environment, stdin, stdout, exit codes, timeouts).
//! With feature `test-util`, [`FakeProvider`] is an in-memory stand-in for other crates' tests.
//!
//! This crate does not decide when to create or delete instances (that is the pool code), does
//! not count metrics itself (callers pass an [`OperationObserver`]), and does not define the wire
//! format (that is `garm-provider-protocol`, re-exported as [`protocol`]).

use std::time::Duration;

use async_trait::async_trait;

mod error;
mod external;
#[cfg(any(test, feature = "test-util"))]
mod fake;
mod output;
mod process;

pub use error::{OutputError, ProviderError};
pub use external::{operation_label, ExternalProvider, ExternalProviderConfig, OperationObserver};
#[cfg(any(test, feature = "test-util"))]
pub use fake::{FakeInstance, FakeProvider, Op};
pub use garm_provider_protocol as protocol;
pub use garm_provider_protocol::{BootstrapInstance, InterfaceVersion, ProviderInstance, ProviderStatus};

/// The outcome of a successful delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The provider deleted the instance.
    Done,
    /// The provider did not know the instance (exit code 30); nothing is left to delete.
    AlreadyGone,
}

/// The pool a call concerns: its id and its stored extra specs (raw JSON), as providers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRef<'a> {
    /// The pool's UUID (for scale sets, `<scale set name>-<entity id>`).
    pub id: &'a str,
    /// The pool's extra specs as stored, or `None` for none.
    pub extra_specs: Option<&'a str>,
}

impl<'a> PoolRef<'a> {
    pub fn new(id: &'a str, extra_specs: Option<&'a str>) -> PoolRef<'a> {
        PoolRef { id, extra_specs }
    }
}

/// What the pool code needs from a provider, held as `Arc<dyn Provider>`.
///
/// Instances are addressed by their `provider_id`, or by name when no provider id is known yet.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The configured provider name (pools' `provider_name`).
    fn name(&self) -> &str;

    /// Whether this provider's runners must use registration tokens instead of JIT configs.
    fn disable_jit_config(&self) -> bool {
        false
    }

    /// Creates `bootstrap.name`; gives up (killing the provider) after `deadline` if set.
    async fn create(
        &self,
        bootstrap: &BootstrapInstance,
        deadline: Option<Duration>,
    ) -> Result<ProviderInstance, ProviderError>;

    /// Deletes an instance; an instance the provider does not know is `Ok(Deleted::AlreadyGone)`.
    async fn delete(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<Deleted, ProviderError>;

    /// Describes an instance; [`ProviderError::NotFound`] if the provider does not know it.
    async fn get(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<ProviderInstance, ProviderError>;

    /// Lists the provider's instances of this controller in the pool.
    async fn list(&self, pool: PoolRef<'_>) -> Result<Vec<ProviderInstance>, ProviderError>;

    /// Starts a stopped instance; [`ProviderError::NotFound`] if the provider does not know it.
    async fn start(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<(), ProviderError>;

    /// Stops an instance; [`ProviderError::NotFound`] if the provider does not know it.
    async fn stop(&self, instance_id: &str, pool: PoolRef<'_>) -> Result<(), ProviderError>;

    /// Deletes every instance of this controller.
    async fn remove_all(&self, pool: PoolRef<'_>) -> Result<(), ProviderError>;
}
