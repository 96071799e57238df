//! The environment a provider process gets: replaced, per command and interface version.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider::protocol::env::PROXY_VARIABLES;
use garm_provider::{ExternalProvider, InterfaceVersion};

use crate::support::{dump_env, parse_env, Sandbox, ANSWER};

fn dumping(sandbox: &Sandbox, version: InterfaceVersion) -> ExternalProvider {
    sandbox.provider(&format!("{}{ANSWER}", dump_env("env")), version)
}

fn garm_names(sandbox: &Sandbox) -> Vec<String> {
    parse_env(&sandbox.read("env"))
        .into_keys()
        .filter(|name| name.starts_with("GARM"))
        .collect()
}

#[tokio::test]
async fn the_host_environment_is_not_inherited() {
    let sandbox = Sandbox::new();
    let provider = dumping(&sandbox, InterfaceVersion::V0_1_0);
    provider.get_instance("garm-1", "pool-1", None).await.unwrap();
    let env = parse_env(&sandbox.read("env"));
    for name in env.keys() {
        let proxy = PROXY_VARIABLES.iter().any(|proxy| name.starts_with(proxy));
        assert!(name.starts_with("GARM_") || proxy, "{name} leaked into the provider");
    }
    assert!(!env.contains_key("PATH") && !env.contains_key("HOME"));
    assert_eq!(env["GARM_COMMAND"], "GetInstance");
    assert_eq!(env["GARM_CONTROLLER_ID"], "controller-1");
    assert_eq!(env["GARM_INSTANCE_ID"], "garm-1");
    assert_eq!(env["GARM_INTERFACE_VERSION"], "v0.1.0");
    assert_eq!(
        env["GARM_PROVIDER_CONFIG_FILE"],
        sandbox.path("provider.toml").display().to_string()
    );
}

#[tokio::test]
async fn v0_1_0_sends_the_base_variables_of_each_command() {
    let sandbox = Sandbox::new();
    let provider = dumping(&sandbox, InterfaceVersion::V0_1_0);
    let base = [
        "GARM_COMMAND",
        "GARM_CONTROLLER_ID",
        "GARM_INTERFACE_VERSION",
        "GARM_PROVIDER_CONFIG_FILE",
    ];
    let with = |extra: &str| {
        let mut names: Vec<String> = base.iter().map(|name| name.to_string()).collect();
        names.push(extra.to_owned());
        names.sort();
        names
    };

    provider.delete_instance("garm-1", "pool-1", Some("{}")).await.unwrap();
    assert_eq!(garm_names(&sandbox), with("GARM_INSTANCE_ID"));
    provider.stop_instance("garm-1", "pool-1", None).await.unwrap();
    assert_eq!(garm_names(&sandbox), with("GARM_INSTANCE_ID"));
    provider.list_instances("pool-1", Some("{}")).await.unwrap();
    assert_eq!(garm_names(&sandbox), with("GARM_POOL_ID"));
    provider.remove_all_instances("pool-1", None).await.unwrap();
    assert_eq!(garm_names(&sandbox), base.to_vec());
}

#[tokio::test]
async fn v0_1_1_adds_pool_id_and_extra_specs_to_every_command() {
    let sandbox = Sandbox::new();
    let provider = dumping(&sandbox, InterfaceVersion::V0_1_1);
    let specs = r#"{"disk_size_gb": 64}"#;

    provider.start_instance("garm-1", "pool-1", Some(specs)).await.unwrap();
    let env = parse_env(&sandbox.read("env"));
    assert_eq!(env["GARM_INTERFACE_VERSION"], "v0.1.1");
    assert_eq!(env["GARM_POOL_ID"], "pool-1");
    assert_eq!(env["GARM_INSTANCE_ID"], "garm-1");
    assert_eq!(STANDARD.decode(&env["GARM_POOL_EXTRASPECS"]).unwrap(), specs.as_bytes());

    provider.remove_all_instances("pool-1", None).await.unwrap();
    let env = parse_env(&sandbox.read("env"));
    assert_eq!(env["GARM_POOL_ID"], "pool-1");
    assert_eq!(
        env["GARM_POOL_EXTRASPECS"], "bnVsbA==",
        "no extra specs is base64 of null"
    );
    assert!(!env.contains_key("GARM_INSTANCE_ID"));
}

#[tokio::test]
async fn configured_prefixes_and_proxies_pass_through_but_garm_names_do_not() {
    // These names are unique to this test, so setting them cannot disturb the others.
    std::env::set_var("PASSME_TOKEN", "secret");
    std::env::set_var("PASSMENOT", "no");
    std::env::set_var("GARM_SNEAKY", "no");
    std::env::set_var("https_proxy", "http://proxy.example:3128");
    let sandbox = Sandbox::new();
    let script = sandbox.script(&format!("{}{ANSWER}", dump_env("env")));
    let mut config = sandbox.config(&script, InterfaceVersion::V0_1_0);
    config.environment_variables = vec!["PASSME_".into(), "GARM".into()];
    let provider = ExternalProvider::new(config, "controller-1".into());

    provider.list_instances("pool-1", None).await.unwrap();
    let env = parse_env(&sandbox.read("env"));
    assert_eq!(env.get("PASSME_TOKEN").map(String::as_str), Some("secret"));
    assert_eq!(
        env.get("https_proxy").map(String::as_str),
        Some("http://proxy.example:3128")
    );
    assert!(!env.contains_key("PASSMENOT"));
    assert!(!env.contains_key("GARM_SNEAKY"), "host GARM* variables never pass");
    assert!(!env.contains_key("PATH"));
}
