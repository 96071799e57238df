//! Schema migrations, one list shared by SQLite and PostgreSQL.
//!
//! `{ID}` stands for the backend's auto-increment primary key. Every other type is
//! portable: TEXT and BIGINT (booleans are 0/1, since `sqlx::Any` cannot decode SQLite booleans). Times are RFC 3339 text with fixed microseconds,
//! so text order is time order.

pub const MIGRATIONS: &[&str] = &[
    // Version 1: everything the pool workflow needs.
    r#"
CREATE TABLE controller (
    singleton BIGINT PRIMARY KEY,
    controller_id TEXT NOT NULL,
    metadata_url TEXT NOT NULL DEFAULT '',
    callback_url TEXT NOT NULL DEFAULT '',
    webhook_url TEXT NOT NULL DEFAULT '',
    agent_url TEXT NOT NULL DEFAULT '',
    minimum_job_age_backoff BIGINT NOT NULL DEFAULT 30,
    ca_cert_bundle TEXT NOT NULL DEFAULT '',
    garm_agent_releases_url TEXT NOT NULL DEFAULT '',
    enable_agent_tools_sync BIGINT NOT NULL DEFAULT 0,
    garm_agent_version TEXT NOT NULL DEFAULT '',
    allow_insecure_garm_agent BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    generation BIGINT NOT NULL,
    is_admin BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE endpoints (
    name TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,
    endpoint_type TEXT NOT NULL,
    description TEXT NOT NULL,
    api_base_url TEXT NOT NULL,
    upload_base_url TEXT NOT NULL,
    base_url TEXT NOT NULL,
    ca_cert_bundle TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE credentials (
    id {ID},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    forge_type TEXT NOT NULL,
    endpoint_name TEXT NOT NULL REFERENCES endpoints(name),
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoint_name TEXT NOT NULL REFERENCES endpoints(name),
    entity_key TEXT NOT NULL UNIQUE,
    credentials_id BIGINT NOT NULL REFERENCES credentials(id),
    webhook_secret TEXT NOT NULL,
    balancer TEXT NOT NULL,
    agent_mode BIGINT NOT NULL,
    pm_running BIGINT NOT NULL,
    pm_failure TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE entity_events (
    id {ID},
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE tags (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE
);
CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    entity_id TEXT NOT NULL REFERENCES entities(id),
    provider_name TEXT NOT NULL,
    runner_prefix TEXT NOT NULL,
    max_runners BIGINT NOT NULL,
    min_idle_runners BIGINT NOT NULL,
    bootstrap_timeout BIGINT NOT NULL,
    image TEXT NOT NULL,
    flavor TEXT NOT NULL,
    os_type TEXT NOT NULL,
    os_arch TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    extra_specs TEXT,
    runner_group TEXT NOT NULL,
    enable_shell BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    template_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE pool_tags (
    pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    tag_id TEXT NOT NULL REFERENCES tags(id),
    position BIGINT NOT NULL,
    PRIMARY KEY (pool_id, tag_id)
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    pool_id TEXT NOT NULL REFERENCES pools(id),
    provider_id TEXT UNIQUE,
    agent_id BIGINT NOT NULL,
    os_type TEXT NOT NULL,
    os_arch TEXT NOT NULL,
    os_name TEXT NOT NULL,
    os_version TEXT NOT NULL,
    addresses TEXT NOT NULL,
    status TEXT NOT NULL,
    runner_status TEXT NOT NULL,
    provider_fault TEXT NOT NULL,
    create_attempt BIGINT NOT NULL,
    token_fetched BIGINT NOT NULL,
    jit_config TEXT,
    runner_group TEXT NOT NULL,
    extra_labels TEXT NOT NULL,
    generation BIGINT NOT NULL,
    callback_url TEXT NOT NULL,
    metadata_url TEXT NOT NULL,
    heartbeat TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX instances_pool ON instances(pool_id);
CREATE TABLE instance_events (
    id {ID},
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE jobs (
    id {ID},
    workflow_job_id BIGINT NOT NULL UNIQUE,
    run_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    conclusion TEXT NOT NULL,
    name TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    runner_id BIGINT NOT NULL,
    runner_name TEXT NOT NULL,
    runner_group_id BIGINT NOT NULL,
    runner_group_name TEXT NOT NULL,
    repository_name TEXT NOT NULL,
    repository_owner TEXT NOT NULL,
    workflow_run_url TEXT NOT NULL,
    labels TEXT NOT NULL,
    repo_id TEXT,
    org_id TEXT,
    enterprise_id TEXT,
    locked_by TEXT,
    instance_name TEXT,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
"#,
    // Version 2: the scheduler reads queued jobs (of one entity) on every pass.
    r#"
CREATE INDEX jobs_status ON jobs(status);
"#,
    // Version 3: runner install templates (garm's /templates); `data` is the template text.
    r#"
CREATE TABLE templates (
    id {ID},
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    os_type TEXT NOT NULL,
    forge_type TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#,
    // Version 4: named proxies (garm's /proxies) and the pool's proxy; `password` is sealed.
    r#"
CREATE TABLE proxies (
    id {ID},
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    http_proxy TEXT NOT NULL,
    https_proxy TEXT NOT NULL,
    no_proxy TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE pools ADD COLUMN proxy_id BIGINT;
"#,
    // Version 5: the attestation verdict of an instance (JSON; see garm-attest's `Verdict`).
    // Its own table, so instance rows and their many readers stay as they are.
    r#"
CREATE TABLE instance_attestations (
    instance_id TEXT PRIMARY KEY,
    accepted BIGINT NOT NULL,
    verdict TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"#,
    // Version 6: runner scale sets. A scale set's provider settings live in a pool row of its
    // own (`pools.scale_set_id` set), so its instances share the pools' lifecycle; the scale
    // set row holds what only the Actions service needs. Scale set jobs are keyed by the
    // service's job id (`scaleset_job_id`) and get a synthetic negative `workflow_job_id`.
    r#"
ALTER TABLE pools ADD COLUMN scale_set_id BIGINT;
CREATE TABLE scalesets (
    id {ID},
    pool_id TEXT NOT NULL UNIQUE REFERENCES pools(id),
    name TEXT NOT NULL,
    service_id BIGINT NOT NULL,
    runner_group_id BIGINT NOT NULL,
    disable_update BIGINT NOT NULL,
    state TEXT NOT NULL,
    extended_state TEXT NOT NULL,
    desired_runner_count BIGINT NOT NULL,
    last_message_id BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE jobs ADD COLUMN scaleset_job_id TEXT;
CREATE UNIQUE INDEX jobs_scaleset_job ON jobs(scaleset_job_id);
"#,
    // Version 7: leases shared by replicas on one database (see `sql/leases.rs`). `expires_at`
    // is milliseconds since the epoch by the database's clock; `token` grows on every takeover.
    r#"
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
"#,
    // Version 8: instance lists read their instances' jobs by `instance_name`.
    r#"
CREATE INDEX jobs_instance_name ON jobs(instance_name);
"#,
];
