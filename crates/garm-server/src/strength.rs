//! Password and secret strength: zxcvbn's score 4 (its best), as garm asks of the admin
//! password, the JWT secret and the database passphrase.
//!
//! zxcvbn builds its word-frequency dictionaries on first use (about 3 MB of hash tables)
//! and keeps them for the life of the process. A long-lived `garm` needs them only for a
//! few checks (configuration load, first run, a password reset), so [`strong`] runs the
//! check in a short-lived child, this same binary started with [`CHILD_ARG`]; the server
//! never holds the dictionaries. Whenever the child cannot answer (another binary, such as
//! a test harness, or the executable gone), the check runs in this process instead: the
//! verdict is the same either way.

use std::io::Write;
use std::process::{Command, Stdio};

/// The first argument that makes `garm` check strengths from its standard input and exit
/// (see [`child_main`]); not a subcommand, so it is neither documented nor parsed by clap.
pub const CHILD_ARG: &str = "__check-strength";

const STRONG: &str = "strong";
const WEAK: &str = "weak";

#[derive(serde::Serialize, serde::Deserialize)]
struct Check {
    secret: String,
    /// Words the secret must not be built from (user name, email).
    inputs: Vec<String>,
}

/// Whether zxcvbn scores `secret` 4, with `inputs` as words it must not be built from.
pub fn strong(secret: &str, inputs: &[&str]) -> bool {
    strong_all(&[(secret, inputs)])[0]
}

/// [`strong`] for each of `checks` (secret, inputs), in one child process.
pub fn strong_all(checks: &[(&str, &[&str])]) -> Vec<bool> {
    if checks.is_empty() {
        return Vec::new();
    }
    let checks: Vec<Check> = checks
        .iter()
        .map(|(secret, inputs)| Check {
            secret: (*secret).to_owned(),
            inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        })
        .collect();
    in_child(&checks).unwrap_or_else(|| checks.iter().map(in_process).collect())
}

fn in_process(check: &Check) -> bool {
    let inputs: Vec<&str> = check.inputs.iter().map(String::as_str).collect();
    zxcvbn::zxcvbn(&check.secret, &inputs).score() == zxcvbn::Score::Four
}

/// The child's verdicts, or `None` if it gave none.
fn in_child(checks: &[Check]) -> Option<Vec<bool>> {
    let exe = std::env::current_exe().ok()?;
    // Only `garm` answers; any other binary (a test harness) would take the flag for something else.
    if exe.file_stem()? != "garm" {
        return None;
    }
    let mut child = Command::new(exe)
        .arg(CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let request = serde_json::to_vec(checks).ok()?;
    // The secrets go through a pipe, never the command line (which `ps` shows).
    let wrote = child.stdin.take().map(|mut stdin| stdin.write_all(&request));
    let output = child.wait_with_output().ok()?;
    if !matches!(wrote, Some(Ok(()))) || !output.status.success() {
        return None;
    }
    let verdicts = std::str::from_utf8(&output.stdout)
        .ok()?
        .lines()
        .map(|line| match line {
            STRONG => Some(true),
            WEAK => Some(false),
            _ => None,
        })
        .collect::<Option<Vec<bool>>>()?;
    (verdicts.len() == checks.len()).then_some(verdicts)
}

/// In `garm`'s `main`, before anything else: when started as the strength child, reads the
/// checks from standard input, prints one verdict a line and returns the exit code.
pub fn child_main() -> Option<i32> {
    if std::env::args_os().nth(1).as_deref() != Some(std::ffi::OsStr::new(CHILD_ARG)) {
        return None;
    }
    let checks: Vec<Check> = match serde_json::from_reader(std::io::stdin().lock()) {
        Ok(checks) => checks,
        Err(_) => return Some(2),
    };
    for check in &checks {
        println!("{}", if in_process(check) { STRONG } else { WEAK });
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_match_zxcvbn() {
        // In a test the current executable is the test harness, which is not asked: the
        // check runs in this process. `tests/it/strength.rs` asks the real `garm`.
        assert!(!strong("password123", &[]));
        assert!(!strong("admin-admin@example.com", &["admin", "admin@example.com"]));
        assert!(strong("kP3#vQ9!xLm2@wZr7$TgHn5^bYc8&dJe", &[]));
        assert_eq!(
            strong_all(&[("kP3#vQ9!xLm2@wZr7$TgHn5^bYc8&dJe", &[]), ("letmein", &[])]),
            [true, false]
        );
    }
}
