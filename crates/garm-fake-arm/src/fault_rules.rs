//! The fault rules as loaded from `/_fake/faults` and their counters. A leaf module: the world
//! holds the rules, and `faults` (which reads the world to decide) applies them.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Which requests a rule applies to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultMatch {
    /// Exact method, case-insensitive; any when absent.
    pub method: Option<String>,
    /// Regex on the request path (write `(?i)` for case-insensitive matching).
    pub path_regex: Option<String>,
    /// Fire only on the n-th matching call (1-based).
    pub nth_call: Option<u32>,
    /// Fire with this probability (seeded).
    pub probability: Option<f64>,
}

/// What a rule does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer `status` with an ARM error body, optionally with `Retry-After`.
    Status {
        status: u16,
        error_code: String,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// 429 with `Retry-After` and the remaining-count headers at 0; `compute` selects
    /// Compute's body (`OperationNotAllowed` / `TooManyRequests`) over ARM's
    /// (`SubscriptionRequestsThrottled`).
    Throttle {
        retry_after: u64,
        #[serde(default)]
        compute: bool,
    },
    /// The operation the request starts ends `Failed` with `code`.
    LroFail {
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// The operation the request starts needs `polls` more polls.
    LroSlow { polls: u32 },
    /// Close the connection without an answer.
    Drop,
    /// Hold the answer for `ms` milliseconds, then answer normally.
    Delay { ms: u64 },
    /// This call gets 401 `ExpiredAuthenticationToken` and its token stops working.
    TokenExpired,
}

/// A rule as loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(rename = "match", default)]
    pub on: FaultMatch,
    pub action: FaultAction,
    /// How many times the rule fires at most (unlimited when absent).
    #[serde(default)]
    pub times: Option<u32>,
}

/// A rule with its counters.
#[derive(Debug, Clone, Serialize)]
pub struct FaultState {
    pub rule: FaultRule,
    #[serde(skip)]
    pub regex: Option<Regex>,
    pub matched: u32,
    pub fired: u32,
}

impl FaultState {
    pub fn new(rule: FaultRule) -> Result<FaultState, String> {
        let regex = match &rule.on.path_regex {
            Some(text) => Some(Regex::new(text).map_err(|err| format!("path_regex: {err}"))?),
            None => None,
        };
        Ok(FaultState {
            rule,
            regex,
            matched: 0,
            fired: 0,
        })
    }
}
