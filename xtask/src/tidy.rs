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
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

/// The relay's layer rules, as ARCHITECTURE.md states them in its `layers` block:
/// each line names a module of `relay/src` and the modules it may import.
fn layer_rules(architecture: &str) -> Vec<(String, Vec<String>)> {
    let block = architecture
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default();
    block
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let (module, allowed) = line.split_once(':')?;
            Some((
                module.trim().to_owned(),
                allowed.split_whitespace().map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// The first segment of every `crate::` path in `text`, outside comment lines:
/// `use crate::{a::B, c}` names `a` and `c`.
fn crate_imports(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            names.push(std::mem::take(&mut item));
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                names.push(item);
            } else {
                names.push(rest.to_owned());
            }
        }
    }
    names
        .iter()
        .map(|name| {
            name.trim()
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

/// The module a file of a crate's `src` is in, `depth` path components deep
/// (`relay/src/web/ws.rs` at depth 1 is `web`; `frontend/src/views/pop.rs` at 2 is
/// `views::pop`).
fn module_of(src: &Path, file: &Path, depth: usize) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|part| part != "mod")
        .take(depth)
        .collect();
    parts.join("::")
}

/// The cycles of a graph given as edges, as the modules of each (empty: none).
fn cycles(edges: &std::collections::BTreeSet<(String, String)>) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges {
        next.entry(from).or_default().insert(to);
    }
    let mut found = Vec::new();
    for start in next.keys() {
        // Depth-first from each module, back to itself.
        let mut stack = vec![(*start, vec![*start])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for &to in next.get(at).into_iter().flatten() {
                if to == *start {
                    found.push(path.join(" -> ") + " -> " + start);
                } else if seen.insert(to) {
                    let mut longer = path.clone();
                    longer.push(to);
                    stack.push((to, longer));
                }
            }
        }
    }
    found
}

/// Modules that are test wiring, not layers: `relay::testing` (compiled for unit tests
/// only) builds a real service that tests of every layer use.
const TEST_WIRING: &[&str] = &["testing"];

/// Every `crate::` import of `krate`'s files, as (importer, imported) modules at `depth`,
/// test wiring left out.
fn import_edges(krate: &str, depth: usize) -> std::collections::BTreeSet<(String, String)> {
    let src = project_root().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found only {files:?} in {}", src.display());
    let modules: std::collections::BTreeSet<String> =
        files.iter().map(|f| module_of(&src, f, depth)).collect();
    let mut edges = std::collections::BTreeSet::new();
    for file in &files {
        let from = module_of(&src, file, depth);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for import in crate_imports(&text) {
            // `crate::views::pop::Pop` at depth 2 is the module `views::pop`.
            let candidates: Vec<&String> = modules
                .iter()
                .filter(|m| *m == &import || m.starts_with(&format!("{import}::")))
                .collect();
            let to = match candidates.as_slice() {
                [one] => (*one).clone(),
                _ => import,
            };
            let wiring = |m: &str| {
                TEST_WIRING
                    .iter()
                    .any(|w| m == *w || m.starts_with(&format!("{w}::")))
            };
            if to != from && !wiring(&from) && !wiring(&to) {
                edges.insert((from.clone(), to));
            }
        }
    }
    edges
}

#[test]
fn the_relay_keeps_its_layers_as_architecture_md_states_them() {
    let root = project_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
    let rules = layer_rules(&architecture);
    assert!(
        rules.len() > 5,
        "ARCHITECTURE.md has no ```layers block: {rules:?}"
    );
    let allowed: std::collections::BTreeMap<&str, &Vec<String>> =
        rules.iter().map(|(m, a)| (m.as_str(), a)).collect();
    let edges = import_edges("relay", 1);
    let mut broken = Vec::new();
    for (from, to) in &edges {
        // `lib` and `main` wire everything together.
        if from == "lib" || from == "main" {
            continue;
        }
        match allowed.get(from.as_str()) {
            Some(may) if may.contains(to) => {}
            Some(_) => broken.push(format!("{from} imports {to}")),
            None => broken.push(format!("{from} has no line in the layers block")),
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n  {}",
        broken.join("\n  ")
    );
    // The rules themselves point one way.
    let stated: std::collections::BTreeSet<(String, String)> = rules
        .iter()
        .flat_map(|(m, may)| may.iter().map(move |to| (m.clone(), to.clone())))
        .collect();
    assert_eq!(
        cycles(&stated),
        Vec::<String>::new(),
        "the layers block has a cycle"
    );
}

#[test]
fn nothing_below_the_web_layer_uses_axum() {
    let src = project_root().join("relay/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| !matches!(module_of(&src, file, 1).as_str(), "web" | "lib" | "main"))
        .filter(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .any(|line| !line.trim_start().starts_with("//") && line.contains("axum"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "axum below web/: {offenders:?}");
}

#[test]
fn no_module_of_the_relay_or_the_frontend_imports_one_that_imports_it_back() {
    for (krate, depth) in [("relay", 1), ("relay", 3), ("frontend", 2)] {
        let found = cycles(&import_edges(krate, depth));
        assert!(
            found.is_empty(),
            "import cycles in {krate}:\n  {}",
            found.join("\n  ")
        );
    }
    // The frontend's views import the layers below them, never one another.
    let between_views: Vec<String> = import_edges("frontend", 2)
        .into_iter()
        .filter(|(from, to)| from.starts_with("views::") && to.starts_with("views::"))
        .map(|(from, to)| format!("{from} imports {to}"))
        .collect();
    assert!(between_views.is_empty(), "{between_views:?}");
}

#[test]
fn the_import_reader_sees_groups_and_skips_comments() {
    let text = "use crate::{a::B, c};\n// crate::hidden\nlet x = crate::d::e();\nuse crate::{f::{G, H}, self};";
    assert_eq!(crate_imports(text), ["a", "c", "d", "f"]);
    let edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    assert_eq!(
        cycles(&edges).len(),
        3,
        "the one cycle, from each of its modules"
    );
}
