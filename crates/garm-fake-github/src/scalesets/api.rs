//! [`FakeState`] methods for tests: inspect the scale set service and inject faults.

use chrono::Utc;

use super::model::{
    ActionsCall, ActionsFaults, ActionsFaultsPatch, AssignMode, CallCounts, ScaleSet, ScaleSetJob, ScaleSetSession,
};
use crate::model::Scope;
use crate::state::FakeState;
use crate::world::AdminToken;

impl FakeState {
    /// Every scale set with its queue (pending and acknowledged messages), by id.
    pub fn scale_sets(&self) -> Vec<ScaleSet> {
        self.quiet(|w, _| w.ss.sets.values().cloned().collect())
    }

    pub fn scale_set(&self, id: u64) -> Option<ScaleSet> {
        self.quiet(|w, _| w.ss.sets.get(&id).cloned())
    }

    pub fn scale_set_by_name(&self, name: &str) -> Option<ScaleSet> {
        self.quiet(|w, _| w.ss.sets.values().find(|s| s.name.eq_ignore_ascii_case(name)).cloned())
    }

    /// The active message sessions.
    pub fn scale_set_sessions(&self) -> Vec<ScaleSetSession> {
        self.quiet(|w, _| w.ss.sessions.values().cloned().collect())
    }

    /// Jobs routed to scale sets, with their scale set and status.
    pub fn scale_set_jobs(&self) -> Vec<ScaleSetJob> {
        self.quiet(|w, _| w.ss.jobs.values().cloned().collect())
    }

    pub fn scale_set_job(&self, job_id: u64) -> Option<ScaleSetJob> {
        self.quiet(|w, _| w.ss.jobs.get(&job_id).cloned())
    }

    /// The statistics object the service would send for a scale set now.
    pub fn scale_set_statistics(&self, id: u64) -> Option<serde_json::Value> {
        self.quiet(|w, _| w.ss.sets.contains_key(&id).then(|| w.statistics(id)))
    }

    /// Every Actions call (exchange, `{svc}`, queue), oldest first.
    pub fn actions_calls(&self) -> Vec<ActionsCall> {
        self.quiet(|w, _| w.ss.calls.clone())
    }

    /// Actions calls by endpoint name (see [`super::model::ENDPOINTS`]).
    pub fn actions_call_counts(&self) -> CallCounts {
        self.quiet(|w, _| w.ss.counts.clone())
    }

    pub fn assign_mode(&self) -> AssignMode {
        self.quiet(|w, _| w.ss.mode)
    }

    /// Switches between direct assignment and the acquire flow (applies to jobs routed from now on).
    pub fn set_assign_mode(&self, mode: AssignMode) {
        self.with(|w, now| {
            w.ss.mode = mode;
            w.schedule(now);
        });
    }

    /// The service drops a session: refresh answers 404, delete 400, its queue token 401.
    pub fn evict_scale_set_session(&self, session_id: &str) -> bool {
        self.with(|w, _| w.ss.end_session(session_id))
    }

    /// Every queue token of the session expires now (the next queue call gets 401).
    pub fn expire_queue_token(&self, session_id: &str) -> bool {
        self.with(|w, now| match w.ss.sessions.get_mut(session_id) {
            Some(session) => {
                for (_, exp) in &mut session.tokens {
                    *exp = now;
                }
                true
            }
            None => false,
        })
    }

    /// Deletes a scale set server-side (as in the incident of ARC #4370).
    pub fn delete_scale_set(&self, id: u64) -> bool {
        self.with(|w, now| w.delete_scale_set(id, now))
    }

    /// Queues a message of any type with a raw body (`""` and `RunnerScaleSetJobMessages`
    /// make a statistics-only message); its id, `None` for an unknown scale set.
    pub fn inject_scale_set_message(&self, scale_set_id: u64, message_type: &str, body: &str) -> Option<u64> {
        self.with(|w, now| {
            w.flush_events(scale_set_id, now);
            let statistics = w.statistics(scale_set_id);
            w.push_message(scale_set_id, message_type, body.to_owned(), statistics, now)
        })
    }

    pub fn actions_faults(&self) -> ActionsFaults {
        self.quiet(|w, _| w.ss.faults.clone())
    }

    /// Applies a partial update of the Actions fault knobs and returns the result.
    pub fn update_actions_faults(&self, patch: &ActionsFaultsPatch) -> ActionsFaults {
        self.with(|w, _| {
            w.ss.faults.apply(patch);
            w.ss.faults.clone()
        })
    }

    /// The next `count` calls to `endpoints` (all Actions calls when empty) answer `status`.
    pub fn fail_actions(&self, endpoints: &[&str], count: u32, status: u16) {
        self.update_actions_faults(&ActionsFaultsPatch {
            fail_next: Some(count),
            fail_endpoints: Some(endpoints.iter().map(|e| (*e).to_owned()).collect()),
            fail_status: Some(status),
            ..ActionsFaultsPatch::default()
        });
    }

    /// The `{svc}` URL of a scope as the token exchange answers it (ends in `/`).
    pub fn actions_service_url(&self, scope: &Scope) -> String {
        self.quiet(|w, _| {
            let web = w.urls.web.clone();
            w.service_url(&web, scope)
        })
    }

    /// An admin token for a scope, as the exchange would mint it (skips the REST steps).
    pub fn admin_token(&self, scope: &Scope) -> String {
        self.quiet(|w, now| {
            let lifetime = chrono::Duration::from_std(w.ss.config.admin_token_lifetime).unwrap_or_default();
            let expires_at = now + lifetime;
            let token = crate::world::jwt(&w.ss.secret, &scope.path(), "admin", expires_at, now);
            w.ss.admin_tokens.insert(
                token.clone(),
                AdminToken {
                    scope: scope.clone(),
                    expires_at,
                },
            );
            token
        })
    }

    /// Expires every admin token now.
    pub fn expire_admin_tokens(&self) {
        self.with(|w, _| {
            let past = Utc::now() - chrono::Duration::seconds(1);
            for token in w.ss.admin_tokens.values_mut() {
                token.expires_at = past;
            }
        });
    }
}
