//! Opening secrets sealed by garm (Go) with its database passphrase.
//!
//! garm (`util/seal.go` of garm-provider-common) writes one of two formats:
//!
//! - **Envelope** (current): the JSON text `{"nonce":[32 integers],"data":"<base64>"}`. The
//!   value's key is HKDF-SHA256 of the passphrase bytes, salted with `nonce`, no info, 32 bytes;
//!   `data` is a DARE stream (minio/sio) encrypted with that key: packages of a 16-byte header,
//!   the ciphertext and a 16-byte tag. Version 2.0 headers are `0x20`, cipher suite (`0x00`
//!   AES-256-GCM, `0x01` ChaCha20-Poly1305), payload length − 1 (u16 LE) and a 12-byte nonce
//!   whose first bit marks the final package; a package's AEAD nonce is that nonce with its last
//!   four bytes (u32 LE) XOR-ed with the package's sequence number, its additional data the first
//!   four header bytes. Version 1.0 headers (`0x10`) carry the sequence number (u32 LE) and an
//!   8-byte nonce instead; their AEAD nonce is header bytes 4–15.
//! - **Legacy**: 12-byte nonce ‖ AES-256-GCM ciphertext ‖ tag, keyed by the passphrase bytes
//!   directly, no additional data.
//!
//! Anything that is not a JSON envelope is tried as legacy, as garm does.

use base64::Engine;
use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};
use sha2::Sha256;

const HEADER: usize = 16;
const TAG: usize = 16;
const MAX_PAYLOAD: usize = 1 << 16;

/// Opens garm's sealed values; holds garm's passphrase, which `Debug` does not print.
#[derive(Clone)]
pub struct GarmUnsealer {
    passphrase: Vec<u8>,
}

impl std::fmt::Debug for GarmUnsealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GarmUnsealer(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnsealError {
    #[error("garm's passphrase must be 32 bytes (it is {0})")]
    PassphraseLength(usize),
    #[error("the sealed value is malformed ({0})")]
    Format(&'static str),
    #[error("the sealed value does not open with garm's passphrase (wrong passphrase or damaged value)")]
    Open,
}

/// Which of garm's formats a value was in (for the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealFormat {
    Dare20,
    Dare10,
    Legacy,
}

impl SealFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dare20 => "envelope (DARE 2.0)",
            Self::Dare10 => "envelope (DARE 1.0)",
            Self::Legacy => "legacy AES-GCM",
        }
    }
}

#[derive(serde::Deserialize)]
struct Envelope {
    nonce: Vec<u8>,
    data: String,
}

impl GarmUnsealer {
    /// Fails unless the passphrase is 32 bytes, the only length garm accepts.
    pub fn new(passphrase: &str) -> Result<Self, UnsealError> {
        if passphrase.len() != 32 {
            return Err(UnsealError::PassphraseLength(passphrase.len()));
        }
        Ok(Self {
            passphrase: passphrase.as_bytes().to_vec(),
        })
    }

    /// The plaintext of one sealed column value, and the format it was in.
    pub fn open(&self, sealed: &[u8]) -> Result<(Vec<u8>, SealFormat), UnsealError> {
        match serde_json::from_slice::<Envelope>(sealed) {
            Ok(envelope) => self.open_envelope(&envelope),
            Err(_) => self.open_legacy(sealed).map(|plain| (plain, SealFormat::Legacy)),
        }
    }

    fn open_envelope(&self, envelope: &Envelope) -> Result<(Vec<u8>, SealFormat), UnsealError> {
        if envelope.nonce.len() != 32 {
            return Err(UnsealError::Format("envelope nonce is not 32 bytes"));
        }
        let stream = base64::engine::general_purpose::STANDARD
            .decode(&envelope.data)
            .map_err(|_| UnsealError::Format("envelope data is not base64"))?;
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&envelope.nonce), &self.passphrase)
            .expand(&[], &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        open_dare(&key, &stream)
    }

    fn open_legacy(&self, sealed: &[u8]) -> Result<Vec<u8>, UnsealError> {
        if sealed.len() < 12 + TAG {
            return Err(UnsealError::Format("too short for the legacy format"));
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        aead_open(&AES_256_GCM, &self.passphrase, nonce, &[], ciphertext)
    }
}

fn aead_open(
    algorithm: &'static ring::aead::Algorithm,
    key: &[u8],
    nonce: [u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, UnsealError> {
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| UnsealError::Open)?);
    let mut buffer = sealed.to_vec();
    let plain_len = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
        .map_err(|_| UnsealError::Open)?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// Decrypts and authenticates every package of a DARE 1.0 or 2.0 stream, in order.
fn open_dare(key: &[u8; 32], mut stream: &[u8]) -> Result<(Vec<u8>, SealFormat), UnsealError> {
    let mut plain = Vec::new();
    let mut format = None;
    let mut sequence: u32 = 0;
    loop {
        if stream.len() < HEADER + 1 + TAG {
            return Err(UnsealError::Format("truncated DARE package"));
        }
        let header: [u8; HEADER] = stream[..HEADER].try_into().expect("length checked");
        let payload = usize::from(u16::from_le_bytes([header[2], header[3]])) + 1;
        let end = HEADER + payload + TAG;
        if stream.len() < end {
            return Err(UnsealError::Format("truncated DARE package"));
        }
        let algorithm = match header[1] {
            0x00 => &AES_256_GCM,
            0x01 => &CHACHA20_POLY1305,
            _ => return Err(UnsealError::Format("unknown DARE cipher suite")),
        };
        let mut nonce: [u8; 12] = header[4..].try_into().expect("12 header bytes");
        let (version, last) = match header[0] {
            0x20 => {
                let counter = u32::from_le_bytes(nonce[8..].try_into().expect("4 bytes")) ^ sequence;
                nonce[8..].copy_from_slice(&counter.to_le_bytes());
                (SealFormat::Dare20, header[4] & 0x80 != 0)
            }
            0x10 => {
                if u32::from_le_bytes(nonce[..4].try_into().expect("4 bytes")) != sequence {
                    return Err(UnsealError::Format("DARE 1.0 package out of sequence"));
                }
                (SealFormat::Dare10, stream.len() == end)
            }
            _ => return Err(UnsealError::Format("unknown DARE version")),
        };
        if *format.get_or_insert(version) != version {
            return Err(UnsealError::Format("DARE versions mixed in one stream"));
        }
        if !last && payload != MAX_PAYLOAD {
            return Err(UnsealError::Format("short DARE package before the end"));
        }
        plain.extend(aead_open(algorithm, key, nonce, &header[..4], &stream[HEADER..end])?);
        stream = &stream[end..];
        if last {
            if !stream.is_empty() {
                return Err(UnsealError::Format("data after the final DARE package"));
            }
            return Ok((plain, version));
        }
        if stream.is_empty() {
            return Err(UnsealError::Format("DARE stream ends without a final package"));
        }
        sequence = sequence
            .checked_add(1)
            .ok_or(UnsealError::Format("DARE stream too long"))?;
    }
}

/// Seals like garm does, for tests (of this crate and of others): the envelope with DARE 2.0
/// or 1.0 and either cipher suite, or the legacy format. Nonces are fixed by the caller.
pub mod testing {
    use super::*;

    /// How [`seal`] writes a value.
    #[derive(Debug, Clone, Copy)]
    pub enum Sealing {
        Dare20 { chacha: bool },
        Dare10 { chacha: bool },
        Legacy,
    }

    fn aead_seal(
        algorithm: &'static ring::aead::Algorithm,
        key: &[u8],
        nonce: [u8; 12],
        aad: &[u8],
        plain: &[u8],
    ) -> Vec<u8> {
        let key = LessSafeKey::new(UnboundKey::new(algorithm, key).expect("32-byte key"));
        let mut buffer = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
            .expect("sealing a buffer cannot fail");
        buffer
    }

    /// `plain` sealed with `passphrase` (32 bytes) as garm would store it.
    pub fn seal(passphrase: &str, plain: &[u8], how: Sealing, salt: [u8; 32]) -> Vec<u8> {
        let (chacha, v2) = match how {
            Sealing::Legacy => {
                let nonce = [7u8; 12];
                let mut out = nonce.to_vec();
                out.extend(aead_seal(&AES_256_GCM, passphrase.as_bytes(), nonce, &[], plain));
                return out;
            }
            Sealing::Dare20 { chacha } => (chacha, true),
            Sealing::Dare10 { chacha } => (chacha, false),
        };
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&salt), passphrase.as_bytes())
            .expand(&[], &mut key)
            .expect("32 bytes");
        let algorithm = if chacha { &CHACHA20_POLY1305 } else { &AES_256_GCM };
        let mut stream = Vec::new();
        let chunks: Vec<&[u8]> = plain.chunks(MAX_PAYLOAD).collect();
        for (sequence, chunk) in chunks.iter().enumerate() {
            let mut header = [0u8; HEADER];
            header[0] = if v2 { 0x20 } else { 0x10 };
            header[1] = u8::from(chacha);
            header[2..4].copy_from_slice(&((chunk.len() - 1) as u16).to_le_bytes());
            let mut nonce = [0u8; 12];
            if v2 {
                header[4..].copy_from_slice(&[0x3c; 12]);
                if sequence + 1 == chunks.len() {
                    header[4] |= 0x80;
                }
                nonce.copy_from_slice(&header[4..]);
                let counter = u32::from_le_bytes(nonce[8..].try_into().expect("4")) ^ sequence as u32;
                nonce[8..].copy_from_slice(&counter.to_le_bytes());
            } else {
                header[4..8].copy_from_slice(&(sequence as u32).to_le_bytes());
                header[8..].copy_from_slice(&[0x5a; 8]);
                nonce.copy_from_slice(&header[4..]);
            }
            stream.extend_from_slice(&header);
            stream.extend(aead_seal(algorithm, &key, nonce, &header[..4], chunk));
        }
        serde_json::json!({
            "nonce": salt.to_vec(),
            "data": base64::engine::general_purpose::STANDARD.encode(stream),
        })
        .to_string()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{seal, Sealing};
    use super::*;

    const PASS: &str = "9LpkqtBpbSYD2oArCTKlhEl9PiUXVRtY";

    #[test]
    fn every_format_garm_writes_opens() {
        let unsealer = GarmUnsealer::new(PASS).unwrap();
        let long: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let cases = [
            (Sealing::Dare20 { chacha: false }, SealFormat::Dare20),
            (Sealing::Dare20 { chacha: true }, SealFormat::Dare20),
            (Sealing::Dare10 { chacha: false }, SealFormat::Dare10),
            (Sealing::Dare10 { chacha: true }, SealFormat::Dare10),
            (Sealing::Legacy, SealFormat::Legacy),
        ];
        for (how, format) in cases {
            for plain in [&b"x"[..], b"ghp_secret", &long] {
                let sealed = seal(PASS, plain, how, [9; 32]);
                assert_eq!(unsealer.open(&sealed).unwrap(), (plain.to_vec(), format), "{how:?}");
            }
        }
    }

    #[test]
    fn a_wrong_passphrase_or_a_damaged_value_is_refused() {
        let sealed = seal(PASS, b"secret", Sealing::Dare20 { chacha: false }, [1; 32]);
        let other = GarmUnsealer::new("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(other.open(&sealed), Err(UnsealError::Open));
        let legacy = seal(PASS, b"secret", Sealing::Legacy, [0; 32]);
        assert_eq!(other.open(&legacy), Err(UnsealError::Open));
        let mut damaged = legacy.clone();
        damaged[14] ^= 1;
        let unsealer = GarmUnsealer::new(PASS).unwrap();
        assert_eq!(unsealer.open(&damaged), Err(UnsealError::Open));
        assert!(matches!(unsealer.open(b"{}"), Err(UnsealError::Format(_))));
        assert!(matches!(unsealer.open(b"short"), Err(UnsealError::Format(_))));
        assert_eq!(GarmUnsealer::new("short").err(), Some(UnsealError::PassphraseLength(5)));
    }

    #[test]
    fn a_stream_cut_after_a_full_package_is_refused() {
        let long = vec![1u8; MAX_PAYLOAD + 10];
        let sealed = seal(PASS, &long, Sealing::Dare20 { chacha: false }, [2; 32]);
        let envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let stream = base64::engine::general_purpose::STANDARD
            .decode(envelope["data"].as_str().unwrap())
            .unwrap();
        let cut = serde_json::json!({
            "nonce": envelope["nonce"],
            "data": base64::engine::general_purpose::STANDARD.encode(&stream[..HEADER + MAX_PAYLOAD + TAG]),
        });
        let unsealer = GarmUnsealer::new(PASS).unwrap();
        assert!(matches!(
            unsealer.open(cut.to_string().as_bytes()),
            Err(UnsealError::Format(_))
        ));
    }
}
