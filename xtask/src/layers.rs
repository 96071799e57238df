//! The crate layering `cargo xtask tidy` enforces, declared once: [`LAYERS`].
//!
//! - Every crate's `[dependencies]` on other garm-rs crates must be among those its row
//!   allows (dev-dependencies are free: tests may use the fakes and harnesses).
//! - ARCHITECTURE.md shows the same table between the `<!-- tidy:layers -->` markers, so the
//!   document and the rule cannot drift apart; [`markdown`] prints it as it must read.
//! - No production `let _ =` on a store call: a dropped store write is either handled or
//!   explained where it happens (`garm_pool::logged` does both).

use std::path::Path;

/// Each crate (by directory name) and the garm-rs crates it may depend on. Lower layers first.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("garm-base", &[]),
    ("garm-model", &["garm-base"]),
    ("garm-api-types", &[]),
    ("garm-template", &[]),
    ("garm-provider-protocol", &["garm-base"]),
    ("garm-provider", &["garm-provider-protocol"]),
    ("garm-store", &["garm-model"]),
    ("garm-forge", &["garm-base", "garm-model"]),
    ("garm-attest", &[]),
    (
        "garm-pool",
        &[
            "garm-base",
            "garm-forge",
            "garm-model",
            "garm-provider",
            "garm-provider-protocol",
            "garm-store",
            "garm-template",
        ],
    ),
    ("garm-import", &["garm-model", "garm-store", "garm-template"]),
    (
        "garm-server",
        &[
            "garm-api-types",
            "garm-attest",
            "garm-base",
            "garm-forge",
            "garm-import",
            "garm-model",
            "garm-pool",
            "garm-provider",
            "garm-store",
            "garm-template",
        ],
    ),
    ("garm-cli", &[]),
    (
        "garm-provider-azure",
        &["garm-base", "garm-provider-protocol", "garm-template"],
    ),
    ("garm-provider-docker", &["garm-base", "garm-provider-protocol"]),
    ("garm-test-provider", &["garm-provider-protocol"]),
    ("garm-fake-github", &["garm-base"]),
    ("garm-fake-arm", &[]),
    ("garm-deploy-check", &[]),
    ("garm-e2e", &["garm-fake-arm", "garm-fake-github"]),
    ("garm-bench", &["garm-fake-github", "garm-provider-protocol"]),
    ("xtask", &["garm-deploy-check"]),
];

const BEGIN: &str = "<!-- tidy:layers -->";
const END: &str = "<!-- /tidy:layers -->";

/// The garm-rs crates named in the `[dependencies]` table of a `Cargo.toml`.
pub fn garm_dependencies(manifest: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps || line.starts_with('#') {
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or_default().trim_matches('"');
        if key.starts_with("garm-") && !found.iter().any(|f| f == key) {
            found.push(key.to_owned());
        }
    }
    found
}

/// The table as ARCHITECTURE.md shows it, markers included.
pub fn markdown() -> String {
    let mut out = format!("{BEGIN}\n| crate | may depend on |\n|---|---|\n");
    for (krate, deps) in LAYERS {
        let allowed = if deps.is_empty() {
            "(no garm-rs crate)".to_owned()
        } else {
            deps.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
        };
        out.push_str(&format!("| `{krate}` | {allowed} |\n"));
    }
    out.push_str(END);
    out
}

/// Problems with the layering: crates the table does not know, dependencies it does not
/// allow, rows for crates that do not exist, and an ARCHITECTURE.md that shows another table.
pub fn check(root: &Path, crates: &[std::path::PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for krate in crates {
        let name = krate.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Ok(manifest) = std::fs::read_to_string(krate.join("Cargo.toml")) else {
            continue;
        };
        seen.push(name.clone());
        let Some((_, allowed)) = LAYERS.iter().find(|(k, _)| *k == name) else {
            problems.push(format!(
                "{name} is not in LAYERS (xtask/src/layers.rs): add its row, and the same row to ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in garm_dependencies(&manifest) {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!(
                    "{name} depends on {dep}, which its row in LAYERS (xtask/src/layers.rs) does not allow"
                ));
            }
        }
    }
    for (krate, _) in LAYERS {
        if !seen.iter().any(|s| s == krate) {
            problems.push(format!("LAYERS lists {krate}, which is not a crate of the workspace"));
        }
    }
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md"))?;
    if !shows_table(&architecture) {
        problems.push(format!(
            "ARCHITECTURE.md must show the layering table of xtask/src/layers.rs exactly:\n{}",
            markdown()
        ));
    }
    Ok(problems)
}

/// Whether `doc` holds exactly [`markdown`] between its markers.
pub fn shows_table(doc: &str) -> bool {
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        return false;
    };
    end > start && doc[start..end + END.len()] == markdown()
}

/// The production `let _ =` statements of `text` that drop the result of a store call, with
/// their line numbers.
pub fn dropped_store_results(text: &str) -> Vec<(usize, String)> {
    let production = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
    let mut found = Vec::new();
    for (at, _) in production.match_indices("let _ =") {
        let statement = &production[at..production[at..].find(';').map_or(production.len(), |e| at + e)];
        // rustfmt breaks long chains over lines: compare without whitespace.
        let compact: String = statement.chars().filter(|c| !c.is_whitespace()).collect();
        let calls_store = compact.match_indices("store.").any(|(i, _)| {
            compact[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        });
        if calls_store {
            let line = production[..at].matches('\n').count() + 1;
            found.push((line, compact));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_read_from_the_dependencies_table_only() {
        let manifest = "[package]\nname = \"garm-x\"\n\n[dependencies]\n# garm-commented = {}\ngarm-base = { path = \"../garm-base\" }\ngarm-model.workspace = true\nserde.workspace = true\n\n[dev-dependencies]\ngarm-fake-github = { path = \"../garm-fake-github\" }\n";
        assert_eq!(garm_dependencies(manifest), vec!["garm-base", "garm-model"]);
    }

    #[test]
    fn the_table_renders_and_is_recognised() {
        let doc = format!("# A\n\ntext\n\n{}\n\nmore\n", markdown());
        assert!(shows_table(&doc));
        assert!(!shows_table(&doc.replace("`garm-base`, `garm-forge`", "`garm-forge`")));
        assert!(!shows_table("no table here"));
    }

    #[test]
    fn a_dropped_store_call_is_found_and_other_drops_are_not() {
        let text = "fn f() {\n    let _ = tx.send(1);\n    let _ = ctx\n        .store\n        .set_state(id).await;\n    let _ = restore.x();\n}\n#[cfg(test)]\nmod tests { fn g() { let _ = store.y(); } }\n";
        let found = dropped_store_results(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(found[0].1.contains("ctx.store.set_state(id)"), "{found:?}");
    }
}
