//! One websocket connection of a stream: writes what its subscription queues, pings, reads
//! the client's messages, and closes on eviction, a stalled write or token expiry.

use super::hub::Subscription;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::http::{header, HeaderMap};
use std::time::Duration;

/// A write that has not finished after this closes the connection (garm's `writeWait`).
pub const WRITE_WAIT: Duration = Duration::from_secs(10);
/// garm's ping period (`pongWait * 9 / 10`).
pub const PING_EVERY: Duration = Duration::from_secs(54);
/// Largest message read from a client (garm's `maxMessageSize`).
pub const MAX_MESSAGE: usize = 1 << 20;

/// How a connection paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub ping_every: Duration,
    pub write_wait: Duration,
}

impl Pace {
    /// garm's timings, pinging often enough that the listener's idle timeout never fires.
    pub fn for_idle_timeout(idle: Duration) -> Self {
        Self {
            ping_every: PING_EVERY.min(idle / 2).max(Duration::from_millis(100)),
            write_wait: WRITE_WAIT,
        }
    }
}

/// What to do after a client message.
pub enum Reply {
    Continue,
    /// Write this text, then close (garm's answer to a bad filter).
    Refuse(&'static str),
}

/// Who is connected, for how long: the token's expiry, and a token cancelled once the user
/// is deleted or disabled or their password changes (garm closes the connection then).
pub struct Session {
    pub expires: Option<tokio::time::Instant>,
    pub revoked: tokio_util::sync::CancellationToken,
    /// Cancelled when the server shuts down.
    pub closing: tokio_util::sync::CancellationToken,
}

/// Why a connection ended (logged, and seen by tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    ClientLeft,
    Evicted,
    WriteStalled,
    TokenExpired,
    Revoked,
    Refused,
    Shutdown,
}

/// Runs the connection until it ends.
pub async fn pump(
    mut ws: WebSocket,
    mut sub: Subscription,
    pace: Pace,
    session: &Session,
    mut on_message: impl FnMut(&str) -> Reply,
) -> Ended {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + pace.ping_every, pace.ping_every);
    let far = tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let expiry = tokio::time::sleep_until(session.expires.unwrap_or(far));
    tokio::pin!(expiry);
    let evicted = sub.evicted.clone();
    let ended = loop {
        tokio::select! {
            _ = evicted.cancelled() => break Ended::Evicted,
            _ = &mut expiry => break Ended::TokenExpired,
            _ = session.revoked.cancelled() => break Ended::Revoked,
            _ = session.closing.cancelled() => break Ended::Shutdown,
            queued = sub.recv() => {
                let Some(text) = queued else { break Ended::Evicted };
                if !write(&mut ws, Message::Text(Utf8Bytes::from(&*text)), pace, &evicted).await {
                    break Ended::WriteStalled;
                }
            }
            _ = ping.tick() => {
                if !write(&mut ws, Message::Ping(Default::default()), pace, &evicted).await {
                    break Ended::WriteStalled;
                }
            }
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Reply::Refuse(answer) = on_message(text.as_str()) {
                        let _ = write(&mut ws, Message::Text(answer.into()), pace, &evicted).await;
                        break Ended::Refused;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    if let Reply::Refuse(answer) = on_message(&String::from_utf8_lossy(&data)) {
                        let _ = write(&mut ws, Message::Text(answer.into()), pace, &evicted).await;
                        break Ended::Refused;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Ended::ClientLeft,
            },
        }
    };
    // An evicted client's queue is dropped with this function; its close frame gets a moment.
    let ended = if ended == Ended::WriteStalled && evicted.is_cancelled() {
        Ended::Evicted
    } else {
        ended
    };
    if ended != Ended::WriteStalled && ended != Ended::ClientLeft {
        let reason = match ended {
            Ended::Evicted => "client too slow: messages dropped",
            Ended::TokenExpired => "token expired",
            Ended::Revoked => "user disabled or password changed",
            Ended::Shutdown => "server shutting down",
            _ => "",
        };
        let code = if ended == Ended::Shutdown {
            axum::extract::ws::close_code::AWAY
        } else {
            axum::extract::ws::close_code::NORMAL
        };
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.send(close)).await;
    }
    ended
}

/// How long a close frame may take to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Sends `msg` unless it stalls for `write_wait` or the client is evicted meanwhile.
async fn write(ws: &mut WebSocket, msg: Message, pace: Pace, evicted: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        sent = tokio::time::timeout(pace.write_wait, ws.send(msg)) => matches!(sent, Ok(Ok(()))),
        _ = evicted.cancelled() => false,
    }
}

/// garm's upgrade origin check: no `Origin` is fine; with `cors_origins` set, the origin's
/// host must match one of them (or `*`); without, it must match the request's `Host`.
pub fn origin_allowed(headers: &HeaderMap, cors_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = origin.to_str().ok().and_then(host_of) else {
        return false;
    };
    if cors_origins.is_empty() {
        let asked = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        return asked.eq_ignore_ascii_case(&host);
    }
    cors_origins
        .iter()
        .any(|o| o == "*" || host_of(o).is_some_and(|h| h.eq_ignore_ascii_case(&host)))
}

fn host_of(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_as_garm_checks_them() {
        assert!(origin_allowed(&headers(None, "garm:9997"), &[]));
        assert!(origin_allowed(&headers(Some("http://GARM:9997"), "garm:9997"), &[]));
        assert!(!origin_allowed(&headers(Some("http://evil.example"), "garm:9997"), &[]));
        let list = vec!["https://ui.example".to_string()];
        assert!(origin_allowed(&headers(Some("https://ui.example"), "garm:9997"), &list));
        assert!(!origin_allowed(
            &headers(Some("https://other.example"), "garm:9997"),
            &list
        ));
        assert!(origin_allowed(
            &headers(Some("https://other.example"), "garm:9997"),
            &["*".to_string()]
        ));
    }

    #[test]
    fn pings_come_before_the_idle_timeout() {
        assert_eq!(Pace::for_idle_timeout(Duration::from_secs(600)).ping_every, PING_EVERY);
        assert_eq!(
            Pace::for_idle_timeout(Duration::from_secs(30)).ping_every,
            Duration::from_secs(15)
        );
    }
}
