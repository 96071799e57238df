//! Workflow jobs: queueing, assignment to matching idle runners, completion, and their webhooks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::{Hook, Job, JobStatus, Scope};
use crate::payload;
use crate::world::{Pending, World};

/// Conclusions GitHub reports for a completed job.
pub const CONCLUSIONS: &[&str] = &[
    "success",
    "failure",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "neutral",
];

/// Why a job operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("repository {0} does not exist on the fake")]
    UnknownRepo(String),
    #[error("job {0} does not exist")]
    UnknownJob(u64),
    #[error("conclusion {0:?} is not one GitHub reports")]
    BadConclusion(String),
    #[error("job {0} is not queued")]
    NotQueued(u64),
    #[error("job {job} is not assigned to runner {runner}")]
    NotAssigned { job: u64, runner: u64 },
}

impl World {
    /// Creates a queued job and queues its `queued` webhook.
    pub fn enqueue_job(
        &mut self,
        owner: &str,
        repo: &str,
        labels: &[String],
        run_for: Duration,
        conclusion: &str,
        now: DateTime<Utc>,
    ) -> Result<Job, JobError> {
        let repo = self
            .repo(owner, repo)
            .cloned()
            .ok_or_else(|| JobError::UnknownRepo(format!("{owner}/{repo}")))?;
        if !CONCLUSIONS.contains(&conclusion) {
            return Err(JobError::BadConclusion(conclusion.to_owned()));
        }
        let id = self.ids.job.next();
        let job = Job {
            id,
            run_id: self.ids.run.next(),
            owner: repo.owner.clone(),
            repo: repo.name.clone(),
            labels: labels.to_vec(),
            name: format!("job-{id}"),
            workflow_name: "CI".to_owned(),
            status: JobStatus::Queued,
            planned_conclusion: conclusion.to_owned(),
            conclusion: None,
            run_for_ms: run_for.as_millis() as u64,
            runner_id: None,
            runner_name: None,
            runner_group_id: None,
            runner_group_name: None,
            head_sha: format!("{:040x}", u128::from(id) * 0x9e37_79b9_7f4a_7c15),
            created_at: now,
            started_at: None,
            completed_at: None,
        };
        self.jobs.insert(id, job.clone());
        self.emit_job(id, "queued");
        self.schedule(now);
        Ok(self.jobs.get(&id).cloned().unwrap_or(job))
    }

    /// Cancels a job no runner has taken: it completes as `cancelled` with no runner.
    pub fn cancel_job(&mut self, id: u64, now: DateTime<Utc>) -> Result<Job, JobError> {
        let job = self.jobs.get_mut(&id).ok_or(JobError::UnknownJob(id))?;
        if job.status != JobStatus::Queued {
            return Err(JobError::NotQueued(id));
        }
        job.status = JobStatus::Completed;
        job.conclusion = Some("cancelled".to_owned());
        job.completed_at = Some(now);
        let job = job.clone();
        self.scale_set_job_finished(id, "cancelled", now);
        self.emit_job(id, "completed");
        Ok(job)
    }

    /// Hands queued jobs, oldest first, to online idle runners whose labels and scope fit.
    /// Jobs a scale set matches go to that scale set first and then only to its runners;
    /// scale set runners take no other jobs.
    pub fn schedule(&mut self, now: DateTime<Utc>) {
        self.route_to_scale_sets(now);
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
            let target = self.scale_set_target(job_id);
            if target == Some(None) {
                continue;
            }
            let candidate = self.runners.values().find(|runner| {
                runner.scale_set_id == target.flatten()
                    && !runner.busy
                    && runner.job_id.is_none()
                    && !(runner.ephemeral && runner.jobs_done > 0)
                    && self.sessions.values().any(|s| s.runner_id == runner.id)
                    && runner.covers(&job.labels)
                    && self.scope_covers_repo(&runner.scope, &job.owner, &job.repo)
            });
            let Some(runner_id) = candidate.map(|r| r.id) else {
                continue;
            };
            self.assign(job_id, runner_id, now);
        }
    }

    fn assign(&mut self, job_id: u64, runner_id: u64, now: DateTime<Utc>) {
        let (Some(job), Some(runner)) = (self.jobs.get_mut(&job_id), self.runners.get_mut(&runner_id)) else {
            return;
        };
        runner.busy = true;
        runner.job_id = Some(job_id);
        job.status = JobStatus::InProgress;
        job.started_at = Some(now);
        job.runner_id = Some(runner.id);
        job.runner_name = Some(runner.name.clone());
        job.runner_group_id = Some(runner.group_id);
        job.runner_group_name = Some(runner.group_name.clone());
        let request = json!({
            "jobId": job.id,
            "runId": job.run_id,
            "runnerRequestId": job.id,
            "jobDisplayName": job.name,
            "repository": format!("{}/{}", job.owner, job.repo),
            "labels": job.labels,
            "runForMs": job.run_for_ms,
            "conclusion": job.planned_conclusion,
        });
        if let Some(session) = self.sessions.values_mut().find(|s| s.runner_id == runner_id) {
            session.next_message_id += 1;
            session.mailbox.push_back(json!({
                "messageId": session.next_message_id,
                "messageType": "RunnerJobRequest",
                "body": request.to_string(),
            }));
        }
        self.scale_set_job_started(job_id, runner_id, now);
        self.emit_job(job_id, "in_progress");
    }

    /// A runner reports the end of its job; ephemeral runners are removed afterwards.
    pub fn finish_job(
        &mut self,
        runner_id: u64,
        job_id: u64,
        conclusion: &str,
        now: DateTime<Utc>,
    ) -> Result<Job, JobError> {
        if !CONCLUSIONS.contains(&conclusion) {
            return Err(JobError::BadConclusion(conclusion.to_owned()));
        }
        let job = self.jobs.get_mut(&job_id).ok_or(JobError::UnknownJob(job_id))?;
        if job.runner_id != Some(runner_id) || job.status != JobStatus::InProgress {
            return Err(JobError::NotAssigned {
                job: job_id,
                runner: runner_id,
            });
        }
        job.status = JobStatus::Completed;
        job.conclusion = Some(conclusion.to_owned());
        job.completed_at = Some(now);
        let job = job.clone();
        self.scale_set_job_finished(job_id, conclusion, now);
        let ephemeral = match self.runners.get_mut(&runner_id) {
            Some(runner) => {
                runner.busy = false;
                runner.job_id = None;
                runner.jobs_done += 1;
                runner.ephemeral
            }
            None => false,
        };
        self.emit_job(job_id, "completed");
        if ephemeral {
            self.remove_runner(runner_id);
        }
        self.schedule(now);
        Ok(job)
    }

    /// Queues the `workflow_job` webhook for `action` to every matching active hook.
    pub fn emit_job(&mut self, job_id: u64, action: &str) {
        let Some(job) = self.jobs.get(&job_id) else {
            return;
        };
        let Some(repo) = self.repo(&job.owner, &job.repo).cloned() else {
            return;
        };
        let Some(body) = payload::workflow_job(self, job, action) else {
            return;
        };
        let mut hooks = self.hooks_of(&Scope::repo(&repo.owner, &repo.name));
        if repo.owner_is_org {
            hooks.extend(self.hooks_of(&Scope::org(&repo.owner)));
        }
        for hook in hooks {
            if hook.active && hook.wants("workflow_job") {
                self.emit(&hook, "workflow_job", Some(action), body.clone(), Some(repo.id));
            }
        }
    }

    /// Queues one webhook to one hook.
    pub fn emit(&mut self, hook: &Hook, event: &str, action: Option<&str>, payload: Value, repository_id: Option<u64>) {
        self.outbox.push(Pending {
            hook: hook.clone(),
            guid: uuid::Uuid::new_v4().to_string(),
            event: event.to_owned(),
            action: action.map(str::to_owned),
            repository_id,
            redelivery: false,
            payload,
        });
    }

    /// Queues a `ping` to a hook.
    pub fn emit_ping(&mut self, hook: &Hook) {
        let body = payload::ping(self, hook);
        let repository_id = match &hook.scope {
            Scope::Repo { owner, repo } => self.repo(owner, repo).map(|r| r.id),
            _ => None,
        };
        self.emit(hook, "ping", None, body, repository_id);
    }
}
