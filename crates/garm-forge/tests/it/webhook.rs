//! Webhook deliveries: every fixture parses as JSON and as form bodies; headers and signatures.

use garm_forge::webhook::{
    sign_sha256, verify, ContentType, Delivery, Event, ForgeKind, JobAction, SignatureError, TargetType, WebhookError,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::support::fixtures;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

fn fixture_files(event: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures().join("webhooks").join(event);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn form_body(json: &[u8]) -> Vec<u8> {
    let encoded: String = url::form_urlencoded::byte_serialize(json).collect();
    format!("payload={encoded}").into_bytes()
}

fn workflow_job(delivery: &Delivery, body: &[u8]) -> garm_forge::webhook::WorkflowJobEvent {
    match delivery.parse(body).expect("fixture parses") {
        Event::WorkflowJob(job) => *job,
        other => panic!("expected a workflow_job event, got {other:?}"),
    }
}

/// Checks the typed event against the raw JSON it came from.
fn assert_matches_fixture(name: &str, event: &garm_forge::webhook::WorkflowJobEvent, raw: &Value) {
    let job = &raw["workflow_job"];
    assert_eq!(event.action.as_str(), raw["action"], "{name}");
    assert_eq!(event.job.id, job["id"].as_i64().unwrap(), "{name}");
    assert_eq!(event.job.run_id, job["run_id"].as_i64().unwrap(), "{name}");
    assert_eq!(event.job.status, job["status"], "{name}");
    assert_eq!(event.job.name, job["name"], "{name}");
    assert_eq!(event.job.html_url, job["html_url"], "{name}");
    let labels: Vec<String> = serde_json::from_value(job["labels"].clone()).unwrap();
    assert_eq!(event.job.labels, labels, "{name}");
    assert_eq!(event.job.runner_id, job["runner_id"].as_i64(), "{name}");
    assert_eq!(event.job.runner_name.as_deref(), job["runner_name"].as_str(), "{name}");
    assert_eq!(event.job.runner_group_id, job["runner_group_id"].as_i64(), "{name}");
    assert_eq!(
        event.job.runner_group_name.as_deref(),
        job["runner_group_name"].as_str(),
        "{name}"
    );
    assert_eq!(event.job.conclusion.as_deref(), job["conclusion"].as_str(), "{name}");
    assert_eq!(
        event.job.started_at.map(|time| time.timestamp()),
        job["started_at"]
            .as_str()
            .map(|time| chrono::DateTime::parse_from_rfc3339(time).unwrap().timestamp()),
        "{name}"
    );
    assert_eq!(event.repository.name, raw["repository"]["name"], "{name}");
    assert_eq!(event.repository.full_name, raw["repository"]["full_name"], "{name}");
    assert_eq!(event.repository.html_url, raw["repository"]["html_url"], "{name}");
    assert_eq!(
        event.repository.owner_login, raw["repository"]["owner"]["login"],
        "{name}"
    );
    assert_eq!(
        event.organization_login.as_deref(),
        raw["organization"]["login"].as_str(),
        "{name}"
    );
    assert_eq!(event.installation_id, raw["installation"]["id"].as_i64(), "{name}");
    assert_eq!(event.enterprise_slug, None, "{name}: no fixture has an enterprise");
    assert!(event.endpoint_base_url().is_some(), "{name}");
}

#[test]
fn every_workflow_job_fixture_parses_as_a_json_body() {
    let delivery = Delivery::from_headers(&headers(&[
        ("X-GitHub-Event", "workflow_job"),
        ("Content-Type", "application/json"),
    ]))
    .unwrap();
    for (name, body) in fixture_files("workflow_job") {
        let raw: Value = serde_json::from_slice(&body).unwrap();
        assert_matches_fixture(&name, &workflow_job(&delivery, &body), &raw);
    }
}

#[test]
fn every_workflow_job_fixture_parses_as_a_form_body() {
    let delivery = Delivery::from_headers(&headers(&[
        ("X-GitHub-Event", "workflow_job"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]))
    .unwrap();
    assert_eq!(delivery.content_type(), ContentType::Form);
    for (name, json) in fixture_files("workflow_job") {
        let raw: Value = serde_json::from_slice(&json).unwrap();
        assert_matches_fixture(&name, &workflow_job(&delivery, &form_body(&json)), &raw);
    }
}

#[test]
fn fixture_quirks_are_accepted_as_they_are() {
    let delivery = Delivery::from_headers(&headers(&[("x-github-event", "workflow_job")])).unwrap();
    let dir = fixtures().join("webhooks/workflow_job");
    let old = std::fs::read(dir.join("dotcom-00-in_progress.json")).unwrap();
    let old = workflow_job(&delivery, &old);
    assert_eq!(old.job.run_attempt, None);
    assert_eq!(old.job.workflow_name, None);
    assert_eq!(old.job.created_at, None);
    assert_eq!(old.organization_login.as_deref(), Some("octo-org"));
    assert_eq!(old.endpoint_base_url().as_deref(), Some("https://github.com"));

    let waiting = std::fs::read(dir.join("dotcom-06-queued.json")).unwrap();
    let waiting = workflow_job(&delivery, &waiting);
    assert_eq!(waiting.action, JobAction::Queued);
    assert_eq!(waiting.job.status, "waiting");
    assert_eq!(waiting.job.runner_id, None);
    assert_eq!(waiting.job.labels, ["self-hosted", "k8s"]);
    assert_eq!(waiting.installation_id, Some(23154469));
    assert_eq!(waiting.repository.owner_login, "lineville");

    let big_id = std::fs::read(dir.join("dotcom-04-in_progress.json")).unwrap();
    assert_eq!(workflow_job(&delivery, &big_id).job.id, 14541957942);
}

#[test]
fn ping_and_other_events_are_recognised_by_name() {
    for (name, body) in fixture_files("ping") {
        let delivery = Delivery::from_headers(&headers(&[("X-GitHub-Event", "ping")])).unwrap();
        assert_eq!(delivery.parse(&body).unwrap(), Event::Ping, "{name}");
    }
    for (name, body) in fixture_files("workflow_run") {
        let delivery = Delivery::from_headers(&headers(&[("X-GitHub-Event", "workflow_run")])).unwrap();
        assert_eq!(
            delivery.parse(&body).unwrap(),
            Event::Other("workflow_run".into()),
            "{name}"
        );
    }
}

#[test]
fn a_malformed_or_empty_workflow_job_body_is_a_bad_request() {
    let json = Delivery::from_headers(&headers(&[("X-GitHub-Event", "workflow_job")])).unwrap();
    for body in [&b"{not json"[..], b"{\"action\":\"queued\"}", b"[]"] {
        let err = json.parse(body).unwrap_err();
        assert!(matches!(err, WebhookError::MalformedPayload { .. }), "{err:?}");
    }
    assert!(matches!(json.parse(b"").unwrap_err(), WebhookError::EmptyBody));

    let form = Delivery::from_headers(&headers(&[
        ("X-GitHub-Event", "workflow_job"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
    ]))
    .unwrap();
    let err = form.parse(b"other=1").unwrap_err();
    assert!(matches!(err, WebhookError::MissingFormPayload), "{err:?}");
}

#[test]
fn header_names_are_matched_case_insensitively() {
    let delivery = Delivery::from_headers(&headers(&[
        ("X-GITHUB-EVENT", "workflow_job"),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-Hub-Signature-256", "sha256=abc"),
        ("x-github-hook-installation-target-type", "organization"),
        ("CONTENT-TYPE", "application/json"),
    ]))
    .unwrap();
    assert_eq!(delivery.event(), "workflow_job");
    assert_eq!(delivery.delivery_id(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    assert_eq!(delivery.signature(), Some("sha256=abc"));
    assert_eq!(delivery.target_type().unwrap(), TargetType::Organization);
    assert_eq!(delivery.forge(), ForgeKind::Github);
    assert_eq!(
        delivery.dedup_key().as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        "without a hook id the GUID alone"
    );
}

#[test]
fn the_same_guid_sent_to_two_hooks_gives_two_dedup_keys() {
    let key = |hook: &str| {
        Delivery::from_headers(&headers(&[
            ("X-GitHub-Event", "workflow_job"),
            ("X-GitHub-Delivery", "58474f00-b361-11eb-836d-0e4f3503ccbe"),
            ("X-GitHub-Hook-ID", hook),
        ]))
        .unwrap()
        .dedup_key()
    };
    assert_eq!(key("7").as_deref(), Some("7:58474f00-b361-11eb-836d-0e4f3503ccbe"));
    assert_ne!(key("7"), key("8"));
    let none = Delivery::from_headers(&headers(&[("X-GitHub-Event", "workflow_job")])).unwrap();
    assert_eq!(none.dedup_key(), None);
}

#[test]
fn target_types_map_per_forge_and_gitea_overrides_github() {
    let target = |pairs: &[(&str, &str)]| {
        let mut all = vec![("X-GitHub-Event", "workflow_job")];
        all.extend_from_slice(pairs);
        Delivery::from_headers(&headers(&all)).unwrap().target_type()
    };
    let github = "X-GitHub-Hook-Installation-Target-Type";
    let gitea = "X-Gitea-Hook-Installation-Target-Type";
    assert_eq!(target(&[(github, "repository")]).unwrap(), TargetType::Repository);
    assert_eq!(target(&[(github, "business")]).unwrap(), TargetType::Enterprise);
    assert_eq!(
        target(&[(github, "business"), (gitea, "system")]).unwrap(),
        TargetType::ForgeInstance
    );
    assert_eq!(target(&[(gitea, "organization")]).unwrap(), TargetType::Organization);
    for bad in [
        &[(github, "system")][..],
        &[(gitea, "business")],
        &[(github, "integration")],
        &[],
    ] {
        let err = target(bad).unwrap_err();
        assert!(matches!(err, WebhookError::UnknownTargetType(_)), "{err:?}");
    }
    let gitea_delivery =
        Delivery::from_headers(&headers(&[("X-GitHub-Event", "workflow_job"), (gitea, "repository")])).unwrap();
    assert_eq!(gitea_delivery.forge(), ForgeKind::Gitea);
}

#[test]
fn a_delivery_without_an_event_header_is_refused() {
    let err = Delivery::from_headers(&headers(&[("Content-Type", "application/json")])).unwrap_err();
    assert!(matches!(err, WebhookError::MissingEvent), "{err:?}");
}

#[test]
fn signatures_round_trip_over_the_raw_body_for_both_content_types() {
    let secret = b"webhook-secret";
    let (_, json) = fixture_files("workflow_job").remove(0);
    for (content_type, body) in [
        ("application/json", json.clone()),
        ("application/x-www-form-urlencoded", form_body(&json)),
    ] {
        let signature = sign_sha256(secret, &body);
        let delivery = Delivery::from_headers(&headers(&[
            ("X-GitHub-Event", "workflow_job"),
            ("Content-Type", content_type),
            ("X-Hub-Signature-256", &signature),
        ]))
        .unwrap();
        assert_eq!(delivery.verify(secret, &body), Ok(()));
        assert_eq!(delivery.verify(b"wrong", &body), Err(SignatureError::Mismatch));
        // The HMAC is over the bytes received: the decoded JSON of a form body does not verify.
        if content_type.ends_with("urlencoded") {
            assert_eq!(delivery.verify(secret, &json), Err(SignatureError::Mismatch));
        }
    }
}

#[test]
fn legacy_sha1_header_is_ignored() {
    let only_sha1 = Delivery::from_headers(&headers(&[
        ("X-GitHub-Event", "ping"),
        ("X-Hub-Signature", "sha1=0000"),
    ]))
    .unwrap();
    assert_eq!(only_sha1.signature(), None);
    assert_eq!(only_sha1.verify(b"secret", b"{}"), Err(SignatureError::Missing));
    let both = Delivery::from_headers(&headers(&[
        ("X-GitHub-Event", "ping"),
        ("X-Hub-Signature", "sha1=0000"),
        ("X-Hub-Signature-256", "sha256=1111"),
    ]))
    .unwrap();
    assert_eq!(both.signature(), Some("sha256=1111"));
}

#[test]
fn each_kind_of_bad_signature_is_told_apart() {
    let body = b"Hello, World!";
    let secret = b"It's a Secret to Everybody";
    let good = sign_sha256(secret, body);
    // The server answers 401 to each (crates/garm-server/src/error.rs): a digest without its
    // `sha256=` prefix or with another algorithm is as unauthenticated as a wrong one.
    let cases: [(Option<&str>, SignatureError); 7] = [
        (None, SignatureError::Missing),
        (Some("757107ea"), SignatureError::Malformed),
        (Some("md5=757107ea"), SignatureError::UnsupportedAlgorithm("md5".into())),
        (
            Some("sha1=757107ea"),
            SignatureError::UnsupportedAlgorithm("sha1".into()),
        ),
        (Some("sha256=not-hex"), SignatureError::Mismatch),
        (Some("sha256=757107ea"), SignatureError::Mismatch),
        (Some(&good[..good.len() - 1]), SignatureError::Mismatch),
    ];
    for (header, expected) in cases {
        let err = verify(secret, header, body).unwrap_err();
        assert_eq!(err, expected, "{header:?}");
    }
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(verify(secret, Some(&flipped), body), Err(SignatureError::Mismatch));
    assert_eq!(verify(secret, Some(&good), body), Ok(()));
}
