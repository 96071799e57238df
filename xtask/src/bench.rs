//! `cargo xtask bench [--quick] [garm-bench options]`: builds garm and the benchmark harness,
//! then runs `garm-bench` (see `docs/benchmarks.md`).
//!
//! The full suite builds in release mode and writes `benchmarks/results.json`; `--quick` builds
//! in debug mode (CI already has those artifacts), runs every measurement tiny, and writes its
//! JSON to the temporary directory, never over the committed results.

use anyhow::Context;
use std::process::Command;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let root = super::root();
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&root)
        .args(["build", "--bins", "-p", "garm-server", "-p", "garm-bench"]);
    if !quick {
        build.arg("--release");
    }
    if !build.status().context("running cargo build")?.success() {
        anyhow::bail!("building garm and garm-bench failed");
    }
    let bins = super::target_dir().join(if quick { "debug" } else { "release" });
    let mut bench = Command::new(bins.join("garm-bench"));
    bench
        .current_dir(&root)
        .arg("--garm")
        .arg(bins.join("garm"))
        .arg("--provider")
        .arg(bins.join("garm-bench-provider"));
    if !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        let out = if quick {
            std::env::temp_dir().join("garm-bench-quick.json")
        } else {
            root.join("benchmarks/results.json")
        };
        bench.arg("--out").arg(out);
    }
    bench.args(args);
    if !bench.status().context("running garm-bench")?.success() {
        anyhow::bail!("garm-bench failed");
    }
    Ok(())
}
