//! Links the release `garm` with the function order in `link-order.txt`.
//!
//! The functions an idle garm runs then sit together at the start of its code, so only a few
//! page-cache folios of the executable are mapped instead of nearly all of them: idle resident
//! memory 13.7 MB instead of 21 MB (docs/benchmarks.md, "Idle memory: the link order").
//! `cargo xtask link-order` writes the file; names it lists that the build no longer has are
//! ignored, so a stale file costs memory, never a failed link.
//!
//! Only for release builds for x86_64-unknown-linux-gnu, whose default linker is `rust-lld`
//! (`--symbol-ordering-file` is an LLD option). `GARM_LINK_ORDER=off` links without it, e.g. with
//! another linker.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=GARM_LINK_ORDER");
    let target = env::var("TARGET").unwrap_or_default();
    let profile = env::var("PROFILE").unwrap_or_default();
    let off = env::var("GARM_LINK_ORDER").is_ok_and(|v| v == "off");
    if target != "x86_64-unknown-linux-gnu" || profile != "release" || off {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let file = Path::new(&dir).join("link-order.txt");
    if !file.exists() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=garm=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    println!("cargo:rustc-link-arg-bin=garm=-Wl,--no-warn-symbol-ordering");
}
