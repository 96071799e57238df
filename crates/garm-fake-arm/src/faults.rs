//! Fault injection: rules matched on method, path, call count and probability, applied before
//! the normal handler (`/_fake/faults`).

use rand::Rng as _;
use serde_json::json;

use crate::ops::OpTweaks;
use crate::reply::{arm_error, Reply};
use crate::request::Req;
use crate::state::World;

pub use crate::fault_rules::{FaultAction, FaultMatch, FaultRule, FaultState};

/// What the matched rules decided for one request.
#[derive(Debug, Default)]
pub struct Decision {
    /// Answer this instead of handling the request.
    pub reply: Option<Reply>,
    pub drop: bool,
    pub delay_ms: u64,
    pub token_expired: bool,
    pub tweaks: OpTweaks,
}

/// Matches the request against every rule, counting and firing.
pub fn decide(world: &mut World, req: &Req) -> Decision {
    let mut decision = Decision::default();
    for index in 0..world.faults.len() {
        let roll: f64 = world.rng.gen();
        let state = &mut world.faults[index];
        let on = &state.rule.on;
        if on
            .method
            .as_deref()
            .is_some_and(|method| !method.eq_ignore_ascii_case(&req.method))
        {
            continue;
        }
        if state.regex.as_ref().is_some_and(|regex| !regex.is_match(&req.path)) {
            continue;
        }
        state.matched += 1;
        if on.nth_call.is_some_and(|nth| nth != state.matched) {
            continue;
        }
        if on.probability.is_some_and(|p| roll >= p) {
            continue;
        }
        if state.rule.times.is_some_and(|times| state.fired >= times) {
            continue;
        }
        state.fired += 1;
        match state.rule.action.clone() {
            FaultAction::Status {
                status,
                error_code,
                message,
                retry_after,
            } => {
                let message = message.unwrap_or_else(|| format!("Injected fault {error_code}."));
                let mut reply = arm_error(status, &error_code, &message);
                if let Some(seconds) = retry_after {
                    reply = reply.header("Retry-After", seconds.to_string());
                }
                decision.reply.get_or_insert(reply);
            }
            FaultAction::Throttle { retry_after, compute } => {
                let body = if compute {
                    json!({"error": {"code": "OperationNotAllowed", "message": "The server rejected the request because too many requests have been received for this subscription.", "details": [{"code": "TooManyRequests", "target": "HighCostGet30Min", "message": "{\"operationGroup\":\"HighCostGet30Min\",\"startTime\":\"2024-01-01T00:00:00+00:00\",\"endTime\":\"2024-01-01T00:30:00+00:00\",\"allowedRequestCount\":900,\"measuredRequestCount\":901}"}]}})
                } else {
                    json!({"error": {"code": "SubscriptionRequestsThrottled", "message": format!("Number of requests for subscription '{}' exceeded the limit. Please try again after '{retry_after}' seconds.", world.config.subscription_id)}})
                };
                let mut reply = Reply::json(429, &body).header("Retry-After", retry_after.to_string());
                reply = if compute {
                    reply.header(
                        "x-ms-ratelimit-remaining-resource",
                        "Microsoft.Compute/HighCostGet3Min;0,Microsoft.Compute/HighCostGet30Min;0",
                    )
                } else {
                    reply
                        .header("x-ms-ratelimit-remaining-subscription-reads", "0")
                        .header("x-ms-ratelimit-remaining-subscription-writes", "0")
                };
                decision.reply.get_or_insert(reply);
            }
            FaultAction::LroFail { code, message } => {
                let message = message.unwrap_or_else(|| format!("Injected operation failure {code}."));
                decision.tweaks.fail_with = Some((code, message));
            }
            FaultAction::LroSlow { polls } => decision.tweaks.extra_polls += polls,
            FaultAction::Drop => decision.drop = true,
            FaultAction::Delay { ms } => decision.delay_ms += ms,
            FaultAction::TokenExpired => decision.token_expired = true,
        }
    }
    decision
}
