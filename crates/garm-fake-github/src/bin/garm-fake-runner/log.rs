//! Console output, copied to `GARM_FAKE_RUNNER_LOG` when set.

use std::io::Write as _;

/// Prints a line on stdout and appends it to the log file, if any.
pub fn log(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("GARM_FAKE_RUNNER_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{} {line}", chrono::Utc::now().to_rfc3339());
        }
    }
}
