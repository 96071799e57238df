//! `debug-events` and `debug-log`: garm's streams printed to the terminal, with garm-cli's
//! flags and output (the log is filtered and coloured here, as garm's client does).

use std::collections::{BTreeMap, HashMap, HashSet};

use clap::{ArgAction, Args};
use serde_json::Value;

use crate::stream::{sanitize, Reader};
use crate::Ctx;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Json with event filters you want to apply
    #[arg(short = 'm', long = "filters", default_value = "")]
    pub filters: String,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Minimum log level to display (DEBUG, INFO, WARN, ERROR)
    #[arg(long = "log-level", default_value = "")]
    pub log_level: String,
    /// Filter logs by attribute (format: key=value) or message content (msg=text); repeatable, any of them matches.
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Highlight attribute keys in the output (format: key); repeatable.
    #[arg(long = "highlight")]
    pub highlight: Vec<String>,
    /// How multiple filters are combined: "any" (OR, match at least one) or "all" (AND, match every filter)
    #[arg(long = "filter-mode", default_value = "any")]
    pub filter_mode: String,
    /// Enable color logging (auto-detects terminal support)
    #[arg(long = "enable-color", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = crate::parse_go_bool)]
    pub enable_color: bool,
}

fn open(ctx: &Ctx, path: &str) -> anyhow::Result<Reader> {
    let manager = ctx.config.active().ok_or_else(|| anyhow::anyhow!(crate::NEEDS_INIT))?;
    Reader::connect(&manager.base_url, path, &manager.bearer_token)
}

/// `debug-events`: sends the filter (if any) and prints every event as it comes.
pub fn events(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<()> {
    let mut reader = open(ctx, "/api/v1/ws/events")?;
    if !args.filters.is_empty() {
        reader.send_text(&args.filters)?;
    }
    while let Some(msg) = reader.next() {
        println!("{}", sanitize(&String::from_utf8_lossy(&msg)));
    }
    Ok(())
}

/// `debug-log`: prints the server's log records, filtered and formatted.
pub fn log(ctx: &Ctx, args: LogArgs) -> anyhow::Result<()> {
    let formatter = Formatter::new(&args, supports_color());
    let mut reader = open(ctx, "/api/v1/ws/logs")?;
    while let Some(msg) = reader.next() {
        if let Some(line) = formatter.format(&String::from_utf8_lossy(&msg)) {
            println!("{line}");
        }
    }
    Ok(())
}

/// garm's `supportsColor` (Unix): `NO_COLOR` off, `FORCE_COLOR` on, else a non-dumb `TERM`.
fn supports_color() -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if std::env::var_os("FORCE_COLOR").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    !(term.is_empty() || term == "dumb")
}

const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const GRAY: &str = "\x1b[90m";
const BOLD_CYAN: &str = "\x1b[1;36m";

/// garm-cli's `LogFormatter`.
pub struct Formatter {
    min_level: String,
    filters: HashMap<String, String>,
    highlights: HashSet<String>,
    all: bool,
    color: bool,
}

fn rank(level: &str) -> Option<u8> {
    match level.to_ascii_uppercase().as_str() {
        "DEBUG" => Some(0),
        "INFO" => Some(1),
        "WARN" => Some(2),
        "ERROR" => Some(3),
        _ => None,
    }
}

impl Formatter {
    pub fn new(args: &LogArgs, terminal_colors: bool) -> Self {
        Self {
            min_level: args.log_level.clone(),
            filters: args
                .filter
                .iter()
                .filter_map(|f| f.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
            highlights: args.highlight.iter().cloned().collect(),
            all: args.filter_mode == "all",
            color: args.enable_color && terminal_colors,
        }
    }

    fn level_hidden(&self, level: &str) -> bool {
        match (rank(&self.min_level), rank(level)) {
            (Some(min), Some(this)) => this < min,
            _ => false,
        }
    }

    fn matches(&self, key: &str, want: &str, attrs: &BTreeMap<String, Value>, msg: &str) -> bool {
        if key == "msg" {
            return msg.contains(want);
        }
        attrs.get(key).is_some_and(|v| go_value(v) == want)
    }

    fn selected(&self, attrs: &BTreeMap<String, Value>, msg: &str) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let mut each = self.filters.iter().map(|(k, v)| self.matches(k, v, attrs, msg));
        if self.all {
            each.all(|m| m)
        } else {
            each.any(|m| m)
        }
    }

    fn paint(&self, level: &str) -> String {
        let color = match level.trim().to_ascii_uppercase().as_str() {
            "ERROR" => RED,
            "WARN" | "WARNING" => YELLOW,
            "INFO" => BLUE,
            "DEBUG" => MAGENTA,
            _ => return level.to_string(),
        };
        if self.color {
            format!("{color}{level}{RESET}")
        } else {
            level.to_string()
        }
    }

    /// One record as garm-cli prints it; `None` when filtered out.
    pub fn format(&self, raw: &str) -> Option<String> {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(raw) else {
            return Some(sanitize(raw));
        };
        let field = |k: &str| match record.get(k) {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => None,
        };
        let (Some(time), Some(level), Some(msg)) = (field("time"), field("level"), field("msg")) else {
            return Some(sanitize(raw));
        };
        if self.level_hidden(&level) {
            return None;
        }
        let attrs: BTreeMap<String, Value> = record
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "time" | "level" | "msg"))
            .collect();
        if !self.selected(&attrs, &msg) {
            return None;
        }
        let time = chrono::DateTime::parse_from_rfc3339(&time)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or(time);
        let level = self.paint(&format!("{:<5}", level.to_ascii_uppercase()));
        let mut msg_text = msg.clone();
        if let Some(want) = self.filters.get("msg") {
            if msg.contains(want.as_str()) && self.color {
                msg_text = format!("{YELLOW}{msg}{RESET}");
            }
        } else if self.highlights.contains("msg") && self.color {
            msg_text = format!("{BOLD_CYAN}{msg}{RESET}");
        }
        let mut out = format!("{time} [{level}] {msg_text}");
        if !attrs.is_empty() {
            let pairs: Vec<String> = attrs
                .iter()
                .map(|(k, v)| {
                    let value = go_value(v);
                    let pair = format!("{k}={value}");
                    if self.filters.get(k).is_some_and(|want| *want == value) {
                        if self.color {
                            return format!("{YELLOW}{pair}{GRAY}");
                        }
                    } else if self.highlights.contains(k) {
                        if self.color {
                            return format!("{BOLD_CYAN}{pair}{GRAY}");
                        }
                    } else if self.color {
                        return format!("{GRAY}{pair}");
                    }
                    pair
                })
                .collect();
            out.push(' ');
            out.push_str(&pairs.join(" "));
            if self.color {
                out.push_str(RESET);
            }
        }
        Some(out)
    }
}

/// A JSON value as Go's `%v` prints what `encoding/json` decoded (numbers kept as written).
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", go_value(v))).collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(level: &str, filter: &[&str], mode: &str) -> LogArgs {
        LogArgs {
            log_level: level.into(),
            filter: filter.iter().map(|s| s.to_string()).collect(),
            highlight: vec![],
            filter_mode: mode.into(),
            enable_color: true,
        }
    }

    const REC: &str = r#"{"time":"2026-01-02T03:04:05.678901+02:00","level":"WARN","msg":"pool full","pool":"p1","count":3,"ok":true}"#;

    #[test]
    fn records_print_as_garm_cli_prints_them() {
        let f = Formatter::new(&args("", &[], "any"), false);
        assert_eq!(
            f.format(REC).unwrap(),
            "2026-01-02 03:04:05.678 [WARN ] pool full count=3 ok=true pool=p1"
        );
        assert_eq!(f.format("plain\ntext").unwrap(), "plaintext");
    }

    #[test]
    fn level_and_attribute_filters() {
        assert!(Formatter::new(&args("error", &[], "any"), false).format(REC).is_none());
        assert!(Formatter::new(&args("info", &[], "any"), false).format(REC).is_some());
        assert!(Formatter::new(&args("", &["pool=p2", "count=3"], "any"), false)
            .format(REC)
            .is_some());
        assert!(Formatter::new(&args("", &["pool=p2", "count=3"], "all"), false)
            .format(REC)
            .is_none());
        assert!(Formatter::new(&args("", &["msg=full"], "all"), false)
            .format(REC)
            .is_some());
    }

    #[test]
    fn colours_only_when_asked_and_supported() {
        let line = Formatter::new(&args("", &["pool=p1"], "any"), true)
            .format(REC)
            .unwrap();
        assert!(line.contains("\x1b[33mWARN \x1b[0m"), "{line:?}");
        assert!(line.contains("\x1b[33mpool=p1\x1b[90m"), "{line:?}");
        assert!(line.ends_with(RESET));
    }
}
