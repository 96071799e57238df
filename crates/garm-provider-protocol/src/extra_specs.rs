//! Encoding of a pool's extra specs in `GARM_POOL_EXTRASPECS` (base64 of the JSON text).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The value garm sends for a pool without extra specs: base64 of `null`.
pub const NO_EXTRA_SPECS: &str = "bnVsbA==";

/// Encodes raw extra specs JSON for `GARM_POOL_EXTRASPECS`; `None` becomes [`NO_EXTRA_SPECS`].
///
/// The JSON text is passed through unchanged (surrounding whitespace aside); it is not re-encoded.
pub fn encode_pool_extra_specs(raw_json: Option<&str>) -> String {
    match raw_json.map(str::trim) {
        None | Some("") => NO_EXTRA_SPECS.to_owned(),
        Some(json) => STANDARD.encode(json.as_bytes()),
    }
}

/// `GARM_POOL_EXTRASPECS` is not base64 of a JSON document.
#[derive(Debug, thiserror::Error)]
pub enum ExtraSpecsError {
    #[error("GARM_POOL_EXTRASPECS is not valid base64")]
    Base64(#[source] base64::DecodeError),
    #[error("GARM_POOL_EXTRASPECS does not hold a JSON document")]
    Json(#[source] serde_json::Error),
}

/// Decodes `GARM_POOL_EXTRASPECS`; an empty value and JSON `null` both mean no extra specs.
pub fn decode_pool_extra_specs(value: &str) -> Result<Option<serde_json::Value>, ExtraSpecsError> {
    if value.is_empty() {
        return Ok(None);
    }
    let bytes = STANDARD.decode(value.as_bytes()).map_err(ExtraSpecsError::Base64)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(ExtraSpecsError::Json)?;
    Ok((!json.is_null()).then_some(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_extra_specs_encode_as_base64_null() {
        assert_eq!(encode_pool_extra_specs(None), "bnVsbA==");
        assert_eq!(STANDARD.decode(NO_EXTRA_SPECS).unwrap(), b"null");
        assert_eq!(decode_pool_extra_specs(NO_EXTRA_SPECS).unwrap(), None);
        assert_eq!(decode_pool_extra_specs("").unwrap(), None);
    }

    #[test]
    fn extra_specs_round_trip_through_the_variable() {
        let raw = r#"{"disk_size_gb": 64, "runner_install_template": "IyEvYmluL2Jhc2gK"}"#;
        let encoded = encode_pool_extra_specs(Some(raw));
        assert_eq!(STANDARD.decode(&encoded).unwrap(), raw.as_bytes());
        let decoded = decode_pool_extra_specs(&encoded).unwrap().unwrap();
        assert_eq!(decoded["disk_size_gb"], 64);
    }

    #[test]
    fn malformed_variables_are_rejected() {
        assert!(matches!(
            decode_pool_extra_specs("%%%"),
            Err(ExtraSpecsError::Base64(_))
        ));
        let not_json = STANDARD.encode("{nope");
        assert!(matches!(
            decode_pool_extra_specs(&not_json),
            Err(ExtraSpecsError::Json(_))
        ));
    }
}
