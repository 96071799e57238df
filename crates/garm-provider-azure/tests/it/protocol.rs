//! garm's own `ExternalProvider` driving the binary, and the v0.1.1 extras.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider::{
    BootstrapInstance, Deleted, ExternalProvider, ExternalProviderConfig, InterfaceVersion, PoolRef, Provider,
    ProviderStatus,
};
use serde_json::json;

use crate::support::{bootstrap, ok, stderr, World, BINARY, CONTROLLER, POOL};

fn provider(world: &World, version: InterfaceVersion) -> ExternalProvider {
    let config = ExternalProviderConfig {
        name: "azure_external".into(),
        executable: BINARY.into(),
        config_file: Some(world.config.clone()),
        interface_version: version,
        environment_variables: Vec::new(),
        exec_timeout: Some(Duration::from_secs(120)),
        disable_jit_config: false,
    };
    ExternalProvider::new(config, CONTROLLER.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garm_drives_a_confidential_instance_through_its_life_with_both_interface_versions() {
    for version in [InterfaceVersion::V0_1_0, InterfaceVersion::V0_1_1] {
        let world = World::new();
        let name = "garm-proto";
        let params = bootstrap(name, json!({}));
        let specs = params["extra_specs"].to_string();
        let pool = PoolRef::new(POOL, Some(&specs));
        let boot: BootstrapInstance = serde_json::from_value(params.clone()).unwrap();
        let provider = provider(&world, version);
        let created = provider.create(&boot, Some(Duration::from_secs(120))).await.unwrap();
        assert_eq!(created.status, ProviderStatus::Running, "{version}");
        assert_eq!(provider.get(name, pool).await.unwrap().name, name, "{version}");
        let listed = provider.list(pool).await.unwrap();
        assert_eq!(listed.len(), 1, "{version}");
        assert_eq!(provider.delete(name, pool).await.unwrap(), Deleted::Done, "{version}");
        assert!(provider.get(name, pool).await.unwrap_err().is_not_found(), "{version}");
        assert_eq!(
            provider.delete(name, pool).await.unwrap(),
            Deleted::Done,
            "{version}: a missing group is success"
        );
    }
}

#[test]
fn v0_1_1_extras_describe_and_validate_pools() {
    let world = World::new();
    let out = world
        .command("GetSupportedInterfaceVersions", "v0.1.1", &[])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["v0.1.0","v0.1.1"]"#);
    let out = world.command("GetVersion", "v0.1.1", &[]).output().unwrap();
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with('v'));

    let schema = world
        .command("GetExtraSpecsJSONSchema", "v0.1.1", &[])
        .output()
        .unwrap();
    ok(&schema);
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"]["runner_install_template"].is_object());
    let config_schema = world.command("GetConfigJSONSchema", "v0.1.1", &[]).output().unwrap();
    ok(&config_schema);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&config_schema.stdout).unwrap()["properties"]["endpoints"]
            .is_object()
    );

    let validate = |specs: serde_json::Value| {
        let encoded = STANDARD.encode(specs.to_string());
        world
            .command(
                "ValidatePoolInfo",
                "v0.1.1",
                &[("GARM_POOL_EXTRASPECS", encoded.as_str())],
            )
            .output()
            .unwrap()
    };
    ok(&validate(
        json!({"confidential": true, "confidential_disk_encryption": "DiskWithVMGuestState"}),
    ));
    let out = validate(json!({"confidential": true, "use_ephemeral_storage": true}));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ephemeral"), "{}", stderr(&out));
    assert_eq!(validate(json!({"nope": 1})).status.code(), Some(1));
    assert!(world.fake.journal().is_empty(), "validation makes no calls");
}

#[test]
fn a_broken_config_fails_every_command_with_the_reason() {
    let world = World::new();
    std::fs::write(&world.config, "location = \"westeurope\"\n[credentials]\n").unwrap();
    let out = world.instance("GetInstance", "garm-x");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("subscription_id is required"), "{}", stderr(&out));
}
