//! Property tests: whatever a provider prints on stdout, decoding and validating it (as garm
//! does, in process and through `ExternalProvider` running a real executable) gives an
//! instance or an error, never a panic; what validates round-trips.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider::{ExternalProvider, ExternalProviderConfig, InterfaceVersion, PoolRef, Provider, ProviderError};
use garm_provider_protocol::ProviderInstance;
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Something shaped like a provider's instance, with any field of any type or missing.
fn instance_like() -> impl Strategy<Value = Value> {
    let text = prop_oneof![".{0,20}".prop_map(Value::String), any_json()];
    let status = prop_oneof![
        Just(json!("running")),
        Just(json!("stopped")),
        Just(json!("error")),
        Just(json!("unknown")),
        Just(json!("pending")),
        Just(Value::Null),
        any_json(),
    ];
    let fault = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| json!(STANDARD.encode(b))),
        ".{0,20}".prop_map(Value::String),
        any_json(),
    ];
    let addresses = prop_oneof![
        prop::collection::vec(
            (".{0,15}", prop_oneof![Just("public"), Just("private"), Just("x")]),
            0..3
        )
        .prop_map(|v| json!(v
            .into_iter()
            .map(|(a, t)| json!({"address": a, "type": t}))
            .collect::<Vec<_>>())),
        any_json(),
    ];
    (text.clone(), text.clone(), text, status, fault, addresses, any::<u8>()).prop_map(
        |(provider_id, name, os, status, fault, addresses, drop_mask)| {
            let mut object = serde_json::Map::new();
            for (bit, (key, value)) in [
                ("provider_id", provider_id),
                ("name", name),
                ("os_type", os),
                ("status", status),
                ("provider_fault", fault),
                ("addresses", addresses),
            ]
            .into_iter()
            .enumerate()
            {
                if drop_mask & (1 << bit) == 0 {
                    object.insert(key.to_string(), value);
                }
            }
            Value::Object(object)
        },
    )
}

fn decode(stdout: &[u8]) -> Option<ProviderInstance> {
    let instance: ProviderInstance = serde_json::from_slice(stdout).ok()?;
    instance.validate().ok()?;
    Some(instance)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_decode_or_are_refused(stdout in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&stdout);
        let _ = serde_json::from_slice::<Option<Vec<ProviderInstance>>>(&stdout);
    }

    #[test]
    fn instance_shaped_output_decodes_or_is_refused_and_what_validates_round_trips(value in instance_like()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Some(instance) = decode(&bytes) {
            prop_assert!(!instance.provider_id.is_empty() && !instance.name.is_empty());
            let again = serde_json::to_vec(&instance).unwrap();
            prop_assert_eq!(decode(&again), Some(instance));
        }
        let list = serde_json::to_vec(&json!([value, value])).unwrap();
        let _ = serde_json::from_slice::<Option<Vec<ProviderInstance>>>(&list);
    }
}

/// A provider executable that prints whatever its config file holds.
struct Printer {
    dir: std::path::PathBuf,
    provider: ExternalProvider,
}

impl Printer {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("garm-output-props-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("provider.sh");
        std::fs::write(&script, "#!/bin/sh\ncat \"$GARM_PROVIDER_CONFIG_FILE\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let provider = ExternalProvider::new(
            ExternalProviderConfig {
                name: "printer".into(),
                executable: script,
                config_file: Some(dir.join("stdout")),
                interface_version: InterfaceVersion::V0_1_0,
                environment_variables: Vec::new(),
                exec_timeout: Some(Duration::from_secs(10)),
                disable_jit_config: false,
            },
            "controller-1".into(),
        );
        Self { dir, provider }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Through the real process path: an instance or `InvalidOutput`, never anything else.
    #[test]
    fn external_provider_output_is_an_instance_or_invalid_output(
        stdout in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200).boxed(),
            instance_like().prop_map(|v| serde_json::to_vec(&v).unwrap()).boxed(),
            prop::collection::vec(instance_like(), 0..3).prop_map(|v| serde_json::to_vec(&v).unwrap()).boxed(),
        ],
    ) {
        let printer = Printer::new();
        std::fs::write(printer.dir.join("stdout"), &stdout).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let pool = PoolRef::new("pool-1", None);
        let got = runtime.block_on(printer.provider.get("garm-1", pool));
        match got {
            Ok(instance) => prop_assert_eq!(Some(instance), decode(&stdout)),
            Err(ProviderError::InvalidOutput { .. }) => prop_assert!(decode(&stdout).is_none()),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
        let listed = runtime.block_on(printer.provider.list(pool));
        prop_assert!(
            matches!(listed, Ok(_) | Err(ProviderError::InvalidOutput { .. })),
            "unexpected list answer {:?}", listed
        );
    }
}
