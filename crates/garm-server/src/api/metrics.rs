//! `GET /metrics`: Prometheus text with garm's metric names (every family in
//! `metrics_catalog`, with its `# HELP` and `# TYPE` lines even before it has a sample).

use super::metrics_catalog::{self as catalog, header as family};
use crate::auth::{bearer, TokenFrom};
use crate::error::ApiError;
use crate::state::App;
use crate::tokens::UserClaims;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub(super) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub async fn metrics(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !app.config.metrics_enable {
        return Ok((StatusCode::NOT_FOUND, "404 page not found").into_response());
    }
    if !app.config.metrics_disable_auth {
        let token = bearer(&headers, TokenFrom::Header).ok_or(ApiError::AuthFailed)?;
        let claims: UserClaims = app.keys.verify(&token)?;
        if !claims.read_metrics {
            return Err(ApiError::AuthFailed);
        }
    }
    let mut out = String::new();
    health(&app, &mut out).await?;
    let entities = app.store.all_entities().await?;
    entity_gauges(&mut out, &entities);
    let pools = app.store.pools(None).await?;
    let owner_of = |id: &str| entities.iter().find(|e| e.id == id);
    pool_gauges(&mut out, &pools, &owner_of);
    let scale_sets = app.store.scale_sets(None).await?;
    scale_set_gauges(&mut out, &scale_sets, &owner_of);
    runner_gauges(&mut out, &app.store.instances().await?, &pools, &scale_sets, &owner_of);
    job_gauges(&mut out, &app.store.jobs().await?);
    rate_limits(&app, &mut out).await?;
    super::replicas::gauges(&app, &mut out);
    counters_and_histograms(&app.pool.metrics, &mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// `garm_health` (the controller's URLs) and `garm_provider_info`.
async fn health(app: &App, out: &mut String) -> Result<(), ApiError> {
    let c = app.store.controller().await?;
    let controller_webhook = if c.webhook_url.is_empty() {
        String::new()
    } else {
        format!("{}/{}", c.webhook_url, c.controller_id)
    };
    family(out, "garm_health");
    let _ = writeln!(
        out,
        "garm_health{{metadata_url=\"{}\",callback_url=\"{}\",webhook_url=\"{}\",controller_webhook_url=\"{}\",controller_id=\"{}\"}} 1",
        esc(&c.metadata_url),
        esc(&c.callback_url),
        esc(&c.webhook_url),
        esc(&controller_webhook),
        c.controller_id
    );
    family(out, "garm_provider_info");
    for p in &app.config.providers {
        let _ = writeln!(
            out,
            "garm_provider_info{{name=\"{}\",type=\"external\",description=\"{}\"}} 1",
            esc(&p.name),
            esc(&p.description)
        );
    }
    Ok(())
}

/// `garm_{repository,organization,enterprise}_info` and `…_pool_manager_status`.
fn entity_gauges(out: &mut String, entities: &[garm_store::EntityRecord]) {
    for (kind, label) in [
        (garm_store::EntityKind::Repository, "repository"),
        (garm_store::EntityKind::Organization, "organization"),
        (garm_store::EntityKind::Enterprise, "enterprise"),
    ] {
        let of_kind: Vec<_> = entities.iter().filter(|e| e.kind == kind).collect();
        family(out, &format!("garm_{label}_info"));
        for e in &of_kind {
            let name = esc(&e.display_name());
            let _ = writeln!(out, "garm_{label}_info{{name=\"{name}\",id=\"{}\"}} 1", e.id);
        }
        family(out, &format!("garm_{label}_pool_manager_status"));
        for e in &of_kind {
            let name = esc(&e.display_name());
            let _ = writeln!(
                out,
                "garm_{label}_pool_manager_status{{name=\"{name}\",id=\"{}\",running=\"{}\"}} {}",
                e.id,
                e.pool_manager_running,
                u8::from(e.pool_manager_running)
            );
        }
    }
}

/// The five `garm_pool_*` families, one line per pool each.
fn pool_gauges<'a>(
    out: &mut String,
    pools: &[garm_store::PoolRecord],
    owner_of: &dyn Fn(&str) -> Option<&'a garm_store::EntityRecord>,
) {
    for name in [
        "garm_pool_info",
        "garm_pool_status",
        "garm_pool_max_runners",
        "garm_pool_min_idle_runners",
        "garm_pool_bootstrap_timeout",
    ] {
        family(out, name);
        for p in pools {
            let (owner, kind) = owner_of(&p.entity_id)
                .map(|e| (e.display_name(), e.kind.as_str()))
                .unwrap_or_default();
            let tags: Vec<&str> = p.tags.iter().map(|t| t.name.as_str()).collect();
            let line = match name {
                "garm_pool_info" => format!(
                    "{name}{{id=\"{}\",image=\"{}\",flavor=\"{}\",prefix=\"{}\",os_type=\"{}\",os_arch=\"{}\",tags=\"{}\",provider=\"{}\",pool_owner=\"{}\",pool_type=\"{kind}\"}} 1",
                    p.id, esc(&p.image), esc(&p.flavor), esc(&p.runner_prefix), p.os_type, p.os_arch, esc(&tags.join(",")), esc(&p.provider_name), esc(&owner)
                ),
                "garm_pool_status" => format!("{name}{{id=\"{}\",enabled=\"{}\"}} {}", p.id, p.enabled, u8::from(p.enabled)),
                "garm_pool_max_runners" => format!("{name}{{id=\"{}\"}} {}", p.id, p.max_runners),
                "garm_pool_min_idle_runners" => format!("{name}{{id=\"{}\"}} {}", p.id, p.min_idle_runners),
                _ => format!("{name}{{id=\"{}\"}} {}", p.id, p.bootstrap_timeout),
            };
            let _ = writeln!(out, "{line}");
        }
    }
}

/// `garm_runner_status`: one line per instance, of a pool or of a scale set.
fn runner_gauges<'a>(
    out: &mut String,
    instances: &[garm_store::InstanceRecord],
    pools: &[garm_store::PoolRecord],
    scale_sets: &[garm_store::ScaleSetRecord],
    owner_of: &dyn Fn(&str) -> Option<&'a garm_store::EntityRecord>,
) {
    family(out, "garm_runner_status");
    for i in instances {
        let Some(p) = pools.iter().find(|p| p.id == i.pool_id) else {
            if let Some(s) = scale_sets.iter().find(|s| s.pool.id == i.pool_id) {
                let (owner, kind) = owner_of(&s.pool.entity_id)
                    .map(|e| (e.display_name(), e.kind.as_str()))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "garm_runner_status{{name=\"{}\",status=\"{}\",runner_status=\"{}\",pool_owner=\"{}\",pool_type=\"{kind}\",pool_id=\"\",scaleset_id=\"{}\",provider=\"{}\"}} 1",
                    i.name, i.status, i.runner_status, esc(&owner), s.id, esc(&s.pool.provider_name)
                );
            }
            continue;
        };
        let (owner, kind) = owner_of(&p.entity_id)
            .map(|e| (e.display_name(), e.kind.as_str()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "garm_runner_status{{name=\"{}\",status=\"{}\",runner_status=\"{}\",pool_owner=\"{}\",pool_type=\"{kind}\",pool_id=\"{}\",scaleset_id=\"\",provider=\"{}\"}} 1",
            i.name, i.status, i.runner_status, esc(&owner), p.id, esc(&p.provider_name)
        );
    }
}

/// `garm_job_status`: one line per recorded job.
fn job_gauges(out: &mut String, jobs: &[garm_store::JobRecord]) {
    family(out, "garm_job_status");
    for j in jobs {
        let _ = writeln!(
            out,
            "garm_job_status{{job_id=\"{}\",workflow_job_id=\"{}\",scaleset_job_id=\"{}\",workflow_run_id=\"{}\",name=\"{}\",status=\"{}\",conclusion=\"{}\",runner_name=\"{}\",owner=\"{}\",repository=\"{}\",requested_labels=\"{}\"}} 1",
            j.id, if j.scaleset_job_id.is_some() { 0 } else { j.workflow_job_id }, esc(j.scaleset_job_id.as_deref().unwrap_or_default()), j.run_id, esc(&j.name), esc(&j.status), esc(&j.conclusion), esc(&j.runner_name), esc(&j.repository_owner), esc(&j.repository_name), esc(&j.labels.join(","))
        );
    }
}

/// The pool manager's counters and histograms: every catalogued family, then any other family
/// that has samples (with a `# TYPE` line only).
fn counters_and_histograms(metrics: &garm_pool::metrics::Metrics, out: &mut String) {
    let catalogued = catalog::GARM
        .iter()
        .chain(catalog::OURS)
        .filter(|f| f.kind != catalog::Kind::Gauge);
    for f in catalogued {
        family(out, f.name);
        metrics.render_samples(f.name, out);
    }
    for name in metrics.names() {
        if catalog::find(&name).is_none() {
            let _ = writeln!(out, "# TYPE {name} untyped");
            metrics.render_samples(&name, out);
        }
    }
}

/// garm's `garm_scaleset_*` gauges, one series per scale set.
fn scale_set_gauges<'a>(
    out: &mut String,
    sets: &[garm_store::ScaleSetRecord],
    owner_of: &dyn Fn(&str) -> Option<&'a garm_store::EntityRecord>,
) {
    for name in [
        "garm_scaleset_info",
        "garm_scaleset_status",
        "garm_scaleset_max_runners",
        "garm_scaleset_min_idle_runners",
        "garm_scaleset_desired_runner_count",
        "garm_scaleset_bootstrap_timeout",
    ] {
        family(out, name);
        for s in sets {
            let p = &s.pool;
            let (owner, kind) = owner_of(&p.entity_id)
                .map(|e| (e.display_name(), e.kind.as_str()))
                .unwrap_or_default();
            let tags: Vec<&str> = p.tags.iter().map(|t| t.name.as_str()).collect();
            let line = match name {
                "garm_scaleset_info" => format!(
                    "{name}{{id=\"{}\",scaleset_id=\"{}\",name=\"{}\",image=\"{}\",flavor=\"{}\",prefix=\"{}\",os_type=\"{}\",os_arch=\"{}\",tags=\"{}\",provider=\"{}\",runner_group=\"{}\",scaleset_owner=\"{}\",scaleset_type=\"{kind}\"}} 1",
                    s.id, s.service_id, esc(&s.name), esc(&p.image), esc(&p.flavor), esc(&p.runner_prefix), p.os_type, p.os_arch, esc(&tags.join(",")), esc(&p.provider_name), esc(&p.runner_group), esc(&owner)
                ),
                "garm_scaleset_status" => format!(
                    "{name}{{id=\"{}\",enabled=\"{}\",state=\"{}\"}} {}",
                    s.id, p.enabled, esc(&s.state), u8::from(p.enabled)
                ),
                "garm_scaleset_max_runners" => format!("{name}{{id=\"{}\"}} {}", s.id, p.max_runners),
                "garm_scaleset_min_idle_runners" => format!("{name}{{id=\"{}\"}} {}", s.id, p.min_idle_runners),
                "garm_scaleset_desired_runner_count" => format!("{name}{{id=\"{}\"}} {}", s.id, s.desired_runner_count),
                _ => format!("{name}{{id=\"{}\"}} {}", s.id, p.bootstrap_timeout),
            };
            let _ = writeln!(out, "{line}");
        }
    }
}

/// garm's `garm_github_rate_limit_*` gauges, one series per credentials whose rate limit GitHub
/// has reported (from the answers already received; nothing is polled for them).
async fn rate_limits(app: &App, out: &mut String) -> Result<(), ApiError> {
    let mut known = Vec::new();
    for c in app.store.list_credentials("github").await? {
        if let Some(rate) = super::forge::rate_limit(app, c.id) {
            known.push((c, rate));
        }
    }
    for (suffix, value) in [
        (
            "limit",
            (|r: &garm_api_types::RateLimit| r.limit) as fn(&garm_api_types::RateLimit) -> i64,
        ),
        ("remaining", |r| r.remaining),
        ("used", |r| r.used),
        ("reset_timestamp", |r| r.reset),
    ] {
        let name = format!("garm_github_rate_limit_{suffix}");
        family(out, &name);
        for (c, rate) in &known {
            let _ = writeln!(
                out,
                "{name}{{credential_name=\"{}\",credential_id=\"{}\",endpoint=\"{}\"}} {}",
                esc(&c.name),
                c.id,
                esc(&c.endpoint_name),
                value(rate)
            );
        }
    }
    Ok(())
}
