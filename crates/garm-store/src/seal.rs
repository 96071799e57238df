//! Sealing secrets at rest with the configured 32-character passphrase.
//!
//! Format (ours, not garm's DARE envelope): `v1:` + base64(salt[32] ‖ nonce[12] ‖
//! AES-256-GCM ciphertext), the key being HKDF-SHA256(passphrase, salt). A fresh salt per
//! value means no two sealed values share a key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

#[derive(Clone)]
pub struct Sealer {
    passphrase: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value has an unknown format")]
    Format,
    #[error("sealed value cannot be opened with the configured passphrase")]
    Open,
}

const PREFIX: &str = "v1:";

impl Sealer {
    pub fn new(passphrase: &str) -> Self {
        Self {
            passphrase: passphrase.as_bytes().to_vec(),
        }
    }

    fn cipher(&self, salt: &[u8]) -> Aes256Gcm {
        let hk = Hkdf::<Sha256>::new(Some(salt), &self.passphrase);
        let mut key = [0u8; 32];
        hk.expand(b"garm-rs seal v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Aes256Gcm::new(&key.into())
    }

    pub fn seal(&self, plain: &[u8]) -> String {
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut salt);
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher(&salt)
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(44 + ciphertext.len());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Format)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| SealError::Format)?;
        if raw.len() < 44 + 16 {
            return Err(SealError::Format);
        }
        let (salt, rest) = raw.split_at(32);
        let (nonce, ciphertext) = rest.split_at(12);
        self.cipher(salt)
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealError::Open)
    }

    pub fn open_string(&self, sealed: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| SealError::Format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_passphrase() {
        let sealer = Sealer::new("0123456789abcdef0123456789abcdef");
        let sealed = sealer.seal(b"ghp_secret");
        assert!(!sealed.contains("ghp_secret"));
        assert_eq!(sealer.open(&sealed).unwrap(), b"ghp_secret");
        assert_ne!(sealer.seal(b"ghp_secret"), sealed, "each seal uses a fresh salt");
        let other = Sealer::new("fedcba9876543210fedcba9876543210");
        assert!(matches!(other.open(&sealed), Err(SealError::Open)));
        assert!(matches!(sealer.open("plain"), Err(SealError::Format)));
    }
}
