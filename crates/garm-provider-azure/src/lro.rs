//! Long-running operations: `Azure-AsyncOperation` and `Location` polled exactly as received.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::error::AzureError;
use crate::http::{Answer, Arm, Deadline};

/// Where a waited-for operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Done,
    /// Still running when the caller's bound was reached.
    Pending,
}

fn parse_url(text: &str) -> Result<Url, AzureError> {
    Url::parse(text).map_err(|err| AzureError::Protocol(format!("poll URL {text:?}: {err}")))
}

fn operation_failure(body: &Value, status: &str) -> AzureError {
    let error = body.get("error").unwrap_or(&Value::Null);
    let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    AzureError::OperationFailed {
        status: status.to_owned(),
        code: field("code"),
        message: field("message"),
    }
}

fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState").and_then(Value::as_str)
}

impl Arm {
    fn poll_delay(&self, answer: &Answer) -> Duration {
        answer.retry_after().unwrap_or(self.timeouts.poll_interval)
    }

    /// Sleeps before the next poll; `Ok(false)` when that would pass `bound`.
    fn pause(&self, delay: Duration, deadline: Deadline, bound: Option<Instant>) -> Result<bool, AzureError> {
        if bound.is_some_and(|bound| Instant::now() + delay > bound) {
            return Ok(false);
        }
        deadline.sleep(delay, "waiting for an Azure operation")?;
        Ok(true)
    }

    /// Waits for the operation `initial` started (the answer to `method resource_url`).
    ///
    /// Follows `Azure-AsyncOperation` if present, else `Location`, else (PUT/PATCH) the
    /// resource's `provisioningState`, waiting `Retry-After` between polls. Returns
    /// [`Progress::Pending`] if `bound` comes first; fails with
    /// [`AzureError::OperationFailed`] when the operation ends `Failed` or `Canceled`.
    pub fn wait(
        &self,
        method: &Method,
        resource_url: &Url,
        initial: &Answer,
        deadline: Deadline,
        bound: Option<Instant>,
    ) -> Result<Progress, AzureError> {
        let mut delay = self.poll_delay(initial);
        if let Some(text) = initial.header("azure-asyncoperation") {
            let url = parse_url(text)?;
            loop {
                if !self.pause(delay, deadline, bound)? {
                    return Ok(Progress::Pending);
                }
                let answer = self.send(Method::GET, &url, None, deadline)?;
                let body = answer.json()?;
                let status = body.get("status").and_then(Value::as_str).unwrap_or_default();
                match status.to_ascii_lowercase().as_str() {
                    "succeeded" | "completed" => return Ok(Progress::Done),
                    "failed" | "canceled" | "cancelled" => return Err(operation_failure(&body, status)),
                    _ => delay = self.poll_delay(&answer),
                }
            }
        }
        if let Some(text) = initial.header("location") {
            let mut url = parse_url(text)?;
            loop {
                if !self.pause(delay, deadline, bound)? {
                    return Ok(Progress::Pending);
                }
                let answer = self.send(Method::GET, &url, None, deadline)?;
                if answer.status != 202 {
                    return Ok(Progress::Done);
                }
                if let Some(next) = answer.header("location") {
                    url = parse_url(next)?;
                }
                delay = self.poll_delay(&answer);
            }
        }
        if *method == Method::PUT || *method == Method::PATCH {
            let mut body = initial.json()?;
            loop {
                match provisioning_state(&body).map(str::to_ascii_lowercase).as_deref() {
                    None | Some("succeeded") => return Ok(Progress::Done),
                    Some(state @ ("failed" | "canceled")) => {
                        return Err(AzureError::OperationFailed {
                            status: state.to_owned(),
                            code: String::new(),
                            message: format!("{resource_url} ended {state}"),
                        })
                    }
                    Some(_) => {}
                }
                if !self.pause(delay, deadline, bound)? {
                    return Ok(Progress::Pending);
                }
                let answer = self.send(Method::GET, resource_url, None, deadline)?;
                delay = self.poll_delay(&answer);
                body = answer.json()?;
            }
        }
        if initial.status == 202 {
            return Err(AzureError::Protocol(format!(
                "{method} {resource_url} answered 202 without Azure-AsyncOperation or Location"
            )));
        }
        Ok(Progress::Done)
    }
}
