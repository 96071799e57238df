//! Stdin, stdout, exit codes and error classification per command.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider::protocol::ValidationError;
use garm_provider::{
    BootstrapInstance, Deleted, ExternalProvider, InterfaceVersion, OutputError, PoolRef, Provider, ProviderError,
    ProviderStatus,
};

use crate::support::{dump_env, parse_env, Sandbox, ANSWER};

const SAVE_STDIN: &str = "IFS= read -r -d '' input; printf '%s' \"$input\" > \"{dir}/stdin\"\n";

fn bootstrap() -> BootstrapInstance {
    serde_json::from_str(
        r#"{"name": "garm-1", "pool_id": "pool-1", "os_type": "linux", "arch": "amd64",
            "extra_specs": {"runner_install_template": "IyEvYmluL2Jhc2gK",  "disk": 1}}"#,
    )
    .unwrap()
}

fn invalid_output(err: ProviderError) -> OutputError {
    match err {
        ProviderError::InvalidOutput { source, .. } => source,
        other => panic!("expected invalid output, got {other:?}"),
    }
}

#[tokio::test]
async fn create_sends_the_bootstrap_on_stdin_and_parses_the_instance() {
    let sandbox = Sandbox::new();
    let body = format!("{SAVE_STDIN}{}{ANSWER}", dump_env("env"));
    let provider = sandbox.provider(&body, InterfaceVersion::V0_1_1);
    let bootstrap = bootstrap();

    let instance = provider.create_instance(&bootstrap, None).await.unwrap();
    assert_eq!(instance.provider_id, "p-1");
    assert_eq!(instance.status, ProviderStatus::Running);
    assert_eq!(sandbox.read("stdin"), serde_json::to_string(&bootstrap).unwrap());

    let env = parse_env(&sandbox.read("env"));
    assert_eq!(env["GARM_COMMAND"], "CreateInstance");
    assert_eq!(env["GARM_POOL_ID"], "pool-1");
    let specs = STANDARD.decode(&env["GARM_POOL_EXTRASPECS"]).unwrap();
    assert_eq!(
        specs, br#"{"runner_install_template": "IyEvYmluL2Jhc2gK",  "disk": 1}"#,
        "byte for byte"
    );
}

#[tokio::test]
async fn other_commands_get_an_empty_stdin() {
    let sandbox = Sandbox::new();
    let provider = sandbox.provider(&format!("{SAVE_STDIN}{ANSWER}"), InterfaceVersion::V0_1_0);
    provider.get_instance("garm-1", "pool-1", None).await.unwrap();
    assert_eq!(sandbox.read("stdin"), "");
}

#[tokio::test]
async fn exit_30_on_delete_means_already_gone() {
    let sandbox = Sandbox::new();
    let provider = sandbox.provider("exit 30", InterfaceVersion::V0_1_0);
    assert_eq!(
        provider.delete_instance("garm-1", "pool-1", None).await.unwrap(),
        Deleted::AlreadyGone
    );
    let provider = sandbox.provider("exit 0", InterfaceVersion::V0_1_0);
    assert_eq!(
        provider.delete_instance("garm-1", "pool-1", None).await.unwrap(),
        Deleted::Done
    );
}

#[tokio::test]
async fn exit_30_on_get_and_start_means_not_found() {
    let sandbox = Sandbox::new();
    let provider = sandbox.provider("exit 30", InterfaceVersion::V0_1_0);
    assert!(provider
        .get_instance("garm-1", "pool-1", None)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(provider
        .start_instance("garm-1", "pool-1", None)
        .await
        .unwrap_err()
        .is_not_found());
    let create = provider.create_instance(&bootstrap(), None).await.unwrap_err();
    assert_eq!(create.exit_code(), Some(30), "create has no not-found meaning");
}

#[tokio::test]
async fn a_failing_provider_keeps_its_stderr_and_stdout() {
    let sandbox = Sandbox::new();
    let provider = sandbox.provider(
        "echo 'quota exceeded' >&2; echo partial; exit 3",
        InterfaceVersion::V0_1_0,
    );
    let err = provider.create_instance(&bootstrap(), None).await.unwrap_err();
    assert_eq!(err.to_string(), "the provider exited with code 3");
    match err {
        ProviderError::Failed {
            exit_code,
            stderr,
            stdout,
        } => {
            assert_eq!(exit_code, Some(3));
            assert_eq!(stderr, "quota exceeded\n");
            assert_eq!(stdout, "partial\n");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_on_stdout_is_invalid_output() {
    let sandbox = Sandbox::new();
    let provider = sandbox.provider("echo 'instance created!'", InterfaceVersion::V0_1_0);
    let err = provider.create_instance(&bootstrap(), None).await.unwrap_err();
    assert!(matches!(invalid_output(err), OutputError::Decode(_)));
    let err = provider.list_instances("pool-1", None).await.unwrap_err();
    assert!(matches!(invalid_output(err), OutputError::Decode(_)));
}

#[tokio::test]
async fn an_unknown_status_is_rejected() {
    let sandbox = Sandbox::new();
    let body = r#"echo '{"provider_id":"p-1","name":"garm-1","status":"pending_create"}'"#;
    let provider = sandbox.provider(body, InterfaceVersion::V0_1_0);
    let err = provider.get_instance("garm-1", "pool-1", None).await.unwrap_err();
    match invalid_output(err) {
        OutputError::Invalid(ValidationError::InvalidStatus(status)) => {
            assert_eq!(status, "pending_create")
        }
        other => panic!("expected an invalid status, got {other:?}"),
    }
    let provider = sandbox.provider(
        r#"echo '{"name":"garm-1","status":"running"}'"#,
        InterfaceVersion::V0_1_0,
    );
    let err = provider.get_instance("garm-1", "pool-1", None).await.unwrap_err();
    assert!(matches!(
        invalid_output(err),
        OutputError::Invalid(ValidationError::MissingProviderId)
    ));
}

#[tokio::test]
async fn list_parses_an_array_with_either_interface_version() {
    let sandbox = Sandbox::new();
    let body = r#"echo '[{"provider_id":"a","name":"a","status":"running"},{"provider_id":"b","name":"b","status":"stopped"}]'"#;
    for version in [InterfaceVersion::V0_1_0, InterfaceVersion::V0_1_1] {
        let provider = sandbox.provider(body, version);
        let instances = provider.list(PoolRef::new("pool-1", None)).await.unwrap();
        let ids: Vec<&str> = instances.iter().map(|instance| instance.provider_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "{version}");
        assert_eq!(instances[1].status, ProviderStatus::Stopped);
    }
    let provider = sandbox.provider("echo null", InterfaceVersion::V0_1_1);
    assert!(
        provider.list_instances("pool-1", None).await.unwrap().is_empty(),
        "Go's nil list"
    );

    let provider = sandbox.provider(
        r#"echo '[{"provider_id":"a","name":"a","status":"running"},{"name":"b"}]'"#,
        InterfaceVersion::V0_1_0,
    );
    let err = provider.list_instances("pool-1", None).await.unwrap_err();
    assert!(matches!(
        invalid_output(err),
        OutputError::InvalidListEntry { index: 1, .. }
    ));
}

#[tokio::test]
async fn a_missing_executable_is_a_spawn_error() {
    let sandbox = Sandbox::new();
    let config = sandbox.config(&sandbox.path("no-such-provider"), InterfaceVersion::V0_1_0);
    let provider = ExternalProvider::new(config, "controller-1".into());
    let err = provider.get_instance("garm-1", "pool-1", None).await.unwrap_err();
    assert!(matches!(err, ProviderError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn the_observer_sees_every_operation_and_its_outcome() {
    let sandbox = Sandbox::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let body = r#"case "$GARM_COMMAND" in DeleteInstance) exit 30 ;; StopInstance) exit 1 ;; esac"#;
    let provider =
        sandbox
            .provider(body, InterfaceVersion::V0_1_0)
            .with_observer(Arc::new(move |operation: &str, ok: bool| {
                record.lock().unwrap().push((operation.to_owned(), ok))
            }));

    provider.delete_instance("garm-1", "pool-1", None).await.unwrap();
    provider.stop_instance("garm-1", "pool-1", None).await.unwrap_err();
    provider.start_instance("garm-1", "pool-1", None).await.unwrap();
    provider.get_instance("garm-1", "pool-1", None).await.unwrap_err();

    let seen = seen.lock().unwrap().clone();
    let expected = [
        ("DeleteInstance", true),
        ("Stop", false),
        ("Start", true),
        ("GetInstance", false),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(op, ok)| (op.to_string(), *ok)).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_trait_object_reports_name_and_jit_setting() {
    let sandbox = Sandbox::new();
    let script = sandbox.script(ANSWER);
    let mut config = sandbox.config(&script, InterfaceVersion::V0_1_0);
    config.disable_jit_config = true;
    let provider: Arc<dyn Provider> = Arc::new(ExternalProvider::new(config, "controller-1".into()));
    assert_eq!(provider.name(), "script");
    assert!(provider.disable_jit_config());
    assert_eq!(
        provider.get("garm-1", PoolRef::new("pool-1", None)).await.unwrap().name,
        "garm-1"
    );
}
