//! HMAC signatures of webhook deliveries (`X-Hub-Signature-256`, legacy `X-Hub-Signature`).

use ring::hmac;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the delivery carries no signature header")]
    Missing,
    #[error("the signature header is not of the form <algorithm>=<hex digest>")]
    Malformed,
    #[error("signature algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// The HTTP status garm answers with: 401 for a missing or wrong signature, 400 for a malformed one.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Missing | Self::Mismatch => 401,
            Self::Malformed | Self::UnsupportedAlgorithm(_) => 400,
        }
    }
}

/// Checks `signature_header` (`sha256=<hex>` or legacy `sha1=<hex>`) against an HMAC of `raw_body` keyed with `secret`.
///
/// `raw_body` must be the body exactly as received (for form deliveries the whole
/// form-encoded body, not the decoded JSON). The digest comparison is constant-time
/// (`ring::hmac::verify`); a digest that is not valid hex, or has the wrong length,
/// is a [`SignatureError::Mismatch`].
pub fn verify(secret: &[u8], signature_header: Option<&str>, raw_body: &[u8]) -> Result<(), SignatureError> {
    let header = signature_header.ok_or(SignatureError::Missing)?;
    let (algorithm, digest_hex) = header.trim().split_once('=').ok_or(SignatureError::Malformed)?;
    let algorithm = if algorithm.eq_ignore_ascii_case("sha256") {
        hmac::HMAC_SHA256
    } else if algorithm.eq_ignore_ascii_case("sha1") {
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY
    } else {
        return Err(SignatureError::UnsupportedAlgorithm(algorithm.to_owned()));
    };
    let digest = hex::decode(digest_hex).map_err(|_| SignatureError::Mismatch)?;
    let key = hmac::Key::new(algorithm, secret);
    hmac::verify(&key, raw_body, &digest).map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value GitHub would send for `raw_body`: `sha256=` and 64 lowercase hex digits.
pub fn sign_sha256(secret: &[u8], raw_body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, raw_body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_test_vector_is_reproduced() {
        let signature = sign_sha256(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            signature,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(
            verify(b"It's a Secret to Everybody", Some(&signature), b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn legacy_sha1_signature_is_accepted() {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"s3cret");
        let header = format!("sha1={}", hex::encode(hmac::sign(&key, b"{}")));
        assert_eq!(verify(b"s3cret", Some(&header), b"{}"), Ok(()));
        assert_eq!(verify(b"other", Some(&header), b"{}"), Err(SignatureError::Mismatch));
    }
}
