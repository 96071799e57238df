//! The real `garm` binary answers strength checks as a child (`garm __check-strength`), the
//! way the server asks it, so the long-lived process never loads zxcvbn's dictionaries.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Starts `garm __check-strength`, writes `input` to its stdin and waits for it.
fn ask(input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_garm"))
        .arg(garm_server::strength::CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("garm starts");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_garm_binary_answers_strength_checks_on_its_stdin() {
    let checks = serde_json::json!([
        {"secret": "kP3#vQ9!xLm2@wZr7$TgHn5^bYc8&dJe", "inputs": []},
        {"secret": "password123", "inputs": []},
        {"secret": "admin-admin@example.com", "inputs": ["admin", "admin@example.com"]},
    ]);
    let output = ask(checks.to_string().as_bytes());
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "strong\nweak\nweak\n");
    // The same verdicts as in this process.
    assert!(garm_server::strength::strong("kP3#vQ9!xLm2@wZr7$TgHn5^bYc8&dJe", &[]));
    assert!(!garm_server::strength::strong("password123", &[]));
}

#[test]
fn garbage_on_its_stdin_is_refused_with_an_exit_code() {
    let output = ask(b"not json");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}
