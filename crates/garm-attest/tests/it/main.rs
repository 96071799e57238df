//! The verifier on real evidence captured from Azure confidential VMs
//! (`shared/fixtures/azure-cvm-evidence/trustee`: Milan and Genoa, quote nonce `challenge`).

use base64::Engine;
use garm_attest::{apply_policy, verify, verify_hardware, Evidence, Policy, Refusal, Tcb};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The nonce of `evidence-v1.json`'s quote. The quotes of `evidence-v2.json` and
/// `evidence-genoa.json` answer other (48-byte) nonces, read with [`nonce_of`].
const NONCE: &[u8] = b"challenge";

fn nonce_of(evidence: &Evidence) -> Vec<u8> {
    garm_attest::verify::quoted_nonce(evidence).unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/azure-cvm-evidence")
}

fn captured(name: &str) -> Evidence {
    let text = std::fs::read_to_string(fixtures().join("trustee").join(name)).unwrap();
    Evidence::from_json(&text).unwrap()
}

/// 2027-01-01: inside every captured certificate's validity.
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600)
}

fn refusal(evidence: &Evidence, nonce: &[u8]) -> String {
    let verdict = verify(evidence, nonce, &Policy::default(), at());
    assert!(!verdict.accepted, "accepted: {verdict:?}");
    verdict.reason
}

fn with_report_byte_flipped(evidence: &Evidence, offset: usize) -> Evidence {
    let mut bytes = evidence.hcl_report_bytes().unwrap();
    bytes[offset] ^= 0x01;
    Evidence {
        hcl_report: base64::engine::general_purpose::STANDARD.encode(bytes),
        ..evidence.clone()
    }
}

#[test]
fn genuine_evidence_from_milan_and_genoa_is_accepted() {
    for name in ["evidence-v1.json", "evidence-v2.json", "evidence-genoa.json"] {
        let evidence = captured(name);
        let verdict = verify(&evidence, &nonce_of(&evidence), &Policy::default(), at());
        assert!(verdict.accepted, "{name}: {verdict:?}");
        assert_eq!(verdict.reason, "accepted");
        let facts = verdict.facts.unwrap();
        assert!(!facts.debug_allowed);
        assert_eq!(facts.vmpl, 0);
        assert_eq!(facts.pcrs.len(), 24);
        assert_eq!(facts.measurement.len(), 96);
    }
    assert_eq!(nonce_of(&captured("evidence-v1.json")), NONCE);
    let genoa_evidence = captured("evidence-genoa.json");
    let genoa = verify_hardware(&genoa_evidence, &nonce_of(&genoa_evidence), at()).unwrap();
    assert_eq!(genoa.product, garm_attest::Product::Genoa);
    let milan = verify_hardware(&captured("evidence-v1.json"), NONCE, at()).unwrap();
    assert_eq!(milan.product, garm_attest::Product::Milan);
}

#[test]
fn a_wrong_nonce_is_refused() {
    for nonce in [&b"challengf"[..], b"challenge\0", b"", &[7u8; 32]] {
        assert_eq!(refusal(&captured("evidence-v1.json"), nonce), "nonce_mismatch");
    }
}

#[test]
fn a_tampered_report_is_refused() {
    let genuine = captured("evidence-v1.json");
    // The SNP report starts at 0x20 of the HCL report; its measurement at 0x90 of it.
    assert_eq!(
        refusal(&with_report_byte_flipped(&genuine, 0x20 + 0x90), NONCE),
        "report_signature"
    );
    // The guest policy word (0x08): setting the debug bit breaks the signature first.
    assert_eq!(
        refusal(&with_report_byte_flipped(&genuine, 0x20 + 0x08 + 2), NONCE),
        "report_signature"
    );
    // The runtime data after the report (it carries the attestation key): the binding fails.
    let var_data = 0x20 + 1184 + 20 + 10;
    assert_eq!(
        refusal(&with_report_byte_flipped(&genuine, var_data), NONCE),
        "report_data_binding"
    );
}

#[test]
fn a_tampered_quote_is_refused() {
    let mut evidence = captured("evidence-v1.json");
    evidence.quote.pcrs[7] = "00".repeat(32);
    assert_eq!(refusal(&evidence, NONCE), "pcr_digest");
    let mut evidence = captured("evidence-v1.json");
    let mut signature = hex::decode(&evidence.quote.signature).unwrap();
    signature[10] ^= 0xff;
    evidence.quote.signature = hex::encode(signature);
    assert_eq!(refusal(&evidence, NONCE), "quote_signature");
}

#[test]
fn parts_of_another_vm_are_refused() {
    let v1 = captured("evidence-v1.json");
    let v2 = captured("evidence-v2.json");
    // Another VM's report with this VM's VCEK: the chip ids differ.
    let report_swapped = Evidence {
        hcl_report: v2.hcl_report.clone(),
        ..v1.clone()
    };
    assert_eq!(refusal(&report_swapped, NONCE), "vcek_mismatch");
    // This VM's report and VCEK with another VM's quote: its attestation key did not sign it.
    let quote_swapped = Evidence {
        quote: v2.quote.clone(),
        ..v1.clone()
    };
    assert_eq!(refusal(&quote_swapped, NONCE), "quote_signature");
    // A Genoa VCEK cannot vouch for a Milan report.
    let genoa = captured("evidence-genoa.json");
    let vcek_swapped = Evidence {
        vcek: genoa.vcek.clone(),
        ..v1.clone()
    };
    assert_eq!(refusal(&vcek_swapped, NONCE), "vcek_mismatch");
}

/// A self-signed "ARK" and an "ASK" it signed, with AMD's names: what a forger can make.
fn forged_chain() -> String {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let cert =
        |subject: &str, issuer: &str, key: &PKey<openssl::pkey::Private>, signer: &PKey<openssl::pkey::Private>| {
            let mut b = X509Builder::new().unwrap();
            b.set_version(2).unwrap();
            b.set_subject_name(&name(subject)).unwrap();
            b.set_issuer_name(&name(issuer)).unwrap();
            b.set_pubkey(key).unwrap();
            b.set_not_before(&openssl::asn1::Asn1Time::from_unix(1_600_000_000).unwrap())
                .unwrap();
            b.set_not_after(&openssl::asn1::Asn1Time::from_unix(2_400_000_000).unwrap())
                .unwrap();
            b.sign(signer, MessageDigest::sha384()).unwrap();
            b.build()
        };
    let ark_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let ask_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let ark = cert("ARK-Milan", "ARK-Milan", &ark_key, &ark_key);
    let ask = cert("SEV-Milan", "ARK-Milan", &ask_key, &ark_key);
    format!(
        "{}{}",
        String::from_utf8(ask.to_pem().unwrap()).unwrap(),
        String::from_utf8(ark.to_pem().unwrap()).unwrap()
    )
}

#[test]
fn a_chain_that_does_not_end_at_amds_root_is_refused() {
    let mut evidence = captured("evidence-v1.json");
    evidence.cert_chain = forged_chain();
    assert_eq!(refusal(&evidence, NONCE), "untrusted_root");
    // Genoa's VCEK with Milan's (genuine) chain: not the Genoa root.
    let mut evidence = captured("evidence-genoa.json");
    evidence.cert_chain = std::fs::read_to_string(fixtures().join("certs.pem"))
        .unwrap()
        .split_inclusive("-----END CERTIFICATE-----\n")
        .skip(1)
        .collect();
    assert_eq!(refusal(&evidence, NONCE), "untrusted_root");
}

#[test]
fn the_genuine_chain_as_imds_sends_it_is_accepted() {
    // `certs.pem` is VCEK, ASK, ARK of Milan: the ASK and ARK are what IMDS returns.
    let chain: String = std::fs::read_to_string(fixtures().join("certs.pem"))
        .unwrap()
        .split_inclusive("-----END CERTIFICATE-----\n")
        .skip(1)
        .collect();
    let mut evidence = captured("evidence-v1.json");
    evidence.cert_chain = chain;
    assert!(verify(&evidence, NONCE, &Policy::default(), at()).accepted);
}

#[test]
fn certificates_are_judged_at_the_given_time() {
    // The Milan VCEK of evidence-v1 is valid from 2025-01-28.
    let before = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let after = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    for when in [before, after] {
        let verdict = verify(&captured("evidence-v1.json"), NONCE, &Policy::default(), when);
        assert_eq!(verdict.reason, "certificate_expired", "{verdict:?}");
    }
}

#[test]
fn debug_enabled_is_refused() {
    // Genuine hardware does not sign a debuggable Azure CVM, and a flipped bit breaks the
    // signature (see `a_tampered_report_is_refused`); the policy step is checked on facts.
    let mut facts = verify_hardware(&captured("evidence-v1.json"), NONCE, at()).unwrap();
    assert!(apply_policy(&facts, &Policy::default()).is_ok());
    facts.debug_allowed = true;
    let lenient = Policy {
        allow_smt: true,
        allow_migration_agent: true,
        max_vmpl: 3,
        ..Policy::default()
    };
    assert_eq!(apply_policy(&facts, &lenient), Err(Refusal::DebugEnabled));
}

#[test]
fn a_tcb_below_the_minimum_is_refused() {
    let facts = verify_hardware(&captured("evidence-v1.json"), NONCE, at()).unwrap();
    let at_least_this = Policy {
        min_tcb: Some(facts.reported_tcb),
        ..Policy::default()
    };
    assert!(verify(&captured("evidence-v1.json"), NONCE, &at_least_this, at()).accepted);
    let higher = Policy {
        min_tcb: Some(Tcb {
            snp: facts.reported_tcb.snp + 1,
            ..facts.reported_tcb
        }),
        ..Policy::default()
    };
    let verdict = verify(&captured("evidence-v1.json"), NONCE, &higher, at());
    assert_eq!(verdict.reason, "tcb_below_minimum");
    assert!(
        verdict.detail.contains("below the pool's minimum"),
        "{}",
        verdict.detail
    );
}

#[test]
fn measurements_pcrs_and_flags_follow_the_pool_policy() {
    let evidence = captured("evidence-v1.json");
    let facts = verify_hardware(&evidence, NONCE, at()).unwrap();
    let check = |policy: Policy| verify(&evidence, NONCE, &policy, at()).reason;
    let pinned = Policy {
        measurements: vec![facts.measurement.clone()],
        pcrs: [("4".to_string(), facts.pcrs[4].clone())].into(),
        products: vec![garm_attest::Product::Milan],
        ..Policy::default()
    };
    assert_eq!(check(pinned), "accepted");
    let other_measurement = Policy {
        measurements: vec!["00".repeat(48)],
        ..Policy::default()
    };
    assert_eq!(check(other_measurement), "measurement_not_allowed");
    let other_pcr = Policy {
        pcrs: [("4".to_string(), "00".repeat(32))].into(),
        ..Policy::default()
    };
    assert_eq!(check(other_pcr), "pcr_not_expected");
    let genoa_only = Policy {
        products: vec![garm_attest::Product::Genoa],
        ..Policy::default()
    };
    assert_eq!(check(genoa_only), "product_not_allowed");
    if facts.smt_allowed {
        let no_smt = Policy {
            allow_smt: false,
            ..Policy::default()
        };
        assert_eq!(check(no_smt), "policy_flag");
    }
}

#[test]
fn pinned_roots_have_the_published_fingerprints() {
    let fingerprint = |product| {
        let chain = garm_attest::verify::pinned_chain(product);
        hex::encode(chain.ark.digest(openssl::hash::MessageDigest::sha256()).unwrap())
    };
    assert_eq!(
        fingerprint(garm_attest::Product::Milan),
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    );
    assert_eq!(
        fingerprint(garm_attest::Product::Genoa),
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
    );
    // The Milan root in the captured chain is the same certificate.
    let captured = openssl::x509::X509::stack_from_pem(&std::fs::read(fixtures().join("certs.pem")).unwrap()).unwrap();
    let pinned = garm_attest::verify::pinned_chain(garm_attest::Product::Milan);
    assert_eq!(captured[2].to_der().unwrap(), pinned.ark.to_der().unwrap());
}

#[test]
fn evidence_round_trips_through_garms_json() {
    let evidence = captured("evidence-genoa.json");
    let text = serde_json::to_string(&evidence).unwrap();
    assert_eq!(Evidence::from_json(&text).unwrap(), evidence);
    assert!(Evidence::from_json("{}").is_err());
    assert!(Evidence::from_json("[").is_err());
}

/// The `vmUniqueId` in `evidence-v1.json`'s HCL runtime data; ARM prints the same GUID in
/// lower case as the VM's `vmId`.
const V1_VM: &str = "26F8BC30-774E-4290-8E7A-535F3B672AEE";

fn accepted_v1() -> garm_attest::Verdict {
    let verdict = verify(&captured("evidence-v1.json"), NONCE, &Policy::default(), at());
    assert!(verdict.accepted, "{verdict:?}");
    assert_eq!(verdict.facts.as_ref().unwrap().vm_unique_id.as_deref(), Some(V1_VM));
    verdict
}

#[test]
fn evidence_from_the_vm_the_provider_created_stays_accepted() {
    let mut verdict = accepted_v1();
    garm_attest::bind_vm_identity(&mut verdict, Some(&V1_VM.to_ascii_lowercase()), &Policy::default());
    assert!(verdict.accepted, "{verdict:?}");
    assert_eq!(
        verdict.facts.unwrap().provider_vm_id.as_deref(),
        Some(V1_VM.to_ascii_lowercase().as_str()),
        "the verdict records what it was compared with"
    );
}

#[test]
fn evidence_from_another_vm_than_the_providers_is_refused() {
    let mut verdict = accepted_v1();
    let before = verdict.verified_at;
    garm_attest::bind_vm_identity(
        &mut verdict,
        Some("0f5f2c1e-9a4b-4c1d-8e2f-123456789abc"),
        &Policy::default(),
    );
    assert!(!verdict.accepted);
    assert_eq!(verdict.reason, "vm_mismatch");
    assert!(verdict.detail.contains(V1_VM), "{}", verdict.detail);
    assert!(verdict.detail.contains("0f5f2c1e"), "{}", verdict.detail);
    assert_eq!(verdict.verified_at, before);
    assert!(verdict.facts.is_some(), "the hardware facts are kept for the operator");
}

#[test]
fn a_provider_without_vm_ids_passes_unless_the_pool_requires_the_identity() {
    let mut verdict = accepted_v1();
    garm_attest::bind_vm_identity(&mut verdict, None, &Policy::default());
    assert!(verdict.accepted, "{verdict:?}");
    garm_attest::bind_vm_identity(&mut verdict, Some("  "), &Policy::default());
    assert!(verdict.accepted, "a blank id is no id");

    let strict = Policy {
        require_vm_identity: true,
        ..Policy::default()
    };
    let mut verdict = accepted_v1();
    garm_attest::bind_vm_identity(&mut verdict, None, &strict);
    assert!(!verdict.accepted);
    assert_eq!(verdict.reason, "vm_identity_unknown");
    assert!(verdict.detail.contains("does not report a VM id"), "{}", verdict.detail);

    // A refusal is not turned into anything else.
    let mut refused = verify(&captured("evidence-v1.json"), b"other", &Policy::default(), at());
    garm_attest::bind_vm_identity(&mut refused, Some("0f5f2c1e"), &strict);
    assert_eq!(refused.reason, "nonce_mismatch");
}

#[test]
fn require_vm_identity_is_a_known_pool_setting() {
    let pool = garm_attest::from_extra_specs(Some(
        r#"{"confidential": true, "attestation": {"required": true, "require_vm_identity": true}}"#,
    ))
    .unwrap();
    assert!(pool.policy.unwrap().require_vm_identity);
}
