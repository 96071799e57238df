//! The `garm-cli` lines of the operator docs run, as written, against a live garm: the
//! docs cannot drift from the binaries' real flags.

use garm_e2e::{bin, Garm, ProviderSpec, TempDir, PASSWORD};
use std::io::Write;
use std::process::{Command, Stdio};

const AZURE: ProviderSpec = ProviderSpec {
    name: "azure_external",
    extra: "",
    run_userdata: false,
};

/// `garm-cli …` commands of a Markdown file: shell code blocks (with `\` continuations)
/// and inline code spans.
fn commands(markdown: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut in_block = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            let lang = line.trim_start().trim_start_matches('`').trim();
            in_block = fenced && matches!(lang, "sh" | "bash" | "shell" | "");
            continue;
        }
        if fenced && !in_block {
            continue;
        }
        if in_block {
            let text = line.split(" #").next().unwrap_or("").trim_end();
            if let Some(head) = text.strip_suffix('\\') {
                pending.push_str(head.trim());
                pending.push(' ');
                continue;
            }
            pending.push_str(text.trim());
            if pending.starts_with("garm-cli ") {
                out.push((std::mem::take(&mut pending), false));
            }
            pending.clear();
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("garm-cli ") {
                    out.push((span.to_string(), true));
                }
            }
        }
    }
    out
}

fn run(home: &TempDir, line: &str, stdin: Option<&str>) -> (bool, String) {
    let args: Vec<String> = shell_words(line);
    let mut child = Command::new(bin("garm-cli"))
        .args(&args[1..])
        .env("HOME", &home.0)
        // The guide reads secrets at a prompt into these, so no secret is on a command line.
        .env("GARM_CLI_WEBHOOK_SECRET", "docs-webhook-secret")
        .env("GARM_CLI_PAT_OAUTH_TOKEN", "ghp_docs_rotated")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("garm-cli runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Splits a command line on spaces, honouring single and double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (' ', None) => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (_, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_guides_garm_cli_lines_run_against_a_live_garm() {
    let garm = Garm::start(&[AZURE]).await.unwrap();
    let home = TempDir::new("docs-home");
    let url = garm.url();
    let (ok, out) = run(
        &home,
        &format!(
            "garm-cli init --name local --url {url} --username admin --email admin@example.com --password {PASSWORD}"
        ),
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&home, "garm-cli github credentials add --name garm --description PAT --endpoint github.com --auth-type pat --pat-oauth-token ghp_docs", None);
    assert!(ok, "{out}");
    let guide =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy-azure.md"))
            .unwrap();
    let lines = commands(&guide);
    assert!(lines.len() >= 10, "the guide's garm-cli lines were found: {lines:?}");
    let mut pool_id = String::new();
    let mut repo_id = String::new();
    let mut ran = 0;
    for (line, inline) in &lines {
        if line.starts_with("garm-cli init") {
            continue; // Done above with real values.
        }
        let line = line
            .replace("\"$WEBHOOK_SECRET\"", "docs-webhook-secret")
            .replace("<pool id>", &pool_id)
            .replace("<name>", "garm-no-such-runner")
            .replace('…', "docs-new-value");
        let line = if line.contains("<id>") {
            let id = if line.starts_with("garm-cli pool") {
                pool_id.clone()
            } else if line.starts_with("garm-cli github credentials") {
                "1".to_string()
            } else {
                repo_id.clone()
            };
            line.replace("<id>", &id)
        } else {
            line
        };
        let stdin = line.contains("profile login").then(|| format!("{PASSWORD}\n"));
        let (ok, out) = run(&home, &line, stdin.as_deref());
        // Any failure must come from the server (garm's error body), never from the
        // command line parser: the flags in the guide are real.
        // A command named in prose may leave out its arguments; its flags must still exist.
        let missing_args_ok = *inline && out.contains("required arguments were not provided");
        let parse_error = [
            "unexpected argument",
            "invalid value",
            "unrecognized subcommand",
            "required arguments",
        ]
        .iter()
        .any(|needle| out.contains(needle))
            && !missing_args_ok;
        assert!(!parse_error, "`{line}` does not parse: {out}");
        let must_succeed = [
            "repository add",
            "pool add",
            "pool update",
            "repository update",
            "credentials update",
            "profile login",
            "controller show",
            "pool list",
            "repository list",
            "job list",
            "runner list",
        ];
        if must_succeed.iter().any(|c| line.contains(c)) {
            assert!(ok, "`{line}` failed: {out}");
        }
        if line.contains("repository add") {
            repo_id = serde_json::from_str::<serde_json::Value>(&run(&home, "garm-cli repo ls --format json", None).1)
                .unwrap()[0]["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
        if line.contains("pool add") {
            pool_id = serde_json::from_str::<serde_json::Value>(&run(&home, "garm-cli pool ls --format json", None).1)
                .unwrap()[0]["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
        ran += 1;
    }
    assert!(
        !pool_id.is_empty() && !repo_id.is_empty(),
        "the guide's repository and pool were created"
    );
    assert!(ran >= 10);
}
