//! Reading PEM files named on the command line (CA bundles, keys, certificates).

use anyhow::Context as _;

/// Reads a PEM file and checks that it holds at least one PEM block.
pub fn read_pem_file(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let data = std::fs::read(path).with_context(|| format!("reading {what} file {}", path.display()))?;
    if !String::from_utf8_lossy(&data).contains("-----BEGIN ") {
        anyhow::bail!("failed to decode PEM block in {}", path.display());
    }
    Ok(data)
}
