//! The fast provider's `calls.log`, read incrementally: which call started when.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One provider call: when its process started, the command, the instance and pool (or `-`).
#[derive(Debug, Clone)]
pub struct Call {
    pub at_ns: u128,
    pub command: String,
    pub instance: String,
    pub pool: String,
}

/// Everything appended to `calls.log` so far.
pub struct CallLog {
    path: PathBuf,
    offset: u64,
    partial: String,
    pub calls: Vec<Call>,
}

/// Nanoseconds since the Unix epoch, the clock the provider writes.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Milliseconds from `from_ns` to `to_ns` (negative if `to` is earlier).
pub fn ms_between(from_ns: u128, to_ns: u128) -> f64 {
    (to_ns as f64 - from_ns as f64) / 1e6
}

impl CallLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
            calls: Vec::new(),
        }
    }

    /// Reads what was appended since the last poll.
    pub fn poll(&mut self) {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut text = String::new();
        let Ok(n) = file.read_to_string(&mut text) else { return };
        self.offset += n as u64;
        self.partial.push_str(&text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            let mut parts = line.split_whitespace();
            let (Some(at), Some(command), Some(instance), Some(pool)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            self.calls.push(Call {
                at_ns: at.parse().unwrap_or(0),
                command: command.to_owned(),
                instance: instance.to_owned(),
                pool: pool.to_owned(),
            });
        }
    }

    /// The calls of `command` recorded after index `mark`.
    pub fn since<'a>(&'a self, mark: usize, command: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls[mark.min(self.calls.len())..]
            .iter()
            .filter(move |c| c.command == command)
    }

    /// Polls every 2 ms until `n` calls of `command` were recorded after `mark`; returns them.
    pub async fn wait(&mut self, mark: usize, command: &str, n: usize, timeout: Duration) -> anyhow::Result<Vec<Call>> {
        let start = Instant::now();
        loop {
            self.poll();
            let found: Vec<Call> = self.since(mark, command).take(n).cloned().collect();
            if found.len() >= n {
                return Ok(found);
            }
            if start.elapsed() > timeout {
                anyhow::bail!("timed out after {timeout:?}: {} of {n} {command} calls", found.len());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Instances created and not deleted since (a delete of an instance never created, as
    /// garm does before retrying a failed create, counts for nothing).
    pub fn live(&self) -> usize {
        let mut live = std::collections::HashSet::new();
        for call in &self.calls {
            match call.command.as_str() {
                "CreateInstance" => live.insert(call.instance.as_str()),
                "DeleteInstance" => live.remove(call.instance.as_str()),
                _ => false,
            };
        }
        live.len()
    }
}
