//! `FakeState`: the shared handle tests and handlers use to read and change the fake.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use crate::config::{AppSpec, FakeConfig, PatSpec};
use crate::jobs::JobError;
use crate::model::{
    Delivery, Hook, Installation, Job, Org, Repo, RequestRecord, Runner, RunnerGroup, Scope, Switches, SwitchesPatch,
};
use crate::world::{random_token, Pending, TokenKind, World};

pub(crate) struct Shared {
    pub config: FakeConfig,
    pub world: Mutex<World>,
    pub outbox: mpsc::UnboundedSender<Pending>,
    pub changed: watch::Sender<u64>,
    pub archive: Vec<u8>,
    pub archive_sha256: String,
}

/// A cheap, cloneable handle on the fake's state; every method takes the state lock briefly.
#[derive(Clone)]
pub struct FakeState(pub(crate) Arc<Shared>);

impl FakeState {
    /// Runs `f` on the state and wakes waiters (long polls, [`FakeState::wait_for`]).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut World, DateTime<Utc>) -> R) -> R {
        let result = self.quiet(f);
        self.0.changed.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// Runs `f` on the state without waking waiters (reads, bookkeeping).
    pub(crate) fn quiet<R>(&self, f: impl FnOnce(&mut World, DateTime<Utc>) -> R) -> R {
        let now = Utc::now();
        let mut world = self.0.world.lock().unwrap_or_else(|e| e.into_inner());
        world.refresh(now, self.0.config.jit_unused_ttl);
        let result = f(&mut world, now);
        // Invariant: deliveries enter the queue in the order their events happened.
        for pending in world.outbox.drain(..) {
            let _ = self.0.outbox.send(pending);
        }
        result
    }

    pub(crate) fn config(&self) -> &FakeConfig {
        &self.0.config
    }

    pub(crate) fn archive_sha256(&self) -> &str {
        &self.0.archive_sha256
    }

    pub(crate) fn archive(&self) -> &[u8] {
        &self.0.archive
    }

    /// A receiver that changes whenever the state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.changed.subscribe()
    }

    /// Waits until `probe` returns `Some`, re-checking after every change; `None` on timeout.
    pub async fn wait_for<T>(&self, timeout: Duration, mut probe: impl FnMut(&FakeState) -> Option<T>) -> Option<T> {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if let Some(found) = probe(self) {
                return Some(found);
            }
            // Runner status changes with time alone; re-check at least every 100 ms.
            let tick = tokio::time::Instant::now() + Duration::from_millis(100);
            let until = tick.min(deadline);
            let _ = tokio::time::timeout_at(until, changes.changed()).await;
            if tokio::time::Instant::now() >= deadline {
                return probe(self);
            }
        }
    }

    pub fn add_enterprise(&self, slug: &str) -> crate::model::Enterprise {
        self.with(|w, _| w.add_enterprise(slug))
    }

    pub fn add_org(&self, login: &str) -> Org {
        self.with(|w, _| w.add_org(login, None))
    }

    /// An organization that belongs to an enterprise (its runners can take the org's jobs).
    pub fn add_org_in_enterprise(&self, login: &str, enterprise: &str) -> Org {
        self.with(|w, _| w.add_org(login, Some(enterprise)))
    }

    /// A public repository; an owner that is not an organization becomes a user.
    pub fn add_repo(&self, owner: &str, name: &str) -> Repo {
        self.with(|w, _| w.add_repo(owner, name, false))
    }

    pub fn add_private_repo(&self, owner: &str, name: &str) -> Repo {
        self.with(|w, _| w.add_repo(owner, name, true))
    }

    pub fn add_runner_group(&self, scope: &Scope, name: &str, visibility: &str) -> RunnerGroup {
        self.with(|w, _| w.add_group(scope, name, visibility))
    }

    pub fn add_pat(&self, pat: PatSpec) {
        self.with(|w, _| {
            w.pats.insert(pat.token.clone(), pat);
        });
    }

    /// Revokes a personal access token: from now on it is answered `401 Bad credentials`.
    pub fn revoke_pat(&self, token: &str) -> bool {
        self.with(|w, _| w.pats.remove(token).is_some())
    }

    pub fn add_app(&self, app: AppSpec) {
        self.with(|w, _| {
            w.apps.insert(app.id, app);
        });
    }

    /// Installs an App on an account (organization, enterprise or user); `repositories`
    /// (`owner/name`) narrows it to a selection, `None` means all repositories.
    pub fn add_installation(&self, app_id: u64, account: &str, repositories: Option<Vec<String>>) -> Installation {
        self.with(|w, now| {
            let target_type = if w.org(account).is_some() {
                "Organization"
            } else if w.enterprise(account).is_some() {
                "Enterprise"
            } else {
                w.user(account);
                "User"
            };
            let permissions = [
                ("actions", "read"),
                ("administration", "write"),
                ("metadata", "read"),
                ("organization_hooks", "write"),
                ("organization_self_hosted_runners", "write"),
                ("repository_hooks", "write"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            let installation = Installation {
                id: w.ids.installation_next(),
                app_id,
                account: account.to_owned(),
                target_type: target_type.to_owned(),
                repositories,
                permissions,
                created_at: now,
            };
            w.installations.insert(installation.id, installation.clone());
            installation
        })
    }

    /// Mints a registration token for `config.sh`, as the REST call would.
    pub fn registration_token(&self, scope: &Scope) -> String {
        let lifetime = self.0.config.registration_token_lifetime;
        self.with(|w, now| w.mint_runner_token(TokenKind::Registration, scope, lifetime, now).0)
    }

    /// Creates a queued job in `owner/repo` and delivers its `queued` webhook; a runner that
    /// takes it runs it for `run_for` and concludes with `conclusion` (`success`, `failure`, ...).
    pub fn enqueue_job(
        &self,
        owner: &str,
        repo: &str,
        labels: &[&str],
        run_for: Duration,
        conclusion: &str,
    ) -> Result<Job, JobError> {
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        self.with(|w, now| w.enqueue_job(owner, repo, &labels, run_for, conclusion, now))
    }

    /// Cancels a queued job (it completes as `cancelled`, with no runner).
    pub fn cancel_job(&self, id: u64) -> Result<Job, JobError> {
        self.with(|w, now| w.cancel_job(id, now))
    }

    /// Adds a hook directly (the REST call also sends a `ping`; this does not).
    pub fn add_hook(&self, scope: &Scope, url: &str, secret: Option<&str>, content_type: &str) -> Hook {
        self.with(|w, now| {
            let hook = Hook {
                id: w.ids.hook.next(),
                scope: scope.clone(),
                active: true,
                events: vec!["workflow_job".to_owned()],
                url: url.to_owned(),
                content_type: content_type.to_owned(),
                secret: secret.map(str::to_owned),
                insecure_ssl: "0".to_owned(),
                created_at: now,
                updated_at: now,
                last_response_code: None,
                last_response_status: "unused".to_owned(),
                last_response_message: None,
            };
            w.hooks.insert(hook.id, hook.clone());
            hook
        })
    }

    /// Removes a runner as the REST DELETE would, busy or not.
    pub fn remove_runner(&self, id: u64) -> Option<Runner> {
        self.with(|w, now| {
            let removed = w.remove_runner(id);
            w.schedule(now);
            removed
        })
    }

    pub fn runners(&self) -> Vec<Runner> {
        self.quiet(|w, _| w.runners.values().cloned().collect())
    }

    pub fn runner(&self, id: u64) -> Option<Runner> {
        self.quiet(|w, _| w.runners.get(&id).cloned())
    }

    pub fn runner_by_name(&self, name: &str) -> Option<Runner> {
        self.quiet(|w, _| w.runners.values().find(|r| r.name == name).cloned())
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.quiet(|w, _| w.jobs.values().cloned().collect())
    }

    pub fn job(&self, id: u64) -> Option<Job> {
        self.quiet(|w, _| w.jobs.get(&id).cloned())
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.quiet(|w, _| w.hooks.values().cloned().collect())
    }

    pub fn repos(&self) -> Vec<Repo> {
        self.quiet(|w, _| w.repos.values().cloned().collect())
    }

    pub fn orgs(&self) -> Vec<Org> {
        self.quiet(|w, _| w.orgs.values().cloned().collect())
    }

    /// Every delivery attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.quiet(|w, _| w.deliveries.clone())
    }

    /// Every REST request answered so far, oldest first (not the control API or runner service).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.quiet(|w, _| w.requests.clone())
    }

    pub fn switches(&self) -> Switches {
        self.quiet(|w, _| w.switches.clone())
    }

    /// Applies a partial update of the switches and returns the result.
    pub fn update_switches(&self, patch: &SwitchesPatch) -> Switches {
        self.with(|w, now| {
            w.switches.apply(patch, now);
            w.switches.clone()
        })
    }

    pub fn set_switches(&self, switches: Switches) {
        self.with(|w, _| w.switches = switches);
    }

    /// A fresh random token with GitHub's classic PAT prefix, registered with `scopes`.
    pub fn new_pat(&self, scopes: &[&str]) -> String {
        let token = random_token("ghp_", 36);
        self.add_pat(PatSpec::new(&token, scopes));
        token
    }
}
