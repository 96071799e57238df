//! Tests for the config loader.

use super::*;

const MINIMAL: &str = r#"
location = "westeurope"
[credentials]
subscription_id = "00000000-0000-0000-0000-000000000001"
"#;

fn parse(text: &str) -> Result<Config, AzureError> {
    Config::parse(text, |_| None)
}

#[test]
fn a_minimal_config_gets_public_cloud_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.location, "westeurope");
    assert_eq!(config.virtual_network_cidr.to_string(), "10.10.0.0/16");
    assert_eq!(
        config.endpoints.resource_manager.as_str(),
        "https://management.azure.com/"
    );
    assert_eq!(config.endpoints.scope(), "https://management.azure.com/.default");
    assert_eq!(config.endpoints.imds.as_str(), "http://169.254.169.254/");
    assert!(config.credentials.service_principal.is_none());
    assert!(config.credentials.workload_identity.is_none());
    assert_eq!(config.timeouts, Timeouts::default());
    assert!(config.ignored_keys.is_empty());
}

#[test]
fn a_reference_provider_config_loads_unchanged_and_secrets_stay_hidden() {
    let text = r#"
location = "westeurope"
use_ephemeral_storage = false
virtual_network_cidr = "10.20.0.0/16"
use_accelerated_networking = true
vnet_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
disable_isolated_networks = true

[credentials]
subscription_id = "00000000-0000-0000-0000-000000000001"
[credentials.service_principal]
tenant_id = "tenant"
client_id = "app"
client_secret = "s3cr3t-value"
[credentials.managed_identity]
client_id = "uami"
[credentials.client_options.Cloud]
ActiveDirectoryAuthorityHost = "https://login.chinacloudapi.cn/"
[credentials.client_options.Cloud.Services.resourceManager]
Endpoint = "https://management.chinacloudapi.cn"
Audience = "https://management.core.chinacloudapi.cn"
"#;
    let config = parse(text).unwrap();
    assert!(config.use_accelerated_networking && config.disable_isolated_networks);
    assert!(config.vnet_subnet_id.is_some());
    let sp = config.credentials.service_principal.as_ref().unwrap();
    assert_eq!((sp.tenant_id.as_str(), sp.client_id.as_str()), ("tenant", "app"));
    assert_eq!(config.credentials.managed_identity.client_id.as_deref(), Some("uami"));
    assert_eq!(
        config.endpoints.resource_manager.as_str(),
        "https://management.chinacloudapi.cn/"
    );
    assert_eq!(
        config.endpoints.authority_host.as_str(),
        "https://login.chinacloudapi.cn/"
    );
    assert_eq!(
        config.endpoints.scope(),
        "https://management.core.chinacloudapi.cn/.default"
    );
    assert!(!format!("{config:?}").contains("s3cr3t"));
}

#[test]
fn endpoints_win_over_client_options_and_accept_both_spellings() {
    let text = format!(
        r#"{MINIMAL}
[credentials.client_options.Cloud]
ActiveDirectoryAuthorityHost = "https://login.chinacloudapi.cn/"
[endpoints]
login = "http://127.0.0.1:9000"
management = "http://127.0.0.1:9000/"
imds = "http://127.0.0.1:9000"
resource_manager_audience = "https://management.azure.com/"
allow_http = true
"#
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.endpoints.authority_host.as_str(), "http://127.0.0.1:9000/");
    assert_eq!(config.endpoints.resource_manager.as_str(), "http://127.0.0.1:9000/");
    assert_eq!(config.endpoints.scope(), "https://management.azure.com/.default");

    let doc_names = format!(
        "{MINIMAL}\n[endpoints]\nresource_manager = \"https://arm.example\"\nauthority_host = \"https://login.example\"\n"
    );
    let config = parse(&doc_names).unwrap();
    assert_eq!(config.endpoints.resource_manager.as_str(), "https://arm.example/");
    // The URL ARM is reached at does not change whose tokens it takes: the public cloud's.
    assert_eq!(config.endpoints.scope(), "https://management.azure.com/.default");
}

#[test]
fn the_token_audience_comes_from_the_cloud_not_from_an_overridden_url() {
    let overridden = format!("{MINIMAL}\n[endpoints]\nresource_manager = \"https://arm-proxy.internal.example\"\n");
    assert_eq!(
        parse(&overridden).unwrap().endpoints.scope(),
        "https://management.azure.com/.default"
    );
    // A sovereign cloud named in client_options by its endpoint alone: that cloud's audience,
    // even when [endpoints] sends the requests elsewhere.
    let sovereign = format!(
        "{MINIMAL}\n[credentials.client_options.Cloud.Services.resourceManager]\nEndpoint = \"https://management.usgovcloudapi.net\"\n[endpoints]\nresource_manager = \"https://arm-proxy.internal.example\"\n"
    );
    assert_eq!(
        parse(&sovereign).unwrap().endpoints.scope(),
        "https://management.usgovcloudapi.net/.default"
    );
    // An explicit token_audience wins over both.
    let explicit = format!("{overridden}token_audience = \"https://management.core.windows.net/\"\n");
    assert_eq!(
        parse(&explicit).unwrap().endpoints.scope(),
        "https://management.core.windows.net/.default"
    );
}

#[test]
fn plain_http_needs_allow_http_except_for_imds() {
    let text = format!("{MINIMAL}\n[endpoints]\nresource_manager = \"http://127.0.0.1:1\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("not https"), "{err}");
    let text = format!("{MINIMAL}\n[endpoints]\nimds = \"http://127.0.0.1:1\"\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn unknown_keys_are_reported_not_fatal() {
    let text =
        format!("typo_key = 1\n{MINIMAL}\n[endpoints]\nmanagment = \"x\"\n[credentials.client_options]\nRetry = 3\n");
    let mut keys = parse(&text).unwrap().ignored_keys;
    keys.sort();
    assert_eq!(
        keys,
        ["credentials.client_options.Retry", "endpoints.managment", "typo_key"]
    );
}

#[test]
fn required_keys_and_malformed_values_are_errors() {
    assert!(parse("[credentials]\nsubscription_id = \"s\"\n")
        .unwrap_err()
        .to_string()
        .contains("location"));
    assert!(parse("location = \"x\"\n")
        .unwrap_err()
        .to_string()
        .contains("subscription_id"));
    let bad_cidr = format!("virtual_network_cidr = \"10.10.1.0/16\"\n{MINIMAL}");
    assert!(parse(&bad_cidr).unwrap_err().to_string().contains("10.10.0.0/16"));
    let bad_subnet = format!("vnet_subnet_id = \"subnet\"\n{MINIMAL}");
    assert!(parse(&bad_subnet).is_err());
    let bad_timeout = format!("{MINIMAL}\n[timeouts]\ncommand = 0\n");
    assert!(parse(&bad_timeout).is_err());
}

#[test]
fn workload_identity_needs_an_existing_token_file_and_can_come_from_the_environment() {
    let file = std::env::temp_dir().join(format!("garm-azure-wi-{}", uuid::Uuid::new_v4()));
    let text = format!(
        "{MINIMAL}\n[credentials.workload_identity]\ntenant_id = \"t\"\nclient_id = \"c\"\nfederated_token_file = \"{}\"\n",
        file.display()
    );
    assert!(parse(&text).unwrap_err().to_string().contains("does not exist"));
    std::fs::write(&file, "assertion").unwrap();
    let wi = parse(&text).unwrap().credentials.workload_identity.unwrap();
    assert_eq!(wi.client_id, "c");

    let path = file.display().to_string();
    let env = |name: &str| match name {
        "AZURE_CLIENT_ID" => Some("env-client".to_owned()),
        "AZURE_TENANT_ID" => Some("env-tenant".to_owned()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(path.clone()),
        _ => None,
    };
    let wi = Config::parse(MINIMAL, env)
        .unwrap()
        .credentials
        .workload_identity
        .unwrap();
    assert_eq!(
        (wi.client_id.as_str(), wi.tenant_id.as_str()),
        ("env-client", "env-tenant")
    );
    std::fs::remove_file(&file).unwrap();
}
