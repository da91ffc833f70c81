//! Repository-wide conventions, checked by `cargo test -p xtask` (after rust-analyzer's tidy).

use std::path::{Path, PathBuf};

use crate::project_root;

const CRATES: [&str; 7] = [
    "shared", "relay", "frontend", "pbxsim", "e2e", "xtask", "testkit",
];

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let root = project_root();
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&root.join(krate), &mut files);
    }
    assert!(files.len() > 5, "found only {files:?}: is the walk broken?");
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|file| {
            file.strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these files must open with a `//!` line saying what they are for:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn trunk_toml_pins_the_tools_setup_installs() {
    let root = project_root();
    let trunk_toml = std::fs::read_to_string(root.join("Trunk.toml")).unwrap_or_default();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let wasm_bindgen = crate::setup::locked_version(&lock, "wasm-bindgen").ok();
    let pin = |key: &str| {
        trunk_toml.lines().find_map(|line| {
            let value = line.trim().strip_prefix(key)?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
    };
    assert_eq!(
        pin("wasm_bindgen"),
        wasm_bindgen,
        "Trunk.toml [tools] vs Cargo.lock"
    );
    let wasm_opt = format!("version_{}", crate::setup::BINARYEN);
    assert_eq!(
        pin("wasm_opt"),
        Some(wasm_opt),
        "Trunk.toml [tools] vs setup::BINARYEN"
    );
}

/// Every `.rs` file under `dir`, skipping build output and hidden folders.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}
