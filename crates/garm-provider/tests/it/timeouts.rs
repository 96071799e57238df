//! Time limits: a provider that runs too long is killed with its whole process group.

use std::time::{Duration, Instant};

use garm_provider::{ExternalProvider, InterfaceVersion, ProviderError};

use crate::support::{sleep_binary, wait_exited, Sandbox, ANSWER};

/// Starts a child `sleep` in the provider's process group, records its pid, and waits for it.
fn hanging_body() -> String {
    format!("{} 30 &\necho $! > \"{{dir}}/child.pid\"\nwait\n", sleep_binary())
}

fn hanging(sandbox: &Sandbox, exec_timeout: Duration) -> ExternalProvider {
    let script = sandbox.script(&hanging_body());
    let mut config = sandbox.config(&script, InterfaceVersion::V0_1_0);
    config.exec_timeout = Some(exec_timeout);
    ExternalProvider::new(config, "controller-1".into())
}

fn child_pid(sandbox: &Sandbox) -> u32 {
    sandbox.read("child.pid").trim().parse().unwrap()
}

#[tokio::test]
async fn a_hanging_provider_is_killed_at_the_exec_timeout() {
    let sandbox = Sandbox::new();
    let provider = hanging(&sandbox, Duration::from_millis(500));
    let start = Instant::now();
    let err = provider.list_instances("pool-1", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    let child = child_pid(&sandbox);
    assert!(
        wait_exited(child, Duration::from_secs(5)).await,
        "the provider's child {child} survived"
    );
}

#[tokio::test]
async fn a_create_deadline_sooner_than_the_exec_timeout_wins() {
    let sandbox = Sandbox::new();
    let provider = hanging(&sandbox, Duration::from_secs(60));
    let start = Instant::now();
    let bootstrap = garm_provider::BootstrapInstance {
        name: "garm-1".into(),
        ..Default::default()
    };
    let err = provider
        .create_instance(&bootstrap, Some(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn a_cancelled_call_kills_the_provider_group() {
    let sandbox = Sandbox::new();
    let provider = hanging(&sandbox, Duration::from_secs(60));
    let call = provider.list_instances("pool-1", None);
    assert!(tokio::time::timeout(Duration::from_millis(500), call).await.is_err());
    let child = child_pid(&sandbox);
    assert!(
        wait_exited(child, Duration::from_secs(5)).await,
        "the provider's child {child} survived"
    );
}

#[tokio::test]
async fn a_background_process_holding_stdout_does_not_block_the_call() {
    let sandbox = Sandbox::new();
    let body = format!("{} 5 &\n{ANSWER}", sleep_binary());
    let provider = sandbox.provider(&body, InterfaceVersion::V0_1_0);
    let start = Instant::now();
    assert!(provider.list_instances("pool-1", None).await.unwrap().is_empty());
    assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
}
