//! `cargo xtask link-order`: records which of `garm`'s functions run, and writes
//! `crates/garm-server/link-order.txt`, the order in which the release link places them.
//!
//! Why: the kernel maps an executable's code in blocks around each touched page (64 KB of
//! fault-around, or a whole page-cache folio, up to 2 MB on Linux 6.18). With the linker's own
//! order, the code an idle garm runs (3.6 MB) is spread over nearly all of its 14.4 MB of text, so
//! nearly all of it is resident. Placed first, it fills a few blocks and the rest is never mapped
//! (docs/benchmarks.md, "Idle memory: the link order").
//!
//! How: the release `garm` runs under Valgrind's callgrind, driven by `garm-bench --quick --only
//! latency`, twice:
//! 1. until the benchmark's idle window (start, first run, a repository and two pools, the pool
//!    manager's idle passes), then SIGTERM: those functions go first;
//! 2. the whole quick scenario (jobs, bursts, restarts): its other functions come next.
//!
//! The names depend on the dependency features cargo unifies over one build, so the traced garm
//! is built like the one that ships: `-p garm-server` with `-p garm-bench`, which adds no feature to
//! garm's dependencies (the Dockerfile builds garm alone; README, "Running garm").
//!
//! The traced binary is linked without the file (`GARM_LINK_ORDER=off`), and each group keeps the
//! linker's own relative order: callgrind's first-seen order scattered the webhook path and cost
//! about 7 % of intake. Only names that the binary defines are written. A name the next build no
//! longer has is ignored by the linker, so a stale file costs memory, never a failed build. Needs
//! `valgrind` (Debian package).

use anyhow::{bail, ensure, Context};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long garm idles under callgrind before it is stopped (several pool manager passes).
const IDLE_FOR: Duration = Duration::from_secs(8);

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    let root = super::root();
    ensure!(
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "valgrind is not installed (apt-get install valgrind)"
    );
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--locked",
            "--bins",
            "-p",
            "garm-server",
            "-p",
            "garm-bench",
        ])
        .env("GARM_LINK_ORDER", "off")
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "building garm and garm-bench failed");
    let bins = super::target_dir().join("release");
    let garm = bins.join("garm");
    let defined = defined_functions(&garm)?;

    let work = std::env::temp_dir().join(format!("garm-link-order-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let idle = traced_run(&bins, &garm, &work, "idle", true)?;
    let busy = traced_run(&bins, &garm, &work, "busy", false)?;

    let order = link_order(&defined, &idle, &busy);
    let idle_count = idle.iter().filter(|n| defined.contains_key(n.as_str())).count();
    let out = root.join("crates/garm-server/link-order.txt");
    let mut text = String::from(
        "# garm's functions in the order the release link places them: those an idle garm runs,\n\
         # then those a quick benchmark adds, each group in the linker's own order.\n\
         # Written by `cargo xtask link-order`; see xtask/src/link_order.rs and\n\
         # docs/benchmarks.md (\"Idle memory: the link order\").\n",
    );
    for name in &order {
        text.push_str(name);
        text.push('\n');
    }
    std::fs::write(&out, text)?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "xtask: wrote {} ({} functions, {idle_count} of them run while idle); build again without \
         GARM_LINK_ORDER=off to use it",
        out.display(),
        order.len()
    );
    Ok(())
}

/// The idle group, then the functions only the busy run reached, each group sorted by its address
/// in the binary linked without an order; names the binary does not define are left out.
fn link_order<'a>(defined: &HashMap<String, u64>, idle: &'a [String], busy: &'a [String]) -> Vec<&'a str> {
    let in_binary = |names: &'a [String]| -> Vec<(u64, &'a str)> {
        names
            .iter()
            .filter_map(|n| defined.get(n.as_str()).map(|addr| (*addr, n.as_str())))
            .collect()
    };
    let mut first = in_binary(idle);
    first.sort_unstable();
    first.dedup();
    let taken: HashSet<&str> = first.iter().map(|(_, n)| *n).collect();
    let mut then: Vec<(u64, &str)> = in_binary(busy)
        .into_iter()
        .filter(|(_, n)| !taken.contains(n))
        .collect();
    then.sort_unstable();
    then.dedup();
    first.into_iter().chain(then).map(|(_, n)| n).collect()
}

/// Runs `garm-bench --quick --only latency` with garm under callgrind; returns the function names
/// callgrind saw, in first-seen order. With `stop_when_idle`, garm gets SIGTERM once the
/// benchmark has reached its idle window and garm has idled for [`IDLE_FOR`].
fn traced_run(bins: &Path, garm: &Path, work: &Path, phase: &str, stop_when_idle: bool) -> anyhow::Result<Vec<String>> {
    // Callgrind writes `callgrind-<phase>.<pid>`; nothing else in `work` starts with that.
    let marker = work.join(format!("callgrind-{phase}"));
    let wrapper = work.join(format!("garm-{phase}.sh"));
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec valgrind --tool=callgrind --demangle=no --dump-instr=no \
             --callgrind-out-file={}.%p {} \"$@\"\n",
            marker.display(),
            garm.display()
        ),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;

    eprintln!("xtask: {phase} run of garm under callgrind");
    let mut bench = Command::new(bins.join("garm-bench"));
    bench
        .args(["--quick", "--only", "latency", "--idle-window", "30", "--out"])
        .arg(work.join(format!("{phase}.json")))
        .arg("--garm")
        .arg(&wrapper)
        .arg("--provider")
        .arg(bins.join("garm-bench-provider"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = bench.spawn().context("starting garm-bench")?;
    let stderr = child.stderr.take().context("garm-bench's stderr")?;
    if stop_when_idle {
        let mut reached = false;
        for line in BufReader::new(stderr).lines() {
            if line?.starts_with("garm-bench: idle,") {
                reached = true;
                break;
            }
        }
        ensure!(reached, "garm-bench ended before its idle window");
        std::thread::sleep(IDLE_FOR);
        // The traced garm is the valgrind process whose command line names this phase's output.
        let pattern = format!("callgrind-out-file={}", marker.display());
        let status = Command::new("pkill").args(["-TERM", "-f", &pattern]).status()?;
        ensure!(status.success(), "no traced garm to stop ({pattern})");
        wait_for_output(&marker)?;
        let _ = child.kill();
        let _ = child.wait();
    } else {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut rest)?;
        let status = child.wait()?;
        if !status.success() {
            bail!("garm-bench under callgrind failed:\n{rest}");
        }
    }
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for file in outputs(&marker)? {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        for name in callgrind_functions(&text) {
            if seen.insert(name.to_owned()) {
                names.push(name.to_owned());
            }
        }
    }
    ensure!(!names.is_empty(), "callgrind recorded no function in the {phase} run");
    Ok(names)
}

/// Callgrind's output files of one phase (`<marker>.<pid>`; garm's own children are not traced).
fn outputs(marker: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = marker.parent().context("marker has a directory")?;
    let prefix = format!("{}.", marker.file_name().and_then(|n| n.to_str()).unwrap_or_default());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Waits until callgrind has written and closed its output after SIGTERM.
fn wait_for_output(marker: &Path) -> anyhow::Result<()> {
    let pattern = format!("callgrind-out-file={}", marker.display());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let running = Command::new("pgrep")
            .args(["-f", &pattern])
            .stdout(Stdio::null())
            .status()?;
        if !running.success() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("the traced garm did not exit within 60 s of SIGTERM")
}

/// The function names in a callgrind profile, in first-seen order.
///
/// Callgrind names a function once in full, `fn=(12) name` (or `cfn=` for a callee), and later
/// only by its number, `fn=(12)`.
fn callgrind_functions(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("fn=").or_else(|| line.strip_prefix("cfn=")))
        .filter_map(|rest| {
            let rest = rest.strip_prefix('(')?;
            let (_, name) = rest.split_once(") ")?;
            Some(name.trim())
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The functions `binary` defines (its symbol table's text symbols) and their addresses, read with `nm`.
fn defined_functions(binary: &Path) -> anyhow::Result<HashMap<String, u64>> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(binary)
        .output()
        .context("running nm (binutils)")?;
    ensure!(out.status.success(), "nm {} failed", binary.display());
    let text = String::from_utf8(out.stdout)?;
    let functions: HashMap<String, u64> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            let addr = u64::from_str_radix(addr, 16).ok()?;
            matches!(kind, "t" | "T" | "W" | "w").then(|| (name.to_owned(), addr))
        })
        .collect();
    ensure!(
        !functions.is_empty(),
        "{} has no symbol table (stripped?)",
        binary.display()
    );
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use super::{callgrind_functions, link_order};
    use std::collections::HashMap;

    #[test]
    fn idle_functions_first_then_busy_ones_each_in_address_order() {
        let defined: HashMap<String, u64> = [("a", 0x10), ("b", 0x20), ("c", 0x30), ("d", 0x40), ("e", 0x50)]
            .into_iter()
            .map(|(n, a)| (n.to_owned(), a))
            .collect();
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // "libc_fn" is not in the binary; "c" is in both runs and stays in the idle group.
        let idle = owned(&["d", "libc_fn", "b", "c"]);
        let busy = owned(&["e", "c", "a", "a"]);
        assert_eq!(link_order(&defined, &idle, &busy), vec!["b", "c", "d", "a", "e"]);
    }

    #[test]
    fn names_come_from_first_mentions_in_order() {
        let profile = "version: 1\ncreator: callgrind-3.19.0\n\
            ob=(1) /x/garm\nfl=(1) ???\nfn=(1) main\n0 5\n\
            cob=(2) /lib/libc.so.6\ncfn=(2) malloc\ncalls=1 0\n0 3\n\
            fn=(3) _ZN4garm3run17h0123456789abcdefE\n0 1\n\
            fn=(1)\n0 2\ncfn=(2)\ncalls=1 0\n";
        assert_eq!(
            callgrind_functions(profile),
            vec!["main", "malloc", "_ZN4garm3run17h0123456789abcdefE"]
        );
    }
}
