//! The verifier: from posted evidence, a nonce, a policy and a time to a [`Verdict`].
//!
//! The az-snp-vtpm / az-cvm-vtpm crates parse the HCL report and quote and check the
//! report and quote signatures and the ARK → ASK signature. This module adds what they
//! leave to the verifier: the pinned root, certificate validity at a given time, the
//! VCEK ↔ report match (hardware id and TCB), the report-data binding of the attestation
//! key, and the guest policy.

use crate::evidence::Evidence;
use crate::policy::{Policy, Product, Tcb};
use az_snp_vtpm::certs::{AmdChain, Vcek};
use az_snp_vtpm::hcl::{HclReport, ReportType};
use az_snp_vtpm::report::{AttestationReport, Validateable};
use openssl::asn1::Asn1Time;
use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

const MILAN: &str = include_str!("../amd/milan-ask-ark.pem");
const GENOA: &str = include_str!("../amd/genoa-ask-ark.pem");

/// Why evidence was refused. [`Refusal::code`] is the stable name shown in the API and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the evidence cannot be read: {0}")]
    Malformed(String),
    #[error("the HCL report does not hold an SEV-SNP report")]
    NotSnp,
    #[error("the VCEK is not from a pinned AMD product: {0}")]
    UnknownProduct(String),
    #[error("the certificate chain does not end at AMD's pinned {0} root")]
    UntrustedRoot(&'static str),
    #[error("the certificate chain is broken: {0}")]
    BrokenChain(String),
    #[error("a certificate is not valid at the verification time: {0}")]
    CertificateExpired(String),
    #[error("the SNP report is not signed by the VCEK")]
    ReportSignature,
    #[error("the SNP report's reported and committed TCB differ")]
    ReportTcb,
    #[error("the VCEK belongs to another chip or TCB: {0}")]
    VcekMismatch(String),
    #[error("the report data does not bind the HCL runtime data (attestation key)")]
    BindingMismatch,
    #[error("the quote is not signed by the attestation key in the report")]
    QuoteSignature,
    #[error("the quote does not answer the nonce garm issued")]
    NonceMismatch,
    #[error("the quoted PCR digest does not match the PCR values")]
    PcrDigest,
    #[error("the guest policy allows debugging")]
    DebugEnabled,
    #[error("the report comes from VMPL {0}, above the allowed {1}")]
    Vmpl(u32, u32),
    #[error("the guest policy allows {0}, which the pool forbids")]
    PolicyFlag(&'static str),
    #[error("the reported TCB ({0}) is below the pool's minimum ({1})")]
    TcbBelowMinimum(Tcb, Tcb),
    #[error("the processor family {0} is not accepted by the pool")]
    ProductNotAllowed(&'static str),
    #[error("the launch measurement is not one the pool accepts")]
    MeasurementNotAllowed,
    #[error("PCR {0} does not have the value the pool expects")]
    PcrNotExpected(u8),
    #[error("the evidence comes from VM {evidence}, but the provider created this instance as VM {provider}")]
    VmMismatch { evidence: String, provider: String },
    #[error("the pool requires the VM's identity to be checked, but {0}")]
    VmIdentityUnknown(&'static str),
    #[error(
        "the instance's provider has no VM for this instance, so the evidence cannot come from the VM garm created"
    )]
    VmNotFound,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed_evidence",
            Refusal::NotSnp => "not_snp",
            Refusal::UnknownProduct(_) => "unknown_product",
            Refusal::UntrustedRoot(_) => "untrusted_root",
            Refusal::BrokenChain(_) => "broken_chain",
            Refusal::CertificateExpired(_) => "certificate_expired",
            Refusal::ReportSignature => "report_signature",
            Refusal::ReportTcb => "report_tcb_inconsistent",
            Refusal::VcekMismatch(_) => "vcek_mismatch",
            Refusal::BindingMismatch => "report_data_binding",
            Refusal::QuoteSignature => "quote_signature",
            Refusal::NonceMismatch => "nonce_mismatch",
            Refusal::PcrDigest => "pcr_digest",
            Refusal::DebugEnabled => "debug_enabled",
            Refusal::Vmpl(..) => "vmpl",
            Refusal::PolicyFlag(_) => "policy_flag",
            Refusal::TcbBelowMinimum(..) => "tcb_below_minimum",
            Refusal::ProductNotAllowed(_) => "product_not_allowed",
            Refusal::MeasurementNotAllowed => "measurement_not_allowed",
            Refusal::PcrNotExpected(_) => "pcr_not_expected",
            Refusal::VmMismatch { .. } => "vm_mismatch",
            Refusal::VmIdentityUnknown(_) => "vm_identity_unknown",
            Refusal::VmNotFound => "vm_not_found",
        }
    }
}

/// What verified evidence says about the VM: the facts policy is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub product: Product,
    pub report_version: u32,
    pub vmpl: u32,
    /// The raw SNP guest policy.
    pub guest_policy: u64,
    pub debug_allowed: bool,
    pub smt_allowed: bool,
    pub migration_agent_allowed: bool,
    pub reported_tcb: Tcb,
    /// SHA-384 launch measurement, hex.
    pub measurement: String,
    /// The chip's id, hex (also the VCEK's hardware id).
    pub chip_id: String,
    /// Azure's `vmUniqueId` from the HCL runtime data, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_unique_id: Option<String>,
    /// The VM id the instance's provider reported (Azure's ARM `vmId`), when garm compared
    /// it with `vm_unique_id` ([`bind_vm_identity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_vm_id: Option<String>,
    /// SHA-256 PCR0..PCR23 as quoted, hex.
    pub pcrs: Vec<String>,
}

/// The outcome recorded on an instance and shown by the API and CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    /// `accepted`, or the refusal's code.
    pub reason: String,
    /// A sentence for humans.
    pub detail: String,
    /// Seconds since the Unix epoch.
    pub verified_at: u64,
    /// Present when the hardware checks passed (even if policy then refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
}

impl Verdict {
    fn new(at: SystemTime, outcome: &Result<(), Refusal>, facts: Option<Facts>) -> Verdict {
        let verified_at = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        match outcome {
            Ok(()) => Verdict {
                accepted: true,
                reason: "accepted".into(),
                detail: "genuine SEV-SNP confidential VM within the pool's policy".into(),
                verified_at,
                facts,
            },
            Err(refusal) => Verdict {
                accepted: false,
                reason: refusal.code().into(),
                detail: refusal.to_string(),
                verified_at,
                facts,
            },
        }
    }
}

/// Checks `evidence` against the `nonce` garm issued and the pool's `policy`, with
/// certificates judged valid or not at `at`.
pub fn verify(evidence: &Evidence, nonce: &[u8], policy: &Policy, at: SystemTime) -> Verdict {
    match verify_hardware(evidence, nonce, at) {
        Ok(facts) => {
            let outcome = apply_policy(&facts, policy);
            Verdict::new(at, &outcome, Some(facts))
        }
        Err(refusal) => Verdict::new(at, &Err(refusal), None),
    }
}

/// Binds an accepted verdict to the VM garm's provider created: the `vmUniqueId` the HCL
/// report carries (signed into the SNP report through `report_data`) must be the VM id the
/// provider reported for this instance (ARM's `vmId`), compared without regard to case, as
/// Azure prints the same GUID in upper case in one place and lower case in the other.
///
/// With either id missing the verdict stands, unless the pool's `require_vm_identity` says
/// otherwise. A refused verdict is left as it is.
pub fn bind_vm_identity(verdict: &mut Verdict, provider_vm_id: Option<&str>, policy: &Policy) {
    if !verdict.accepted {
        return;
    }
    let Some(facts) = verdict.facts.as_mut() else {
        return;
    };
    let provider_vm_id = provider_vm_id.map(str::trim).filter(|id| !id.is_empty());
    facts.provider_vm_id = provider_vm_id.map(str::to_string);
    let outcome = match (facts.vm_unique_id.as_deref(), provider_vm_id) {
        (Some(evidence), Some(provider)) if evidence.eq_ignore_ascii_case(provider) => return,
        (Some(evidence), Some(provider)) => Err(Refusal::VmMismatch {
            evidence: evidence.to_string(),
            provider: provider.to_string(),
        }),
        (None, _) if policy.require_vm_identity => {
            Err(Refusal::VmIdentityUnknown("the evidence carries no vmUniqueId"))
        }
        (_, None) if policy.require_vm_identity => Err(Refusal::VmIdentityUnknown(
            "the instance's provider does not report a VM id",
        )),
        _ => return,
    };
    let at = UNIX_EPOCH + std::time::Duration::from_secs(verdict.verified_at);
    let facts = verdict.facts.take();
    *verdict = Verdict::new(at, &outcome, facts);
}

/// Refuses an accepted verdict because the instance's provider no longer has (or never had)
/// a VM for the instance: whatever sent the evidence, it is not the VM garm created.
pub fn refuse_vm_not_found(verdict: &mut Verdict) {
    if !verdict.accepted {
        return;
    }
    let at = UNIX_EPOCH + std::time::Duration::from_secs(verdict.verified_at);
    let facts = verdict.facts.take();
    *verdict = Verdict::new(at, &Err(Refusal::VmNotFound), facts);
}

/// Everything the hardware and the vTPM vouch for; no pool policy yet.
pub fn verify_hardware(evidence: &Evidence, nonce: &[u8], at: SystemTime) -> Result<Facts, Refusal> {
    let malformed = |what: &str| Refusal::Malformed(what.to_string());
    // 1. The certificate chain: VCEK ← ASK ← ARK, the ARK being AMD's pinned root.
    let vcek = X509::from_pem(evidence.vcek.as_bytes()).map_err(|_| malformed("vcek is not a PEM certificate"))?;
    let (product, chain) = chain_for(&vcek, &evidence.cert_chain)?;
    chain.validate().map_err(|err| Refusal::BrokenChain(err.to_string()))?;
    let ask_key = chain.ask.public_key().map_err(|_| malformed("ASK public key"))?;
    if !vcek.verify(&ask_key).unwrap_or(false) {
        return Err(Refusal::BrokenChain("the VCEK is not signed by the ASK".into()));
    }
    for (name, cert) in [("VCEK", &vcek), ("ASK", &chain.ask), ("ARK", &chain.ark)] {
        valid_at(name, cert, at)?;
    }

    // 2. The SNP report inside the HCL report, signed by the VCEK.
    let hcl = HclReport::new(evidence.hcl_report_bytes().map_err(|e| Refusal::Malformed(e.0))?)
        .map_err(|err| Refusal::Malformed(format!("HCL report: {err}")))?;
    if hcl.report_type() != ReportType::Snp {
        return Err(Refusal::NotSnp);
    }
    let report = AttestationReport::try_from(&hcl).map_err(|err| Refusal::Malformed(format!("SNP report: {err}")))?;
    let reported_tcb = Tcb {
        bootloader: report.reported_tcb.bootloader,
        tee: report.reported_tcb.tee,
        snp: report.reported_tcb.snp,
        microcode: report.reported_tcb.microcode,
    };
    // First whether the VCEK is this chip's at this TCB (a clearer reason than a bad
    // signature), then the signature itself.
    vcek_matches(&vcek, &report.chip_id, reported_tcb)?;
    match report.validate(&Vcek(vcek.clone())) {
        Ok(()) => {}
        Err(az_snp_vtpm::report::ValidateError::Tcb) => return Err(Refusal::ReportTcb),
        Err(_) => return Err(Refusal::ReportSignature),
    }

    // 3. The report data binds the HCL runtime data, which carries the attestation key.
    let var_data = hcl.var_data();
    let digest: [u8; 32] = Sha256::digest(var_data).into();
    if report.report_data[..32] != digest {
        return Err(Refusal::BindingMismatch);
    }
    let ak = attestation_key(&hcl)?;

    // 4. The quote: signed by that key, over garm's nonce, with consistent PCRs.
    let quote = quote_of(evidence)?;
    match quote.verify(&ak, nonce) {
        Ok(()) => {}
        Err(az_snp_vtpm::vtpm::VerifyError::SignatureMismatch) => return Err(Refusal::QuoteSignature),
        Err(az_snp_vtpm::vtpm::VerifyError::NonceMismatch) => return Err(Refusal::NonceMismatch),
        Err(az_snp_vtpm::vtpm::VerifyError::PcrMismatch) => return Err(Refusal::PcrDigest),
        Err(err) => return Err(Refusal::Malformed(format!("quote: {err}"))),
    }

    let vm_unique_id = serde_json::from_slice::<serde_json::Value>(var_data)
        .ok()
        .and_then(|v| v.pointer("/vm-configuration/vmUniqueId")?.as_str().map(str::to_string));
    Ok(Facts {
        product,
        report_version: report.version,
        vmpl: report.vmpl,
        guest_policy: u64::from(report.policy),
        debug_allowed: report.policy.debug_allowed(),
        smt_allowed: report.policy.smt_allowed(),
        migration_agent_allowed: report.policy.migrate_ma_allowed(),
        reported_tcb,
        measurement: hex::encode(report.measurement),
        chip_id: hex::encode(report.chip_id),
        vm_unique_id,
        provider_vm_id: None,
        pcrs: quote.pcrs_sha256().map(hex::encode).collect(),
    })
}

/// The pool's policy over verified facts. Debug is refused whatever the pool says.
pub fn apply_policy(facts: &Facts, policy: &Policy) -> Result<(), Refusal> {
    if facts.debug_allowed {
        return Err(Refusal::DebugEnabled);
    }
    if facts.vmpl > policy.max_vmpl {
        return Err(Refusal::Vmpl(facts.vmpl, policy.max_vmpl));
    }
    if facts.smt_allowed && !policy.allow_smt {
        return Err(Refusal::PolicyFlag("SMT"));
    }
    if facts.migration_agent_allowed && !policy.allow_migration_agent {
        return Err(Refusal::PolicyFlag("a migration agent"));
    }
    if !policy.products.is_empty() && !policy.products.contains(&facts.product) {
        return Err(Refusal::ProductNotAllowed(facts.product.as_str()));
    }
    if let Some(min) = policy.min_tcb {
        let t = facts.reported_tcb;
        if t.bootloader < min.bootloader || t.tee < min.tee || t.snp < min.snp || t.microcode < min.microcode {
            return Err(Refusal::TcbBelowMinimum(t, min));
        }
    }
    if !policy.measurements.is_empty()
        && !policy
            .measurements
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&facts.measurement))
    {
        return Err(Refusal::MeasurementNotAllowed);
    }
    for (index, expected) in &policy.pcrs {
        let i: u8 = index.parse().unwrap_or(u8::MAX);
        let actual = facts.pcrs.get(i as usize);
        if !actual.is_some_and(|a| a.eq_ignore_ascii_case(expected)) {
            return Err(Refusal::PcrNotExpected(i));
        }
    }
    Ok(())
}

/// The pinned ASK and ARK of a product.
pub fn pinned_chain(product: Product) -> AmdChain {
    let pem = match product {
        Product::Milan => MILAN,
        Product::Genoa => GENOA,
    };
    let mut certs = X509::stack_from_pem(pem.as_bytes()).expect("pinned AMD chain parses");
    let ark = certs.pop().expect("pinned ARK");
    let ask = certs.pop().expect("pinned ASK");
    AmdChain { ask, ark }
}

fn chain_for(vcek: &X509, supplied: &str) -> Result<(Product, AmdChain), Refusal> {
    let issuer = vcek
        .issuer_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
        .unwrap_or_default();
    let product = match issuer.as_str() {
        "SEV-Milan" => Product::Milan,
        "SEV-Genoa" => Product::Genoa,
        other => return Err(Refusal::UnknownProduct(format!("VCEK issued by {other:?}"))),
    };
    let pinned = pinned_chain(product);
    if supplied.trim().is_empty() {
        return Ok((product, pinned));
    }
    let mut certs =
        X509::stack_from_pem(supplied.as_bytes()).map_err(|_| Refusal::Malformed("cert_chain is not PEM".into()))?;
    if certs.len() != 2 {
        return Err(Refusal::Malformed(format!(
            "cert_chain holds {} certificates, not ASK and ARK",
            certs.len()
        )));
    }
    let ark = certs.pop().expect("two certificates");
    let ask = certs.pop().expect("two certificates");
    let same_root = match (ark.to_der(), pinned.ark.to_der()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same_root {
        return Err(Refusal::UntrustedRoot(product.as_str()));
    }
    Ok((product, AmdChain { ask, ark }))
}

fn valid_at(name: &str, cert: &X509, at: SystemTime) -> Result<(), Refusal> {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let now = Asn1Time::from_unix(secs as _).map_err(|_| Refusal::Malformed("verification time".into()))?;
    let started = cert.not_before() <= now;
    let unexpired = now <= cert.not_after();
    if started && unexpired {
        Ok(())
    } else {
        Err(Refusal::CertificateExpired(format!(
            "{name} is valid from {} to {}",
            cert.not_before(),
            cert.not_after()
        )))
    }
}

/// AMD's VCEK extensions: the hardware id and the TCB the key was derived for.
const OID_BL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_HWID: &str = "1.3.6.1.4.1.3704.1.4";

fn vcek_matches(vcek: &X509, chip_id: &[u8; 64], tcb: Tcb) -> Result<(), Refusal> {
    let der = vcek.to_der().map_err(|_| Refusal::Malformed("VCEK DER".into()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|_| Refusal::Malformed("VCEK does not parse".into()))?;
    let ext = |oid: &str| {
        cert.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .map(|e| e.value)
    };
    let hwid = ext(OID_HWID).ok_or_else(|| Refusal::VcekMismatch("the VCEK has no hardware id".into()))?;
    // The id is either the raw 64 bytes or a DER OCTET STRING holding them.
    let hwid = match hwid {
        [0x04, 0x40, rest @ ..] if rest.len() == 64 => rest,
        raw => raw,
    };
    if hwid != chip_id {
        return Err(Refusal::VcekMismatch(
            "its hardware id is not the report's chip id".into(),
        ));
    }
    let spl = |oid: &str| -> Option<u8> {
        // A DER INTEGER: 02 len value…
        match ext(oid)? {
            [0x02, len, value @ ..] if *len as usize == value.len() && !value.is_empty() => {
                let v = value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                u8::try_from(v).ok()
            }
            _ => None,
        }
    };
    let cert_tcb = Tcb {
        bootloader: spl(OID_BL).unwrap_or(u8::MAX),
        tee: spl(OID_TEE).unwrap_or(u8::MAX),
        snp: spl(OID_SNP).unwrap_or(u8::MAX),
        microcode: spl(OID_UCODE).unwrap_or(u8::MAX),
    };
    if cert_tcb != tcb {
        return Err(Refusal::VcekMismatch(format!(
            "it was issued for TCB {cert_tcb}, the report says {tcb}"
        )));
    }
    Ok(())
}

fn attestation_key(hcl: &HclReport) -> Result<PKey<Public>, Refusal> {
    let jwk = hcl
        .ak_pub()
        .map_err(|err| Refusal::Malformed(format!("no attestation key in the runtime data: {err}")))?;
    let der = jwk
        .key
        .try_to_der()
        .map_err(|err| Refusal::Malformed(format!("attestation key: {err}")))?;
    PKey::public_key_from_der(&der).map_err(|_| Refusal::Malformed("attestation key is not a public key".into()))
}

/// The nonce the evidence's quote answers (its `extraData`), whatever it is: what a
/// test issues to replay captured evidence.
pub fn quoted_nonce(evidence: &Evidence) -> Result<Vec<u8>, Refusal> {
    quote_of(evidence)?
        .nonce()
        .map_err(|err| Refusal::Malformed(format!("quote: {err}")))
}

fn quote_of(evidence: &Evidence) -> Result<az_snp_vtpm::vtpm::Quote, Refusal> {
    let bytes = |name: &str, hex_text: &str| {
        hex::decode(hex_text).map_err(|_| Refusal::Malformed(format!("quote {name} is not hex")))
    };
    let pcrs = evidence
        .quote
        .pcrs
        .iter()
        .map(|p| bytes("pcr", p))
        .collect::<Result<Vec<_>, _>>()?;
    if pcrs.iter().any(|p| p.len() != 32) {
        return Err(Refusal::Malformed("a quoted PCR is not 32 bytes".into()));
    }
    // `Quote`'s fields are private; its serde form is the way in.
    let value = serde_json::json!({
        "signature": bytes("signature", &evidence.quote.signature)?,
        "message": bytes("message", &evidence.quote.message)?,
        "pcrs": pcrs,
    });
    serde_json::from_value(value).map_err(|err| Refusal::Malformed(format!("quote: {err}")))
}
