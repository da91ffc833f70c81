//! Builds the SPA with Trunk into `target/spa`, which the relay embeds, writes a brotli and a
//! gzip copy beside each file for the relay to send as they are, and reports the WASM size.

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
    let dist = sh.root().join(DIST);
    precompress(&dist)?;
    let wasm = release_wasm(&dist)?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let compressed = brotli(&bytes)?.len();
    let name = wasm.file_name().unwrap_or_default().to_string_lossy();
    println!(
        "spa: {name} {} raw, {} brotli (built in {})",
        kib(bytes.len()),
        kib(compressed),
        sh::elapsed(start)
    );
    Ok(())
}

/// Writes `NAME.br` and `NAME.gz` beside every file Trunk wrote, each only where it is
/// smaller than the file: the relay sends them as they are to browsers that accept them
/// (`relay/src/web/assets.rs`), at a quality too slow to reach on every request. Trunk
/// empties `dist` on every build, so no copy outlives its file.
fn precompress(dist: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && !is_copy(path))
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        for (suffix, copy) in [("br", brotli(&bytes)?), ("gz", gzip(&bytes)?)] {
            if copy.len() < bytes.len() {
                let mut name = file.clone().into_os_string();
                name.push(format!(".{suffix}"));
                std::fs::write(&name, copy)
                    .with_context(|| format!("writing {}", Path::new(&name).display()))?;
            }
        }
    }
    Ok(())
}

/// Whether `path` is a copy [`precompress`] wrote.
fn is_copy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == "br" || ext == "gz")
}

/// Brotli at its best quality, as the bench measures it (quality 11, window 22).
fn brotli(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    const QUALITY: u32 = 11;
    const WINDOW_BITS: u32 = 22;
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, QUALITY, WINDOW_BITS);
    writer
        .write_all(bytes)
        .context("brotli compression failed")?;
    Ok(writer.into_inner())
}

/// Gzip at its best level, for browsers without brotli.
fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut writer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    writer.write_all(bytes).context("gzip compression failed")?;
    writer.finish().context("gzip compression failed")
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

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::Path;

    use super::{brotli, gzip, is_copy, kib, precompress};

    #[test]
    fn brotli_shrinks_repetitive_input_and_kib_has_one_decimal() {
        let input = b"AstPanel ".repeat(10_000);
        let compressed = brotli(&input).ok();
        assert!(
            compressed
                .as_ref()
                .is_some_and(|c| !c.is_empty() && c.len() < input.len() / 100),
            "{compressed:?}"
        );
        assert_eq!(kib(1536), "1.5 KiB");
    }

    #[test]
    fn each_file_gets_copies_that_read_back_to_it_and_a_tiny_one_none() {
        let dist = tempfile::tempdir().unwrap();
        let app = b"export function start() {}\n".repeat(100);
        std::fs::write(dist.path().join("app-1.js"), &app).unwrap();
        std::fs::write(dist.path().join("x.css"), "a{}").unwrap();
        precompress(dist.path()).unwrap();
        // Twice: the copies themselves get no copies.
        precompress(dist.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dist.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["app-1.js", "app-1.js.br", "app-1.js.gz", "x.css"]);
        let read = |name: &str| std::fs::read(dist.path().join(name)).unwrap();
        let mut plain = Vec::new();
        ::brotli::BrotliDecompress(&mut read("app-1.js.br").as_slice(), &mut plain).unwrap();
        assert_eq!(plain, app);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(read("app-1.js.gz").as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, app);
        assert!(gzip(&app).unwrap().len() < app.len());
        assert!(is_copy(Path::new("a.wasm.br")) && !is_copy(Path::new("a_bg.wasm")));
    }
}
