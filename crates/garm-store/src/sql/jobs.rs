//! Jobs read for instance lists.

use super::*;
use std::collections::HashMap;

impl Store {
    /// The jobs recorded on an instance, by instance name, the oldest first as `GET /instances/{name}`
    /// picks it (garm's instance lists carry the job of each runner). Only jobs with an instance are read, not the whole jobs table.
    pub async fn jobs_by_instance(&self) -> Result<HashMap<String, JobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE instance_name IS NOT NULL AND instance_name <> '' ORDER BY id"
        ))
        .fetch_all(&self.read)
        .await?;
        let mut out = HashMap::new();
        for row in &rows {
            let job = Self::job_from(row)?;
            if let Some(name) = job.instance_name.clone() {
                out.entry(name).or_insert(job);
            }
        }
        Ok(out)
    }
}
