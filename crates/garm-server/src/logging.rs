//! Log setup from `[logging]`: text or JSON lines, to stdout or a file.

use crate::config::{LogFormat, Logging};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_file(cfg.source)
        .with_line_number(cfg.source)
        .with_ansi(false)
        .with_writer(writer);
    let result = match cfg.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|err| anyhow::anyhow!("log setup failed: {err}"))
}
