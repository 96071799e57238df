//! `top`: a live dashboard fed as garm's is: the events stream (entities, pools, scale sets,
//! instances, jobs, controller), the 5-second metrics snapshots, and a REST seed of instances,
//! jobs and controller info on connect and every minute.
//!
//! garm's `top` is an interactive TUI; ours repaints a plain-text view (on a terminal) or
//! prints one frame per change (otherwise), and stops on Ctrl-C or when a stream closes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::stream::Reader;
use crate::table::{Cell, Table};
use crate::value::{flag, text};
use crate::Ctx;

/// The entity types the dashboard subscribes to (garm's `topEventTypes`).
pub const EVENT_TYPES: &[&str] = &[
    "repository",
    "organization",
    "enterprise",
    "forge_instance",
    "pool",
    "scaleset",
    "instance",
    "job",
    "controller",
];

const RESEED: Duration = Duration::from_secs(60);

enum Update {
    Event(Value),
    Snapshot(Value),
    Closed(&'static str),
}

/// What the dashboard shows.
#[derive(Default)]
pub struct State {
    pub snapshot: Option<Value>,
    pub instances: BTreeMap<String, Value>,
    pub jobs: BTreeMap<i64, Value>,
    pub controller: Option<Value>,
}

/// The filter message `top` sends.
pub fn filter_message() -> String {
    let filters: Vec<Value> = EVENT_TYPES.iter().map(|t| json!({"entity-type": t})).collect();
    json!({ "filters": filters }).to_string()
}

impl State {
    /// Folds one change event in (garm's `applyChange`, for what this view shows).
    pub fn apply(&mut self, ev: &Value) {
        let payload = &ev["payload"];
        let delete = ev["operation"] == "delete";
        match ev["entity-type"].as_str().unwrap_or_default() {
            "instance" => {
                let id = text(payload, &["id"]);
                if id.is_empty() {
                    return;
                }
                if delete {
                    self.instances.remove(&id);
                } else {
                    self.instances.insert(id, payload.clone());
                }
            }
            "job" => {
                let Some(id) = payload["id"].as_i64().filter(|id| *id != 0) else {
                    return;
                };
                if delete {
                    self.jobs.remove(&id);
                } else {
                    self.jobs.insert(id, payload.clone());
                }
            }
            "controller" => self.controller = Some(payload.clone()),
            "pool" => {
                let Some(snap) = self.snapshot.as_mut() else { return };
                let id = text(payload, &["id"]);
                let Some(pools) = snap["pools"].as_array_mut() else {
                    return;
                };
                pools.retain(|p| text(p, &["id"]) != id || !delete);
                if delete {
                    return;
                }
                let counts = pools
                    .iter()
                    .find(|p| text(p, &["id"]) == id)
                    .map(|p| p["runner_counts"].clone());
                let row = json!({
                    "id": id,
                    "provider_name": payload["provider_name"],
                    "os_type": payload["os_type"],
                    "max_runners": payload["max_runners"],
                    "enabled": payload["enabled"],
                    "repo_name": payload["repo_name"],
                    "org_name": payload["org_name"],
                    "enterprise_name": payload["enterprise_name"],
                    "runner_counts": counts.unwrap_or_else(|| json!({})),
                });
                match pools.iter_mut().find(|p| text(p, &["id"]) == id) {
                    Some(p) => *p = row,
                    None => pools.push(row),
                }
            }
            _ => {}
        }
    }

    /// Replaces instances and jobs with a REST seed.
    pub fn seed(&mut self, instances: &Value, jobs: &Value) {
        self.instances = crate::value::list(instances)
            .iter()
            .map(|i| (text(i, &["id"]), i.clone()))
            .collect();
        self.jobs = crate::value::list(jobs)
            .iter()
            .filter_map(|j| Some((j["id"].as_i64()?, j.clone())))
            .collect();
    }

    /// The dashboard as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match &self.controller {
            Some(c) => out.push_str(&format!(
                "GARM {} — controller {} ({})\n",
                text(c, &["version"]),
                text(c, &["controller_id"]),
                text(c, &["hostname"])
            )),
            None => out.push_str("GARM\n"),
        }
        let snap = self.snapshot.clone().unwrap_or_else(|| json!({}));
        let mut entities = Table::list(&["Entity", "Type", "Endpoint", "Pools", "Scale Sets", "Healthy"]);
        for e in crate::value::items(&snap, &["entities"]) {
            entities.row(vec![
                text(e, &["name"]).into(),
                text(e, &["type"]).into(),
                text(e, &["endpoint"]).into(),
                Cell::num(text(e, &["pool_count"])),
                Cell::num(text(e, &["scale_set_count"])),
                flag(e, &["healthy"]).to_string().into(),
            ]);
        }
        let mut pools = Table::list(&["Pool", "Belongs to", "Provider", "OS", "Max", "Enabled", "Runners"]);
        for p in crate::value::items(&snap, &["pools"]) {
            let owner = ["repo_name", "org_name", "enterprise_name", "forge_instance_name"]
                .iter()
                .map(|k| text(p, &[k]))
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            let counts: Vec<String> = p["runner_counts"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}:{v}")).collect())
                .unwrap_or_default();
            pools.row(vec![
                text(p, &["id"]).into(),
                owner.into(),
                text(p, &["provider_name"]).into(),
                text(p, &["os_type"]).into(),
                Cell::num(text(p, &["max_runners"])),
                flag(p, &["enabled"]).to_string().into(),
                counts.join(" ").into(),
            ]);
        }
        let mut instances = Table::list(&["Runner", "Status", "Runner Status", "Pool"]);
        for i in self.instances.values() {
            instances.row(vec![
                text(i, &["name"]).into(),
                text(i, &["status"]).into(),
                text(i, &["runner_status"]).into(),
                text(i, &["pool_id"]).into(),
            ]);
        }
        let mut jobs = Table::list(&["Job", "Name", "Status", "Runner", "Repository"]);
        for j in self.jobs.values() {
            jobs.row(vec![
                Cell::num(text(j, &["workflow_job_id"])),
                text(j, &["name"]).into(),
                text(j, &["status"]).into(),
                text(j, &["runner_name"]).into(),
                format!("{}/{}", text(j, &["repository_owner"]), text(j, &["repository_name"])).into(),
            ]);
        }
        for (title, table) in [
            ("Entities", entities),
            ("Pools", pools),
            ("Runners", instances),
            ("Jobs", jobs),
        ] {
            out.push_str(&format!("\n{title}\n{}\n", table.render()));
        }
        out
    }
}

fn reader_thread(mut reader: Reader, tx: mpsc::Sender<Update>, what: &'static str, snapshots: bool) {
    std::thread::spawn(move || {
        while let Some(msg) = reader.next() {
            let Ok(value) = serde_json::from_slice::<Value>(&msg) else {
                continue;
            };
            let update = if snapshots {
                Update::Snapshot(value)
            } else {
                Update::Event(value)
            };
            if tx.send(update).is_err() {
                return;
            }
        }
        let _ = tx.send(Update::Closed(what));
    });
}

fn seed(ctx: &Ctx, state: &mut State) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let instances = client.get("/instances")?;
    let jobs = client.get("/jobs")?;
    state.seed(&instances, &jobs);
    if let Ok(info) = client.get("/controller-info") {
        state.controller = Some(info);
    }
    Ok(())
}

/// `top`.
pub fn top(ctx: &Ctx) -> anyhow::Result<()> {
    let manager = ctx.config.active().ok_or_else(|| anyhow::anyhow!(crate::NEEDS_INIT))?;
    let (tx, rx) = mpsc::channel();
    // Subscribe before seeding, so no change falls between the two.
    let mut events = Reader::connect(&manager.base_url, "/api/v1/ws/events", &manager.bearer_token)?;
    events.send_text(&filter_message())?;
    reader_thread(events, tx.clone(), "events", false);
    let metrics = Reader::connect(&manager.base_url, "/api/v1/ws/metrics", &manager.bearer_token)?;
    reader_thread(metrics, tx, "metrics", true);
    let mut state = State::default();
    seed(ctx, &mut state)?;
    let terminal = std::io::stdout().is_terminal();
    let mut seeded = Instant::now();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(update) => Some(update),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("streams closed"),
        };
        let changed = first.is_some();
        for update in first.into_iter().chain(rx.try_iter()) {
            match update {
                Update::Event(ev) => state.apply(&ev),
                Update::Snapshot(s) => state.snapshot = Some(s),
                Update::Closed(what) => anyhow::bail!("{what} stream closed"),
            }
        }
        if seeded.elapsed() >= RESEED {
            // Heals anything a dropped event left behind; errors wait for the next round.
            let _ = seed(ctx, &mut state);
            seeded = Instant::now();
        }
        if changed || terminal {
            if terminal {
                print!("\x1b[H\x1b[2J");
            }
            println!("{}", state.render());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_patch_the_view() {
        let mut s = State {
            snapshot: Some(
                json!({"entities": [], "pools": [{"id": "p1", "runner_counts": {"running": 2}}], "scale_sets": []}),
            ),
            ..Default::default()
        };
        s.apply(&json!({"entity-type": "instance", "operation": "create", "payload": {"id": "i1", "name": "garm-a", "status": "running"}}));
        s.apply(&json!({"entity-type": "job", "operation": "update", "payload": {"id": 7, "name": "build"}}));
        s.apply(&json!({"entity-type": "pool", "operation": "update", "payload": {"id": "p1", "provider_name": "lxd", "repo_name": "o/r"}}));
        let view = s.render();
        assert!(
            view.contains("garm-a") && view.contains("build") && view.contains("running:2") && view.contains("o/r"),
            "{view}"
        );
        s.apply(&json!({"entity-type": "instance", "operation": "delete", "payload": {"id": "i1"}}));
        s.apply(&json!({"entity-type": "pool", "operation": "delete", "payload": {"id": "p1"}}));
        let view = s.render();
        assert!(!view.contains("garm-a") && !view.contains("lxd"), "{view}");
        assert!(filter_message().contains(r#"{"entity-type":"scaleset"}"#));
    }
}
