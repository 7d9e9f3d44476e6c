//! The crate's modules import one way: each only modules listed before it in
//! [`ORDER`] (the layers of the crate's first doc comment). A `crate::` path
//! naming a later module, in any file of a module, fails this test, so a circle
//! of imports cannot come back unnoticed.

use std::path::{Path, PathBuf};

/// Every module of `src/`, lower layers first.
const ORDER: &[&str] = &[
    "records",
    "format",
    "changes",
    "digest",
    "source",
    "progress",
    "jobs",
    "retention",
    "manifest",
    "notes",
    "read",
    "diff",
    "layer",
    "consistent",
    "snapshot",
    "archive",
    "recovery",
    "stats",
    "verify",
    "replay",
    "restore",
    "pitr",
    "forget",
    "service",
];

/// The module names a file's `crate::` paths start with, with their lines.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::{c, d}}`: the first name of each item at depth one.
                let (mut depth, mut item_start) = (0usize, true);
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_alphabetic() || c == '_') => {
                            let name: String =
                                group[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                            out.push((number + 1, name));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.push((number + 1, name));
            }
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to (`source/remote.rs` → `source`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_import_only_the_layers_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "error" {
            continue;
        }
        let Some(rank) = ORDER.iter().position(|m| *m == module) else {
            panic!("module `{module}` ({}) is not in ORDER; place it in its layer", file.display());
        };
        seen.insert(ORDER[rank]);
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for (line, name) in crate_paths(&text) {
            if let Some(other) = ORDER.iter().position(|m| *m == name) {
                if other > rank && name != module {
                    wrong.push(format!("{}:{line}: `{module}` imports `{name}`, a later layer", file.display()));
                }
            }
        }
    }
    let missing: Vec<_> = ORDER.iter().filter(|m| !seen.contains(*m)).collect();
    assert!(missing.is_empty(), "ORDER names modules with no file under {}: {missing:?}", src.display());
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn the_path_reader_sees_grouped_and_nested_imports() {
    let text = "use crate::{format, source::{A, B}, digest};\nlet x = crate::pitr::replay(); // crate::service\n";
    let names: Vec<String> = crate_paths(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["format", "source", "digest", "pitr"]);
}
