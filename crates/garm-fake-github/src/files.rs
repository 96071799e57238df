//! The runner's local files (`.runner`, `.credentials`, `.credentials_rsaparams`) and the JIT blob.
//!
//! The real runner writes these with camelCase keys (garm's install script greps `agentId`
//! out of `.runner`); PascalCase spellings are accepted when reading.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

/// The three file names a JIT configuration carries.
pub const JIT_FILES: [&str; 3] = [".runner", ".credentials", ".credentials_rsaparams"];

/// `.runner`: the runner's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSettings {
    #[serde(alias = "AgentId")]
    pub agent_id: u64,
    #[serde(alias = "AgentName")]
    pub agent_name: String,
    #[serde(alias = "PoolId")]
    pub pool_id: u64,
    #[serde(default, alias = "PoolName")]
    pub pool_name: String,
    /// The Actions service URL (the fake's `/_fake/actions/`).
    #[serde(alias = "ServerUrl")]
    pub server_url: String,
    #[serde(default, alias = "GitHubUrl")]
    pub git_hub_url: String,
    #[serde(default = "default_work", alias = "WorkFolder")]
    pub work_folder: String,
    #[serde(default, alias = "Ephemeral")]
    pub ephemeral: bool,
    #[serde(default, alias = "DisableUpdate")]
    pub disable_update: bool,
    #[serde(default, alias = "UseV2Flow")]
    pub use_v2_flow: bool,
    #[serde(default, alias = "ServerUrlV2", skip_serializing_if = "String::is_empty")]
    pub server_url_v2: String,
}

fn default_work() -> String {
    "_work".to_owned()
}

/// `.credentials`: how the runner obtains access tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    #[serde(alias = "Scheme")]
    pub scheme: String,
    #[serde(alias = "Data")]
    pub data: CredentialData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialData {
    #[serde(alias = "ClientId")]
    pub client_id: String,
    #[serde(alias = "AuthorizationUrl")]
    pub authorization_url: String,
    #[serde(default, alias = "RequireFipsCryptography")]
    pub require_fips_cryptography: String,
}

/// `.credentials_rsaparams`: the runner's key, base64 values as the real file has them.
///
/// The fake does not generate real RSA keys (too slow for tests); the values are random
/// bytes of RSA sizes, and the runner proves possession by signing its token request
/// (HS256) with the `modulus` bytes, which the fake learnt at registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RsaParams {
    pub d: String,
    pub dp: String,
    pub dq: String,
    pub exponent: String,
    pub inverse_q: String,
    pub modulus: String,
    pub p: String,
    pub q: String,
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

impl RsaParams {
    pub fn random() -> Self {
        RsaParams {
            d: random_b64(256),
            dp: random_b64(128),
            dq: random_b64(128),
            exponent: STANDARD.encode([1, 0, 1]),
            inverse_q: random_b64(128),
            modulus: random_b64(256),
            p: random_b64(128),
            q: random_b64(128),
        }
    }

    /// The key the runner signs its token requests with.
    pub fn signing_key(&self) -> Vec<u8> {
        STANDARD.decode(&self.modulus).unwrap_or_default()
    }

    /// The public half in .NET XML form, as `config.sh` sends it.
    pub fn public_key_xml(&self) -> String {
        format!(
            "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
            self.modulus, self.exponent
        )
    }
}

/// Extracts the modulus bytes from a .NET XML public key.
pub fn modulus_from_xml(xml: &str) -> Option<Vec<u8>> {
    let start = xml.find("<Modulus>")? + "<Modulus>".len();
    let end = xml[start..].find("</Modulus>")? + start;
    STANDARD.decode(xml[start..end].trim()).ok()
}

/// Why a JIT blob was refused.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("the JIT configuration is not base64")]
    NotBase64,
    #[error("the JIT configuration is not a JSON object of base64 strings")]
    NotAMap,
    #[error("the JIT configuration lacks {0}")]
    MissingFile(&'static str),
}

/// `base64(JSON { name: base64(bytes) })`.
pub fn encode_jit(files: &[(&str, Vec<u8>)]) -> String {
    let map: BTreeMap<&str, String> = files
        .iter()
        .map(|(name, bytes)| (*name, STANDARD.encode(bytes)))
        .collect();
    STANDARD.encode(serde_json::to_vec(&map).unwrap_or_default())
}

/// Decodes a JIT blob into file name → bytes, requiring the three files.
pub fn decode_jit(blob: &str) -> Result<BTreeMap<String, Vec<u8>>, JitError> {
    let json = STANDARD.decode(blob.trim()).map_err(|_| JitError::NotBase64)?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| JitError::NotAMap)?;
    let mut files = BTreeMap::new();
    for (name, content) in map {
        let bytes = STANDARD.decode(content).map_err(|_| JitError::NotAMap)?;
        files.insert(name, bytes);
    }
    for name in JIT_FILES {
        if !files.contains_key(name) {
            return Err(JitError::MissingFile(name));
        }
    }
    Ok(files)
}

/// The three files for a runner, serialised as the real runner writes them.
pub fn jit_files(
    settings: &RunnerSettings,
    credentials: &Credentials,
    rsa: &RsaParams,
) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (".runner", serde_json::to_vec_pretty(settings).unwrap_or_default()),
        (
            ".credentials",
            serde_json::to_vec_pretty(credentials).unwrap_or_default(),
        ),
        (
            ".credentials_rsaparams",
            serde_json::to_vec_pretty(rsa).unwrap_or_default(),
        ),
    ]
}
