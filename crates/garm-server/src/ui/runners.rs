//! Instances (with their status messages: the bootstrap story of each) and jobs.

use super::attest::{self, Verdicts};
use super::html::{self, duration, e, filter, thead};
use super::{page, page_no, Fragment, Refresh, Session};
use crate::state::App;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use garm_store::{InstanceRecord, PoolRecord};
use std::collections::HashMap;
use std::fmt::Write;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ui/instances", get(list))
        .route("/ui/instances/{name}", get(show))
        .route("/ui/jobs", get(jobs))
}

/// A table of instances (shared by the pool, entity and instance pages); lists with
/// instances of attesting pools get an "Attestation" column with each verdict.
pub fn instance_table(out: &mut String, caption: &str, list: &[InstanceRecord], verdicts: &Verdicts) {
    if list.is_empty() {
        let _ = write!(out, "<p>{}: none.</p>", e(caption));
        return;
    }
    let now = chrono::Utc::now();
    let attest = verdicts.any() && list.iter().any(|i| verdicts.attests(&i.pool_id));
    let cols: &[&str] = if attest {
        &[
            "Instance",
            "Status",
            "Runner",
            "Pool",
            "Age",
            "Provider fault",
            "Attestation",
        ]
    } else {
        &["Instance", "Status", "Runner", "Pool", "Age", "Provider fault"]
    };
    thead(out, caption, cols);
    for i in list {
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/instances/{}\">{}</a></td><td><span class=\"st st-{}\">{}</span></td><td><span class=\"st st-{}\">{}</span></td><td><a href=\"/ui/pools/{}\">{}</a></td><td>{}</td><td>{}</td>",
            html::url_part(&i.name),
            e(&i.name),
            i.status.as_str(),
            i.status.as_str(),
            i.runner_status.as_str(),
            i.runner_status.as_str(),
            html::url_part(&i.pool_id),
            e(&i.pool_id),
            duration((now - i.created_at).num_seconds()),
            e(&i.provider_fault)
        );
        if attest {
            let _ = write!(out, "<td>{}</td>", verdicts.badge(&i.pool_id, &i.id));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

async fn list(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut all = app.store.instances().await.map_err(|e| super::fail(e.into()))?;
    all.sort_by_key(|x| std::cmp::Reverse(x.created_at));
    let needle = q.get("q").map(|s| s.to_lowercase()).unwrap_or_default();
    let shown: Vec<InstanceRecord> = all
        .into_iter()
        .filter(|i| {
            needle.is_empty()
                || i.name.to_lowercase().contains(&needle)
                || i.status.as_str() == needle
                || i.runner_status.as_str() == needle
                || i.pool_id.contains(&needle)
        })
        .collect();
    let mut out = String::from("<h1>Instances</h1>");
    filter(&mut out, "/ui/instances", &needle, "instances by name, status or pool");
    let (rows, nav) = html::page(
        &shown,
        page_no(&q),
        &format!("/ui/instances?q={}&", html::url_part(&needle)),
    );
    // Scale sets' pools too: their runners may have to attest as well.
    let pools = app
        .store
        .pools_and_scale_sets(None)
        .await
        .map_err(|e| super::fail(e.into()))?;
    let verdicts = Verdicts::load(&app.store, &pools)
        .await
        .map_err(|e| super::fail(e.into()))?;
    instance_table(
        &mut out,
        &format!("{} instances, newest first", shown.len()),
        rows,
        &verdicts,
    );
    out.push_str(&nav);
    Ok(page(
        &s,
        &frag,
        "Instances",
        "/ui/instances",
        Refresh::live_if(needle.is_empty()),
        &out,
    ))
}

async fn show(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    let fail = |err: garm_store::StoreError| super::fail(err.into());
    let i = app.store.instance(&name).await.map_err(fail)?;
    let events = app.store.instance_events(&i.id).await.map_err(fail)?;
    let pool = app.store.pool(&i.pool_id).await.ok();
    let verdict = app.store.attestation(&i.id).await.map_err(fail)?;
    let mut out = String::new();
    let _ = write!(out, "<h1>Instance {}</h1><dl class=\"props\">", e(&i.name));
    let addresses: Vec<&str> = i.addresses.iter().map(|a| a.address.as_str()).collect();
    for (k, v) in [
        (
            "Status",
            format!("<span class=\"st st-{0}\">{0}</span>", i.status.as_str()),
        ),
        (
            "Runner status",
            format!("<span class=\"st st-{0}\">{0}</span>", i.runner_status.as_str()),
        ),
        (
            "Pool",
            format!(
                "<a href=\"/ui/pools/{}\">{}</a>",
                html::url_part(&i.pool_id),
                e(&i.pool_id)
            ),
        ),
        ("Provider id", e(i.provider_id.as_deref().unwrap_or("")).to_string()),
        (
            "OS",
            format!(
                "{} {} {} {}",
                e(&i.os_type),
                e(&i.os_arch),
                e(&i.os_name),
                e(&i.os_version)
            ),
        ),
        ("Addresses", e(&addresses.join(", ")).to_string()),
        ("Create attempts", i.create_attempt.to_string()),
        ("Provider fault", e(&i.provider_fault).to_string()),
        ("Created", html::time(&i.created_at)),
        ("Updated", html::time(&i.updated_at)),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl><p class=\"actions\">");
    super::deletes::link(
        &mut out,
        &format!("/ui/instances/{}/delete", html::url_part(&i.name)),
        "Delete instance…",
    );
    out.push_str("</p>");
    attest::section(
        &mut out,
        pool.as_ref().is_some_and(attest::pool_requires),
        verdict.as_ref(),
    );
    out.push_str("<h2>Status messages</h2>");
    if events.is_empty() {
        out.push_str("<p>The instance has not reported anything yet.</p>");
    } else {
        out.push_str("<ol class=\"story\">");
        for ev in &events {
            let _ = write!(
                out,
                "<li><time>{}</time> <span class=\"lvl lvl-{}\">{}</span> {}</li>",
                html::time(&ev.created_at),
                e(&ev.event_level),
                e(&ev.event_level),
                e(&ev.message)
            );
        }
        out.push_str("</ol>");
    }
    Ok(page(
        &s,
        &frag,
        &format!("Instance {}", i.name),
        "/ui/instances",
        Refresh::Live,
        &out,
    ))
}

async fn jobs(
    State(app): State<App>,
    s: Session,
    frag: Fragment,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let fail = |err: garm_store::StoreError| super::fail(err.into());
    let mut all = app.store.jobs().await.map_err(fail)?;
    all.sort_by_key(|x| std::cmp::Reverse(x.created_at));
    let status = q.get("status").cloned().unwrap_or_default();
    if !status.is_empty() {
        all.retain(|j| j.status == status);
    }
    let pools: Vec<PoolRecord> = app.store.pools(None).await.map_err(fail)?;
    let pool_refs: Vec<&PoolRecord> = pools.iter().collect();
    let counts = app.store.instance_counts().await.map_err(fail)?;
    let count: HashMap<&str, u32> = counts.per_pool.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let now = chrono::Utc::now();
    let mut out = String::from("<h1>Jobs</h1><nav class=\"tabs\" aria-label=\"job status\">");
    for (v, l) in [
        ("", "all"),
        ("queued", "queued"),
        ("in_progress", "in progress"),
        ("completed", "completed"),
    ] {
        let here = if v == status { " aria-current=\"page\"" } else { "" };
        let _ = write!(out, "<a href=\"/ui/jobs?status={v}\"{here}>{l}</a> ");
    }
    out.push_str("</nav>");
    let (rows, nav) = html::page(
        &all,
        page_no(&q),
        &format!("/ui/jobs?status={}&", html::url_part(&status)),
    );
    thead(
        &mut out,
        &format!("{} jobs, newest first", all.len()),
        &[
            "Job",
            "Repository",
            "Labels",
            "Status",
            "Age",
            "Runner",
            "Why no runner yet",
        ],
    );
    for j in rows {
        let age = j.created_at.map_or(0, |t| (now - t).num_seconds());
        let why = if j.status == "queued" {
            let mut w = j.reason.clone();
            if !w.is_empty() {
                w.push_str("; ");
            }
            w.push_str(&super::dashboard::why_waiting(j, &pool_refs, &count));
            w
        } else {
            String::new()
        };
        let runner = j.instance_name.clone().unwrap_or_else(|| j.runner_name.clone());
        let _ = write!(
            out,
            "<tr><td>{} <small>{}</small></td><td>{}/{}</td><td>{}</td><td><span class=\"st st-{}\">{}</span> {}</td><td>{}</td><td>{}</td><td class=\"why\">{}</td></tr>",
            e(&j.name),
            j.workflow_job_id,
            e(&j.repository_owner),
            e(&j.repository_name),
            e(&j.labels.join(", ")),
            e(&j.status),
            e(&j.status),
            e(&j.conclusion),
            duration(age),
            e(&runner),
            e(&why)
        );
    }
    out.push_str("</tbody></table>");
    out.push_str(&nav);
    Ok(page(&s, &frag, "Jobs", "/ui/jobs", Refresh::Live, &out))
}
