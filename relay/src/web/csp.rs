//! The Content-Security-Policy every answer carries.
//!
//! The panel shows text that callers choose (caller ID names), so a policy that lets
//! no script run but the app's own is the second wall behind rendering it as text.
//! A WASM app needs `'wasm-unsafe-eval'` to compile its module; Trunk's loader and
//! the page's error hook are inline scripts, allowed by their SHA-256 hashes, which
//! are read from the embedded `index.html` so that a rebuild cannot break the policy.
//! Inline style attributes stay allowed: they cannot run code, and the app sets
//! sizes and positions through them.

use base64::Engine;
use sha2::{Digest, Sha256};

/// `'sha256-…'` of each inline `<script>` (one without `src`) in `html`.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let body = &rest[tag_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body.as_bytes()[..close]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push(format!("'sha256-{encoded}'"));
        }
        rest = &body[close..];
    }
    hashes
}

/// The policy, with `frame_ancestors` (`'none'`, or the CRM origins for the pop).
pub fn policy(script_hashes: &[String], frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval' {}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {frame_ancestors}",
        script_hashes.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_scripts_are_hashed_and_exactly_their_text() {
        let html = "<head><script>alert(1)</script>\n<script type=\"module\" src=\"/app.js\"></script>\
                    <script type=\"module\">\nimport init from '/a.js';\n</script></head>";
        let hashes = inline_script_hashes(html);
        let expected = |text: &str| {
            let digest = Sha256::digest(text.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        assert_eq!(
            hashes,
            [
                expected("alert(1)"),
                expected("\nimport init from '/a.js';\n")
            ]
        );
        // `alert(1)` hashes to what CSP documentation examples show.
        assert_eq!(
            hashes[0],
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
        assert!(inline_script_hashes("<script>never closed").is_empty());
    }

    #[test]
    fn the_policy_names_the_hashes_and_the_framing_rule() {
        let policy = policy(&["'sha256-x'".into()], "https://crm.example.com");
        assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-x';"));
        assert!(policy.ends_with("frame-ancestors https://crm.example.com"));
        assert!(policy.starts_with("default-src 'none';"));
    }
}
