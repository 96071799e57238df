//! The job loop with real containers (the Docker provider and the offline-built test image).

use garm_e2e::{bin, containers, docker_image, wait_for, ProviderSpec, World};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const DOCKER: ProviderSpec = ProviderSpec {
    name: "docker",
    extra: "",
    run_userdata: true,
};
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];

fn pool_specs() -> serde_json::Value {
    // The fake's runner archive starts the simulated runner at this absolute path.
    let runner = bin("garm-fake-runner");
    json!({"flavor": "small", "image": garm_e2e::DOCKER_IMAGE, "extra_specs": {"mounts": [{"source": runner, "target": runner, "read_only": true}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_becomes_a_container_that_is_removed_after_the_job() {
    docker_image();
    let world = World::start(&[DOCKER]).await.unwrap();
    world.add_pool("docker", pool_specs()).await.unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    wait_for("a container for the job", Duration::from_secs(60), async || {
        (!containers(&world.garm).is_empty()).then_some(())
    })
    .await;
    wait_for("the job to complete", Duration::from_secs(120), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let runner = world.fake.state().job(job).unwrap().runner_name.unwrap();
    assert!(
        runner.starts_with("garm-"),
        "our containerised runner ran the job: {runner}"
    );
    wait_for("no container of ours", Duration::from_secs(60), async || {
        containers(&world.garm).is_empty().then_some(())
    })
    .await;
    wait_for("no instance left", Duration::from_secs(30), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_replaced_to_restore_min_idle() {
    docker_image();
    let world = World::start(&[DOCKER]).await.unwrap();
    let mut patch = pool_specs();
    patch["min_idle_runners"] = json!(1);
    patch["max_runners"] = json!(2);
    world.add_pool("docker", patch).await.unwrap();
    let first = wait_for("an idle runner", Duration::from_secs(90), async || {
        let list = world.garm.api.instances().await;
        list.iter()
            .find(|i| i["runner_status"] == "idle")
            .map(|i| i["name"].as_str().unwrap().to_string())
    })
    .await;
    let killed = Command::new("docker").args(["kill", &first]).output().unwrap();
    assert!(
        killed.status.success(),
        "docker kill {first}: {}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let second = wait_for("a replacement idle runner", Duration::from_secs(150), async || {
        let list = world.garm.api.instances().await;
        let gone = !list.iter().any(|i| i["name"] == first.as_str());
        let fresh = list
            .iter()
            .find(|i| i["runner_status"] == "idle" && i["name"] != first.as_str());
        fresh.filter(|_| gone).map(|i| i["name"].as_str().unwrap().to_string())
    })
    .await;
    assert_ne!(first, second);
    assert!(world.garm.log().contains("instance lost outside garm"));
}
