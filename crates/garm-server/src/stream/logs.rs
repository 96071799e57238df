//! The server's log as a stream: one JSON record per message as garm's slog JSON handler
//! writes them (`time`, `level`, `msg`, then the event's fields), served by
//! [`crate::ws::logs`] when `[logging] enable_log_streamer` is on.
//!
//! [`StreamLayer`] is a tracing layer beside the file/stdout one: it formats an event only when
//! someone is subscribed and hands it to the hub, which never waits (see [`super::hub`]).

use super::hub::{Hub, Message};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

static LOGS: OnceLock<Arc<Hub<()>>> = OnceLock::new();

/// The process's log hub: the tracing layer publishes to it, `/api/v1/ws/logs` reads it.
pub fn hub() -> Arc<Hub<()>> {
    LOGS.get_or_init(Default::default).clone()
}

/// Forwards formatted log records to a hub's subscribers.
pub struct StreamLayer {
    hub: Arc<Hub<()>>,
}

impl StreamLayer {
    pub fn new(hub: Arc<Hub<()>>) -> Self {
        Self { hub }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for StreamLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.hub.is_empty() {
            return;
        }
        let msg: Message = record(event).into();
        self.hub.publish(&msg, |_| true);
    }
}

/// slog's level names (tracing's TRACE is shown as DEBUG).
fn level(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// One event as a slog JSON record.
pub fn record(event: &Event<'_>) -> String {
    let mut fields = Fields::default();
    event.record(&mut fields);
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = String::with_capacity(128 + fields.attrs.len());
    let _ = write!(
        out,
        r#"{{"time":"{time}","level":"{}","msg":{}"#,
        level(event.metadata().level()),
        json(&fields.msg)
    );
    out.push_str(&fields.attrs);
    out.push('}');
    out
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

#[derive(Default)]
struct Fields {
    msg: String,
    /// `,"key":value` pairs in the order recorded.
    attrs: String,
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.msg = match serde_json::from_str::<String>(&value) {
                Ok(text) => text,
                Err(_) => value,
            };
            return;
        }
        let _ = write!(self.attrs, ",{}:{value}", json(field.name()));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, json(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let text = serde_json::Number::from_f64(value).map_or_else(|| json(&value.to_string()), |n| n.to_string());
        self.put(field, text);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, json(&format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[tokio::test]
    async fn events_become_slog_json_records() {
        let hub: Arc<Hub<()>> = Default::default();
        let mut sub = hub.subscribe(());
        let subscriber = tracing_subscriber::registry().with(StreamLayer::new(hub.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(pool = "p1", count = 3_u64, ok = true, "pool \"full\"");
        });
        let line = sub.recv().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["msg"], "pool \"full\"");
        assert_eq!(v["pool"], "p1");
        assert_eq!(v["count"], 3);
        assert_eq!(v["ok"], true);
        assert!(line.starts_with(r#"{"time":""#), "{line}");
        chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).unwrap();
    }
}
