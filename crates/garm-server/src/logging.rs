//! Log setup from `[logging]`: text or JSON lines, to stdout or a file, and, with
//! `enable_log_streamer`, to the log websocket (`crate::stream::logs`).

use crate::config::{LogFormat, Logging};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber. `RUST_LOG` overrides the configured level.
pub fn init(cfg: &Logging) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn,hyper=warn", cfg.level)));
    // One append-mode handle for the whole run: each event is formatted first and
    // written with one `write` call (opening the file per event cost a syscall trio per line).
    let writer = match &cfg.file {
        Some(path) => {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            BoxMakeWriter::new(std::sync::Arc::new(file))
        }
        None => BoxMakeWriter::new(std::io::stdout),
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_file(cfg.source)
        .with_line_number(cfg.source)
        .with_ansi(false)
        .with_writer(writer);
    let lines = match cfg.format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Text => lines.boxed(),
    };
    // The same level as the file, as garm's log streamer has.
    let stream = cfg
        .streamer
        .then(|| crate::stream::logs::StreamLayer::new(crate::stream::logs::hub()));
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(stream)
        .try_init()
        .map_err(|err| anyhow::anyhow!("log setup failed: {err}"))
}
