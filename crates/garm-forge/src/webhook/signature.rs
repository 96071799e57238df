//! HMAC signatures of webhook deliveries (`X-Hub-Signature-256`).
//!
//! Only SHA-256 is accepted, as garm does: every supported GitHub and GHES version sends
//! `X-Hub-Signature-256`, and the legacy SHA-1 `X-Hub-Signature` is never consulted.

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

/// Checks `signature_header` (`sha256=<hex>`) against an HMAC-SHA256 of `raw_body` keyed with `secret`.
///
/// `raw_body` must be the body exactly as received (for form deliveries the whole
/// form-encoded body, not the decoded JSON). The digest comparison is constant-time
/// (`ring::hmac::verify`); a digest that is not valid hex, or has the wrong length,
/// is a [`SignatureError::Mismatch`].
pub fn verify(secret: &[u8], signature_header: Option<&str>, raw_body: &[u8]) -> Result<(), SignatureError> {
    let header = signature_header.ok_or(SignatureError::Missing)?;
    let (algorithm, digest_hex) = header.trim().split_once('=').ok_or(SignatureError::Malformed)?;
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(SignatureError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let digest = hex::decode(digest_hex).map_err(|_| SignatureError::Mismatch)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
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
    fn a_valid_legacy_sha1_signature_is_refused() {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"s3cret");
        let header = format!("sha1={}", hex::encode(hmac::sign(&key, b"{}")));
        let err = verify(b"s3cret", Some(&header), b"{}").unwrap_err();
        assert_eq!(err, SignatureError::UnsupportedAlgorithm("sha1".into()));
    }

    #[test]
    fn a_digest_without_its_prefix_is_refused() {
        let signed = sign_sha256(b"s3cret", b"{}");
        let bare = signed.trim_start_matches("sha256=");
        let err = verify(b"s3cret", Some(bare), b"{}").unwrap_err();
        assert_eq!(err, SignatureError::Malformed);
    }
}
