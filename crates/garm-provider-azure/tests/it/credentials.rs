//! The three credential kinds against the fake token endpoints, and the chain between them.

use garm_fake_arm::{ClientSpec, ManagedIdentities};
use serde_json::json;

use crate::support::{fake_config, instance, stderr, World, SERVICE_PRINCIPAL, TENANT};

#[test]
fn a_client_secret_gets_one_token_for_the_whole_run() {
    let world = World::new();
    instance(&world.create("garm-sp", json!({})));
    let tokens = world.token_calls();
    assert_eq!(tokens.len(), 1);
    let request = &tokens[0];
    assert_eq!(request.method, "POST");
    assert!(request.path.ends_with(&format!("/{TENANT}/oauth2/v2.0/token")));
    assert_eq!(request.body["grant_type"], "client_credentials");
    assert_eq!(request.body["client_secret"], "***");
    // The fake is reached at its own URL, but the audience stays the public cloud's.
    assert_eq!(request.body["scope"], "https://management.azure.com/.default");
    assert!(world
        .arm_calls()
        .iter()
        .all(|entry| entry.principal.as_deref() == Some("app:app-client-1")));
}

#[test]
fn workload_identity_sends_the_federated_token_file_as_assertion() {
    let mut fake = fake_config();
    fake.clients.push(ClientSpec {
        tenant_id: TENANT.to_owned(),
        client_id: "wi-app".to_owned(),
        secret: None,
        federated_assertions: vec!["eyJhbGciOiJSUzI1NiJ9.federated.token".to_owned()],
    });
    let world = World::with(fake, "", "");
    let token_file = world.dir.join("azure-identity-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.federated.token\n").unwrap();
    let credentials = format!(
        "[credentials.workload_identity]\ntenant_id = \"{TENANT}\"\nclient_id = \"wi-app\"\nfederated_token_file = \"{}\"\n",
        token_file.display()
    );
    world.write_config(&credentials, "");
    instance(&world.create("garm-wi", json!({})));
    let tokens = world.token_calls();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        tokens[0].body["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(tokens[0].body["client_assertion"], "***");
    assert!(world
        .arm_calls()
        .iter()
        .all(|entry| entry.principal.as_deref() == Some("app:wi-app")));
}

#[test]
fn managed_identity_asks_imds_with_the_metadata_header() {
    let mut fake = fake_config();
    fake.managed_identities = ManagedIdentities {
        system_assigned: false,
        user_assigned: vec!["uami-client".to_owned()],
    };
    let world = World::with(
        fake,
        "[credentials.managed_identity]\nclient_id = \"uami-client\"\n",
        "",
    );
    instance(&world.create("garm-mi", json!({})));
    let tokens = world.token_calls();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].method, "GET");
    assert_eq!(tokens[0].header("metadata"), Some("true"));
    assert!(tokens[0].url.contains("client_id=uami-client"), "{}", tokens[0].url);
    assert!(tokens[0].url.contains("api-version=2018-02-01"), "{}", tokens[0].url);
    assert!(world
        .arm_calls()
        .iter()
        .all(|entry| entry.principal.as_deref() == Some("msi:uami-client")));
}

#[test]
fn a_rejected_secret_falls_through_to_managed_identity_and_fails_clearly_without_one() {
    let mut fake = fake_config();
    fake.clients[0].secret = Some("rotated".to_owned());
    let world = World::with(fake, SERVICE_PRINCIPAL, "");
    let out = world.create("garm-badsecret", json!({}));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("client secret: HTTP 401: invalid_client AADSTS7000215"),
        "{err}"
    );
    assert!(
        err.contains("managed identity: HTTP 400: invalid_request Identity not found"),
        "{err}"
    );
    assert!(!err.contains("app-secret-value"), "{err}");
    assert!(world.fake.groups().is_empty());

    let mut fake = fake_config();
    fake.clients[0].secret = Some("rotated".to_owned());
    fake.managed_identities.system_assigned = true;
    let world = World::with(fake, SERVICE_PRINCIPAL, "");
    instance(&world.create("garm-chain", json!({})));
    assert!(world
        .arm_calls()
        .iter()
        .all(|entry| entry.principal.as_deref() == Some("msi:system")));
}
