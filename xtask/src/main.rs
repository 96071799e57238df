//! `cargo xtask`: the project's automation, in Rust rather than shell scripts.
//!
//! - `cargo xtask test`: starts a throwaway PostgreSQL (so the store suite runs on both
//!   backends) and runs every test of the workspace.
//! - `cargo xtask demo`: runs the whole system end to end on one machine (see the README).
//! - `cargo xtask bench`: the benchmark harness (`docs/benchmarks.md`).
//! - `cargo xtask images`: makes the Dockerfile's base images from Debian packages and builds
//!   the `garm-azure` image offline (`docs/deploy-azure.md`, "Proving the deployment locally").
//! - `cargo xtask aci-local`: runs the container group of `deploy/azure`, rendered from the
//!   Terraform, with Docker, and checks it as an operator would.
//! - `cargo xtask tidy`: no production file over 800 lines, no module cycle inside a crate.
//! - `cargo xtask link-order`: records which functions an idle and a busy `garm` run (under
//!   Valgrind) and writes the release link's function order, `crates/garm-server/link-order.txt`.

mod aci_local;
mod bench;
mod demo;
mod images;
mod layers;
mod link_order;
mod tidy;

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(PathBuf::from(dir)),
        None => root().join("target"),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("images") => images::run(&args[1..]),
        Some("aci-local") => aci_local::run(&args[1..]),
        Some("tidy") => tidy::run(&args[1..]),
        Some("link-order") => link_order::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|demo|bench|images|aci-local|tidy|link-order> [options]\n  test [cargo test args]\n  demo [--jobs N] [--keep-running] [--provider test|docker]\n  bench [--quick]\n  images [--no-build] [--force]\n  aci-local [--keep-running]\n  tidy\n  link-order");
            std::process::exit(2);
        }
    }
}

/// Starts PostgreSQL with `.ci/postgres.sh` when it is installed; returns its URL.
fn postgres() -> Option<String> {
    let out = Command::new("bash").arg(root().join(".ci/postgres.sh")).output().ok()?;
    if !out.status.success() {
        eprintln!(
            "xtask: PostgreSQL not started ({}); the store suite runs on SQLite only",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace"]).args(extra);
    if std::env::var_os("GARM_TEST_POSTGRES_URL").is_none() {
        if let Some(url) = postgres() {
            eprintln!("xtask: store conformance also runs on {url}");
            cmd.env("GARM_TEST_POSTGRES_URL", url);
        }
    }
    let status = cmd.status().context("running cargo test")?;
    if !status.success() {
        anyhow::bail!("tests failed");
    }
    Ok(())
}
