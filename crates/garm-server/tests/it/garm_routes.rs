//! garm's routes (its `apiserver/routers/routers.go`: every method and path it registers) asked
//! of our router: each is served except those `MISSING` names, which `docs/migrate-from-garm.md`
//! lists under "What garm-rs does not serve yet". A route counts as not served when the router
//! falls through to its catch-all 404 or answers 405 for the method.

use crate::{config_text, Harness};
use axum::http::{Method, StatusCode};
use serde_json::json;

/// `(method, garm's path template, a concrete path)`.
const GARM_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/agent", "/agent"),
    ("POST", "/api/v1/auth/login", "/api/v1/auth/login"),
    ("POST", "/api/v1/callbacks/status", "/api/v1/callbacks/status"),
    ("POST", "/api/v1/callbacks/system-info", "/api/v1/callbacks/system-info"),
    ("GET", "/api/v1/controller", "/api/v1/controller"),
    ("PUT", "/api/v1/controller", "/api/v1/controller"),
    ("GET", "/api/v1/controller-info", "/api/v1/controller-info"),
    ("POST", "/api/v1/controller/tools/sync", "/api/v1/controller/tools/sync"),
    ("GET", "/api/v1/credentials", "/api/v1/credentials"),
    ("GET", "/api/v1/enterprises", "/api/v1/enterprises"),
    ("POST", "/api/v1/enterprises", "/api/v1/enterprises"),
    ("DELETE", "/api/v1/enterprises/{enterpriseID}", "/api/v1/enterprises/1"),
    ("GET", "/api/v1/enterprises/{enterpriseID}", "/api/v1/enterprises/1"),
    ("PUT", "/api/v1/enterprises/{enterpriseID}", "/api/v1/enterprises/1"),
    (
        "GET",
        "/api/v1/enterprises/{enterpriseID}/instances",
        "/api/v1/enterprises/1/instances",
    ),
    (
        "GET",
        "/api/v1/enterprises/{enterpriseID}/pools",
        "/api/v1/enterprises/1/pools",
    ),
    (
        "POST",
        "/api/v1/enterprises/{enterpriseID}/pools",
        "/api/v1/enterprises/1/pools",
    ),
    (
        "DELETE",
        "/api/v1/enterprises/{enterpriseID}/pools/{poolID}",
        "/api/v1/enterprises/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/enterprises/{enterpriseID}/pools/{poolID}",
        "/api/v1/enterprises/1/pools/1",
    ),
    (
        "PUT",
        "/api/v1/enterprises/{enterpriseID}/pools/{poolID}",
        "/api/v1/enterprises/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/enterprises/{enterpriseID}/scalesets",
        "/api/v1/enterprises/1/scalesets",
    ),
    (
        "POST",
        "/api/v1/enterprises/{enterpriseID}/scalesets",
        "/api/v1/enterprises/1/scalesets",
    ),
    ("POST", "/api/v1/first-run", "/api/v1/first-run"),
    ("GET", "/api/v1/forge-instances", "/api/v1/forge-instances"),
    ("POST", "/api/v1/forge-instances", "/api/v1/forge-instances"),
    (
        "DELETE",
        "/api/v1/forge-instances/{forgeInstanceID}",
        "/api/v1/forge-instances/1",
    ),
    (
        "GET",
        "/api/v1/forge-instances/{forgeInstanceID}",
        "/api/v1/forge-instances/1",
    ),
    (
        "PUT",
        "/api/v1/forge-instances/{forgeInstanceID}",
        "/api/v1/forge-instances/1",
    ),
    (
        "GET",
        "/api/v1/forge-instances/{forgeInstanceID}/instances",
        "/api/v1/forge-instances/1/instances",
    ),
    (
        "GET",
        "/api/v1/forge-instances/{forgeInstanceID}/pools",
        "/api/v1/forge-instances/1/pools",
    ),
    (
        "POST",
        "/api/v1/forge-instances/{forgeInstanceID}/pools",
        "/api/v1/forge-instances/1/pools",
    ),
    (
        "DELETE",
        "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}",
        "/api/v1/forge-instances/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}",
        "/api/v1/forge-instances/1/pools/1",
    ),
    (
        "PUT",
        "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}",
        "/api/v1/forge-instances/1/pools/1",
    ),
    (
        "DELETE",
        "/api/v1/forge-instances/{forgeInstanceID}/webhook",
        "/api/v1/forge-instances/1/webhook",
    ),
    (
        "GET",
        "/api/v1/forge-instances/{forgeInstanceID}/webhook",
        "/api/v1/forge-instances/1/webhook",
    ),
    (
        "POST",
        "/api/v1/forge-instances/{forgeInstanceID}/webhook",
        "/api/v1/forge-instances/1/webhook",
    ),
    ("GET", "/api/v1/gitea/credentials", "/api/v1/gitea/credentials"),
    ("POST", "/api/v1/gitea/credentials", "/api/v1/gitea/credentials"),
    (
        "DELETE",
        "/api/v1/gitea/credentials/{id}",
        "/api/v1/gitea/credentials/1",
    ),
    ("GET", "/api/v1/gitea/credentials/{id}", "/api/v1/gitea/credentials/1"),
    ("PUT", "/api/v1/gitea/credentials/{id}", "/api/v1/gitea/credentials/1"),
    ("GET", "/api/v1/gitea/endpoints", "/api/v1/gitea/endpoints"),
    ("POST", "/api/v1/gitea/endpoints", "/api/v1/gitea/endpoints"),
    (
        "DELETE",
        "/api/v1/gitea/endpoints/{name}",
        "/api/v1/gitea/endpoints/nope",
    ),
    ("GET", "/api/v1/gitea/endpoints/{name}", "/api/v1/gitea/endpoints/nope"),
    ("PUT", "/api/v1/gitea/endpoints/{name}", "/api/v1/gitea/endpoints/nope"),
    ("GET", "/api/v1/github/credentials", "/api/v1/github/credentials"),
    ("POST", "/api/v1/github/credentials", "/api/v1/github/credentials"),
    (
        "DELETE",
        "/api/v1/github/credentials/{id}",
        "/api/v1/github/credentials/1",
    ),
    ("GET", "/api/v1/github/credentials/{id}", "/api/v1/github/credentials/1"),
    ("PUT", "/api/v1/github/credentials/{id}", "/api/v1/github/credentials/1"),
    ("GET", "/api/v1/github/endpoints", "/api/v1/github/endpoints"),
    ("POST", "/api/v1/github/endpoints", "/api/v1/github/endpoints"),
    (
        "DELETE",
        "/api/v1/github/endpoints/{name}",
        "/api/v1/github/endpoints/nope",
    ),
    (
        "GET",
        "/api/v1/github/endpoints/{name}",
        "/api/v1/github/endpoints/nope",
    ),
    (
        "PUT",
        "/api/v1/github/endpoints/{name}",
        "/api/v1/github/endpoints/nope",
    ),
    ("GET", "/api/v1/instances", "/api/v1/instances"),
    ("DELETE", "/api/v1/instances/{instanceName}", "/api/v1/instances/nope"),
    ("GET", "/api/v1/instances/{instanceName}", "/api/v1/instances/nope"),
    ("GET", "/api/v1/jobs", "/api/v1/jobs"),
    (
        "GET",
        "/api/v1/metadata/credentials/{fileName}",
        "/api/v1/metadata/credentials/x",
    ),
    (
        "GET",
        "/api/v1/metadata/install-script",
        "/api/v1/metadata/install-script",
    ),
    (
        "GET",
        "/api/v1/metadata/runner-metadata",
        "/api/v1/metadata/runner-metadata",
    ),
    (
        "GET",
        "/api/v1/metadata/runner-registration-token",
        "/api/v1/metadata/runner-registration-token",
    ),
    (
        "GET",
        "/api/v1/metadata/system/cert-bundle",
        "/api/v1/metadata/system/cert-bundle",
    ),
    (
        "GET",
        "/api/v1/metadata/system/service-name",
        "/api/v1/metadata/system/service-name",
    ),
    (
        "GET",
        "/api/v1/metadata/systemd/unit-file",
        "/api/v1/metadata/systemd/unit-file",
    ),
    (
        "GET",
        "/api/v1/metadata/tools/garm-agent",
        "/api/v1/metadata/tools/garm-agent",
    ),
    (
        "GET",
        "/api/v1/metadata/tools/garm-agent/{objectID}",
        "/api/v1/metadata/tools/garm-agent/1",
    ),
    (
        "GET",
        "/api/v1/metadata/tools/garm-agent/{objectID}/download",
        "/api/v1/metadata/tools/garm-agent/1/download",
    ),
    ("GET", "/api/v1/metrics-token", "/api/v1/metrics-token"),
    ("GET", "/api/v1/objects", "/api/v1/objects"),
    ("POST", "/api/v1/objects", "/api/v1/objects"),
    ("DELETE", "/api/v1/objects/{objectID}", "/api/v1/objects/1"),
    ("GET", "/api/v1/objects/{objectID}", "/api/v1/objects/1"),
    ("PUT", "/api/v1/objects/{objectID}", "/api/v1/objects/1"),
    (
        "GET",
        "/api/v1/objects/{objectID}/download",
        "/api/v1/objects/1/download",
    ),
    (
        "HEAD",
        "/api/v1/objects/{objectID}/download",
        "/api/v1/objects/1/download",
    ),
    ("GET", "/api/v1/organizations", "/api/v1/organizations"),
    ("POST", "/api/v1/organizations", "/api/v1/organizations"),
    ("DELETE", "/api/v1/organizations/{orgID}", "/api/v1/organizations/1"),
    ("GET", "/api/v1/organizations/{orgID}", "/api/v1/organizations/1"),
    ("PUT", "/api/v1/organizations/{orgID}", "/api/v1/organizations/1"),
    (
        "GET",
        "/api/v1/organizations/{orgID}/instances",
        "/api/v1/organizations/1/instances",
    ),
    (
        "GET",
        "/api/v1/organizations/{orgID}/pools",
        "/api/v1/organizations/1/pools",
    ),
    (
        "POST",
        "/api/v1/organizations/{orgID}/pools",
        "/api/v1/organizations/1/pools",
    ),
    (
        "DELETE",
        "/api/v1/organizations/{orgID}/pools/{poolID}",
        "/api/v1/organizations/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/organizations/{orgID}/pools/{poolID}",
        "/api/v1/organizations/1/pools/1",
    ),
    (
        "PUT",
        "/api/v1/organizations/{orgID}/pools/{poolID}",
        "/api/v1/organizations/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/organizations/{orgID}/scalesets",
        "/api/v1/organizations/1/scalesets",
    ),
    (
        "POST",
        "/api/v1/organizations/{orgID}/scalesets",
        "/api/v1/organizations/1/scalesets",
    ),
    (
        "DELETE",
        "/api/v1/organizations/{orgID}/webhook",
        "/api/v1/organizations/1/webhook",
    ),
    (
        "GET",
        "/api/v1/organizations/{orgID}/webhook",
        "/api/v1/organizations/1/webhook",
    ),
    (
        "POST",
        "/api/v1/organizations/{orgID}/webhook",
        "/api/v1/organizations/1/webhook",
    ),
    ("GET", "/api/v1/pools", "/api/v1/pools"),
    ("DELETE", "/api/v1/pools/{poolID}", "/api/v1/pools/1"),
    ("GET", "/api/v1/pools/{poolID}", "/api/v1/pools/1"),
    ("PUT", "/api/v1/pools/{poolID}", "/api/v1/pools/1"),
    ("GET", "/api/v1/pools/{poolID}/instances", "/api/v1/pools/1/instances"),
    ("GET", "/api/v1/providers", "/api/v1/providers"),
    ("GET", "/api/v1/proxies", "/api/v1/proxies"),
    ("POST", "/api/v1/proxies", "/api/v1/proxies"),
    ("DELETE", "/api/v1/proxies/{proxyID}", "/api/v1/proxies/1"),
    ("GET", "/api/v1/proxies/{proxyID}", "/api/v1/proxies/1"),
    ("PUT", "/api/v1/proxies/{proxyID}", "/api/v1/proxies/1"),
    ("GET", "/api/v1/repositories", "/api/v1/repositories"),
    ("POST", "/api/v1/repositories", "/api/v1/repositories"),
    ("DELETE", "/api/v1/repositories/{repoID}", "/api/v1/repositories/1"),
    ("GET", "/api/v1/repositories/{repoID}", "/api/v1/repositories/1"),
    ("PUT", "/api/v1/repositories/{repoID}", "/api/v1/repositories/1"),
    (
        "GET",
        "/api/v1/repositories/{repoID}/instances",
        "/api/v1/repositories/1/instances",
    ),
    (
        "GET",
        "/api/v1/repositories/{repoID}/pools",
        "/api/v1/repositories/1/pools",
    ),
    (
        "POST",
        "/api/v1/repositories/{repoID}/pools",
        "/api/v1/repositories/1/pools",
    ),
    (
        "DELETE",
        "/api/v1/repositories/{repoID}/pools/{poolID}",
        "/api/v1/repositories/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/repositories/{repoID}/pools/{poolID}",
        "/api/v1/repositories/1/pools/1",
    ),
    (
        "PUT",
        "/api/v1/repositories/{repoID}/pools/{poolID}",
        "/api/v1/repositories/1/pools/1",
    ),
    (
        "GET",
        "/api/v1/repositories/{repoID}/scalesets",
        "/api/v1/repositories/1/scalesets",
    ),
    (
        "POST",
        "/api/v1/repositories/{repoID}/scalesets",
        "/api/v1/repositories/1/scalesets",
    ),
    (
        "DELETE",
        "/api/v1/repositories/{repoID}/webhook",
        "/api/v1/repositories/1/webhook",
    ),
    (
        "GET",
        "/api/v1/repositories/{repoID}/webhook",
        "/api/v1/repositories/1/webhook",
    ),
    (
        "POST",
        "/api/v1/repositories/{repoID}/webhook",
        "/api/v1/repositories/1/webhook",
    ),
    ("GET", "/api/v1/scalesets", "/api/v1/scalesets"),
    ("DELETE", "/api/v1/scalesets/{scalesetID}", "/api/v1/scalesets/1"),
    ("GET", "/api/v1/scalesets/{scalesetID}", "/api/v1/scalesets/1"),
    ("PUT", "/api/v1/scalesets/{scalesetID}", "/api/v1/scalesets/1"),
    (
        "GET",
        "/api/v1/scalesets/{scalesetID}/instances",
        "/api/v1/scalesets/1/instances",
    ),
    ("GET", "/api/v1/templates", "/api/v1/templates"),
    ("POST", "/api/v1/templates", "/api/v1/templates"),
    ("POST", "/api/v1/templates/restore", "/api/v1/templates/restore"),
    ("DELETE", "/api/v1/templates/{templateID}", "/api/v1/templates/1"),
    ("GET", "/api/v1/templates/{templateID}", "/api/v1/templates/1"),
    ("PUT", "/api/v1/templates/{templateID}", "/api/v1/templates/1"),
    ("GET", "/api/v1/tools/garm-agent", "/api/v1/tools/garm-agent"),
    ("POST", "/api/v1/tools/garm-agent", "/api/v1/tools/garm-agent"),
    (
        "GET",
        "/api/v1/tools/garm-agent/releases",
        "/api/v1/tools/garm-agent/releases",
    ),
    (
        "GET",
        "/api/v1/tools/garm-agent/{objectID}/download",
        "/api/v1/tools/garm-agent/1/download",
    ),
    ("GET", "/api/v1/ws", "/api/v1/ws"),
    ("GET", "/api/v1/ws/agent/{agentName}/shell", "/api/v1/ws/agent/a/shell"),
    ("GET", "/api/v1/ws/events", "/api/v1/ws/events"),
    ("GET", "/api/v1/ws/logs", "/api/v1/ws/logs"),
    ("GET", "/api/v1/ws/metrics", "/api/v1/ws/metrics"),
    ("GET", "/metrics", "/metrics"),
    ("POST", "/webhooks", "/webhooks"),
    ("POST", "/webhooks/{controllerID}", "/webhooks/abc"),
];

/// garm's routes garm-rs does not serve (Gitea and forge instances, the object store, garm-agent
/// and its tools).
const MISSING: &[(&str, &str)] = &[
    // garm-agent: its tools, their downloads for instances, and the agent's websocket
    ("GET", "/agent"),
    ("POST", "/api/v1/controller/tools/sync"),
    ("GET", "/api/v1/metadata/tools/garm-agent"),
    ("GET", "/api/v1/metadata/tools/garm-agent/{objectID}"),
    ("GET", "/api/v1/metadata/tools/garm-agent/{objectID}/download"),
    ("GET", "/api/v1/tools/garm-agent"),
    ("POST", "/api/v1/tools/garm-agent"),
    ("GET", "/api/v1/tools/garm-agent/releases"),
    ("GET", "/api/v1/tools/garm-agent/{objectID}/download"),
    ("GET", "/api/v1/ws/agent/{agentName}/shell"),
    // Gitea: forge instances, endpoints and credentials
    ("GET", "/api/v1/forge-instances"),
    ("POST", "/api/v1/forge-instances"),
    ("DELETE", "/api/v1/forge-instances/{forgeInstanceID}"),
    ("GET", "/api/v1/forge-instances/{forgeInstanceID}"),
    ("PUT", "/api/v1/forge-instances/{forgeInstanceID}"),
    ("GET", "/api/v1/forge-instances/{forgeInstanceID}/instances"),
    ("GET", "/api/v1/forge-instances/{forgeInstanceID}/pools"),
    ("POST", "/api/v1/forge-instances/{forgeInstanceID}/pools"),
    ("DELETE", "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}"),
    ("GET", "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}"),
    ("PUT", "/api/v1/forge-instances/{forgeInstanceID}/pools/{poolID}"),
    ("DELETE", "/api/v1/forge-instances/{forgeInstanceID}/webhook"),
    ("GET", "/api/v1/forge-instances/{forgeInstanceID}/webhook"),
    ("POST", "/api/v1/forge-instances/{forgeInstanceID}/webhook"),
    ("GET", "/api/v1/gitea/credentials"),
    ("POST", "/api/v1/gitea/credentials"),
    ("DELETE", "/api/v1/gitea/credentials/{id}"),
    ("GET", "/api/v1/gitea/credentials/{id}"),
    ("PUT", "/api/v1/gitea/credentials/{id}"),
    ("GET", "/api/v1/gitea/endpoints"),
    ("POST", "/api/v1/gitea/endpoints"),
    ("DELETE", "/api/v1/gitea/endpoints/{name}"),
    ("GET", "/api/v1/gitea/endpoints/{name}"),
    ("PUT", "/api/v1/gitea/endpoints/{name}"),
    // the object store
    ("GET", "/api/v1/objects"),
    ("POST", "/api/v1/objects"),
    ("DELETE", "/api/v1/objects/{objectID}"),
    ("GET", "/api/v1/objects/{objectID}"),
    ("PUT", "/api/v1/objects/{objectID}"),
    ("GET", "/api/v1/objects/{objectID}/download"),
    ("HEAD", "/api/v1/objects/{objectID}/download"),
];

#[tokio::test]
async fn every_garm_route_is_served_except_the_listed_missing_ones() {
    let dir = std::env::temp_dir().join(format!("garm-server-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    // garm registers the webhook management routes only with this setting, so do we.
    let config = format!(
        "{}\n[metrics]\nenable = true\n",
        config_text(&dir).replace("[jwt_auth]", "[default]\nenable_webhook_management = true\n[jwt_auth]")
    );
    let (app, _rx) = garm_server::build(garm_server::config::Config::parse(&config).unwrap())
        .await
        .unwrap();
    let mut h = Harness {
        router: garm_server::service(app),
        dir,
        token: String::new(),
    };
    h.init().await;
    let auth = format!("Bearer {}", h.token);
    let catch_all = json!({"error": "Not found", "details": "Resource not found"});
    let mut unserved = Vec::new();
    let page_not_found = json!("404 page not found");
    for (method, template, path) in GARM_ROUTES {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        // A HEAD answer has no body to tell the catch-all by; axum serves HEAD wherever it
        // serves GET, so the GET tells.
        let asked = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        let (status, body) = h.call(asked, path, None, Some(&auth)).await;
        let fell_through = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && (body == catch_all || body == page_not_found));
        if fell_through {
            unserved.push((method.as_str().to_string(), template.to_string()));
        }
    }
    unserved.sort();
    let mut expected: Vec<(String, String)> = MISSING.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    expected.sort();
    assert_eq!(
        unserved, expected,
        "garm routes we do not serve (left) against the documented list (right)"
    );
    // The catch-all really is what an unknown route gets, so the check above can tell.
    let (status, body) = h.call(Method::GET, "/api/v1/no-such-route", None, Some(&auth)).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, catch_all));
    let (status, body) = h.call(Method::GET, "/no-such-page", None, Some(&auth)).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, page_not_found));
}
