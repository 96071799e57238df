//! A running fake, a client with a token, and small request helpers.

use garm_fake_arm::{ClientSpec, FakeArm, FakeConfig, FakeHandle};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

pub const TENANT: &str = "tenant-1";
pub const APP: &str = "app-1";
pub const SECRET: &str = "secret-1";

pub struct Fake {
    pub handle: FakeHandle,
    pub http: Client,
    pub token: String,
}

pub fn config() -> FakeConfig {
    let mut config = FakeConfig::default();
    config.clients.push(ClientSpec {
        tenant_id: TENANT.into(),
        client_id: APP.into(),
        secret: Some(SECRET.into()),
        federated_assertions: vec!["assertion-1".into()],
    });
    config.settings.retry_after_secs = 0;
    config
}

impl Fake {
    pub fn start() -> Fake {
        Fake::with(config())
    }

    pub fn with(config: FakeConfig) -> Fake {
        let handle = FakeArm::spawn(config).unwrap();
        let http = Client::new();
        let answer: Value = http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", handle.url()))
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
        let token = answer["access_token"].as_str().unwrap().to_owned();
        Fake { handle, http, token }
    }

    /// `{base}/subscriptions/{sub}{path}` with `api-version` unless the path has a query.
    pub fn url(&self, path: &str, api: &str) -> String {
        let sub = self.handle.subscription_id();
        let joiner = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}/subscriptions/{sub}{path}{joiner}api-version={api}",
            self.handle.url()
        )
    }

    pub fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Response {
        let mut request = self.http.request(method.parse().unwrap(), url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().unwrap()
    }

    /// Sends and returns status and JSON body (`null` when empty).
    pub fn call(&self, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
        let response = self.send(method, url, body);
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Polls an `Azure-AsyncOperation` URL until it is terminal; returns the final body.
    pub fn wait_async(&self, url: &str) -> Value {
        for _ in 0..20 {
            let (status, body) = self.call("GET", url, None);
            assert_eq!(status, 200, "{body}");
            if body["status"] != "InProgress" {
                return body;
            }
        }
        panic!("{url} never finished");
    }

    /// PUTs and waits for the operation the answer names.
    pub fn put_and_wait(&self, url: &str, body: &Value) -> (u16, Value) {
        let response = self.send("PUT", url, Some(body));
        let status = response.status().as_u16();
        let async_url = response
            .headers()
            .get("azure-asyncoperation")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().unwrap_or(Value::Null);
        if let Some(async_url) = async_url {
            let done = self.wait_async(&async_url);
            assert_eq!(done["status"], "Succeeded", "{done}");
        }
        (status, body)
    }

    pub fn group(&self, name: &str, location: &str) {
        let (status, body) = self.call(
            "PUT",
            &self.url(&format!("/resourcegroups/{name}"), "2021-04-01"),
            Some(&serde_json::json!({"location": location})),
        );
        assert!(status == 201 || status == 200, "{body}");
    }

    pub fn network(&self, group: &str, kind: &str, name: &str) -> String {
        self.url(
            &format!("/resourceGroups/{group}/providers/Microsoft.Network/{kind}/{name}"),
            "2023-11-01",
        )
    }

    pub fn vm(&self, group: &str, name: &str, suffix: &str) -> String {
        self.url(
            &format!("/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}{suffix}"),
            "2024-03-01",
        )
    }

    /// A VNet with subnet `default` and a NIC in it; returns the NIC's ID.
    pub fn nic(&self, group: &str, location: &str, name: &str) -> String {
        let sub = self.handle.subscription_id();
        let vnet = serde_json::json!({"location": location, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}});
        self.put_and_wait(&self.network(group, "virtualNetworks", &format!("{name}-vnet")), &vnet);
        let subnet = format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}-vnet/subnets/default");
        let nic = serde_json::json!({"location": location, "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]}});
        let (status, body) = self.put_and_wait(&self.network(group, "networkInterfaces", name), &nic);
        assert_eq!(status, 201, "{body}");
        format!("/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}")
    }
}
