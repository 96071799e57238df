//! Websocket readers for garm's streams (`debug-events`, `debug-log`, `top`), on the wire as
//! garm-cli's reader: `ws://` or `wss://` on the profile's host, the stream's fixed path, the
//! token as `Authorization: Bearer …` on the upgrade request, a ping every 54 s.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// garm's ping period.
const PING_EVERY: Duration = Duration::from_secs(54);
/// How often a blocked read wakes up to see whether a ping is due.
const WAKE: Duration = Duration::from_secs(1);

/// An open stream.
pub struct Reader {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_ping: Instant,
}

/// The websocket URL of `path` on the profile's `base_url` (its path is not used, as garm).
pub fn ws_url(base_url: &str, path: &str) -> anyhow::Result<String> {
    let url = url_parts(base_url).ok_or_else(|| anyhow::anyhow!("invalid base URL {base_url:?}"))?;
    let scheme = if url.0 == "https" { "wss" } else { "ws" };
    Ok(format!("{scheme}://{}{path}", url.1))
}

/// Scheme and `host[:port]` of a URL.
fn url_parts(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| (scheme.to_ascii_lowercase(), host.to_string()))
}

impl Reader {
    /// Connects; a refused upgrade reads as garm's `failed to stream logs: …`.
    pub fn connect(base_url: &str, path: &str, token: &str) -> anyhow::Result<Self> {
        let mut request = ws_url(base_url, path)?.into_client_request()?;
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse()?);
        let ws = match tungstenite::connect(request) {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(resp)) => {
                let details = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                    .and_then(|v| v.get("details").and_then(|d| d.as_str()).map(str::to_string))
                    .unwrap_or_default();
                let status = resp.status();
                let reason = status.canonical_reason().unwrap_or_default();
                anyhow::bail!(
                    "failed to stream logs: \"websocket: bad handshake\" {details} ({} {reason})",
                    status.as_u16()
                );
            }
            Err(err) => anyhow::bail!("failed to stream logs: {:?}  ()", err.to_string()),
        };
        let tcp = match ws.get_ref() {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Rustls(s) => s.get_ref(),
            _ => anyhow::bail!("unsupported websocket stream"),
        };
        tcp.set_read_timeout(Some(WAKE))?;
        Ok(Self {
            ws,
            next_ping: Instant::now() + PING_EVERY,
        })
    }

    /// Writes a text message (the events filter).
    pub fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text))?;
        Ok(())
    }

    /// The next text or binary message; `None` when the server closed the stream.
    pub fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if Instant::now() >= self.next_ping {
                self.next_ping = Instant::now() + PING_EVERY;
                if self.ws.send(Message::Ping(Default::default())).is_err() {
                    return None;
                }
            }
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(t.as_bytes().to_vec()),
                Ok(Message::Binary(b)) => return Some(b.to_vec()),
                Ok(Message::Close(_)) => {
                    // Lets tungstenite answer the close before we hang up.
                    let _ = self.ws.flush();
                    return None;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }
}

/// garm's `SanitizeLogEntry`: line breaks removed.
pub fn sanitize(text: &str) -> String {
    text.replace(['\n', '\r'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_only_scheme_and_host() {
        assert_eq!(
            ws_url("http://garm:9997/", "/api/v1/ws/events").unwrap(),
            "ws://garm:9997/api/v1/ws/events"
        );
        assert_eq!(
            ws_url("https://garm.example/x", "/api/v1/ws/logs").unwrap(),
            "wss://garm.example/api/v1/ws/logs"
        );
        assert!(ws_url("garm", "/x").is_err());
        assert_eq!(sanitize("a\r\nb"), "ab");
    }
}
