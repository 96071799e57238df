//! `garm_provider::ExternalProvider` driving the binary: the two halves of the protocol agree.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider::{
    BootstrapInstance, Deleted, ExternalProvider, ExternalProviderConfig, InterfaceVersion, OutputError, PoolRef,
    Provider, ProviderError, ProviderStatus,
};

use crate::support::{eventually, World, BINARY};

const POOL: PoolRef<'static> = PoolRef {
    id: "pool-1",
    extra_specs: Some(r#"{"disk": 1}"#),
};

fn provider(world: &World, version: InterfaceVersion) -> ExternalProvider {
    let config = ExternalProviderConfig {
        name: "sandbox".into(),
        executable: BINARY.into(),
        config_file: Some(world.config.clone()),
        interface_version: version,
        environment_variables: Vec::new(),
        exec_timeout: Some(Duration::from_secs(30)),
        disable_jit_config: false,
    };
    ExternalProvider::new(config, "controller-1".into())
}

fn bootstrap(name: &str, script: &str) -> BootstrapInstance {
    let json = serde_json::json!({
        "name": name,
        "pool_id": POOL.id,
        "os_type": "linux",
        "arch": "amd64",
        "extra_specs": { "runner_install_template": STANDARD.encode(script) },
    });
    serde_json::from_str(&json.to_string()).unwrap()
}

#[tokio::test]
async fn an_instance_goes_through_its_whole_life_with_either_interface_version() {
    for version in [InterfaceVersion::V0_1_0, InterfaceVersion::V0_1_1] {
        let world = World::new("run_userdata = true");
        let provider = provider(&world, version);
        let created = provider
            .create(&bootstrap("garm-1", "echo ok > marker\n"), None)
            .await
            .unwrap();
        assert_eq!(created.status, ProviderStatus::Running, "{version}");
        let marker = world.sandbox("garm-1").join("marker");
        assert!(
            eventually(Duration::from_secs(5), || marker.exists()),
            "{version}: script did not run"
        );

        assert_eq!(provider.get("garm-1", POOL).await.unwrap(), created);
        assert_eq!(provider.list(POOL).await.unwrap(), std::slice::from_ref(&created));
        provider.stop("garm-1", POOL).await.unwrap();
        assert_eq!(
            provider.get("garm-1", POOL).await.unwrap().status,
            ProviderStatus::Stopped
        );
        assert_eq!(provider.delete("garm-1", POOL).await.unwrap(), Deleted::Done);
        assert_eq!(provider.delete("garm-1", POOL).await.unwrap(), Deleted::AlreadyGone);
        assert!(provider.get("garm-1", POOL).await.unwrap_err().is_not_found());
        assert!(provider.list(POOL).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_hanging_create_is_killed_at_the_deadline() {
    let world = World::new(r#"hang_on = ["CreateInstance"]"#);
    let start = Instant::now();
    let err = provider(&world, InterfaceVersion::V0_1_1)
        .create(&bootstrap("garm-1", "true\n"), Some(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn switch_failures_surface_as_classified_errors() {
    let world = World::new(
        r#"fail_on = ["DeleteInstance"]
garbage_on = ["ListInstances"]"#,
    );
    let provider = provider(&world, InterfaceVersion::V0_1_0);
    let err = provider.delete("garm-1", POOL).await.unwrap_err();
    assert_eq!(err.exit_code(), Some(1));
    assert!(
        err.stderr().unwrap().contains("configured to fail DeleteInstance"),
        "{err:?}"
    );
    match provider.list(POOL).await.unwrap_err() {
        ProviderError::InvalidOutput {
            source: OutputError::Decode(_),
            ..
        } => {}
        other => panic!("expected undecodable output, got {other:?}"),
    }
}
