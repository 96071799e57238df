//! Attestation verdicts (docs/attestation.md) as the UI shows them: a section of the
//! instance page with the verdict and the attested facts, and a badge in instance lists of
//! pools that require attestation. The verdict is the one the metadata endpoint recorded,
//! read from the same store row as `attestation` in `GET /api/v1/instances/{name}`.

use super::html::{self, e};
use garm_store::{AttestationRecord, PoolRecord, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Whether a pool's `extra_specs` require attestation (invalid settings count as
/// required: the gate then refuses every instance, and the list should say why).
pub fn pool_requires(pool: &PoolRecord) -> bool {
    garm_attest::from_extra_specs(pool.extra_specs.as_deref()).map_or(true, |s| s.required())
}

/// What instance lists need to show verdicts: the attesting pools among those listed and
/// the recorded verdicts (read only when some pool attests).
#[derive(Default)]
pub struct Verdicts {
    pools: HashSet<String>,
    recorded: HashMap<String, AttestationRecord>,
}

impl Verdicts {
    pub async fn load<'p>(store: &Store, pools: impl IntoIterator<Item = &'p PoolRecord>) -> Result<Self, StoreError> {
        let pools: HashSet<String> = pools
            .into_iter()
            .filter(|p| pool_requires(p))
            .map(|p| p.id.to_string())
            .collect();
        if pools.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            pools,
            recorded: store.attestations().await?,
        })
    }

    /// Whether any of these pools attests (the list then gets an "Attestation" column).
    pub fn any(&self) -> bool {
        !self.pools.is_empty()
    }

    /// Whether instances of this pool must attest.
    pub fn attests(&self, pool_id: &str) -> bool {
        self.pools.contains(pool_id)
    }

    /// The badge of one instance: its verdict, "awaiting evidence", or "not required".
    pub fn badge(&self, pool_id: &str, instance_id: &str) -> String {
        if !self.pools.contains(pool_id) {
            return "<span class=\"muted\">not required</span>".into();
        }
        badge(self.recorded.get(instance_id))
    }
}

fn parse(rec: &AttestationRecord) -> Option<garm_attest::Verdict> {
    serde_json::from_str(&rec.verdict).ok()
}

fn badge(rec: Option<&AttestationRecord>) -> String {
    match rec {
        None => "<span class=\"st st-pending\">awaiting evidence</span>".into(),
        Some(r) if r.accepted => "<span class=\"st st-accepted\">accepted</span>".into(),
        Some(r) => {
            let code = parse(r).map(|v| v.reason).unwrap_or_else(|| "refused".into());
            format!("<span class=\"st st-refused\">refused</span> <code>{}</code>", e(&code))
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The instance page's "Attestation" section.
pub fn section(out: &mut String, required: bool, rec: Option<&AttestationRecord>) {
    out.push_str("<h2 id=\"attestation\">Attestation</h2>");
    let Some(rec) = rec else {
        if required {
            out.push_str("<p><span class=\"st st-pending\">awaiting evidence</span> The pool requires attestation and this instance has not posted evidence garm could judge: it gets no JIT configuration or registration token until garm accepts its evidence.</p>");
        } else {
            out.push_str("<p>Not required by this instance's pool, and none recorded.</p>");
        }
        return;
    };
    let verdict = parse(rec);
    out.push_str("<dl class=\"props attestation\">");
    let _ = write!(out, "<dt>Verdict</dt><dd>{}</dd>", badge(Some(rec)));
    let Some(v) = verdict else {
        let _ = write!(
            out,
            "<dt>Recorded</dt><dd>{}</dd><dt>Detail</dt><dd>the recorded verdict could not be read; see <code>GET /api/v1/instances/{{name}}</code></dd></dl>",
            html::time(&rec.recorded_at)
        );
        return;
    };
    let verified = chrono::DateTime::from_timestamp(v.verified_at as i64, 0)
        .map(|t| html::time(&t))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<dt>Reason code</dt><dd><code>{}</code></dd><dt>Detail</dt><dd>{}</dd><dt>Verified at</dt><dd>{}</dd><dt>Recorded</dt><dd>{}</dd>",
        e(&v.reason),
        e(&v.detail),
        e(&verified),
        html::time(&rec.recorded_at)
    );
    let Some(f) = v.facts else {
        out.push_str("<dt>Attested facts</dt><dd>none: the evidence failed a hardware check before the report could be trusted</dd></dl>");
        return;
    };
    let provider_vm = match (&f.provider_vm_id, &f.vm_unique_id) {
        (Some(p), Some(u)) if p.eq_ignore_ascii_case(u) => format!("<code>{}</code> (matches)", e(p)),
        (Some(p), _) => format!("<code>{}</code> (does not match)", e(p)),
        (None, _) => "not reported by the provider".into(),
    };
    let _ = write!(
        out,
        "<dt>Platform</dt><dd>AMD SEV-SNP {} (report version {})</dd><dt>VMPL</dt><dd>{}</dd><dt>Guest policy</dt><dd><code>{:#x}</code>: debug allowed {}, SMT allowed {}, migration agent allowed {}</dd><dt>Reported TCB</dt><dd>{}</dd><dt>Launch measurement</dt><dd><code class=\"hash\">{}</code></dd><dt>Chip id</dt><dd><code class=\"hash\">{}</code></dd><dt>Azure vmUniqueId</dt><dd>{}</dd><dt>Provider VM id</dt><dd>{}</dd></dl>",
        f.product.as_str(),
        f.report_version,
        f.vmpl,
        f.guest_policy,
        yes_no(f.debug_allowed),
        yes_no(f.smt_allowed),
        yes_no(f.migration_agent_allowed),
        e(&f.reported_tcb.to_string()),
        e(&f.measurement),
        e(&f.chip_id),
        f.vm_unique_id
            .as_deref()
            .map_or("not in the evidence".to_string(), |u| format!("<code>{}</code>", e(u))),
        provider_vm
    );
    if !f.pcrs.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} PCR values (SHA-256, as quoted)</summary><table><caption>Quoted PCRs</caption><thead><tr><th scope=\"col\">PCR</th><th scope=\"col\">Value</th></tr></thead><tbody>",
            f.pcrs.len()
        );
        for (n, pcr) in f.pcrs.iter().enumerate() {
            let _ = write!(
                out,
                "<tr><td>{n}</td><td><code class=\"hash\">{}</code></td></tr>",
                e(pcr)
            );
        }
        out.push_str("</tbody></table></details>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(accepted: bool, verdict: serde_json::Value) -> AttestationRecord {
        AttestationRecord {
            accepted,
            verdict: verdict.to_string(),
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_refusal_without_facts_names_its_code_and_detail_escaped() {
        let rec = record(
            false,
            serde_json::json!({"accepted": false, "reason": "nonce_mismatch", "detail": "quote <nonce> differs", "verified_at": 1_798_761_600u64}),
        );
        let mut out = String::new();
        section(&mut out, true, Some(&rec));
        assert!(
            out.contains("<span class=\"st st-refused\">refused</span> <code>nonce_mismatch</code>"),
            "{out}"
        );
        assert!(out.contains("quote &lt;nonce&gt; differs"), "{out}");
        assert!(out.contains("2027-01-01 00:00:00 UTC"), "{out}");
        assert!(out.contains("none: the evidence failed a hardware check"), "{out}");
    }

    #[test]
    fn no_verdict_reads_differently_when_required() {
        let mut out = String::new();
        section(&mut out, true, None);
        assert!(out.contains("awaiting evidence"), "{out}");
        let mut out = String::new();
        section(&mut out, false, None);
        assert!(out.contains("Not required"), "{out}");
        let v = Verdicts::default();
        assert!(!v.any());
        assert!(v.badge("p", "i").contains("not required"));
    }
}
