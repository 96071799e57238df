//! `cargo xtask tidy`: the structural rules a review would otherwise have to re-check by hand.
//!
//! - No hand-written production file over [`MAX_LINES`] lines. A file's production part is
//!   everything before its first `#[cfg(test)]`; `tests/`, `benches/` and the fakes' and
//!   harnesses' test-only crates count too, since they are read as much as the rest.
//! - No cycle between the top-level modules of a crate: if `a` names `crate::b`, nothing under
//!   `b` may name `crate::a` (directly or through other modules). A cycle means two modules
//!   that cannot be read, changed or tested one without the other. [`KNOWN_CYCLES`] lists
//!   the exceptions; it is empty, and may only stay so or shrink.
//!
//! - Crate dependencies, ARCHITECTURE.md's table of them and dropped store results: see
//!   `layers.rs`.
//!
//! It reads the sources only; it never builds anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest production file allowed.
pub const MAX_LINES: usize = 800;

/// Module cycles tolerated for now, written as `tidy` prints them. The ones that predated this
/// check have all been untangled, so the list is empty. It may only shrink: a cycle not listed
/// here fails, and so does an entry whose cycle is gone (so the list stays true).
const KNOWN_CYCLES: &[&str] = &[];

pub fn run(_args: &[String]) -> anyhow::Result<()> {
    let root = crate::root();
    let mut problems = Vec::new();
    let mut known = BTreeSet::new();
    let mut crates = vec![root.join("xtask")];
    for entry in std::fs::read_dir(root.join("crates"))? {
        crates.push(entry?.path());
    }
    crates.sort();
    for krate in &crates {
        for file in rust_files(krate)? {
            let text = std::fs::read_to_string(&file)?;
            let lines = production_lines(&text);
            if lines > MAX_LINES {
                problems.push(format!(
                    "{}: {lines} lines of production code (at most {MAX_LINES}); split it where a reader would",
                    file.strip_prefix(&root).unwrap_or(&file).display()
                ));
            }
        }
        let src = krate.join("src");
        if src.is_dir() {
            for file in rust_files(&src)? {
                for (line, statement) in crate::layers::dropped_store_results(&std::fs::read_to_string(&file)?) {
                    problems.push(format!(
                        "{}:{line}: `{statement}` drops a store result: handle it, or log what was lost and why going on is safe (garm-pool: `logged`)",
                        file.strip_prefix(&root).unwrap_or(&file).display()
                    ));
                }
            }
            let name = krate.strip_prefix(&root).unwrap_or(krate).display().to_string();
            for cycle in module_cycles(&src)? {
                let text = format!("{name}: {}", cycle.join(" → "));
                if KNOWN_CYCLES.contains(&text.as_str()) {
                    known.insert(text);
                } else {
                    problems.push(format!("modules that import each other: {text}"));
                }
            }
        }
    }
    problems.extend(crate::layers::check(&root, &crates)?);
    for stale in KNOWN_CYCLES.iter().filter(|c| !known.contains(**c)) {
        problems.push(format!(
            "KNOWN_CYCLES lists `{stale}`, which is no longer there: remove it from xtask/src/tidy.rs"
        ));
    }
    if !known.is_empty() {
        println!(
            "tidy: {} known module cycle(s) left to untangle (KNOWN_CYCLES)",
            known.len()
        );
    }
    if problems.is_empty() {
        println!(
            "tidy: {} crates, no file over {MAX_LINES} lines, no new module cycle, dependencies as LAYERS allows, no dropped store result",
            crates.len()
        );
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    anyhow::bail!("tidy found {} problem(s)", problems.len())
}

/// Every `.rs` file under `dir`, `target` directories left out.
fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lines before the first `#[cfg(test)]` (all of them when there is none).
pub fn production_lines(text: &str) -> usize {
    text.lines().take_while(|l| l.trim() != "#[cfg(test)]").count()
}

/// The top-level module a file under `src` belongs to (`None` for the crate root).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        "lib" | "main" if rel.components().count() == 1 => None,
        "bin" => None,
        _ => Some(name.to_string()),
    }
}

/// The `crate::x` names in `text`, code only (comments and doc comments are skipped).
pub fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            let after = &rest[at + "crate::".len()..];
            // `garm_crate::` or `$crate::` are not this crate's paths.
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                if let Some(stripped) = after.strip_prefix('{') {
                    for item in stripped.split('}').next().unwrap_or_default().split(',') {
                        push_ident(&mut found, item.trim());
                    }
                } else {
                    push_ident(&mut found, after);
                }
            }
            rest = after;
        }
    }
    found
}

fn push_ident(found: &mut BTreeSet<String>, text: &str) {
    let ident: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if !ident.is_empty() {
        found.insert(ident);
    }
}

/// The cycles between `src`'s top-level modules, each as `a → b → a`.
fn module_cycles(src: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        if let Some(name) = top_module(src, &path) {
            modules.insert(name);
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src)? {
        let Some(from) = top_module(src, &file) else { continue };
        let text = std::fs::read_to_string(&file)?;
        let production: String = text
            .lines()
            .take_while(|l| l.trim() != "#[cfg(test)]")
            .collect::<Vec<_>>()
            .join("\n");
        for to in crate_paths(&production) {
            if to != from && modules.contains(&to) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    Ok(cycles(&edges))
}

/// The groups of modules that reach each other (strongly connected components of more than
/// one module), each listed in name order and closed with its first module: `a → b → a`.
pub fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = edges.keys().map(|m| (m, reach(m))).collect();
    let mut grouped = BTreeSet::new();
    let mut found = Vec::new();
    for (m, from_m) in &reached {
        if grouped.contains(*m) || !from_m.contains(*m) {
            continue;
        }
        let mut group: Vec<String> = from_m
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*m)))
            .cloned()
            .collect();
        group.sort();
        grouped.extend(group.iter().cloned());
        let first = group[0].clone();
        group.push(first);
        found.push(group);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_stops_at_the_test_module() {
        assert_eq!(production_lines("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
        assert_eq!(production_lines("a\nb\n"), 2);
    }

    #[test]
    fn crate_paths_are_read_from_code_not_comments() {
        let text = "use crate::act::StepError;\nuse crate::{forge, metrics::scope};\n// crate::plan\nlet x = garm_crate::y; crate::wake::f();";
        let found: Vec<_> = crate_paths(text).into_iter().collect();
        assert_eq!(found, ["act", "forge", "metrics", "wake"]);
    }

    fn edge_again(edges: &mut BTreeMap<String, BTreeSet<String>>, a: &str, b: &str) {
        edges.entry(a.into()).or_default().insert(b.into());
    }

    #[test]
    fn a_cycle_is_reported_once_and_a_chain_is_not() {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut edge = |a: &str, b: &str| {
            edges.entry(a.into()).or_default().insert(b.into());
        };
        edge("act", "forge");
        edge("forge", "plan");
        edge("plan", "act");
        edge("intake", "act");
        assert_eq!(cycles(&edges), vec![vec!["act", "forge", "plan", "act"]]);
        edge_again(&mut edges, "intake", "plan");
        edge_again(&mut edges, "plan", "intake");
        assert_eq!(cycles(&edges), vec![vec!["act", "forge", "intake", "plan", "act"]]);
        edges.get_mut("plan").unwrap().remove("intake");
        edges.get_mut("plan").unwrap().clear();
        assert!(cycles(&edges).is_empty());
    }
}
