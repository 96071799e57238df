//! `FakeProvider`: an in-memory [`Provider`] for tests, with failure injection and visible state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::{BootstrapInstance, Deleted, PoolRef, Provider, ProviderError, ProviderInstance, ProviderStatus};

/// A provider operation, for [`FakeProvider::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Delete,
    Get,
    List,
    Start,
    Stop,
    RemoveAll,
}

/// An instance the fake holds, with the pool it was created in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeInstance {
    pub pool_id: String,
    pub instance: ProviderInstance,
}

/// Behaves like a well-behaved external provider: the name is the provider id, creates report
/// `running`, deleting an unknown instance is `AlreadyGone`, a duplicate create fails with exit 31.
#[derive(Debug)]
pub struct FakeProvider {
    name: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    instances: BTreeMap<String, FakeInstance>,
    failures: HashMap<Op, VecDeque<ProviderError>>,
    /// What every `create` was given, in order.
    bootstraps: Vec<BootstrapInstance>,
}

impl FakeProvider {
    pub fn new(name: impl Into<String>) -> FakeProvider {
        FakeProvider {
            name: name.into(),
            state: Mutex::default(),
        }
    }

    /// Makes the next call of `op` fail with `error` (queued per operation).
    pub fn fail_next(&self, op: Op, error: ProviderError) {
        self.state().failures.entry(op).or_default().push_back(error);
    }

    /// Every instance the fake holds, ordered by provider id.
    pub fn instances(&self) -> Vec<FakeInstance> {
        self.state().instances.values().cloned().collect()
    }

    /// Adds an instance as if the provider had created it (for orphans and leftovers).
    pub fn insert(&self, pool_id: &str, instance: ProviderInstance) {
        let entry = FakeInstance {
            pool_id: pool_id.to_owned(),
            instance,
        };
        self.state().instances.insert(entry.instance.provider_id.clone(), entry);
    }

    /// Changes what the provider reports for an instance; returns whether it exists.
    pub fn set_status(&self, instance_id: &str, status: ProviderStatus) -> bool {
        let mut state = self.state();
        match find(&mut state, instance_id) {
            Some(entry) => {
                entry.instance.status = status;
                true
            }
            None => false,
        }
    }

    /// The bootstrap parameters of every `create` so far, in order.
    pub fn bootstraps(&self) -> Vec<BootstrapInstance> {
        self.state().bootstraps.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread poisons the lock; the state is still usable for assertions.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next injected failure for `op`, then runs `f` on the state.
    fn call<T>(&self, op: Op, f: impl FnOnce(&mut State) -> Result<T, ProviderError>) -> Result<T, ProviderError> {
        let mut state = self.state();
        if let Some(error) = state.failures.get_mut(&op).and_then(VecDeque::pop_front) {
            return Err(error);
        }
        f(&mut state)
    }
}

fn find<'s>(state: &'s mut State, instance_id: &str) -> Option<&'s mut FakeInstance> {
    state
        .instances
        .values_mut()
        .find(|entry| entry.instance.provider_id == instance_id || entry.instance.name == instance_id)
}

fn set_status(state: &mut State, instance_id: &str, status: ProviderStatus) -> Result<(), ProviderError> {
    let entry = find(state, instance_id).ok_or(ProviderError::NotFound)?;
    entry.instance.status = status;
    Ok(())
}

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn create(
        &self,
        bootstrap: &BootstrapInstance,
        _deadline: Option<Duration>,
    ) -> Result<ProviderInstance, ProviderError> {
        self.call(Op::Create, |state| {
            state.bootstraps.push(bootstrap.clone());
            if state.instances.contains_key(&bootstrap.name) {
                return Err(ProviderError::Failed {
                    exit_code: Some(i32::from(garm_provider_protocol::EXIT_DUPLICATE)),
                    stderr: format!("instance {} already exists", bootstrap.name),
                    stdout: String::new(),
                });
            }
            let instance = ProviderInstance {
                provider_id: bootstrap.name.clone(),
                name: bootstrap.name.clone(),
                os_type: bootstrap.os_type.clone(),
                os_name: "fake".to_owned(),
                os_version: "1".to_owned(),
                os_arch: bootstrap.arch.clone(),
                status: ProviderStatus::Running,
                ..ProviderInstance::default()
            };
            let entry = FakeInstance {
                pool_id: bootstrap.pool_id.clone(),
                instance: instance.clone(),
            };
            state.instances.insert(instance.provider_id.clone(), entry);
            Ok(instance)
        })
    }

    async fn delete(&self, instance_id: &str, _pool: PoolRef<'_>) -> Result<Deleted, ProviderError> {
        self.call(Op::Delete, |state| {
            let key = find(state, instance_id).map(|entry| entry.instance.provider_id.clone());
            Ok(match key.and_then(|key| state.instances.remove(&key)) {
                Some(_) => Deleted::Done,
                None => Deleted::AlreadyGone,
            })
        })
    }

    async fn get(&self, instance_id: &str, _pool: PoolRef<'_>) -> Result<ProviderInstance, ProviderError> {
        self.call(Op::Get, |state| {
            let entry = find(state, instance_id).ok_or(ProviderError::NotFound)?;
            Ok(entry.instance.clone())
        })
    }

    async fn list(&self, pool: PoolRef<'_>) -> Result<Vec<ProviderInstance>, ProviderError> {
        self.call(Op::List, |state| {
            Ok(state
                .instances
                .values()
                .filter(|entry| entry.pool_id == pool.id)
                .map(|entry| entry.instance.clone())
                .collect())
        })
    }

    async fn start(&self, instance_id: &str, _pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.call(Op::Start, |state| {
            set_status(state, instance_id, ProviderStatus::Running)
        })
    }

    async fn stop(&self, instance_id: &str, _pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.call(Op::Stop, |state| {
            set_status(state, instance_id, ProviderStatus::Stopped)
        })
    }

    async fn remove_all(&self, _pool: PoolRef<'_>) -> Result<(), ProviderError> {
        self.call(Op::RemoveAll, |state| {
            state.instances.clear();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: PoolRef<'static> = PoolRef {
        id: "pool-1",
        extra_specs: None,
    };

    fn bootstrap(name: &str) -> BootstrapInstance {
        BootstrapInstance {
            name: name.into(),
            pool_id: POOL.id.into(),
            ..BootstrapInstance::default()
        }
    }

    #[tokio::test]
    async fn created_instances_are_listed_per_pool_and_deleted_once() {
        let fake = FakeProvider::new("fake");
        fake.create(&bootstrap("garm-a"), None).await.unwrap();
        fake.insert(
            "pool-2",
            ProviderInstance {
                provider_id: "other".into(),
                ..ProviderInstance::default()
            },
        );
        assert_eq!(fake.list(POOL).await.unwrap().len(), 1);
        assert_eq!(fake.delete("garm-a", POOL).await.unwrap(), Deleted::Done);
        assert_eq!(fake.delete("garm-a", POOL).await.unwrap(), Deleted::AlreadyGone);
        assert!(fake.get("garm-a", POOL).await.unwrap_err().is_not_found());
        assert_eq!(fake.instances().len(), 1);
    }

    #[tokio::test]
    async fn injected_failures_apply_to_the_next_call_only() {
        let fake = FakeProvider::new("fake");
        fake.fail_next(Op::Create, ProviderError::Timeout);
        assert!(fake.create(&bootstrap("garm-a"), None).await.unwrap_err().is_timeout());
        assert!(fake.instances().is_empty());
        fake.create(&bootstrap("garm-a"), None).await.unwrap();
        let duplicate = fake.create(&bootstrap("garm-a"), None).await.unwrap_err();
        assert_eq!(duplicate.exit_code(), Some(31));
    }

    #[tokio::test]
    async fn stop_and_start_change_the_reported_status() {
        let fake = FakeProvider::new("fake");
        fake.create(&bootstrap("garm-a"), None).await.unwrap();
        fake.stop("garm-a", POOL).await.unwrap();
        assert_eq!(fake.get("garm-a", POOL).await.unwrap().status, ProviderStatus::Stopped);
        fake.start("garm-a", POOL).await.unwrap();
        assert_eq!(fake.get("garm-a", POOL).await.unwrap().status, ProviderStatus::Running);
        assert!(fake.start("garm-b", POOL).await.unwrap_err().is_not_found());
    }
}
