//! Attestation verdicts, one per instance (the latest wins).

use super::*;
use std::collections::HashMap;

/// A recorded verdict: whether it was accepted, and the verdict as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRecord {
    pub accepted: bool,
    pub verdict: String,
    pub recorded_at: Time,
}

impl Store {
    /// Records (or replaces) the verdict on an instance.
    pub async fn record_attestation(&self, instance_id: &str, accepted: bool, verdict: &str) -> Result<()> {
        sqlx::query("INSERT INTO instance_attestations (instance_id, accepted, verdict, recorded_at) VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO UPDATE SET accepted = excluded.accepted, verdict = excluded.verdict, recorded_at = excluded.recorded_at")
            .bind(instance_id)
            .bind(accepted as i64)
            .bind(verdict)
            .bind(ts(&now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The verdict recorded on an instance, if any.
    pub async fn attestation(&self, instance_id: &str) -> Result<Option<AttestationRecord>> {
        let row =
            sqlx::query("SELECT accepted, verdict, recorded_at FROM instance_attestations WHERE instance_id = $1")
                .bind(instance_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Self::attestation_from(&r)).transpose()
    }

    /// Every recorded verdict by instance id (for instance lists).
    pub async fn attestations(&self) -> Result<HashMap<String, AttestationRecord>> {
        let rows = sqlx::query("SELECT instance_id, accepted, verdict, recorded_at FROM instance_attestations")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("instance_id")?, Self::attestation_from(r)?)))
            .collect()
    }

    fn attestation_from(r: &AnyRow) -> Result<AttestationRecord> {
        Ok(AttestationRecord {
            accepted: flag(r, "accepted")?,
            verdict: r.try_get("verdict")?,
            recorded_at: parse_ts(&r.try_get::<String, _>("recorded_at")?)?,
        })
    }
}
