//! The Entra token endpoint (client secret and federated assertion), the IMDS token endpoint,
//! and bearer token checks on ARM calls.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::reply::{arm_error, entra_error, Reply};
use crate::request::Req;
use crate::state::{IssuedToken, World};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Whether `audience` (with or without trailing slash) is one the fake serves.
fn accepted_audience(world: &World, req: &Req, audience: &str) -> bool {
    let trimmed = audience.trim_end_matches('/');
    trimmed.eq_ignore_ascii_case(req.base.trim_end_matches('/'))
        || world
            .config
            .audiences
            .iter()
            .any(|known| known.trim_end_matches('/').eq_ignore_ascii_case(trimmed))
}

fn issue(world: &mut World, principal: String) -> (String, u64) {
    let token = format!("fake-arm-{}", uuid::Uuid::new_v4().simple());
    let lifetime = world.settings.token_lifetime_secs;
    world.tokens.insert(
        token.clone(),
        IssuedToken {
            principal,
            expires: Instant::now() + Duration::from_secs(lifetime),
            revoked: false,
        },
    );
    (token, lifetime)
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn entra_token(world: &mut World, req: &Req, tenant: &str) -> Reply {
    if !req
        .header("content-type")
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
    {
        return entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if field("grant_type") != Some("client_credentials") {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let scope = field("scope").unwrap_or_default();
    let audience = scope.strip_suffix(".default").unwrap_or("");
    if audience.is_empty() || !accepted_audience(world, req, audience) {
        return entra_error(
            400,
            "invalid_scope",
            70011,
            &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    let Some(client) = world
        .config
        .clients
        .iter()
        .find(|client| client.client_id == client_id && client.tenant_id.eq_ignore_ascii_case(tenant))
        .cloned()
    else {
        return entra_error(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    };
    match (
        field("client_secret"),
        field("client_assertion_type"),
        field("client_assertion"),
    ) {
        (Some(secret), _, _) => {
            if client.secret.as_deref() != Some(secret) {
                return entra_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.");
            }
        }
        (None, Some(JWT_BEARER), Some(assertion)) => {
            if !client.federated_assertions.iter().any(|known| known == assertion) {
                return entra_error(
                    401,
                    "invalid_client",
                    700213,
                    "No matching federated identity record found for presented assertion subject.",
                );
            }
        }
        (None, Some(_), _) => {
            return entra_error(
                400,
                "invalid_request",
                90014,
                "The client_assertion_type is not supported.",
            );
        }
        _ => {
            return entra_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    }
    let (token, lifetime) = issue(world, format!("app:{client_id}"));
    Reply::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
}

fn imds_error(description: &str) -> Reply {
    Reply::json(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

/// `GET /metadata/identity/oauth2/token` (IMDS).
pub fn imds_token(world: &mut World, req: &Req) -> Reply {
    if req.header("metadata") != Some("true") {
        return imds_error("Required metadata header not specified");
    }
    if req.q("api-version").is_none() {
        return imds_error("Required query variable 'api-version' is missing");
    }
    let Some(resource) = req.q("resource") else {
        return imds_error("Required query variable 'resource' is missing");
    };
    if !accepted_audience(world, req, resource) {
        return imds_error("Multiple errors: invalid resource");
    }
    let identities = &world.config.managed_identities;
    let principal = match req.q("client_id") {
        Some(id) if identities.user_assigned.iter().any(|known| known == id) => format!("msi:{id}"),
        None if identities.system_assigned => "msi:system".to_owned(),
        _ => return imds_error("Identity not found"),
    };
    let (token, lifetime) = issue(world, principal);
    let now = chrono::Utc::now().timestamp();
    Reply::json(
        200,
        &json!({
            "access_token": token,
            "client_id": req.q("client_id").unwrap_or("system"),
            "expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime as i64).to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

fn unauthorized(code: &str, message: &str) -> Reply {
    arm_error(401, code, message).header(
        "WWW-Authenticate",
        format!("Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{message}\""),
    )
}

/// Checks the bearer token of an ARM call; returns its principal or the 401 to answer.
/// With `expire`, the token is revoked first (the `token_expired` fault).
pub fn check_bearer(world: &mut World, req: &Req, expire: bool) -> Result<String, Reply> {
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        ));
    };
    let Some(issued) = world.tokens.get_mut(token) else {
        return Err(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ));
    };
    if expire {
        issued.revoked = true;
    }
    if issued.revoked || Instant::now() >= issued.expires {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    Ok(issued.principal.clone())
}
