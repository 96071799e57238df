//! The scale set service's state inside [`World`]: routing jobs to scale sets, the lifecycle
//! messages, batching into queue messages, statistics, session expiry and reassignment, and
//! the tokens the service signs. Its HTTP side is [`crate::scalesets`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::World;
use crate::model::scalesets::{
    ActionsCall, ActionsFaults, AssignMode, CallCounts, QueuedMessage, ScaleSet, ScaleSetConfig, ScaleSetJob,
    ScaleSetJobStatus, ScaleSetSession,
};
use crate::model::{Job, JobStatus, Scope};

/// The calls log keeps at most this many entries (the oldest are dropped).
const MAX_CALLS_KEPT: usize = 200_000;

/// An admin token from `runner-registration`.
#[derive(Debug, Clone)]
pub(crate) struct AdminToken {
    pub scope: Scope,
    pub expires_at: DateTime<Utc>,
}

/// Everything the scale set service keeps, one per fake.
pub(crate) struct Service {
    pub config: ScaleSetConfig,
    pub mode: AssignMode,
    pub sets: BTreeMap<u64, ScaleSet>,
    pub sessions: BTreeMap<String, ScaleSetSession>,
    /// Sessions that expired or were evicted, with their scale set.
    pub ended: HashMap<String, u64>,
    pub admin_tokens: HashMap<String, AdminToken>,
    /// Tenant `n` (in `/_fake/actions/tenant/n/`) is `tenants[n - 1]`.
    pub tenants: Vec<Scope>,
    pub jobs: BTreeMap<u64, ScaleSetJob>,
    /// `runnerRequestId` → job id, for every round.
    pub requests: HashMap<u64, u64>,
    pub calls: Vec<ActionsCall>,
    pub counts: CallCounts,
    pub faults: ActionsFaults,
    /// The HS256 key the fake signs its tokens with (nobody verifies them).
    pub secret: Vec<u8>,
    next_set: u64,
    next_request: u64,
}

impl Default for Service {
    fn default() -> Self {
        Service::new(ScaleSetConfig::default())
    }
}

impl Service {
    pub fn new(config: ScaleSetConfig) -> Self {
        use rand::RngCore as _;
        let mut secret = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        Service {
            mode: config.mode,
            config,
            sets: BTreeMap::new(),
            sessions: BTreeMap::new(),
            ended: HashMap::new(),
            admin_tokens: HashMap::new(),
            tenants: Vec::new(),
            jobs: BTreeMap::new(),
            requests: HashMap::new(),
            calls: Vec::new(),
            counts: CallCounts::new(),
            faults: ActionsFaults::default(),
            secret,
            next_set: 0,
            next_request: 76_999_999,
        }
    }

    pub fn next_set_id(&mut self) -> u64 {
        self.next_set += 1;
        self.next_set
    }

    fn next_request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// The tenant number of a scope, allocated on first use.
    pub fn tenant_of(&mut self, scope: &Scope) -> usize {
        if let Some(i) = self.tenants.iter().position(|s| s.same_as(scope)) {
            return i + 1;
        }
        self.tenants.push(scope.clone());
        self.tenants.len()
    }

    pub fn tenant(&self, n: usize) -> Option<&Scope> {
        n.checked_sub(1).and_then(|i| self.tenants.get(i))
    }

    pub fn log(&mut self, call: ActionsCall) {
        *self.counts.entry(call.endpoint.clone()).or_default() += 1;
        if self.calls.len() >= MAX_CALLS_KEPT {
            self.calls.remove(0);
        }
        self.calls.push(call);
    }

    /// The active session of a scale set, if any.
    pub fn session_of(&self, scale_set_id: u64) -> Option<&ScaleSetSession> {
        self.sessions.values().find(|s| s.scale_set_id == scale_set_id)
    }

    /// The session a queue token belongs to, if the token is live.
    pub fn session_by_token(&self, token: &str, now: DateTime<Utc>) -> Option<&ScaleSetSession> {
        self.sessions
            .values()
            .find(|s| s.tokens.iter().any(|(t, exp)| t == token && *exp > now))
    }

    /// Ends a session (expiry or eviction): it can no longer poll, refresh or be deleted.
    pub fn end_session(&mut self, session_id: &str) -> bool {
        match self.sessions.remove(session_id) {
            Some(session) => {
                self.ended.insert(session.id, session.scale_set_id);
                true
            }
            None => false,
        }
    }
}

/// `result` of `JobCompleted` for a GitHub conclusion.
fn result_of(conclusion: &str) -> &str {
    match conclusion {
        "success" => "succeeded",
        "failure" => "failed",
        "cancelled" => "canceled",
        other => other,
    }
}

fn time(t: DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl World {
    /// Whether a runner (or scale set) of `scope` may take jobs of `owner/repo`.
    pub(crate) fn scope_covers_repo(&self, scope: &Scope, owner: &str, repo: &str) -> bool {
        match scope {
            Scope::Repo { owner: o, repo: r } => o.eq_ignore_ascii_case(owner) && r.eq_ignore_ascii_case(repo),
            Scope::Org { org } => org.eq_ignore_ascii_case(owner),
            Scope::Enterprise { enterprise } => self
                .org(owner)
                .and_then(|o| o.enterprise.as_deref())
                .is_some_and(|e| e.eq_ignore_ascii_case(enterprise)),
        }
    }

    /// The `{svc}` base URL of a scope, ending in `/`.
    pub(crate) fn service_url(&mut self, base: &str, scope: &Scope) -> String {
        let tenant = self.ss.tenant_of(scope);
        format!("{base}/_fake/actions/tenant/{tenant}/")
    }

    /// Scale sets that may take `job`, by id.
    fn eligible_sets(&self, job: &Job) -> Vec<u64> {
        self.ss
            .sets
            .values()
            .filter(|s| s.enabled != Some(false))
            .filter(|s| s.covers(&job.labels) && self.scope_covers_repo(&s.scope, &job.owner, &job.repo))
            .map(|s| s.id)
            .collect()
    }

    /// Jobs assigned to the scale set (waiting and running).
    pub(crate) fn assigned_count(&self, scale_set_id: u64) -> usize {
        self.ss
            .jobs
            .values()
            .filter(|j| {
                j.scale_set_id == Some(scale_set_id)
                    && matches!(j.status, ScaleSetJobStatus::Assigned | ScaleSetJobStatus::Running)
            })
            .count()
    }

    fn has_room(&self, scale_set_id: u64) -> bool {
        let Some(set) = self.ss.sets.get(&scale_set_id) else {
            return false;
        };
        set.last_capacity
            .is_none_or(|cap| (self.assigned_count(scale_set_id) as u64) < cap)
    }

    /// The statistics object of a scale set, computed from the current state.
    pub(crate) fn statistics(&self, scale_set_id: u64) -> Value {
        let jobs = || self.ss.jobs.values();
        let of_set = |j: &&ScaleSetJob| j.scale_set_id == Some(scale_set_id);
        let available = jobs()
            .filter(|j| j.status == ScaleSetJobStatus::Available && j.offered_to.contains(&scale_set_id))
            .count();
        let acquired = jobs()
            .filter(of_set)
            .filter(|j| j.acquired && j.status == ScaleSetJobStatus::Assigned)
            .count();
        let running = jobs()
            .filter(of_set)
            .filter(|j| j.status == ScaleSetJobStatus::Running)
            .count();
        let assigned = self.assigned_count(scale_set_id);
        let runners: Vec<_> = self
            .runners
            .values()
            .filter(|r| r.scale_set_id == Some(scale_set_id))
            .collect();
        let busy = runners.iter().filter(|r| r.busy).count();
        let idle = runners.iter().filter(|r| !r.busy && r.status == "online").count();
        json!({
            "totalAvailableJobs": available,
            "totalAcquiredJobs": acquired,
            "totalAssignedJobs": assigned,
            "totalRunningJobs": running,
            "totalRegisteredRunners": runners.len(),
            "totalBusyRunners": busy,
            "totalIdleRunners": idle,
        })
    }

    /// One element of a message body.
    fn job_message(&self, kind: &str, job_id: u64, scale_set_id: u64) -> Option<Value> {
        let job = self.jobs.get(&job_id)?;
        let entry = self.ss.jobs.get(&job_id)?;
        let mut message = json!({
            "messageType": kind,
            "runnerRequestId": entry.request_id,
            "jobId": entry.message_job_id,
            "repositoryName": job.repo,
            "ownerName": job.owner,
            "jobWorkflowRef": format!("{}/{}/.github/workflows/ci.yml@refs/heads/main", job.owner, job.repo),
            "jobDisplayName": job.name,
            "workflowRunId": job.run_id,
            "eventName": "push",
            "requestLabels": job.labels,
            "queueTime": time(job.created_at),
        });
        if let Some(at) = entry.assigned_at {
            message["scaleSetAssignTime"] = time(at);
        }
        if let Some(at) = entry.runner_assigned_at {
            message["runnerAssignTime"] = time(at);
        }
        match kind {
            "JobAvailable" => {
                let scope = self.ss.sets.get(&scale_set_id)?.scope.clone();
                let tenant = self.ss.tenants.iter().position(|s| s.same_as(&scope)).unwrap_or(0) + 1;
                message["acquireJobUrl"] = json!(format!(
                    "{}/_fake/actions/tenant/{tenant}/_apis/runtime/runnerscalesets/{scale_set_id}/acquirejobs",
                    self.urls.web
                ));
            }
            "JobStarted" => {
                message["runnerId"] = json!(entry.runner_id.unwrap_or(0));
                message["runnerName"] = json!(entry.runner_name.clone().unwrap_or_default());
            }
            "JobCompleted" => {
                message["runnerId"] = json!(entry.runner_id.unwrap_or(0));
                message["runnerName"] = json!(entry.runner_name.clone().unwrap_or_default());
                message["result"] = json!(entry.result.clone().unwrap_or_default());
                if let Some(at) = entry.finished_at {
                    message["finishTime"] = time(at);
                }
            }
            _ => {}
        }
        Some(message)
    }

    fn push_event(&mut self, kind: &str, job_id: u64, scale_set_id: u64) {
        if let Some(message) = self.job_message(kind, job_id, scale_set_id) {
            if let Some(set) = self.ss.sets.get_mut(&scale_set_id) {
                set.pending_events.push(message);
            }
        }
    }

    /// Offers or assigns queued jobs that match a scale set.
    pub(crate) fn route_to_scale_sets(&mut self, now: DateTime<Utc>) {
        let queued: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| j.status == JobStatus::Queued)
            .map(|j| j.id)
            .collect();
        for job_id in queued {
            let Some(job) = self.jobs.get(&job_id) else {
                continue;
            };
            let eligible = self.eligible_sets(job);
            let status = self.ss.jobs.get(&job_id).map(|e| e.status);
            match status {
                None if eligible.is_empty() => continue,
                None => {
                    let request_id = self.ss.next_request_id();
                    self.ss.requests.insert(request_id, job_id);
                    self.ss.jobs.insert(
                        job_id,
                        ScaleSetJob {
                            job_id,
                            message_job_id: uuid::Uuid::from_u128(u128::from(job_id)).to_string(),
                            request_id,
                            status: ScaleSetJobStatus::Queued,
                            scale_set_id: None,
                            offered_to: Vec::new(),
                            acquired: false,
                            round: 1,
                            assigned_at: None,
                            runner_id: None,
                            runner_name: None,
                            runner_assigned_at: None,
                            finished_at: None,
                            result: None,
                        },
                    );
                }
                Some(ScaleSetJobStatus::Queued) if eligible.is_empty() => {
                    // No scale set takes it any more: back to the runners' path.
                    self.ss.jobs.remove(&job_id);
                    continue;
                }
                Some(ScaleSetJobStatus::Queued) => {}
                Some(ScaleSetJobStatus::Available) => {
                    let offered = self
                        .ss
                        .jobs
                        .get(&job_id)
                        .map(|e| e.offered_to.clone())
                        .unwrap_or_default();
                    for sid in eligible.iter().filter(|s| !offered.contains(s)) {
                        if let Some(entry) = self.ss.jobs.get_mut(&job_id) {
                            entry.offered_to.push(*sid);
                        }
                        self.push_event("JobAvailable", job_id, *sid);
                    }
                    continue;
                }
                Some(_) => continue,
            }
            match self.ss.mode {
                AssignMode::Direct => {
                    if let Some(sid) = eligible.into_iter().find(|sid| self.has_room(*sid)) {
                        self.assign_to_set(job_id, sid, false, now);
                    }
                }
                AssignMode::Acquire => {
                    if let Some(entry) = self.ss.jobs.get_mut(&job_id) {
                        entry.status = ScaleSetJobStatus::Available;
                        entry.offered_to = eligible.clone();
                    }
                    for sid in eligible {
                        self.push_event("JobAvailable", job_id, sid);
                    }
                }
            }
        }
    }

    fn assign_to_set(&mut self, job_id: u64, scale_set_id: u64, acquired: bool, now: DateTime<Utc>) {
        if let Some(entry) = self.ss.jobs.get_mut(&job_id) {
            entry.status = ScaleSetJobStatus::Assigned;
            entry.scale_set_id = Some(scale_set_id);
            entry.acquired = acquired;
            entry.assigned_at = Some(now);
        }
        self.push_event("JobAssigned", job_id, scale_set_id);
    }

    /// `acquirejobs`: the ids this call acquired for the scale set.
    pub(crate) fn acquire(&mut self, scale_set_id: u64, ids: &[u64], now: DateTime<Utc>) -> Vec<u64> {
        let mut acquired = Vec::new();
        for id in ids {
            let Some(&job_id) = self.ss.requests.get(id) else {
                continue;
            };
            let Some(entry) = self.ss.jobs.get(&job_id) else {
                continue;
            };
            if entry.request_id != *id
                || entry.status != ScaleSetJobStatus::Available
                || !entry.offered_to.contains(&scale_set_id)
                || !self.has_room(scale_set_id)
            {
                continue;
            }
            self.assign_to_set(job_id, scale_set_id, true, now);
            acquired.push(*id);
            if let Some(set) = self.ss.sets.get_mut(&scale_set_id) {
                set.acquired.push(*id);
            }
        }
        if !acquired.is_empty() {
            self.schedule(now);
        }
        acquired
    }

    /// For the runners' scheduler: `None` when the job is not a scale set job, `Some(None)`
    /// when it waits for a scale set, `Some(Some(id))` when scale set `id` has it.
    pub(crate) fn scale_set_target(&self, job_id: u64) -> Option<Option<u64>> {
        let entry = self.ss.jobs.get(&job_id)?;
        Some(match entry.status {
            ScaleSetJobStatus::Assigned => entry.scale_set_id,
            _ => None,
        })
    }

    /// A runner of the scale set took the job.
    pub(crate) fn scale_set_job_started(&mut self, job_id: u64, runner_id: u64, now: DateTime<Utc>) {
        let name = self.runners.get(&runner_id).map(|r| r.name.clone());
        let Some(entry) = self.ss.jobs.get_mut(&job_id) else {
            return;
        };
        entry.status = ScaleSetJobStatus::Running;
        entry.runner_id = Some(runner_id);
        entry.runner_name = name;
        entry.runner_assigned_at = Some(now);
        if let Some(sid) = entry.scale_set_id {
            self.push_event("JobStarted", job_id, sid);
        }
    }

    /// The job ended (finished by its runner, or cancelled).
    pub(crate) fn scale_set_job_finished(&mut self, job_id: u64, conclusion: &str, now: DateTime<Utc>) {
        let Some(entry) = self.ss.jobs.get_mut(&job_id) else {
            return;
        };
        let previous = entry.status;
        entry.status = ScaleSetJobStatus::Completed;
        entry.result = Some(result_of(conclusion).to_owned());
        entry.finished_at = Some(now);
        let targets: Vec<u64> = match (previous, entry.scale_set_id) {
            (ScaleSetJobStatus::Assigned | ScaleSetJobStatus::Running, Some(sid)) => vec![sid],
            (ScaleSetJobStatus::Available, _) => entry.offered_to.clone(),
            _ => Vec::new(),
        };
        for sid in targets {
            self.push_event("JobCompleted", job_id, sid);
        }
    }

    /// Withdraws an assignment no runner took: `JobCompleted` `canceled`, then requeue.
    fn withdraw(&mut self, job_id: u64, now: DateTime<Utc>) {
        let Some(entry) = self.ss.jobs.get_mut(&job_id) else {
            return;
        };
        let Some(sid) = entry.scale_set_id else {
            return;
        };
        entry.result = Some("canceled".to_owned());
        entry.finished_at = Some(now);
        entry.runner_id = None;
        entry.runner_name = None;
        self.push_event("JobCompleted", job_id, sid);
        let request_id = self.ss.next_request_id();
        self.ss.requests.insert(request_id, job_id);
        if let Some(entry) = self.ss.jobs.get_mut(&job_id) {
            entry.status = ScaleSetJobStatus::Queued;
            entry.request_id = request_id;
            entry.scale_set_id = None;
            entry.offered_to.clear();
            entry.acquired = false;
            entry.round += 1;
            entry.assigned_at = None;
            entry.result = None;
            entry.finished_at = None;
        }
    }

    /// Moves the queued job messages of a scale set into queue messages.
    pub(crate) fn flush_events(&mut self, scale_set_id: u64, now: DateTime<Utc>) {
        let events = match self.ss.sets.get_mut(&scale_set_id) {
            Some(set) if !set.pending_events.is_empty() => std::mem::take(&mut set.pending_events),
            _ => return,
        };
        let statistics = self.statistics(scale_set_id);
        let batches: Vec<Vec<Value>> = if self.ss.faults.reorder_next > 0 {
            self.ss.faults.reorder_next -= 1;
            events.into_iter().rev().map(|e| vec![e]).collect()
        } else {
            events
                .chunks(self.ss.config.batch_size.max(1))
                .map(<[Value]>::to_vec)
                .collect()
        };
        for batch in batches {
            let body = Value::Array(batch).to_string();
            let twice = self.ss.faults.duplicate_next > 0;
            if twice {
                self.ss.faults.duplicate_next -= 1;
            }
            for _ in 0..if twice { 2 } else { 1 } {
                self.push_message(
                    scale_set_id,
                    "RunnerScaleSetJobMessages",
                    body.clone(),
                    statistics.clone(),
                    now,
                );
            }
        }
    }

    /// Appends a message to a scale set's queue; its id.
    pub(crate) fn push_message(
        &mut self,
        scale_set_id: u64,
        message_type: &str,
        body: String,
        statistics: Value,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let set = self.ss.sets.get_mut(&scale_set_id)?;
        set.last_message_id += 1;
        set.messages.push(QueuedMessage {
            id: set.last_message_id,
            message_type: message_type.to_owned(),
            body,
            statistics,
            acknowledged: false,
            deliveries: 0,
            created_at: now,
        });
        Some(set.last_message_id)
    }

    /// Deletes a scale set: its sessions end, its waiting jobs are routed again, its idle
    /// runners are removed.
    pub(crate) fn delete_scale_set(&mut self, scale_set_id: u64, now: DateTime<Utc>) -> bool {
        if self.ss.sets.remove(&scale_set_id).is_none() {
            return false;
        }
        self.ss.sessions.retain(|_, s| s.scale_set_id != scale_set_id);
        for entry in self.ss.jobs.values_mut() {
            entry.offered_to.retain(|s| *s != scale_set_id);
            if entry.scale_set_id == Some(scale_set_id) && entry.status == ScaleSetJobStatus::Assigned {
                entry.status = ScaleSetJobStatus::Queued;
                entry.scale_set_id = None;
                entry.assigned_at = None;
                entry.acquired = false;
            }
            if entry.status == ScaleSetJobStatus::Available && entry.offered_to.is_empty() {
                entry.status = ScaleSetJobStatus::Queued;
            }
        }
        let idle: Vec<u64> = self
            .runners
            .values()
            .filter(|r| r.scale_set_id == Some(scale_set_id) && !r.busy)
            .map(|r| r.id)
            .collect();
        for id in idle {
            self.remove_runner(id);
        }
        self.schedule(now);
        true
    }

    /// Time-driven changes: abandoned sessions expire, stale assignments are withdrawn.
    pub(crate) fn refresh_scale_sets(&mut self, now: DateTime<Utc>) {
        let idle = chrono::Duration::from_std(self.ss.config.session_idle_timeout).unwrap_or_default();
        let expired: Vec<String> = self
            .ss
            .sessions
            .values()
            .filter(|s| s.open_polls == 0 && now - s.last_poll.unwrap_or(s.created_at) > idle)
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            self.ss.end_session(&id);
        }
        for session in self.ss.sessions.values_mut() {
            session
                .tokens
                .retain(|(_, exp)| *exp > now - chrono::Duration::hours(1));
        }
        self.ss.admin_tokens.retain(|_, t| t.expires_at > now);
        let Some(after) = self
            .ss
            .config
            .reassign_after
            .and_then(|d| chrono::Duration::from_std(d).ok())
        else {
            return;
        };
        let max_rounds = self.ss.config.max_rounds;
        let stale: Vec<u64> = self
            .ss
            .jobs
            .values()
            .filter(|j| j.status == ScaleSetJobStatus::Assigned && j.round < max_rounds)
            .filter(|j| j.assigned_at.is_some_and(|at| now - at >= after))
            .map(|j| j.job_id)
            .collect();
        if stale.is_empty() {
            return;
        }
        for job_id in stale {
            self.withdraw(job_id, now);
        }
        self.schedule(now);
    }
}

/// A JWT (HS256, numeric `exp`) as the service issues; clients read `exp` without checking
/// the signature.
pub(crate) fn jwt(
    secret: &[u8],
    subject: &str,
    audience: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    let claims = json!({
        "iss": "https://fake.actions.githubusercontent.invalid",
        "aud": audience,
        "sub": subject,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now.timestamp(),
        "iat": now.timestamp(),
        "exp": expires_at.timestamp(),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap_or_default()
}
