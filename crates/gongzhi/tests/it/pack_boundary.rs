//! The engine names no pack's states or actions: a capability is a pack of
//! data, and the engine reaches a pack's parts only through its bindings
//! (`packs/README.md`). This scans the engine's Rust (tests and the demo city
//! excepted, since they play a pack's users) for string literals equal to a
//! state or action id of a shipped pack.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gongzhi_domain::pack::PackSet;

/// Ids short or common enough to be ordinary words in any code.
const ORDINARY_WORDS: [&str; 7] = [
    "create", "close", "closed", "open", "void", "start", "finish",
];

/// Literals that are another standard's vocabulary and happen to equal a
/// pack's id: (file, literal, why).
const STANDARD_VOCABULARY: [(&str, &str, &str); 1] = [(
    "crates/domain/src/pack/bindings.rs",
    "in_progress",
    "a mySociety Open311 extended status",
)];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pack_ids(root: &Path) -> BTreeSet<String> {
    let mut sources = Vec::new();
    let packs = std::fs::read_dir(root.join("packs")).unwrap_or_else(|e| panic!("packs/: {e}"));
    for dir in packs.flatten() {
        let file = dir.path().join("pack.toml");
        if let Ok(text) = std::fs::read_to_string(&file) {
            sources.push((file.display().to_string(), text));
        }
    }
    assert!(
        sources.len() >= 2,
        "expected the shipped packs under packs/"
    );
    let set = PackSet::from_sources(&sources).unwrap_or_else(|e| panic!("{e}"));
    set.case_types()
        .flat_map(|t| t.states.keys().chain(t.actions.keys()).cloned())
        .filter(|id| id.len() >= 4 && !ORDINARY_WORDS.contains(&id.as_str()))
        .collect()
}

fn engine_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" && name != "demo" {
                engine_sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && name != "demo.rs" {
            out.push(path);
        }
    }
}

#[test]
fn the_engine_names_no_pack_state_or_action() {
    let root = repo_root();
    let ids = pack_ids(&root);
    assert!(
        ids.contains("dispatch"),
        "the requests pack's ids were read"
    );
    let mut files = Vec::new();
    engine_sources(&root.join("crates"), &mut files);
    assert!(files.len() > 50, "the engine's sources were found");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        // Unit tests at the end of a file play a pack's users too.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in code.lines().enumerate() {
            for id in &ids {
                let excepted = STANDARD_VOCABULARY
                    .iter()
                    .any(|(f, lit, _)| *f == relative && lit == id);
                if !excepted && line.contains(&format!("\"{id}\"")) {
                    found.push(format!("{relative}:{}: \"{id}\"", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine Rust names pack states or actions; bind them in the pack instead:\n{}",
        found.join("\n")
    );
}
