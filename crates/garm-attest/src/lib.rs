//! Remote attestation of Azure confidential VMs (AMD SEV-SNP behind a vTPM).
//!
//! The library is garm's verifier: [`verify`] turns posted [`Evidence`], the nonce garm
//! issued, a pool's [`Policy`] and a verification time into a [`Verdict`]. Nonces come
//! from a [`NonceSource`], so tests can issue the nonce captured evidence answers.
//! The `garm-attest` binary is the instance's side: it gathers the evidence on a VM (or
//! replays a captured file) and posts it to garm.

pub mod evidence;
pub mod policy;
pub mod verify;

pub use evidence::{Evidence, FormatError, WireQuote};
pub use policy::{from_extra_specs, Policy, PoolAttestation, Product, Tcb};
pub use verify::{
    apply_policy, bind_vm_identity, refuse_vm_not_found, verify, verify_hardware, Facts, Refusal, Verdict,
};

/// Where nonces come from.
pub trait NonceSource: Send + Sync {
    fn issue(&self) -> Vec<u8>;
}

/// 32 random bytes per nonce: what production uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomNonce;

impl NonceSource for RandomNonce {
    fn issue(&self) -> Vec<u8> {
        use rand::RngCore;
        let mut nonce = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        nonce
    }
}

/// The same nonce every time. Only for replaying captured evidence in tests: a fixed
/// nonce lets anyone replay one captured quote forever.
#[derive(Debug, Clone)]
pub struct FixedNonce(pub Vec<u8>);

impl NonceSource for FixedNonce {
    fn issue(&self) -> Vec<u8> {
        self.0.clone()
    }
}
