//! Remote attestation of confidential runners: the nonces garm issues, the verifier's
//! clock, and the gate in front of runner credentials (see docs/attestation.md).

use crate::config;
use garm_attest::{FixedNonce, NonceSource, RandomNonce};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Issues one nonce per instance and hands it back once, within its time to live.
pub struct Attestor {
    source: Box<dyn NonceSource>,
    fixed: bool,
    ttl: Duration,
    nonces: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    frozen_time: Mutex<Option<SystemTime>>,
}

impl Attestor {
    pub fn from_config(config: &config::Attestation) -> Self {
        let (source, fixed): (Box<dyn NonceSource>, bool) = match &config.fixed_nonce {
            Some(nonce) => {
                tracing::warn!(
                    nonce_len = nonce.len(),
                    "ATTESTATION REPLAY PROTECTION IS OFF: attestation.test_fixed_nonce makes garm issue the same nonce to every instance, so anyone holding one captured piece of evidence can pass attestation. Never use this outside tests."
                );
                (Box::new(FixedNonce(nonce.clone())), true)
            }
            None => (Box::new(RandomNonce), false),
        };
        Attestor {
            source,
            fixed,
            ttl: if config.nonce_ttl.is_zero() {
                Duration::from_secs(600)
            } else {
                config.nonce_ttl
            },
            nonces: Mutex::default(),
            frozen_time: Mutex::default(),
        }
    }

    /// Whether nonces are fixed (a test-only configuration).
    pub fn fixed_nonce(&self) -> bool {
        self.fixed
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh nonce for an instance; it replaces any earlier one.
    pub fn issue(&self, instance_id: &str) -> Vec<u8> {
        let nonce = self.source.issue();
        let mut nonces = self.nonces.lock().expect("nonce map");
        let now = Instant::now();
        nonces.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        nonces.insert(instance_id.to_string(), (nonce.clone(), now));
        nonce
    }

    /// The instance's outstanding nonce, consumed: evidence answers a nonce once.
    pub fn take(&self, instance_id: &str) -> Option<Vec<u8>> {
        let (nonce, at) = self.nonces.lock().expect("nonce map").remove(instance_id)?;
        (at.elapsed() < self.ttl).then_some(nonce)
    }

    /// The time certificates are judged at.
    pub fn now(&self) -> SystemTime {
        self.frozen_time.lock().expect("clock").unwrap_or_else(SystemTime::now)
    }

    /// Tests: judge certificates at this time from now on.
    pub fn freeze_time(&self, at: SystemTime) {
        *self.frozen_time.lock().expect("clock") = Some(at);
    }
}
