//! The seed deployment's pool, verbatim, served through garm-provider-azure and the fake ARM.

use garm_e2e::{wait_for, ProviderSpec, TempDir, World};
use garm_fake_arm::{ClientSpec, FakeArm, FakeConfig, DEFAULT_SUBSCRIPTION};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_confidential_pool_serves_a_job_and_leaves_nothing_in_azure() {
    let boot = TempDir::new("arm-boot");
    let arm = FakeArm::start(FakeConfig {
        clients: vec![ClientSpec {
            tenant_id: "e2e-tenant".into(),
            client_id: "e2e-client".into(),
            secret: Some("e2e-client-secret".into()),
            federated_assertions: vec![],
        }],
        boot_dir: Some(boot.0.clone()),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let url = arm.url();
    let config = format!(
        "[azure]\nlocation = \"westeurope\"\n[credentials]\nsubscription_id = \"{DEFAULT_SUBSCRIPTION}\"\n[credentials.service_principal]\ntenant_id = \"e2e-tenant\"\nclient_id = \"e2e-client\"\nclient_secret = \"e2e-client-secret\"\n[endpoints]\nmanagement = \"{url}\"\nlogin = \"{url}\"\nimds = \"{url}\"\nallow_http = true\n[timeouts]\npoll_interval = 1\n"
    );
    let azure = ProviderSpec {
        name: "azure_external",
        extra: Box::leak(config.into_boxed_str()),
        run_userdata: false,
    };
    let world = World::start(&[azure]).await.unwrap();
    // `garm-cli pool add` of the seed deployment, as JSON.
    world
        .add_pool(
            "azure_external",
            json!({
                "flavor": "Standard_DC2as_v5",
                "image": "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
                "tags": ["self-hosted", "azure-cvm", "ubuntu-2204"],
                "enabled": true, "min_idle_runners": 0, "max_runners": 4,
                "extra_specs": {"confidential": true}
            }),
        )
        .await
        .unwrap();
    let job = world
        .fake
        .state()
        .enqueue_job(
            "acme",
            "widgets",
            &["self-hosted", "azure-cvm", "ubuntu-2204"],
            Duration::from_millis(300),
            "success",
        )
        .unwrap()
        .id;
    let vm = wait_for("a VM in the fake ARM", Duration::from_secs(90), async || {
        arm.resource_ids()
            .into_iter()
            .find(|id| id.to_lowercase().contains("/virtualmachines/") && !id.to_lowercase().contains("/extensions/"))
            .and_then(|id| arm.resource(&id))
    })
    .await;
    assert_eq!(vm["properties"]["securityProfile"]["securityType"], "ConfidentialVM");
    assert_eq!(
        vm["properties"]["securityProfile"]["uefiSettings"]["secureBootEnabled"],
        true
    );
    assert_eq!(vm["properties"]["securityProfile"]["uefiSettings"]["vTpmEnabled"], true);
    assert_eq!(
        vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"]["securityEncryptionType"],
        "VMGuestStateOnly"
    );
    assert_eq!(vm["properties"]["hardwareProfile"]["vmSize"], "Standard_DC2as_v5");
    wait_for("the job to complete", Duration::from_secs(180), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let runner = world.fake.state().job(job).unwrap().runner_name.unwrap();
    assert!(
        runner.starts_with("garm-"),
        "the runner on the confidential VM ran the job: {runner}"
    );
    wait_for(
        "the VM and its resource group to be gone",
        Duration::from_secs(120),
        async || arm.groups().is_empty().then_some(()),
    )
    .await;
    wait_for("no instance left in garm", Duration::from_secs(30), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
}
