//! The dashboard: which jobs wait and why, runners by state, pools near their maximum, and
//! recent failures, and the latency histograms as charts. Also the "why is this job waiting" explanation the jobs page shows.

use super::html::{self, duration, e, thead};
use super::{page, page_no, Fragment, Refresh, Session};
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Query, State};
use axum::response::Response;
use garm_model::InstanceStatus;
use garm_store::{JobRecord, PoolRecord};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

pub async fn page_handler(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let body = render_dashboard(&app, page_no(&q)).await.map_err(super::fail)?;
    Ok(page(&s, &frag, "Dashboard", "/ui/", Refresh::Live, &body))
}

/// Why a queued job has no runner, from the pools that could serve it (pure).
pub fn why_waiting(job: &JobRecord, pools: &[&PoolRecord], count: &HashMap<&str, u32>) -> String {
    let owners = [&job.repo_id, &job.org_id, &job.enterprise_id];
    let matching: Vec<&PoolRecord> = pools
        .iter()
        .copied()
        .filter(|p| owners.iter().any(|o| o.as_deref() == Some(p.entity_id.as_str())))
        .filter(|p| garm_pool::plan::labels_match(p, &job.labels))
        .collect();
    if matching.is_empty() {
        return "no pool matches these labels".into();
    }
    let enabled: Vec<&PoolRecord> = matching.iter().copied().filter(|p| p.enabled).collect();
    if enabled.is_empty() {
        let ids: Vec<&str> = matching.iter().map(|p| p.id.as_str()).collect();
        return format!("the matching pool is disabled ({})", ids.join(", "));
    }
    let with_room = enabled
        .iter()
        .filter(|p| count.get(p.id.as_str()).copied().unwrap_or(0) < p.max_runners)
        .max_by_key(|p| p.priority);
    match with_room {
        Some(p) => format!("pool {} ({}, {}) would serve it", p.id, p.provider_name, p.flavor),
        None => {
            let p = enabled[0];
            format!(
                "pool full: {} has {}/{} runners",
                p.id,
                count.get(p.id.as_str()).copied().unwrap_or(0),
                p.max_runners
            )
        }
    }
}

/// The dashboard's `<main>`; `jobs_page` pages through the queued jobs.
pub async fn render_dashboard(app: &App, jobs_page: usize) -> Result<String, ApiError> {
    let now = chrono::Utc::now();
    let controller = app.store.controller().await?;
    let pools = app.store.pools(None).await?;
    let counts = app.store.instance_counts().await?;
    let mut queued = app.store.jobs_with_status("queued").await?;
    queued.sort_by_key(|j| j.created_at);
    let entities: HashMap<garm_model::EntityId, String> = app
        .store
        .all_entities()
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e.display_name()))
        .collect();
    let count: HashMap<&str, u32> = counts.per_pool.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let by_status: BTreeMap<&str, u32> = counts.by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let by_runner: BTreeMap<&str, u32> = counts.by_runner_status.iter().map(|(s, n)| (s.as_str(), *n)).collect();

    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<h1>Dashboard</h1>");
    if controller.metadata_url.is_empty() || controller.callback_url.is_empty() {
        out.push_str("<p class=\"error\" role=\"alert\">The metadata and callback URLs are not set: runners cannot start. <a href=\"/ui/controller\">Set them on the controller page</a>.</p>");
    }
    let _ = write!(
        out,
        "<section class=\"stats\" aria-label=\"summary\"><div><b>{}</b> queued jobs</div><div><b>{}</b> instances</div><div><b>{}</b> pools</div><div><b>{}</b> in error</div></section>",
        queued.len(),
        counts.total,
        pools.len(),
        by_status.get("error").copied().unwrap_or(0)
    );
    queued_section(&mut out, &queued, jobs_page, &pools, &count, now);
    states_section(&mut out, &by_status, &by_runner);
    near_full_section(&mut out, &pools, &count, &entities);
    failures_section(app, &mut out, now).await?;
    let histograms: Vec<_> = garm_pool::metrics::LATENCY_HISTOGRAMS
        .iter()
        .map(|name| app.pool.metrics.histogram(name))
        .collect();
    super::charts::latency_section(&mut out, &histograms);
    Ok(out)
}

/// The queued jobs, oldest first, with why each has no runner yet.
fn queued_section(
    out: &mut String,
    queued: &[JobRecord],
    jobs_page: usize,
    pools: &[PoolRecord],
    count: &HashMap<&str, u32>,
    now: chrono::DateTime<chrono::Utc>,
) {
    let pool_refs: Vec<&PoolRecord> = pools.iter().collect();
    out.push_str("<section aria-labelledby=\"h-queued\"><h2 id=\"h-queued\">Queued jobs</h2>");
    if queued.is_empty() {
        out.push_str("<p>No job is waiting.</p>");
    } else {
        let (rows, nav) = html::page(queued, jobs_page, "/ui/?");
        thead(
            out,
            "Jobs waiting for a runner, oldest first",
            &["Job", "Repository", "Labels", "Waited", "Why no runner yet"],
        );
        for j in rows {
            let waited = j.created_at.map_or(0, |t| (now - t).num_seconds());
            let ours = why_waiting(j, &pool_refs, count);
            let _ = write!(
                out,
                "<tr><td>{} <small>{}</small></td><td>{}/{}</td><td>{}</td><td>{}</td><td class=\"why\">",
                e(&j.name),
                j.workflow_job_id,
                e(&j.repository_owner),
                e(&j.repository_name),
                e(&j.labels.join(", ")),
                duration(waited)
            );
            if !j.reason.is_empty() {
                let _ = write!(out, "<div>{}</div>", e(&j.reason));
            }
            let _ = write!(out, "<div>{}</div>", e(&ours));
            if let Some(name) = &j.instance_name {
                let _ = write!(
                    out,
                    "<div>runner <a href=\"/ui/instances/{}\">{}</a></div>",
                    html::url_part(name),
                    e(name)
                );
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table>");
        out.push_str(&nav);
    }
    out.push_str("</section>");
}

/// Instances counted by instance status and by runner status.
fn states_section(out: &mut String, by_status: &BTreeMap<&str, u32>, by_runner: &BTreeMap<&str, u32>) {
    out.push_str("<div class=\"cols\"><section aria-labelledby=\"h-states\"><h2 id=\"h-states\">Runners by state</h2>");
    thead(out, "Instances by instance status", &["Instance status", "Count"]);
    for st in InstanceStatus::ALL {
        if let Some(n) = by_status.get(st.as_str()) {
            let _ = write!(
                out,
                "<tr><td><span class=\"st st-{0}\">{0}</span></td><td>{n}</td></tr>",
                st.as_str()
            );
        }
    }
    out.push_str("</tbody></table>");
    thead(out, "Instances by runner status", &["Runner status", "Count"]);
    for (st, n) in by_runner {
        let _ = write!(
            out,
            "<tr><td><span class=\"st st-{0}\">{0}</span></td><td>{n}</td></tr>",
            e(st)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Pools at 80 % or more of their `max_runners`.
fn near_full_section(
    out: &mut String,
    pools: &[PoolRecord],
    count: &HashMap<&str, u32>,
    entities: &HashMap<garm_model::EntityId, String>,
) {
    out.push_str("<section aria-labelledby=\"h-full\"><h2 id=\"h-full\">Pools near their maximum</h2>");
    let mut near: Vec<(&PoolRecord, u32)> = pools
        .iter()
        .filter(|p| p.max_runners > 0)
        .map(|p| (p, count.get(p.id.as_str()).copied().unwrap_or(0)))
        .filter(|(p, n)| *n * 5 >= p.max_runners * 4)
        .collect();
    near.sort_by_key(|(p, n)| std::cmp::Reverse((*n * 1000) / p.max_runners.max(1)));
    if near.is_empty() {
        out.push_str("<p>No pool is at 80% of its maximum.</p>");
    } else {
        thead(
            out,
            "Pools at 80% or more of max_runners",
            &["Pool", "Entity", "Runners"],
        );
        for (p, n) in near.iter().take(20) {
            let _ = write!(
                out,
                "<tr><td><a href=\"/ui/pools/{}\">{}</a></td><td>{}</td><td><meter min=\"0\" max=\"{}\" value=\"{n}\">{n}/{}</meter> {n}/{}</td></tr>",
                html::url_part(&p.id),
                e(&p.id),
                e(entities.get(&p.entity_id).map_or("", String::as_str)),
                p.max_runners,
                p.max_runners,
                p.max_runners
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section></div>");
}

/// The last instances in error with their latest status messages.
async fn failures_section(app: &App, out: &mut String, now: chrono::DateTime<chrono::Utc>) -> Result<(), ApiError> {
    out.push_str("<section aria-labelledby=\"h-fail\"><h2 id=\"h-fail\">Recent failures</h2>");
    let failed = app.store.recent_instances_in(InstanceStatus::Error, 10).await?;
    if failed.is_empty() {
        out.push_str("<p>No instance is in error.</p>");
    } else {
        thead(
            out,
            "Instances in error, newest first",
            &["Instance", "Pool", "When", "Status messages"],
        );
        for i in &failed {
            let events = app.store.instance_events(&i.id).await?;
            let _ = write!(
                out,
                "<tr><td><a href=\"/ui/instances/{}\">{}</a></td><td>{}</td><td>{} ago</td><td><ul class=\"msgs\">",
                html::url_part(&i.name),
                e(&i.name),
                e(&i.pool_id),
                duration((now - i.updated_at).num_seconds())
            );
            if !i.provider_fault.is_empty() {
                let _ = write!(out, "<li>{}</li>", e(&i.provider_fault));
            }
            for ev in events.iter().rev().take(3) {
                let _ = write!(out, "<li>{}</li>", e(&ev.message));
            }
            out.push_str("</ul></td></tr>");
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
    Ok(())
}
