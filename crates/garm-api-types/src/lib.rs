//! The REST API's JSON bodies, exactly as garm's Go structs encode them.
//!
//! Responses follow Go's `encoding/json` rules (base64 byte arrays, RFC 3339 times,
//! `omitempty`), including garm's inconsistent key spellings. Requests are decoded
//! leniently: a `null` where Go sent an unset pointer means "absent".
//! This crate holds no logic beyond encoding.

pub mod request;
pub mod response;

pub use request::*;
pub use response::*;

/// Serde helpers shared by requests and responses.
pub mod codec {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    /// `null` or absent decodes as the type's default.
    pub fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Default + Deserialize<'de>,
    {
        Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
    }

    /// Go `[]byte`: base64 text (standard alphabet); `null`/absent is empty.
    pub fn b64_de<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<u8>, D::Error> {
        let text: Option<String> = Option::deserialize(de)?;
        match text {
            None => Ok(Vec::new()),
            Some(t) => base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }

    /// Optional Go `[]byte` in update requests: absent/null = unchanged.
    pub fn b64_opt_de<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(de)?;
        text.map(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
        })
        .transpose()
    }

    pub fn b64_ser<S: Serializer>(bytes: &[u8], ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn is_false(v: &bool) -> bool {
        !*v
    }
    pub fn is_zero_u32(v: &u32) -> bool {
        *v == 0
    }
    pub fn is_zero_u64(v: &u64) -> bool {
        *v == 0
    }
    pub fn is_zero_i64(v: &i64) -> bool {
        *v == 0
    }
}
