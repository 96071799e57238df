//! Attested confidential runners, in-process: an instance of a pool that requires
//! attestation gets its JIT configuration or registration token only after garm accepted
//! its evidence; otherwise 403 with the reason, and the instance is failed for deletion.
//! The evidence is real, captured on Azure confidential VMs
//! (`shared/fixtures/azure-cvm-evidence/trustee`).

use crate::{config_text, Harness, JWT_SECRET, PASSPHRASE};
use axum::http::{Method, StatusCode};
use garm_model::{InstanceStatus, RunnerStatus, Secret};
use garm_store::{InstanceRecord, Sealer, Store};
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

fn evidence(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/azure-cvm-evidence/trustee")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    // Posted in garm's own shape, as garm-attest sends it.
    serde_json::to_value(garm_attest::Evidence::from_json(&text).unwrap()).unwrap()
}

/// A provider whose `GetInstance` reports the VM id written to `<dir>/vm-ids/<instance>`
/// (none without the file), fails while `<dir>/provider-down` exists, and has no such
/// instance (exit 30) when `<dir>/vm-ids/<instance>` reads `gone`.
fn vm_id_provider(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("vm-ids")).unwrap();
    let script = dir.join("vm-id-provider.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
[ "$GARM_COMMAND" = GetInstance ] || exit 0
if [ -f "{d}/provider-down" ]; then echo "the cloud API answered 503" >&2; exit 1; fi
vm=""
[ -f "{d}/vm-ids/$GARM_INSTANCE_ID" ] && vm=$(cat "{d}/vm-ids/$GARM_INSTANCE_ID")
if [ "$vm" = gone ]; then echo "no such instance" >&2; exit 30; fi
printf '{{"provider_id":"%s","name":"%s","status":"running","vm_id":"%s"}}' "$GARM_INSTANCE_ID" "$GARM_INSTANCE_ID" "$vm"
"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The `vmUniqueId` in `evidence-v1.json`; ARM prints the same GUID in lower case.
const V1_VM: &str = "26f8bc30-774e-4290-8e7a-535f3b672aee";

const ATTESTING: &str = r#"{"confidential": true, "attestation": {"required": true, "max_vmpl": 0}}"#;

struct World {
    h: Harness,
    store: Store,
    repo_id: String,
}

/// A ready server; `fixed` adds the test-only fixed nonce `challenge`.
async fn world(fixed: bool) -> World {
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = config_text(&dir).replace(
        "provider_executable = \"/bin/true\"",
        &format!("provider_executable = \"{}\"", vm_id_provider(&dir).display()),
    );
    // The web UI too, so the verdicts can be checked on its pages.
    config.push_str("[apiserver.webui]\nenable = true\n");
    if fixed {
        config.push_str(
            "[attestation]\ntest_fixed_nonce = \"challenge\"\ni_understand_this_disables_replay_protection = true\n",
        );
    }
    let (app, _rx) = garm_server::build(garm_server::config::Config::parse(&config).unwrap())
        .await
        .unwrap();
    // 2027-01-01: inside the captured certificates' validity, whatever today is.
    app.attest.freeze_time(UNIX_EPOCH + Duration::from_secs(1_798_761_600));
    let mut h = Harness {
        router: garm_server::service(app),
        dir: dir.clone(),
        token: String::new(),
    };
    h.init().await;
    h.add_pat("garm", "ghp_AttestationToken00000000000000000").await;
    let repo = h.add_repo("acme", "widgets", "WebhookSecretForAttestation").await;
    let store = Store::connect(
        &format!("sqlite://{}", dir.join("garm.db").display()),
        Sealer::new(PASSPHRASE),
    )
    .await
    .unwrap();
    World {
        h,
        store,
        repo_id: repo["id"].as_str().unwrap().to_string(),
    }
}

impl World {
    async fn pool(&self, extra_specs: &str) -> String {
        let mut body = Harness::pool_body();
        body["extra_specs"] = serde_json::from_str(extra_specs).unwrap();
        let pool = self
            .h
            .post(&format!("/api/v1/repositories/{}/pools", self.repo_id), body)
            .await;
        pool["id"].as_str().unwrap().to_string()
    }

    /// A booting instance with a JIT configuration waiting for it.
    async fn instance(&self, pool_id: &str, name: &str, jit: bool) -> (InstanceRecord, String) {
        let now = chrono::Utc::now();
        let record = InstanceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            pool_id: pool_id.into(),
            provider_id: Some(name.into()),
            agent_id: 0,
            os_type: "linux".into(),
            os_arch: "amd64".into(),
            os_name: String::new(),
            os_version: String::new(),
            addresses: vec![],
            status: InstanceStatus::Running,
            runner_status: RunnerStatus::Installing,
            provider_fault: String::new(),
            create_attempt: 1,
            token_fetched: false,
            jit_config: jit.then(|| Secret::new(r#"{".runner":"eyJqaXQiOnRydWV9"}"#)),
            runner_group: String::new(),
            extra_labels: vec![],
            generation: 0,
            callback_url: String::new(),
            metadata_url: String::new(),
            heartbeat: now,
            created_at: now,
            updated_at: now,
        };
        self.store.create_instance(&record, 100).await.unwrap();
        let record = self.store.instance(name).await.unwrap();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({
                "id": record.id, "name": record.name, "provider_id": pool_id, "scope": "repository",
                "entity": "acme/widgets", "create_attempt": 1, "forge_type": "github", "is_agent": false,
                "iss": "garm", "exp": chrono::Utc::now().timestamp() + 600,
            }),
            &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        (record, format!("Bearer {token}"))
    }

    async fn as_instance(&self, method: Method, uri: &str, body: Option<Value>, token: &str) -> (StatusCode, Value) {
        self.h.call(method, uri, body, Some(token)).await
    }

    async fn nonce(&self, token: &str) -> String {
        let (status, body) = self
            .as_instance(Method::GET, "/api/v1/metadata/attestation/nonce", None, token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["nonce"].as_str().unwrap().to_string()
    }

    async fn post_evidence(&self, token: &str, evidence: Value) -> (StatusCode, Value) {
        self.as_instance(
            Method::POST,
            "/api/v1/metadata/attestation/evidence",
            Some(evidence),
            token,
        )
        .await
    }

    async fn jit(&self, token: &str) -> (StatusCode, String) {
        self.h
            .raw(Method::GET, "/api/v1/metadata/credentials/runner", None, Some(token))
            .await
    }

    /// What the provider will report as the VM id of instance `name`.
    fn provider_reports(&self, name: &str, vm_id: &str) {
        std::fs::write(self.h.dir.join("vm-ids").join(name), vm_id).unwrap();
    }

    async fn assert_failed_for_deletion(&self, name: &str) {
        let after = self.store.instance(name).await.unwrap();
        assert_eq!(after.runner_status, RunnerStatus::Failed);
        assert_eq!(after.status, InstanceStatus::PendingDelete);
    }
}

#[tokio::test]
async fn genuine_evidence_opens_the_jit_configuration_and_the_verdict_is_shown() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-good", true).await;
    assert_eq!(w.nonce(&token).await, hex::encode("challenge"));
    let (status, verdict) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["accepted"], true);
    assert_eq!(verdict["facts"]["product"], "Milan");
    let (status, jit) = w.jit(&token).await;
    assert_eq!(status, StatusCode::OK, "{jit}");
    assert_eq!(jit, r#"{"jit":true}"#);

    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert_eq!(shown["attestation"]["accepted"], true, "{shown}");
    assert_eq!(shown["attestation"]["reason"], "accepted");
    let messages = shown["status_messages"].to_string();
    assert!(messages.contains("attestation accepted: SEV-SNP Milan"), "{messages}");
    let listed = w.h.get("/api/v1/instances").await;
    assert_eq!(listed[0]["attestation"]["reason"], "accepted", "{listed}");
    let in_pool = w.h.get(&format!("/api/v1/pools/{pool}/instances")).await;
    assert_eq!(in_pool[0]["attestation"]["accepted"], true, "{in_pool}");
}

#[tokio::test]
async fn an_instance_without_evidence_never_gets_a_jit_configuration() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-silent", true).await;
    let (status, text) = w.jit(&token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("has not attested"), "{text}");
    w.assert_failed_for_deletion(&i.name).await;
    // Its token is dead now: no second chance with evidence.
    let (status, _) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert!(
        shown["status_messages"]
            .to_string()
            .contains("JIT configuration refused"),
        "{shown}"
    );
    assert!(shown.get("attestation").is_none(), "{shown}");
}

#[tokio::test]
async fn the_registration_token_is_gated_too() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-token", false).await;
    let (status, body) = w
        .as_instance(Method::GET, "/api/v1/metadata/runner-registration-token", None, &token)
        .await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "has not attested");
    w.assert_failed_for_deletion(&i.name).await;
}

#[tokio::test]
async fn replayed_evidence_against_a_fresh_nonce_is_refused_and_the_instance_failed() {
    let w = world(false).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-replay", true).await;
    let nonce = w.nonce(&token).await;
    assert_ne!(nonce, hex::encode("challenge"));
    assert_eq!(nonce.len(), 64, "32 random bytes");
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "nonce_mismatch");
    w.assert_failed_for_deletion(&i.name).await;
    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert_eq!(shown["attestation"]["accepted"], false, "{shown}");
    assert_eq!(shown["attestation"]["reason"], "nonce_mismatch");
    let (status, _) = w.jit(&token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn policy_refusals_carry_their_reason() {
    let w = world(true).await;
    let strict = r#"{"confidential": true, "attestation": {"required": true, "min_tcb": {"bootloader": 255}}}"#;
    let pool = w.pool(strict).await;
    let (i, token) = w.instance(&pool, "garm-cvm-old-tcb", true).await;
    w.nonce(&token).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "tcb_below_minimum");
    w.assert_failed_for_deletion(&i.name).await;
}

#[tokio::test]
async fn evidence_needs_an_outstanding_nonce_and_each_nonce_answers_once() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (_, token) = w.instance(&pool, "garm-cvm-twice", true).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::CONFLICT, "no outstanding nonce");
    let (status, body) = w.post_evidence(&token, json!({"hello": "world"})).await;
    Harness::assert_error(status, &body, StatusCode::BAD_REQUEST, "not attestation evidence");
    w.nonce(&token).await;
    let (status, _) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::CONFLICT, "no outstanding nonce");
}

#[tokio::test]
async fn pools_without_required_attestation_work_as_before() {
    let w = world(false).await;
    for specs in [
        r#"{"confidential": true}"#,
        r#"{"confidential": true, "attestation": {"required": false}}"#,
    ] {
        let pool = w.pool(specs).await;
        let name = format!("garm-plain-{}", &pool[..8]);
        let (_, token) = w.instance(&pool, &name, true).await;
        let (status, jit) = w.jit(&token).await;
        assert_eq!(status, StatusCode::OK, "{specs}: {jit}");
    }
}

#[tokio::test]
async fn attestation_settings_are_checked_when_a_pool_is_written() {
    let w = world(false).await;
    let uri = format!("/api/v1/repositories/{}/pools", w.repo_id);
    for (specs, needle) in [
        (
            json!({"confidential": true, "attestation": {"requird": true}}),
            "unknown field `requird`",
        ),
        (
            json!({"attestation": {"required": true}}),
            "needs extra_specs.confidential",
        ),
        (
            json!({"confidential": true, "attestation": {"min_tcb": {"snp": "high"}}}),
            "extra_specs.attestation",
        ),
        (
            json!({"confidential": true, "attestation": {"measurements": ["beef"]}}),
            "measurements[0]",
        ),
    ] {
        let mut body = Harness::pool_body();
        body["extra_specs"] = specs.clone();
        let (status, out) = w.h.send(Method::POST, &uri, Some(body)).await;
        Harness::assert_error(status, &out, StatusCode::BAD_REQUEST, needle);
    }
    // An update is checked the same way.
    let pool = w.pool(ATTESTING).await;
    let (status, out) =
        w.h.send(
            Method::PUT,
            &format!("/api/v1/pools/{pool}"),
            Some(json!({"extra_specs": {"confidential": true, "attestation": {"required": "yes"}}})),
        )
        .await;
    Harness::assert_error(status, &out, StatusCode::BAD_REQUEST, "extra_specs.attestation");
    // Only the Linux install script runs garm-attest: a Windows pool requiring it is refused,
    // on create and when an attesting pool is switched to Windows.
    let mut body = Harness::pool_body();
    body["extra_specs"] = serde_json::from_str(ATTESTING).unwrap();
    body["os_type"] = json!("windows");
    let (status, out) = w.h.send(Method::POST, &uri, Some(body)).await;
    Harness::assert_error(status, &out, StatusCode::BAD_REQUEST, "linux pools only");
    let (status, out) =
        w.h.send(
            Method::PUT,
            &format!("/api/v1/pools/{pool}"),
            Some(json!({"os_type": "windows"})),
        )
        .await;
    Harness::assert_error(status, &out, StatusCode::BAD_REQUEST, "linux pools only");
}

#[test]
fn a_fixed_nonce_needs_the_explicit_acknowledgement() {
    let dir = std::env::temp_dir();
    let base = config_text(&dir);
    let refused = format!("{base}[attestation]\ntest_fixed_nonce = \"challenge\"\n");
    let err = garm_server::config::Config::parse(&refused).unwrap_err().to_string();
    assert!(err.contains("i_understand_this_disables_replay_protection"), "{err}");
    let misspelt = format!("{base}[attestation]\ntest_fixed_nonce = \"challenge\"\ni_understand = true\n");
    assert!(garm_server::config::Config::parse(&misspelt).is_err());
    let accepted = format!(
        "{base}[attestation]\ntest_fixed_nonce = \"challenge\"\ni_understand_this_disables_replay_protection = true\n"
    );
    let config = garm_server::config::Config::parse(&accepted).unwrap();
    assert_eq!(config.attestation.fixed_nonce.as_deref(), Some(&b"challenge"[..]));
    let production = garm_server::config::Config::parse(&base).unwrap();
    assert_eq!(production.attestation.fixed_nonce, None);
}

#[tokio::test]
async fn evidence_from_the_vm_the_provider_created_is_accepted_and_the_match_shown() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-bound", true).await;
    w.provider_reports(&i.name, V1_VM);
    w.nonce(&token).await;
    let (status, verdict) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["facts"]["vm_unique_id"], V1_VM.to_ascii_uppercase());
    assert_eq!(verdict["facts"]["provider_vm_id"], V1_VM);
    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert_eq!(shown["attestation"]["facts"]["provider_vm_id"], V1_VM, "{shown}");
    let (status, _) = w.jit(&token).await;
    assert_eq!(status, StatusCode::OK);
}

/// A token leaked to another genuine confidential VM: the hardware checks pass, but the
/// evidence names another VM than the one the provider created for this instance.
#[tokio::test]
async fn evidence_from_another_vm_than_the_providers_is_refused_and_the_instance_failed() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-elsewhere", true).await;
    w.provider_reports(&i.name, "0f5f2c1e-9a4b-4c1d-8e2f-123456789abc");
    w.nonce(&token).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "vm_mismatch");
    assert!(body.to_string().contains("0f5f2c1e"), "{body}");
    w.assert_failed_for_deletion(&i.name).await;
    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert_eq!(shown["attestation"]["reason"], "vm_mismatch", "{shown}");
    let (status, _) = w.jit(&token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Evidence for an instance its provider does not have: whatever sent it is not the VM garm
/// created, so the verdict is a refusal (not "no VM id reported"), even without
/// `require_vm_identity`.
#[tokio::test]
async fn evidence_for_an_instance_the_provider_does_not_have_is_refused() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-vanished", true).await;
    w.provider_reports(&i.name, "gone");
    w.nonce(&token).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "vm_not_found");
    w.assert_failed_for_deletion(&i.name).await;
    let (status, _) = w.jit(&token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A provider that cannot be asked decides nothing: 503, no verdict, the instance keeps
/// its chance, and a new round after the provider recovered is accepted.
#[tokio::test]
async fn a_provider_that_cannot_be_asked_leaves_the_verdict_open() {
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (i, token) = w.instance(&pool, "garm-cvm-later", true).await;
    w.provider_reports(&i.name, V1_VM);
    std::fs::write(w.h.dir.join("provider-down"), "").unwrap();
    w.nonce(&token).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "get a new nonce");
    let after = w.store.instance(&i.name).await.unwrap();
    assert_eq!(after.status, InstanceStatus::Running, "not failed");
    let shown = w.h.get(&format!("/api/v1/instances/{}", i.name)).await;
    assert!(shown.get("attestation").is_none(), "no verdict recorded: {shown}");

    std::fs::remove_file(w.h.dir.join("provider-down")).unwrap();
    w.nonce(&token).await;
    let (status, verdict) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    let (status, _) = w.jit(&token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_pool_that_requires_the_vm_identity_refuses_a_provider_without_vm_ids() {
    let w = world(true).await;
    let strict = r#"{"confidential": true, "attestation": {"required": true, "require_vm_identity": true}}"#;
    let pool = w.pool(strict).await;
    let (i, token) = w.instance(&pool, "garm-cvm-anonymous", true).await;
    w.nonce(&token).await;
    let (status, body) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    Harness::assert_error(status, &body, StatusCode::FORBIDDEN, "vm_identity_unknown");
    w.assert_failed_for_deletion(&i.name).await;
}

/// The verdicts recorded through the metadata endpoints, as the web UI shows them: the
/// instance page spells out the verdict and the attested facts, and the pool's instance
/// list gets an "Attestation" column (accepted, refused with its code, awaiting evidence).
#[tokio::test]
async fn the_webui_shows_verdicts_on_the_instance_page_and_in_instance_lists() {
    use crate::webui::{log_in, request};
    let w = world(true).await;
    let pool = w.pool(ATTESTING).await;
    let (good, token) = w.instance(&pool, "garm-cvm-ui-good", true).await;
    w.provider_reports(&good.name, V1_VM);
    w.nonce(&token).await;
    let (status, accepted) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (bad, token) = w.instance(&pool, "garm-cvm-ui-elsewhere", true).await;
    w.provider_reports(&bad.name, "0f5f2c1e-9a4b-4c1d-8e2f-123456789abc");
    w.nonce(&token).await;
    let (status, _) = w.post_evidence(&token, evidence("evidence-v1.json")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (waiting, _) = w.instance(&pool, "garm-cvm-ui-waiting", true).await;
    let plain_pool = w.pool(r#"{"confidential": true}"#).await;
    let (plain, _) = w.instance(&plain_pool, "garm-plain-ui", true).await;

    let cookie = log_in(&w.h).await;
    let page = request(
        &w.h,
        Method::GET,
        &format!("/ui/instances/{}", good.name),
        &cookie,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    let facts = &accepted["facts"];
    for want in [
        "<h2 id=\"attestation\">Attestation</h2>".to_string(),
        "<dt>Verdict</dt><dd><span class=\"st st-accepted\">accepted</span></dd>".into(),
        "<dt>Reason code</dt><dd><code>accepted</code></dd>".into(),
        "<dt>Platform</dt><dd>AMD SEV-SNP Milan".into(),
        format!("<dt>VMPL</dt><dd>{}</dd>", facts["vmpl"]),
        format!("<code class=\"hash\">{}</code>", facts["measurement"].as_str().unwrap()),
        format!("<code>{}</code> (matches)", V1_VM),
        format!("<code>{}</code>", V1_VM.to_ascii_uppercase()),
        format!(
            "bootloader {} tee {} snp {} microcode {}",
            facts["reported_tcb"]["bootloader"],
            facts["reported_tcb"]["tee"],
            facts["reported_tcb"]["snp"],
            facts["reported_tcb"]["microcode"]
        ),
        "debug allowed no".into(),
        "24 PCR values".into(),
        "2027-01-01 00:00:00 UTC".into(),
    ] {
        assert!(body.contains(&want), "the instance page lacks {want}: {body}");
    }

    let page = request(&w.h, Method::GET, &format!("/ui/instances/{}", bad.name), &cookie, None).await;
    let body = &page.body;
    assert!(
        body.contains("<span class=\"st st-refused\">refused</span> <code>vm_mismatch</code>"),
        "{body}"
    );
    assert!(
        body.contains("0f5f2c1e-9a4b-4c1d-8e2f-123456789abc</code> (does not match)"),
        "{body}"
    );
    let api = w.h.get(&format!("/api/v1/instances/{}", bad.name)).await;
    let detail = api["attestation"]["detail"].as_str().unwrap();
    assert!(
        body.contains(&garm_server::ui::e(detail).to_string()),
        "the API's detail {detail}: {body}"
    );

    let page = request(
        &w.h,
        Method::GET,
        &format!("/ui/instances/{}", waiting.name),
        &cookie,
        None,
    )
    .await;
    assert!(page.body.contains("awaiting evidence"), "{}", page.body);
    let page = request(
        &w.h,
        Method::GET,
        &format!("/ui/instances/{}", plain.name),
        &cookie,
        None,
    )
    .await;
    assert!(page.body.contains("Not required by this instance"), "{}", page.body);

    let page = request(&w.h, Method::GET, &format!("/ui/pools/{pool}"), &cookie, None).await;
    let body = &page.body;
    assert!(body.contains("<th scope=\"col\">Attestation</th>"), "{body}");
    for (name, badge) in [
        (&good.name, "<span class=\"st st-accepted\">accepted</span>"),
        (
            &bad.name,
            "<span class=\"st st-refused\">refused</span> <code>vm_mismatch</code>",
        ),
        (&waiting.name, "<span class=\"st st-pending\">awaiting evidence</span>"),
    ] {
        let row = &body[body.find(&format!(">{name}</a>")).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(badge), "{name}: {row}");
    }
    let page = request(&w.h, Method::GET, &format!("/ui/pools/{plain_pool}"), &cookie, None).await;
    assert!(
        !page.body.contains(">Attestation</th>"),
        "no column for a pool that does not attest"
    );
    let page = request(&w.h, Method::GET, "/ui/instances", &cookie, None).await;
    let body = &page.body;
    let row = &body[body.find(">garm-plain-ui</a>").unwrap()..];
    assert!(row[..row.find("</tr>").unwrap()].contains("not required"), "{body}");
}
