//! Attested confidential runners, end to end: the install script of an attesting pool
//! runs the real `garm-attest`, downloaded from garm, which posts evidence captured on an
//! Azure confidential VM (`shared/fixtures/azure-cvm-evidence/trustee/evidence-v1.json`,
//! quote nonce `challenge`) before the simulated runner asks for its JIT configuration.

use garm_e2e::{wait_for, ProviderSpec, World};
use serde_json::json;
use std::time::Duration;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];

/// garm's nonce fixed to the one the captured quote answers: test-only, acknowledged.
const FIXED_NONCE: &str =
    "[attestation]\ntest_fixed_nonce = \"challenge\"\ni_understand_this_disables_replay_protection = true\n";

fn captured_evidence() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/azure-cvm-evidence/trustee/evidence-v1.json")
        .canonicalize()
        .expect("the captured evidence is there")
        .display()
        .to_string()
}

fn attesting_pool(extra: serde_json::Value) -> serde_json::Value {
    let mut specs = json!({"confidential": true, "attestation": {"required": true}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        specs[k] = v;
    }
    json!({"max_runners": 1, "runner_bootstrap_timeout": 1, "extra_specs": specs})
}

/// The `vmUniqueId` of the captured evidence, as ARM prints it (lower case): what the test
/// provider reports as the VM id (`extra_specs.test_vm_id`) of the VM it "created".
const CAPTURED_VM: &str = "26f8bc30-774e-4290-8e7a-535f3b672aee";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_proves_it_is_a_confidential_vm_takes_its_job() {
    let world = World::start_with(&[SANDBOX], FIXED_NONCE).await.unwrap();
    world
        .add_pool(
            "sandbox",
            attesting_pool(json!({"attestation_replay": captured_evidence(), "test_vm_id": CAPTURED_VM})),
        )
        .await
        .unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    wait_for(
        "the job to complete on the fake",
        Duration::from_secs(120),
        async || (world.job_status(job).as_deref() == Some("completed")).then_some(()),
    )
    .await;
    let log = world.garm.log();
    assert!(
        log.contains("ATTESTATION REPLAY PROTECTION IS OFF"),
        "the fixed nonce is announced"
    );
    assert!(
        log.contains("attestation accepted"),
        "the verdict is in the job's story"
    );
    assert!(
        log.contains(&format!("provider_vm_id={CAPTURED_VM}")),
        "the evidence was matched with the VM the provider created: {log}"
    );
    assert!(!log.contains("refused"), "{log}");
    wait_for("the instance to be deleted", Duration::from_secs(60), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
}

/// Waits for garm to refuse an instance's evidence with `code`, then for that instance to be
/// deleted; returns the refusal's log line.
async fn refused_and_reaped(world: &World, code: &str) -> String {
    let marker = format!("attestation refused ({code})");
    let refused = wait_for(
        &format!("garm to refuse with {code}"),
        Duration::from_secs(90),
        async || {
            world
                .garm
                .log()
                .lines()
                .find(|l| l.contains(&marker))
                .map(str::to_string)
        },
    )
    .await;
    let name = refused
        .split("instance=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the refusal names the instance")
        .trim_matches('"')
        .to_string();
    wait_for(
        "the refused instance to be deleted",
        Duration::from_secs(60),
        async || {
            let instances = world.garm.api.instances().await;
            (!instances.iter().any(|i| i["name"] == name.as_str())).then_some(())
        },
    )
    .await;
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_evidence_against_a_fresh_nonce_is_refused_and_the_instance_reaped() {
    // Production nonces: random per instance.
    let world = World::start(&[SANDBOX]).await.unwrap();
    world
        .add_pool(
            "sandbox",
            attesting_pool(json!({"attestation_replay": captured_evidence()})),
        )
        .await
        .unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    refused_and_reaped(&world, "nonce_mismatch").await;
    assert_ne!(
        world.job_status(job).as_deref(),
        Some("completed"),
        "no refused runner took the job"
    );
    assert!(!world.garm.log().contains("attestation accepted"));
}

/// A stolen token used on another genuine confidential VM: the evidence passes every
/// hardware check and answers garm's nonce, but names another VM than the one the
/// provider created for the instance, so garm refuses it and reaps the instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_from_another_vm_than_the_providers_is_refused_and_the_instance_reaped() {
    let world = World::start_with(&[SANDBOX], FIXED_NONCE).await.unwrap();
    world
        .add_pool(
            "sandbox",
            attesting_pool(json!({
                "attestation_replay": captured_evidence(),
                "test_vm_id": "0f5f2c1e-9a4b-4c1d-8e2f-123456789abc",
            })),
        )
        .await
        .unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    let refused = refused_and_reaped(&world, "vm_mismatch").await;
    assert!(refused.contains("0f5f2c1e"), "{refused}");
    assert_ne!(world.job_status(job).as_deref(), Some("completed"));
    assert!(!world.garm.log().contains("attestation accepted"));
}

/// An HS256 instance token as garm mints it: what a leaked token looks like.
fn stolen_token(instance: &serde_json::Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "id": instance["id"], "name": instance["name"], "provider_id": instance["pool_id"],
        "scope": "repository", "entity": "acme/widgets", "create_attempt": 1, "forge_type": "github",
        "is_agent": false, "iss": "garm", "exp": chrono::Utc::now().timestamp() + 600,
    });
    let payload = b64(claims.to_string().as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(garm_e2e::JWT_SECRET.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", b64(&mac.finalize().into_bytes()))
}

/// The threat the issue names: something holding only an instance token asks for the
/// JIT configuration, without evidence. (The silent provider runs no install script, so
/// the request below is the only one the instance makes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_without_evidence_gets_no_jit_configuration() {
    const SILENT: ProviderSpec = ProviderSpec {
        name: "silent",
        extra: "",
        run_userdata: false,
    };
    let world = World::start_with(&[SILENT], FIXED_NONCE).await.unwrap();
    world.add_pool("silent", attesting_pool(json!({}))).await.unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    let instance = wait_for("an instance for the job", Duration::from_secs(60), async || {
        world
            .garm
            .api
            .instances()
            .await
            .into_iter()
            .find(|i| i["status"] == "running")
    })
    .await;
    let name = instance["name"].as_str().unwrap().to_string();
    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/metadata/credentials/runner", world.garm.url()))
        .bearer_auth(stolen_token(&instance))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    let body = answer.text().await.unwrap();
    assert!(body.contains("has not attested"), "{body}");
    wait_for(
        "the refused instance to be deleted",
        Duration::from_secs(60),
        async || {
            let instances = world.garm.api.instances().await;
            (!instances.iter().any(|i| i["name"] == name.as_str())).then_some(())
        },
    )
    .await;
    assert!(world.garm.log().contains("JIT configuration refused"));
    assert_ne!(world.job_status(job).as_deref(), Some("completed"));
}
