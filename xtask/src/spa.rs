//! Builds the SPA with Trunk into `target/spa`, which the relay embeds, and reports the WASM size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::setup::Tools;
use crate::sh;

/// Trunk's `dist` in Trunk.toml, relative to the root.
const DIST: &str = "target/spa";
/// The cargo profile for the WASM (size first, with LTO), kept apart from `release` so the
/// relay's native release build stays quick. Given on the command line rather than in
/// Trunk.toml so that a debug `trunk serve` does not pay for LTO.
const PROFILE: &str = "wasm-release";

/// `trunk build --release`, offline, with the tools `setup` found.
pub fn build(tools: &Tools) -> anyhow::Result<()> {
    let sh = &tools.sh;
    let start = Instant::now();
    // Trunk.toml makes Trunk run cargo with --offline, so a fresh clone fetches first.
    sh::run(sh.cmd("cargo").args(["fetch", "--quiet"]))?;
    // The env var overrides Trunk.toml's pin with Cargo.lock's version, which is the one
    // `setup` installed; the tidy test keeps the two equal for plain `trunk` users.
    sh::run(
        sh.cmd("trunk")
            .args(["build", "--release", "--cargo-profile", PROFILE])
            .env("TRUNK_TOOLS_WASM_BINDGEN", &tools.wasm_bindgen),
    )?;
    let wasm = release_wasm(&sh.root().join(DIST))?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let compressed = brotli_len(&bytes)?;
    let name = wasm.file_name().unwrap_or_default().to_string_lossy();
    println!(
        "spa: {name} {} raw, {} brotli (built in {})",
        kib(bytes.len()),
        kib(compressed),
        sh::elapsed(start)
    );
    Ok(())
}

/// The one `.wasm` Trunk wrote (its name carries a content hash).
fn release_wasm(dist: &Path) -> anyhow::Result<PathBuf> {
    let entries = std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))?;
    let mut wasm: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    match wasm.len() {
        1 => Ok(wasm.remove(0)),
        n => bail!("expected one .wasm in {}, found {n}", dist.display()),
    }
}

/// Size after brotli at its best quality, as a server would precompress the file.
fn brotli_len(bytes: &[u8]) -> anyhow::Result<usize> {
    const QUALITY: u32 = 11;
    const WINDOW_BITS: u32 = 22;
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, QUALITY, WINDOW_BITS);
    writer
        .write_all(bytes)
        .context("brotli compression failed")?;
    Ok(writer.into_inner().len())
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::{brotli_len, kib};

    #[test]
    fn brotli_shrinks_repetitive_input_and_kib_has_one_decimal() {
        let input = b"AstPanel ".repeat(10_000);
        let compressed = brotli_len(&input).ok();
        assert!(
            compressed.is_some_and(|len| len > 0 && len < input.len() / 100),
            "{compressed:?}"
        );
        assert_eq!(kib(1536), "1.5 KiB");
    }
}
