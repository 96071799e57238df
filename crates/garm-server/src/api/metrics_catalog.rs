//! Every metric family `/metrics` serves: name, type, labels and a one-line help text.
//! garm's families keep garm's names, types and label order; `docs/metrics.md` lists the same
//! families (the end-to-end test `metrics` compares that page with a live `/metrics`).

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Gauge,
        labels,
        help,
    }
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Counter,
        labels,
        help,
    }
}

const fn histogram(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Histogram,
        labels: &[],
        help,
    }
}

const ENTITY: &[&str] = &["name", "id"];
const ENTITY_STATUS: &[&str] = &["name", "id", "running"];
const ID: &[&str] = &["id"];
const RATE: &[&str] = &["credential_name", "credential_id", "endpoint"];
const FORGE_OP: &[&str] = &["operation", "scope"];
const PROVIDER_OP: &[&str] = &["operation", "provider"];

/// garm's families (its `metrics` package), in the order `/metrics` writes them.
pub const GARM: &[Family] = &[
    gauge(
        "garm_health",
        &[
            "metadata_url",
            "callback_url",
            "webhook_url",
            "controller_webhook_url",
            "controller_id",
        ],
        "Always 1 while garm answers; the labels carry the controller's URLs and id",
    ),
    gauge(
        "garm_provider_info",
        &["name", "type", "description"],
        "One series per configured provider",
    ),
    gauge("garm_repository_info", ENTITY, "One series per repository"),
    gauge(
        "garm_repository_pool_manager_status",
        ENTITY_STATUS,
        "1 when the repository's pool manager is running, else 0",
    ),
    gauge("garm_organization_info", ENTITY, "One series per organization"),
    gauge(
        "garm_organization_pool_manager_status",
        ENTITY_STATUS,
        "1 when the organization's pool manager is running, else 0",
    ),
    gauge("garm_enterprise_info", ENTITY, "One series per enterprise"),
    gauge(
        "garm_enterprise_pool_manager_status",
        ENTITY_STATUS,
        "1 when the enterprise's pool manager is running, else 0",
    ),
    gauge(
        "garm_pool_info",
        &[
            "id",
            "image",
            "flavor",
            "prefix",
            "os_type",
            "os_arch",
            "tags",
            "provider",
            "pool_owner",
            "pool_type",
        ],
        "One series per pool, with its settings as labels",
    ),
    gauge(
        "garm_pool_status",
        &["id", "enabled"],
        "1 when the pool is enabled, else 0",
    ),
    gauge("garm_pool_max_runners", ID, "The pool's max_runners"),
    gauge("garm_pool_min_idle_runners", ID, "The pool's min_idle_runners"),
    gauge(
        "garm_pool_bootstrap_timeout",
        ID,
        "The pool's runner bootstrap timeout, in minutes",
    ),
    gauge(
        "garm_scaleset_info",
        &[
            "id",
            "scaleset_id",
            "name",
            "image",
            "flavor",
            "prefix",
            "os_type",
            "os_arch",
            "tags",
            "provider",
            "runner_group",
            "scaleset_owner",
            "scaleset_type",
        ],
        "One series per scale set, with its settings as labels",
    ),
    gauge(
        "garm_scaleset_status",
        &["id", "enabled", "state"],
        "1 when the scale set is enabled, else 0; state is the listener's",
    ),
    gauge("garm_scaleset_max_runners", ID, "The scale set's max_runners"),
    gauge("garm_scaleset_min_idle_runners", ID, "The scale set's min_idle_runners"),
    gauge(
        "garm_scaleset_desired_runner_count",
        ID,
        "The runner count GitHub last asked of the scale set",
    ),
    gauge(
        "garm_scaleset_bootstrap_timeout",
        ID,
        "The scale set's runner bootstrap timeout, in minutes",
    ),
    gauge(
        "garm_runner_status",
        &[
            "name",
            "status",
            "runner_status",
            "pool_owner",
            "pool_type",
            "pool_id",
            "scaleset_id",
            "provider",
        ],
        "One series per runner instance, with its instance and runner status",
    ),
    gauge(
        "garm_job_status",
        &[
            "job_id",
            "workflow_job_id",
            "scaleset_job_id",
            "workflow_run_id",
            "name",
            "status",
            "conclusion",
            "runner_name",
            "owner",
            "repository",
            "requested_labels",
        ],
        "One series per workflow job garm knows",
    ),
    gauge(
        "garm_github_rate_limit_limit",
        RATE,
        "Requests per window GitHub allows the credentials",
    ),
    gauge(
        "garm_github_rate_limit_remaining",
        RATE,
        "Requests left in the credentials' current window",
    ),
    gauge(
        "garm_github_rate_limit_used",
        RATE,
        "Requests spent in the credentials' current window",
    ),
    gauge(
        "garm_github_rate_limit_reset_timestamp",
        RATE,
        "Unix time at which the credentials' window resets",
    ),
    counter(
        "garm_runner_operations_total",
        PROVIDER_OP,
        "Provider calls (CreateInstance, DeleteInstance, GetInstance, ListInstances, …)",
    ),
    counter("garm_runner_errors_total", PROVIDER_OP, "Provider calls that failed"),
    counter(
        "garm_github_operations_total",
        FORGE_OP,
        "GitHub calls made for an entity (JIT configuration, runner removal, …)",
    ),
    counter("garm_github_errors_total", FORGE_OP, "GitHub calls that failed"),
    counter(
        "garm_webhook_received",
        &["valid", "reason"],
        "Webhook deliveries received, by whether they were accepted and why not",
    ),
];

/// Families garm-rs adds (garm has none of these).
pub const OURS: &[Family] = &[
    counter(
        "garm_webhook_redeliveries_requested_total",
        &[],
        "Missed deliveries garm asked GitHub to send again",
    ),
    counter(
        "garm_queued_job_checks_total",
        &[],
        "Queued jobs whose state garm asked GitHub for",
    ),
    histogram(
        "garm_provider_create_seconds",
        "How long a provider took to create an instance",
    ),
    histogram(
        "garm_job_queued_to_instance_created_seconds",
        "From a job's queued webhook to its instance record",
    ),
    histogram(
        "garm_instance_created_to_runner_idle_seconds",
        "From an instance record to its runner reporting idle",
    ),
    histogram(
        "garm_job_queued_to_in_progress_seconds",
        "From a job's queued webhook to in_progress",
    ),
    histogram(
        "garm_scaleset_message_to_create_seconds",
        "From a scale set message to the instance record it caused",
    ),
    gauge(
        "garm_leases_held",
        &["replica"],
        "Leases the answering replica holds, its liveness lease included (replicas on PostgreSQL only)",
    ),
    counter(
        "garm_leases_acquired_total",
        &[],
        "Entity leases this replica took (replicas on PostgreSQL only)",
    ),
    counter(
        "garm_leases_lost_total",
        &[],
        "Leases this replica found taken over by another (replicas on PostgreSQL only)",
    ),
];

/// A family by name, garm's or ours.
pub fn find(name: &str) -> Option<&'static Family> {
    GARM.iter().chain(OURS).find(|f| f.name == name)
}

/// Writes the family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str) {
    use std::fmt::Write as _;
    if let Some(f) = find(name) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md is the operator's copy of this catalog: every family appears there with
    /// its type and exactly its labels, in this order.
    #[test]
    fn the_metrics_page_lists_every_family_with_its_type_and_labels() {
        let page = include_str!("../../../../docs/metrics.md");
        for f in GARM.iter().chain(OURS) {
            let row = page
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", f.name)))
                .unwrap_or_else(|| panic!("{} is not in docs/metrics.md", f.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[2], f.kind.as_str(), "type of {}", f.name);
            let documented: Vec<&str> = cells[3]
                .split(',')
                .map(|l| l.trim().trim_matches('`'))
                .filter(|l| !l.is_empty() && *l != "—")
                .collect();
            assert_eq!(documented, f.labels, "labels of {}", f.name);
        }
    }
}
