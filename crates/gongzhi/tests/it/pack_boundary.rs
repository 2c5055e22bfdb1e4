//! The engine names no pack's states, actions or fields: a capability is a
//! pack of data, and the engine reaches a pack's parts only through its
//! bindings (`packs/README.md`). This scans the engine's Rust (tests and the
//! demo city excepted, since they play a pack's users) for string literals
//! equal to a state, action or field id of a shipped pack.
//!
//! Some words are the engine's own or another standard's and happen to equal
//! a pack's id: a JSON key of the engine's API (`"title": …`), the name of an
//! input on the engine's forms or a query parameter, and the literals listed
//! in `OTHER_VOCABULARY` with the reason for each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gongzhi_domain::pack::PackSet;

/// Ids short or common enough to be ordinary words in any code.
const ORDINARY_WORDS: [&str; 7] = [
    "create", "close", "closed", "open", "void", "start", "finish",
];

/// Literals that are another vocabulary's and happen to equal a pack's id:
/// (file, literal, whose word it is).
const OTHER_VOCABULARY: [(&str, &str, &str); 21] = [
    (
        "crates/domain/src/pack/bindings.rs",
        "in_progress",
        "a mySociety Open311 extended status",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "verification",
        "a key of the pack format's bindings",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "description",
        "a key of the pack format's intake binding",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "address",
        "a key of the pack format's intake binding",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "contact_name",
        "a key of the pack format's intake binding",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "contact_phone",
        "a key of the pack format's intake binding",
    ),
    (
        "crates/domain/src/pack/bindings.rs",
        "source_ref",
        "a key of the pack format's intake binding",
    ),
    (
        "crates/domain/src/pack.rs",
        "category",
        "a field kind and a deadline key of the pack format",
    ),
    (
        "crates/domain/src/pack/roles.rs",
        "assigned",
        "a value of the pack format's role key `sees`",
    ),
    (
        "crates/domain/src/pack.rs",
        "amount",
        "a duration key of the pack format",
    ),
    (
        "crates/domain/src/category.rs",
        "urgency",
        "a column of the category taxonomy files",
    ),
    (
        "crates/store/src/dispatch.rs",
        "result",
        "a column of the assist tasks table",
    ),
    (
        "crates/store/src/tree.rs",
        "origin",
        "a column of the log's checkpoints",
    ),
    (
        "crates/web/src/api/indicators.rs",
        "category",
        "grouping by the city's category taxonomy",
    ),
    (
        "crates/web/src/pages/dashboard.rs",
        "category",
        "grouping by the city's category taxonomy",
    ),
    (
        "crates/web/src/openapi.rs",
        "category",
        "grouping by the city's category taxonomy",
    ),
    (
        "crates/web/src/openapi.rs",
        "description",
        "an OpenAPI keyword",
    ),
    (
        "crates/web/src/open311/mod.rs",
        "description",
        "a GeoReport v2 key",
    ),
    (
        "crates/web/src/open311/mod.rs",
        "address",
        "a GeoReport v2 key",
    ),
    (
        "crates/web/src/open311/render.rs",
        "description",
        "a GeoReport v2 key",
    ),
    (
        "crates/gongzhi/src/bench.rs",
        "description",
        "a GeoReport v2 parameter the bench posts",
    ),
];

/// Calls that read an input of the engine's own forms or a query parameter.
const FORM_READS: [&str; 4] = ["form_value(", "form_get(", "form_input(", "param("];

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
        .flat_map(|t| {
            t.states
                .keys()
                .chain(t.actions.keys())
                .chain(t.fields.keys())
                .cloned()
        })
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
fn the_engine_names_no_pack_state_action_or_field() {
    let root = repo_root();
    let ids = pack_ids(&root);
    assert!(
        ids.contains("dispatch") && ids.contains("contact_phone"),
        "the requests pack's ids were read"
    );
    let mut files = Vec::new();
    engine_sources(&root.join("crates"), &mut files);
    assert!(files.len() > 50, "the engine's sources were found");
    let mut found = Vec::new();
    let mut used = BTreeSet::new();
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
            if FORM_READS.iter().any(|call| line.contains(call)) {
                continue;
            }
            for id in &ids {
                if !names_id(line, id) {
                    continue;
                }
                match OTHER_VOCABULARY
                    .iter()
                    .position(|(f, lit, _)| *f == relative && lit == id)
                {
                    Some(i) => {
                        used.insert(i);
                    }
                    None => found.push(format!("{relative}:{}: \"{id}\"", n + 1)),
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "engine Rust names pack states, actions or fields; bind them in the pack instead:\n{}",
        found.join("\n")
    );
    // An exception nothing needs any more is dropped, so the list stays true.
    let stale: Vec<_> = (0..OTHER_VOCABULARY.len())
        .filter(|i| !used.contains(i))
        .map(|i| OTHER_VOCABULARY[i])
        .collect();
    assert!(stale.is_empty(), "exceptions no longer needed: {stale:?}");
}

/// Whether `line` holds `"id"` other than as a JSON object key (`"id":`).
fn names_id(line: &str, id: &str) -> bool {
    let quoted = format!("\"{id}\"");
    line.match_indices(&quoted).any(|(i, _)| {
        let rest = line[i + quoted.len()..].trim_start();
        !rest.starts_with(':') || rest.starts_with("::")
    })
}

#[test]
fn a_json_key_is_not_a_pack_name_but_a_value_is() {
    assert!(!names_id(r#"json!({"title": t})"#, "title"));
    assert!(names_id(r#"fields.get("title")"#, "title"));
    assert!(names_id(r#"json!({"k": "title"})"#, "title"));
}
