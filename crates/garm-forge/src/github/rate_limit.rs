//! GitHub's rate-limit headers, `Retry-After`, and the `Link` header of paged lists.

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, StatusCode};
use url::Url;

/// How long to hold off after a rate-limit answer that says nothing about when to come back.
/// GitHub: "wait at least one minute".
const DEFAULT_HOLD: TimeDelta = TimeDelta::seconds(60);

/// What the client remembers about the endpoint's rate limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitState {
    /// `x-ratelimit-limit` of the last answer that had it.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining` of the last answer that had it.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` of the last answer that had it.
    pub reset_at: Option<DateTime<Utc>>,
    /// Set by a 403/429 rate-limit answer (from `Retry-After`, the reset time, or a one-minute default).
    pub not_before: Option<DateTime<Utc>>,
}

impl RateLimitState {
    /// When requests may be sent again, if they may not be sent at `now`.
    pub fn blocked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let held = self.not_before.filter(|until| *until > now);
        let exhausted = match (self.remaining, self.reset_at) {
            (Some(0), Some(reset_at)) if reset_at > now => Some(reset_at),
            _ => None,
        };
        held.max(exhausted)
    }

    /// Remembers the `x-ratelimit-*` headers of an answer; absent headers (GHES without limits) change nothing.
    pub(super) fn record(&mut self, headers: &HeaderMap) {
        if let Some(limit) = number(headers, "x-ratelimit-limit") {
            self.limit = Some(limit);
        }
        if let Some(remaining) = number(headers, "x-ratelimit-remaining") {
            self.remaining = Some(remaining);
        }
        if let Some(reset_at) = reset_at(headers) {
            self.reset_at = Some(reset_at);
        }
    }

    pub(super) fn hold_until(&mut self, until: DateTime<Utc>) {
        self.not_before = self.not_before.max(Some(until));
    }
}

/// If a 403/429 answer is a rate limit (primary or secondary), until when to hold off.
///
/// `Retry-After` wins; else `x-ratelimit-remaining: 0` means until `x-ratelimit-reset`;
/// else a 429, or a 403 whose message mentions a rate limit, means one minute.
/// See <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>.
pub(super) fn limited_until(
    status: StatusCode,
    headers: &HeaderMap,
    message: &str,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(until) = retry_after(headers, now) {
        return Some(until);
    }
    if number(headers, "x-ratelimit-remaining") == Some(0) {
        let reset_at = reset_at(headers).filter(|reset_at| *reset_at > now);
        return Some(reset_at.unwrap_or(now + DEFAULT_HOLD));
    }
    let mentions_limit = message.to_ascii_lowercase().contains("rate limit");
    (status == StatusCode::TOO_MANY_REQUESTS || mentions_limit).then_some(now + DEFAULT_HOLD)
}

/// `Retry-After` as delay seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(now + TimeDelta::seconds(seconds.max(0)));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|date| date.with_timezone(&Utc))
}

fn reset_at(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let seconds = number(headers, "x-ratelimit-reset")?;
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The `rel="next"` target of a `Link` header, taken as given (GitHub may page by `page`, `cursor` or `since`).
pub(super) fn next_link(headers: &HeaderMap) -> Option<Url> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
            let is_next = params.split(';').any(|param| {
                param
                    .trim()
                    .strip_prefix("rel=")
                    .is_some_and(|rel| rel.trim_matches('"').split_whitespace().any(|r| r == "next"))
            });
            is_next.then(|| Url::parse(target).ok()).flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (http::HeaderName::from_static(name), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn next_link_is_found_among_other_relations() {
        let link = r#"<https://api.github.com/resource?page=1>; rel="prev", <https://api.github.com/resource?page=3>; rel="next", <https://api.github.com/resource?page=5>; rel="last""#;
        let next = next_link(&headers(&[("link", link)])).unwrap();
        assert_eq!(next.as_str(), "https://api.github.com/resource?page=3");
        let last_only = r#"<https://api.github.com/resource?page=5>; rel="last""#;
        assert_eq!(next_link(&headers(&[("link", last_only)])), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn exhausted_limit_blocks_until_reset_and_not_after() {
        let now = Utc::now();
        let reset = (now + TimeDelta::seconds(30)).timestamp().to_string();
        let mut state = RateLimitState::default();
        state.record(&headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]));
        let until = state.blocked_until(now).unwrap();
        assert_eq!(until.timestamp().to_string(), reset);
        assert_eq!(state.blocked_until(until), None);
    }

    #[test]
    fn retry_after_wins_over_reset_and_accepts_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().to_utc();
        let forbidden = StatusCode::FORBIDDEN;
        let seconds = headers(&[("retry-after", "120"), ("x-ratelimit-remaining", "0")]);
        assert_eq!(
            limited_until(forbidden, &seconds, "", now),
            Some(now + TimeDelta::seconds(120))
        );
        let date = headers(&[("retry-after", "Wed, 21 Oct 2015 07:30:00 GMT")]);
        assert_eq!(
            limited_until(StatusCode::TOO_MANY_REQUESTS, &date, "", now),
            Some(now + TimeDelta::seconds(120))
        );
    }

    #[test]
    fn plain_forbidden_is_not_a_rate_limit_but_a_secondary_limit_message_is() {
        let now = Utc::now();
        let none = HeaderMap::new();
        assert_eq!(
            limited_until(StatusCode::FORBIDDEN, &none, "Must have admin rights", now),
            None
        );
        assert_eq!(
            limited_until(
                StatusCode::FORBIDDEN,
                &none,
                "You have exceeded a secondary rate limit",
                now
            ),
            Some(now + DEFAULT_HOLD)
        );
        assert_eq!(
            limited_until(StatusCode::TOO_MANY_REQUESTS, &none, "", now),
            Some(now + DEFAULT_HOLD)
        );
    }
}
