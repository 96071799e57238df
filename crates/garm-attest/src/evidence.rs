//! The evidence an instance posts, as JSON, and readers for captured evidence files.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an Azure confidential VM sends to prove what it is.
///
/// Bytes travel as standard base64 (the HCL report) or hex (the quote), certificates as PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The HCL report: the raw contents of vTPM NV index `0x01400001` (standard base64).
    pub hcl_report: String,
    /// The vTPM quote over garm's nonce, signed by the attestation key.
    pub quote: WireQuote,
    /// The VCEK certificate (PEM) for the chip and TCB that signed the report.
    pub vcek: String,
    /// The ASK and ARK (PEM, in that order) as the instance metadata service returned them.
    /// Empty means "use the pinned chain"; when present, it must end at the pinned root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_chain: String,
}

/// A TPM2 quote: the signed `TPMS_ATTEST` message, its signature, and the SHA-256 PCR bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireQuote {
    /// Hex.
    pub signature: String,
    /// Hex of the marshalled `TPMS_ATTEST`.
    pub message: String,
    /// PCR0 to PCR23 of the SHA-256 bank, hex.
    pub pcrs: Vec<String>,
}

/// Why captured or posted evidence could not even be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad(what: impl Into<String>) -> FormatError {
    FormatError(what.into())
}

impl Evidence {
    pub fn hcl_report_bytes(&self) -> Result<Vec<u8>, FormatError> {
        base64::engine::general_purpose::STANDARD
            .decode(self.hcl_report.trim())
            .map_err(|err| bad(format!("hcl_report is not base64: {err}")))
    }

    /// Reads evidence in garm's own shape or in the shapes of the captured trustee
    /// test vectors (`version` 1 and 2: base64url report, hex quote, base64url DER VCEK;
    /// the Genoa capture: byte arrays and a PEM VCEK).
    pub fn from_json(text: &str) -> Result<Evidence, FormatError> {
        let value: Value = serde_json::from_str(text).map_err(|err| bad(format!("evidence is not JSON: {err}")))?;
        if value
            .get("quote")
            .and_then(|q| q.get("signature"))
            .is_some_and(Value::is_string)
        {
            return serde_json::from_value(value).map_err(|err| bad(format!("evidence: {err}")));
        }
        let report = match value.get("hcl_report").or_else(|| value.get("report")) {
            Some(Value::String(s)) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|err| bad(format!("hcl_report is not base64url: {err}")))?,
            Some(v @ Value::Array(_)) => bytes_of(v, "report")?,
            _ => return Err(bad("evidence has no hcl_report")),
        };
        let quote = value
            .get("tpm_quote")
            .or_else(|| value.get("quote"))
            .ok_or_else(|| bad("evidence has no quote"))?;
        let field = |name: &str| quote.get(name).ok_or_else(|| bad(format!("quote has no {name}")));
        let signature = hex_of(field("signature")?, "signature")?;
        let message = hex_of(field("message")?, "message")?;
        let pcrs = field("pcrs")?
            .as_array()
            .ok_or_else(|| bad("pcrs is not a list"))?
            .iter()
            .map(|p| hex_of(p, "pcr"))
            .collect::<Result<Vec<_>, _>>()?;
        let vcek = value
            .get("vcek")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("evidence has no vcek"))?;
        let vcek = if vcek.contains("-----BEGIN") {
            vcek.to_string()
        } else {
            let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(vcek.trim_end_matches('='))
                .map_err(|err| bad(format!("vcek is neither PEM nor base64url DER: {err}")))?;
            pem_of(&der)
        };
        Ok(Evidence {
            hcl_report: base64::engine::general_purpose::STANDARD.encode(report),
            quote: WireQuote {
                signature,
                message,
                pcrs,
            },
            vcek,
            cert_chain: String::new(),
        })
    }
}

/// A certificate's DER as PEM.
pub fn pem_of(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn bytes_of(v: &Value, what: &str) -> Result<Vec<u8>, FormatError> {
    v.as_array()
        .ok_or_else(|| bad(format!("{what} is not a byte list")))?
        .iter()
        .map(|b| {
            b.as_u64()
                .and_then(|b| u8::try_from(b).ok())
                .ok_or_else(|| bad(format!("{what} holds a non-byte")))
        })
        .collect()
}

fn hex_of(v: &Value, what: &str) -> Result<String, FormatError> {
    match v {
        Value::String(s) => {
            hex::decode(s).map_err(|_| bad(format!("{what} is not hex")))?;
            Ok(s.to_ascii_lowercase())
        }
        Value::Array(_) => Ok(hex::encode(bytes_of(v, what)?)),
        _ => Err(bad(format!("{what} is neither hex nor a byte list"))),
    }
}
