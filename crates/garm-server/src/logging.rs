//! Log setup from `[logging]`: text or JSON lines, to stdout or a file.

use crate::config::{LogFormat, Logging};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` overrides the configured level.
pub fn init(cfg: &Logging) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn,hyper=warn", cfg.level)));
    let writer: Box<dyn Fn() -> Box<dyn std::io::Write> + Send + Sync> = match &cfg.file {
        Some(path) => {
            let path = path.clone();
            std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            Box::new(move || {
                Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .expect("log file was opened at startup"),
                ) as Box<dyn std::io::Write>
            })
        }
        None => Box::new(|| Box::new(std::io::stdout()) as Box<dyn std::io::Write>),
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
