//! Unit tests of the environment a call builds and of the metric labels.

use super::*;

fn provider(version: InterfaceVersion, prefixes: &[&str]) -> ExternalProvider {
    let config = ExternalProviderConfig {
        name: "test".into(),
        executable: "/bin/true".into(),
        config_file: Some("/etc/provider.toml".into()),
        interface_version: version,
        environment_variables: prefixes.iter().map(|prefix| prefix.to_string()).collect(),
        exec_timeout: None,
        disable_jit_config: false,
    };
    ExternalProvider::new(config, "controller-1".into())
}

fn host() -> impl Iterator<Item = (OsString, OsString)> {
    [
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
        ("AWS_REGION", "eu-west-1"),
        ("AWSOME", "no"),
        ("GARM_DEBUG", "1"),
        ("https_proxy", "http://proxy:3128"),
        ("NO_PROXY", "localhost"),
    ]
    .into_iter()
    .map(|(name, value)| (name.into(), value.into()))
}

fn names(vars: &[(OsString, OsString)]) -> Vec<String> {
    let mut names: Vec<String> = vars
        .iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn only_prefixed_and_proxy_variables_pass_through() {
    let provider = provider(InterfaceVersion::V0_1_0, &["AWS_", "GARM", ""]);
    let call = Call {
        command: Command::ListInstances,
        pool_id: Some("p"),
        instance_id: None,
        extra_specs: None,
    };
    let vars = provider.environment(&call, host());
    assert_eq!(
        names(&vars),
        [
            "AWS_REGION",
            "GARM_COMMAND",
            "GARM_CONTROLLER_ID",
            "GARM_INTERFACE_VERSION",
            "GARM_POOL_ID",
            "GARM_PROVIDER_CONFIG_FILE",
            "NO_PROXY",
            "https_proxy",
        ]
    );
}

#[test]
fn v0_1_1_adds_pool_id_and_extra_specs_to_instance_commands() {
    let call = Call::instance(Command::DeleteInstance, "garm-1", "pool-1", None);
    let old = provider(InterfaceVersion::V0_1_0, &[]).environment(&call, std::iter::empty());
    assert_eq!(
        names(&old),
        [
            "GARM_COMMAND",
            "GARM_CONTROLLER_ID",
            "GARM_INSTANCE_ID",
            "GARM_INTERFACE_VERSION",
            "GARM_PROVIDER_CONFIG_FILE"
        ]
    );
    let new = provider(InterfaceVersion::V0_1_1, &[]).environment(&call, std::iter::empty());
    assert!(new.contains(&("GARM_POOL_ID".into(), "pool-1".into())));
    assert!(new.contains(&("GARM_POOL_EXTRASPECS".into(), "bnVsbA==".into())));
    assert!(new.contains(&("GARM_INTERFACE_VERSION".into(), "v0.1.1".into())));
}

#[test]
fn start_and_stop_have_short_operation_labels() {
    assert_eq!(operation_label(Command::StartInstance), "Start");
    assert_eq!(operation_label(Command::StopInstance), "Stop");
    assert_eq!(operation_label(Command::RemoveAllInstances), "RemoveAllInstances");
}
