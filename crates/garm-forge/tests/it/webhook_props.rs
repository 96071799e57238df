//! Property tests: whatever arrives at the webhook endpoint, parsing and signature checks
//! return a value or an error and never panic; well-formed payloads keep what they say.

use garm_forge::webhook::{sign_sha256, verify, Delivery, Event};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::fixtures;

fn queued_fixture() -> Value {
    let path = fixtures().join("webhooks/workflow_job/dotcom-05-queued.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Header values: visible ASCII, and also arbitrary bytes (which `HeaderValue` may refuse).
fn header_map() -> impl Strategy<Value = HeaderMap> {
    let names = prop_oneof![
        Just("x-github-event"),
        Just("x-github-delivery"),
        Just("x-hub-signature-256"),
        Just("x-hub-signature"),
        Just("x-github-hook-installation-target-type"),
        Just("x-gitea-event"),
        Just("x-gitea-hook-installation-target-type"),
        Just("content-type"),
    ];
    let value = prop_oneof![
        ".{0,60}".boxed(),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
            .boxed(),
        prop_oneof![
            Just("workflow_job".to_owned()),
            Just("ping".to_owned()),
            Just("repository".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
        ]
        .boxed(),
    ];
    prop::collection::vec((names, value), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        map
    })
}

fn workflow_job_headers(form: bool) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("x-github-event", HeaderValue::from_static("workflow_job"));
    map.insert(
        "x-github-hook-installation-target-type",
        HeaderValue::from_static("repository"),
    );
    if form {
        map.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    map
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_headers_and_bytes_never_panic(headers in header_map(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(delivery) = Delivery::from_headers(&headers) {
            let _ = delivery.target_type();
            let _ = delivery.parse(&body);
            let _ = delivery.verify(b"secret", &body);
        }
    }

    #[test]
    fn arbitrary_json_bodies_never_panic(value in any_json(), form in any::<bool>()) {
        let json = serde_json::to_vec(&value).unwrap();
        let body = if form {
            format!("payload={}", url::form_urlencoded::byte_serialize(&json).collect::<String>()).into_bytes()
        } else {
            json
        };
        let delivery = Delivery::from_headers(&workflow_job_headers(form)).unwrap();
        let _ = delivery.parse(&body);
    }

    /// A real payload with one field replaced by anything: parsed or refused, never a panic;
    /// when it parses, the job id is the one in the payload.
    #[test]
    fn a_fixture_with_any_field_replaced_never_panics(
        pointer in prop_oneof![
            Just("/action"), Just("/workflow_job/id"), Just("/workflow_job/labels"), Just("/workflow_job/labels/0"),
            Just("/workflow_job/runner_id"), Just("/workflow_job/runner_name"), Just("/workflow_job/status"),
            Just("/workflow_job/conclusion"), Just("/workflow_job/started_at"), Just("/workflow_job/html_url"),
            Just("/workflow_job/run_id"), Just("/repository"), Just("/repository/owner"), Just("/repository/full_name"),
            Just("/organization"), Just("/enterprise"), Just("/installation"), Just("/workflow_job"),
        ],
        replacement in any_json(),
    ) {
        let mut payload = queued_fixture();
        if let Some(slot) = payload.pointer_mut(pointer) {
            *slot = replacement;
        }
        let body = serde_json::to_vec(&payload).unwrap();
        let delivery = Delivery::from_headers(&workflow_job_headers(false)).unwrap();
        if let Ok(Event::WorkflowJob(event)) = delivery.parse(&body) {
            if payload["workflow_job"].is_object() {
                prop_assert_eq!(Some(event.job.id), payload["workflow_job"]["id"].as_i64());
            }
            let _ = event.endpoint_base_url();
        }
    }

    /// Labels are kept exactly, whatever text they hold.
    #[test]
    fn labels_survive_parsing_unchanged(labels in prop::collection::vec(".{0,30}", 0..10)) {
        let mut payload = queued_fixture();
        payload["workflow_job"]["labels"] = json!(labels);
        let body = serde_json::to_vec(&payload).unwrap();
        let delivery = Delivery::from_headers(&workflow_job_headers(false)).unwrap();
        match delivery.parse(&body) {
            Ok(Event::WorkflowJob(event)) => prop_assert_eq!(event.job.labels, labels),
            other => prop_assert!(false, "a fixture with other labels must parse: {:?}", other),
        }
    }

    /// Only the right signature over the exact bytes verifies; any other header value is refused.
    #[test]
    fn only_the_exact_signature_verifies(
        secret in prop::collection::vec(any::<u8>(), 1..40),
        body in prop::collection::vec(any::<u8>(), 0..200),
        forged in ".{0,80}",
    ) {
        let good = sign_sha256(&secret, &body);
        prop_assert!(verify(&secret, Some(&good), &body).is_ok());
        if forged != good {
            prop_assert!(verify(&secret, Some(&forged), &body).is_err());
        }
        let mut tampered = body.clone();
        tampered.push(b'x');
        prop_assert!(verify(&secret, Some(&good), &tampered).is_err());
    }
}
