//! Tokens: user and metrics JWTs, instance JWTs, their keys, and the minter the pool manager
//! signs instance tokens with. The request guards that check them are in [`crate::auth`].

use crate::error::ApiError;
use garm_store::{EntityRecord, InstanceRecord, PoolRecord};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Claims of a user (or metrics) token, with garm's keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserClaims {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub token_id: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub read_metrics: bool,
    #[serde(default)]
    pub generation: i64,
    pub iss: String,
    pub exp: i64,
}

/// Claims of an instance token, with garm's keys (`provider_id` carries the pool id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceClaims {
    pub id: String,
    pub name: String,
    pub provider_id: String,
    pub scope: String,
    pub entity: String,
    pub create_attempt: i64,
    pub forge_type: String,
    pub is_agent: bool,
    pub iss: String,
    pub exp: i64,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn verify<T: for<'de> Deserialize<'de>>(&self, token: &str) -> Result<T, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&["garm"]);
        validation.leeway = 0;
        // A token that is not valid yet is refused, as garm does.
        validation.validate_nbf = true;
        decode::<T>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::AuthFailed)
    }
}

pub fn random_token_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// Mints instance tokens with the server's JWT key (garm's claims).
pub struct Minter(pub Arc<Keys>);

impl garm_pool::TokenMinter for Minter {
    fn mint(&self, instance: &InstanceRecord, pool: &PoolRecord, entity: &EntityRecord, ttl: Duration) -> String {
        let claims = InstanceClaims {
            id: instance.id.clone(),
            name: instance.name.to_string(),
            provider_id: pool.id.to_string(),
            scope: entity.kind.as_str().to_string(),
            entity: entity.display_name(),
            create_attempt: instance.create_attempt,
            forge_type: "github".into(),
            is_agent: false,
            iss: "garm".into(),
            exp: (chrono::Utc::now() + ttl).timestamp(),
        };
        self.0.sign(&claims)
    }
}
