//! The release SPA's size: each WASM, JS and CSS file of `target/spa` raw, brotli at
//! quality 11 (what a server precompressing static files uses), and as the relay sends it
//! to a browser that accepts `br` (the copy `cargo xtask spa` precompressed, if any).

use std::path::Path;

use anyhow::{Context, bail};
use tokio::sync::oneshot;

/// One file of the bundle.
pub struct Asset {
    pub name: String,
    pub raw: usize,
    /// brotli at quality 11, window 22.
    pub brotli: usize,
    /// The body the relay sends for `Accept-Encoding: br`.
    pub served: usize,
    /// The relay's `Content-Encoding` for it ("identity" when none).
    pub encoding: String,
}

/// The files the bundle is made of: what a browser must fetch before the app runs.
fn is_bundle(name: &str) -> bool {
    [".wasm", ".js", ".css"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Every WASM, JS and CSS file in `dist`, measured three ways; `relay` serves the same build.
pub async fn measure(dist: &Path, relay: &str) -> anyhow::Result<Vec<Asset>> {
    let entries = std::fs::read_dir(dist).with_context(|| {
        format!(
            "reading {} (build the SPA with `cargo xtask spa`)",
            dist.display()
        )
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_bundle(name))
        .collect();
    names.sort();
    if !names.iter().any(|n| n.ends_with(".wasm")) {
        bail!(
            "{} holds no .wasm: build the SPA with `cargo xtask spa`",
            dist.display()
        );
    }
    let http = reqwest::Client::builder()
        .timeout(e2e::WAIT)
        .build()
        .context("an HTTP client")?;
    let mut assets = Vec::new();
    for name in names {
        let bytes = std::fs::read(dist.join(&name))
            .with_context(|| format!("reading {}", dist.join(&name).display()))?;
        let response = http
            .get(format!("{relay}/{name}"))
            .header(reqwest::header::ACCEPT_ENCODING, "br")
            .send()
            .await
            .with_context(|| format!("fetching {name} from the relay"))?;
        if !response.status().is_success() {
            bail!("the relay answered {} for {name}", response.status());
        }
        let encoding = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        let served = response.bytes().await?.len();
        assets.push(Asset {
            brotli: brotli_size(&bytes)?,
            raw: bytes.len(),
            served,
            encoding,
            name,
        });
    }
    Ok(assets)
}

/// [`measure`] against a relay of its own (with its demo PBX), for `--only bundle`.
pub async fn measure_alone(dist: &Path) -> anyhow::Result<Vec<Asset>> {
    let (stop, stopped) = oneshot::channel::<()>();
    let relay = crate::browser::start_relay(None, stopped).await?;
    let assets = measure(dist, &relay).await;
    let _ = stop.send(());
    assets
}

fn brotli_size(bytes: &[u8]) -> anyhow::Result<usize> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli")?;
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::{brotli_size, is_bundle};

    #[test]
    fn the_bundle_is_wasm_js_and_css_and_brotli_shrinks_text() {
        assert!(is_bundle("frontend-1_bg.wasm") && is_bundle("frontend-1.js"));
        assert!(is_bundle("style-2.css") && !is_bundle("index.html"));
        let text = b"<li data-testid=\"channel\"></li>".repeat(1000);
        let size = brotli_size(&text).ok();
        assert!(
            size.is_some_and(|s| s > 0 && s < text.len() / 50),
            "{size:?}"
        );
    }
}
