//! The fake's mutable state behind one lock, with the entity, token and runner bookkeeping.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{AppSpec, PatSpec};
use crate::fixtures::{Fixtures, Urls};
use crate::model::{
    Delivery, Enterprise, Hook, Installation, Job, Org, Repo, RequestRecord, Runner, RunnerGroup, RunnerLabel, Scope,
    Switches,
};

mod scalesets;

pub(crate) use scalesets::{jwt, AdminToken, Service};

/// The request log keeps at most this many entries (the oldest are dropped).
pub(crate) const MAX_REQUESTS_KEPT: usize = 200_000;

/// A registration or remove token for `config.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Registration,
    Remove,
}

#[derive(Debug, Clone)]
pub(crate) struct RunnerToken {
    pub kind: TokenKind,
    pub scope: Scope,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct InstallToken {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
}

/// What a runner proves possession of when it asks for an access token.
#[derive(Debug, Clone)]
pub(crate) struct RunnerKey {
    pub client_id: String,
    pub key: Vec<u8>,
}

/// A runner's listener registration; the runner is `online` while it polls.
#[derive(Debug)]
pub(crate) struct Session {
    pub runner_id: u64,
    pub mailbox: VecDeque<Value>,
    /// Polls currently held open.
    pub polls: u32,
    pub last_seen: DateTime<Utc>,
    pub next_message_id: u64,
}

/// A webhook waiting for the delivery worker.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub hook: Hook,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub repository_id: Option<u64>,
    pub redelivery: bool,
    pub payload: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub limit: u32,
    pub used: u32,
    pub reset: i64,
}

pub(crate) struct Counter(u64);

impl Counter {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

pub(crate) struct Ids {
    user: Counter,
    org: Counter,
    enterprise: Counter,
    repo: Counter,
    pub runner: Counter,
    pub job: Counter,
    pub run: Counter,
    pub hook: Counter,
    pub delivery: Counter,
    installation: Counter,
    label: Counter,
}

impl Ids {
    pub(crate) fn installation_next(&mut self) -> u64 {
        self.installation.next()
    }

    fn new() -> Self {
        // Real ids are large (job ids exceed 2^32); start high so clients meet such values.
        Ids {
            user: Counter(20_000_000),
            org: Counter(90_000_000),
            enterprise: Counter(7_000),
            repo: Counter(600_000_000),
            runner: Counter(0),
            job: Counter(20_000_000_000),
            run: Counter(9_000_000_000),
            hook: Counter(400_000_000),
            delivery: Counter(80_000_000_000),
            installation: Counter(50_000_000),
            label: Counter(0),
        }
    }
}

pub(crate) struct World {
    pub fx: Arc<Fixtures>,
    pub urls: Urls,
    pub runner_offline_after: Duration,
    pub users: BTreeMap<String, (String, u64)>,
    pub orgs: BTreeMap<String, Org>,
    pub enterprises: BTreeMap<String, Enterprise>,
    pub repos: BTreeMap<String, Repo>,
    pub groups: Vec<RunnerGroup>,
    pub runners: BTreeMap<u64, Runner>,
    pub runner_keys: HashMap<u64, RunnerKey>,
    pub jobs: BTreeMap<u64, Job>,
    pub hooks: BTreeMap<u64, Hook>,
    pub deliveries: Vec<Delivery>,
    /// REST requests, oldest first (capped at [`MAX_REQUESTS_KEPT`]).
    pub requests: Vec<RequestRecord>,
    pub pats: HashMap<String, PatSpec>,
    pub apps: BTreeMap<u64, AppSpec>,
    pub installations: BTreeMap<u64, Installation>,
    pub install_tokens: HashMap<String, InstallToken>,
    pub runner_tokens: HashMap<String, RunnerToken>,
    pub access_tokens: HashMap<String, (u64, DateTime<Utc>)>,
    pub sessions: HashMap<String, Session>,
    pub buckets: HashMap<String, Bucket>,
    pub switches: Switches,
    labels: HashMap<String, u64>,
    pub ids: Ids,
    pub outbox: Vec<Pending>,
    /// The runner scale set service.
    pub ss: Service,
}

pub(crate) fn random_token(prefix: &str, len: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

impl World {
    pub fn new(fx: Arc<Fixtures>, urls: Urls, runner_offline_after: Duration) -> Self {
        World {
            fx,
            urls,
            runner_offline_after,
            users: BTreeMap::new(),
            orgs: BTreeMap::new(),
            enterprises: BTreeMap::new(),
            repos: BTreeMap::new(),
            groups: Vec::new(),
            runners: BTreeMap::new(),
            runner_keys: HashMap::new(),
            jobs: BTreeMap::new(),
            hooks: BTreeMap::new(),
            deliveries: Vec::new(),
            requests: Vec::new(),
            pats: HashMap::new(),
            apps: BTreeMap::new(),
            installations: BTreeMap::new(),
            install_tokens: HashMap::new(),
            runner_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            sessions: HashMap::new(),
            buckets: HashMap::new(),
            switches: Switches::default(),
            labels: HashMap::new(),
            ids: Ids::new(),
            outbox: Vec::new(),
            ss: Service::default(),
        }
    }

    pub fn add_enterprise(&mut self, slug: &str) -> Enterprise {
        let key = slug.to_lowercase();
        if let Some(existing) = self.enterprises.get(&key) {
            return existing.clone();
        }
        let enterprise = Enterprise {
            id: self.ids.enterprise.next(),
            slug: slug.to_owned(),
        };
        self.enterprises.insert(key, enterprise.clone());
        self.ensure_default_group(&Scope::enterprise(slug));
        enterprise
    }

    pub fn add_org(&mut self, login: &str, enterprise: Option<&str>) -> Org {
        if let Some(slug) = enterprise {
            self.add_enterprise(slug);
        }
        let key = login.to_lowercase();
        if let Some(existing) = self.orgs.get_mut(&key) {
            if enterprise.is_some() {
                existing.enterprise = enterprise.map(str::to_owned);
            }
            return existing.clone();
        }
        let org = Org {
            id: self.ids.org.next(),
            login: login.to_owned(),
            enterprise: enterprise.map(str::to_owned),
        };
        self.orgs.insert(key, org.clone());
        self.ensure_default_group(&Scope::org(login));
        org
    }

    /// Adds a repository; an owner that is not a known organization becomes a user.
    pub fn add_repo(&mut self, owner: &str, name: &str, private: bool) -> Repo {
        let key = format!("{owner}/{name}").to_lowercase();
        if let Some(existing) = self.repos.get(&key) {
            return existing.clone();
        }
        let (owner_login, owner_id, owner_is_org) = match self.orgs.get(&owner.to_lowercase()) {
            Some(org) => (org.login.clone(), org.id, true),
            None => {
                let (login, id) = self.user(owner);
                (login, id, false)
            }
        };
        let repo = Repo {
            id: self.ids.repo.next(),
            owner: owner_login,
            owner_id,
            owner_is_org,
            name: name.to_owned(),
            private,
        };
        self.repos.insert(key, repo.clone());
        self.ensure_default_group(&Scope::repo(owner, name));
        repo
    }

    /// The user `login`, created on first use.
    pub fn user(&mut self, login: &str) -> (String, u64) {
        let key = login.to_lowercase();
        if let Some(user) = self.users.get(&key) {
            return user.clone();
        }
        let user = (login.to_owned(), self.ids.user.next());
        self.users.insert(key, user.clone());
        user
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&format!("{owner}/{name}").to_lowercase())
    }

    pub fn org(&self, login: &str) -> Option<&Org> {
        self.orgs.get(&login.to_lowercase())
    }

    pub fn enterprise(&self, slug: &str) -> Option<&Enterprise> {
        self.enterprises.get(&slug.to_lowercase())
    }

    /// Whether the repository, organization or enterprise a scope names exists.
    pub fn scope_exists(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Repo { owner, repo } => self.repo(owner, repo).is_some(),
            Scope::Org { org } => self.org(org).is_some(),
            Scope::Enterprise { enterprise } => self.enterprise(enterprise).is_some(),
        }
    }

    fn ensure_default_group(&mut self, scope: &Scope) {
        if !self.groups.iter().any(|g| g.scope.same_as(scope)) {
            self.groups.push(RunnerGroup {
                id: 1,
                scope: scope.clone(),
                name: "Default".to_owned(),
                visibility: "all".to_owned(),
                default: true,
            });
        }
    }

    pub fn add_group(&mut self, scope: &Scope, name: &str, visibility: &str) -> RunnerGroup {
        if let Some(existing) = self.group_by_name(scope, name) {
            return existing.clone();
        }
        let id = self
            .groups
            .iter()
            .filter(|g| g.scope.same_as(scope))
            .map(|g| g.id)
            .max()
            .unwrap_or(0)
            + 1;
        let group = RunnerGroup {
            id,
            scope: scope.clone(),
            name: name.to_owned(),
            visibility: visibility.to_owned(),
            default: false,
        };
        self.groups.push(group.clone());
        group
    }

    pub fn groups_of(&self, scope: &Scope) -> Vec<RunnerGroup> {
        let mut groups: Vec<RunnerGroup> = self.groups.iter().filter(|g| g.scope.same_as(scope)).cloned().collect();
        groups.sort_by_key(|g| g.id);
        groups
    }

    pub fn group(&self, scope: &Scope, id: u64) -> Option<&RunnerGroup> {
        self.groups.iter().find(|g| g.scope.same_as(scope) && g.id == id)
    }

    pub fn group_by_name(&self, scope: &Scope, name: &str) -> Option<&RunnerGroup> {
        self.groups
            .iter()
            .find(|g| g.scope.same_as(scope) && g.name.eq_ignore_ascii_case(name))
    }

    pub fn label(&mut self, name: &str, kind: &str) -> RunnerLabel {
        let next = &mut self.ids.label;
        let id = *self.labels.entry(name.to_lowercase()).or_insert_with(|| next.next());
        RunnerLabel {
            id,
            name: name.to_owned(),
            kind: kind.to_owned(),
        }
    }

    pub fn mint_runner_token(
        &mut self,
        kind: TokenKind,
        scope: &Scope,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let token = random_token("", 29);
        let expires_at = now + chrono::Duration::from_std(lifetime).unwrap_or_default();
        self.runner_tokens.insert(
            token.clone(),
            RunnerToken {
                kind,
                scope: scope.clone(),
                expires_at,
            },
        );
        (token, expires_at)
    }

    /// A live registration or remove token.
    pub fn runner_token(&self, token: &str, now: DateTime<Utc>) -> Option<&RunnerToken> {
        self.runner_tokens.get(token).filter(|t| t.expires_at > now)
    }

    pub fn runner_by_name(&self, scope: &Scope, name: &str) -> Option<&Runner> {
        self.runners.values().find(|r| r.name == name && r.scope.same_as(scope))
    }

    pub fn runners_of(&self, scope: &Scope) -> Vec<Runner> {
        self.runners
            .values()
            .filter(|r| r.scope.same_as(scope))
            .cloned()
            .collect()
    }

    /// Creates a runner (offline until it connects) with `labels` as `(name, type)` pairs,
    /// dropping case-insensitive duplicates.
    #[allow(clippy::too_many_arguments)]
    pub fn create_runner(
        &mut self,
        scope: &Scope,
        name: &str,
        group: &RunnerGroup,
        labels: &[(String, &str)],
        ephemeral: bool,
        jit: bool,
        os: &str,
        now: DateTime<Utc>,
    ) -> Runner {
        let mut seen: Vec<String> = Vec::new();
        let mut runner_labels = Vec::new();
        for (label, kind) in labels {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(label)) {
                continue;
            }
            seen.push(label.clone());
            runner_labels.push(self.label(label, kind));
        }
        let runner = Runner {
            id: self.ids.runner.next(),
            name: name.to_owned(),
            scope: scope.clone(),
            group_id: group.id,
            group_name: group.name.clone(),
            os: os.to_owned(),
            labels: runner_labels,
            ephemeral,
            jit,
            version: None,
            status: "offline".to_owned(),
            busy: false,
            job_id: None,
            jobs_done: 0,
            created_at: now,
            scale_set_id: None,
        };
        self.runners.insert(runner.id, runner.clone());
        runner
    }

    /// Removes a runner and its listener registrations.
    pub fn remove_runner(&mut self, id: u64) -> Option<Runner> {
        self.sessions.retain(|_, s| s.runner_id != id);
        self.runner_keys.remove(&id);
        self.access_tokens.retain(|_, (runner, _)| *runner != id);
        self.runners.remove(&id)
    }

    /// Brings `status` up to date with the sessions, drops stale sessions and stale tokens.
    pub fn refresh(&mut self, now: DateTime<Utc>, jit_unused_ttl: Option<Duration>) {
        let offline_after = chrono::Duration::from_std(self.runner_offline_after).unwrap_or_default();
        self.sessions
            .retain(|_, s| s.polls > 0 || now - s.last_seen < offline_after);
        // Runs before every request: only runners whose status changes are written (setting
        // every runner's status anew cost an allocation and a free per runner per request).
        let online: HashSet<u64> = self.sessions.values().map(|s| s.runner_id).collect();
        for runner in self.runners.values_mut() {
            let status = if online.contains(&runner.id) {
                "online"
            } else {
                "offline"
            };
            if runner.status != status {
                runner.status = status.to_owned();
            }
        }
        if let Some(ttl) = jit_unused_ttl.and_then(|ttl| chrono::Duration::from_std(ttl).ok()) {
            let unused: Vec<u64> = self
                .runners
                .values()
                .filter(|r| r.jit && r.version.is_none() && !r.busy && now - r.created_at > ttl)
                .map(|r| r.id)
                .collect();
            for id in unused {
                self.remove_runner(id);
            }
        }
        self.refresh_scale_sets(now);
        self.install_tokens.retain(|_, t| t.expires_at > now);
        self.runner_tokens.retain(|_, t| t.expires_at > now);
        self.access_tokens.retain(|_, (_, expires)| *expires > now);
    }

    pub fn hooks_of(&self, scope: &Scope) -> Vec<Hook> {
        self.hooks
            .values()
            .filter(|h| h.scope.same_as(scope))
            .cloned()
            .collect()
    }

    /// The job in `owner/repo`, if it exists there.
    pub fn job_in(&self, owner: &str, repo: &str, id: u64) -> Option<&Job> {
        self.jobs
            .get(&id)
            .filter(|j| j.owner.eq_ignore_ascii_case(owner) && j.repo.eq_ignore_ascii_case(repo))
    }
}
