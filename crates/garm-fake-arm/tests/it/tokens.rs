//! The Entra and IMDS token endpoints, and bearer checks on ARM calls.

use garm_fake_arm::{ManagedIdentities, SettingsPatch};
use serde_json::Value;

use crate::support::{config, Fake, APP, SECRET, TENANT};

fn entra(fake: &Fake, form: &[(&str, &str)]) -> (u16, Value) {
    let response = fake
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", fake.handle.url()))
        .form(form)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

#[test]
fn client_credentials_need_the_right_secret_client_and_scope() {
    let fake = Fake::start();
    let scope = ("scope", "https://management.azure.com/.default");
    let (status, body) = entra(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            scope,
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_u64(), "Entra sends numbers: {body}");
    let (status, body) = entra(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", "nope"),
            scope,
        ],
    );
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS7000215"));
    let (status, _) = entra(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "stranger"),
            ("client_secret", SECRET),
            scope,
        ],
    );
    assert_eq!(status, 400);
    let (status, body) = entra(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    );
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, _) = entra(&fake, &[("grant_type", "password"), ("client_id", APP), scope]);
    assert_eq!(status, 400);
    let own_scope = format!("{}/.default", fake.handle.url());
    let (status, _) = entra(
        &fake,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", &own_scope),
        ],
    );
    assert_eq!(status, 200, "the fake's own URL is an accepted audience");
}

#[test]
fn federated_assertions_are_matched_against_the_app() {
    let fake = Fake::start();
    let form = |assertion| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("scope", "https://management.azure.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ]
    };
    assert_eq!(entra(&fake, &form("assertion-1")).0, 200);
    assert_eq!(entra(&fake, &form("forged")).0, 401);
}

#[test]
fn imds_needs_the_metadata_header_and_a_known_identity() {
    let mut cfg = config();
    cfg.managed_identities = ManagedIdentities {
        system_assigned: true,
        user_assigned: vec!["uami".into()],
    };
    let fake = Fake::with(cfg);
    let url = |query: &str| {
        format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/{query}",
            fake.handle.url()
        )
    };
    let response = fake.http.get(url("")).send().unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = fake
        .http
        .get(url(""))
        .header("Metadata", "true")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        body["expires_in"].is_string() && body["expires_on"].is_string(),
        "IMDS sends strings: {body}"
    );
    assert_eq!(
        fake.http
            .get(url("&client_id=uami"))
            .header("Metadata", "true")
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let response = fake
        .http
        .get(url("&client_id=other"))
        .header("Metadata", "true")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().unwrap()["error_description"],
        "Identity not found"
    );
}

#[test]
fn arm_calls_need_a_live_bearer_token() {
    let fake = Fake::start();
    let url = fake.url("/resourcegroups", "2021-04-01");
    let response = fake.http.get(&url).send().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer "));
    assert_eq!(
        response.json::<Value>().unwrap()["error"]["code"],
        "AuthenticationFailed"
    );
    let (status, body) = {
        let response = fake.http.get(&url).bearer_auth("made-up").send().unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap())
    };
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    assert_eq!(fake.call("GET", &url, None).0, 200);

    fake.handle.update_settings(SettingsPatch {
        token_lifetime_secs: Some(0),
        ..SettingsPatch::default()
    });
    let short = Fake {
        handle: fake.handle,
        http: fake.http.clone(),
        token: String::new(),
    };
    let answer: Value = short
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", short.handle.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let response = short
        .http
        .get(&url)
        .bearer_auth(answer["access_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(
        response.json::<Value>().unwrap()["error"]["code"],
        "ExpiredAuthenticationToken"
    );
}
