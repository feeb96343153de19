//! The harness talks to nodes with its own clients: no file of the harness
//! may import the systems' runtime (their HTTP client among it), so a
//! protocol bug shared by both ends cannot hide. Only `src/builtin.rs`,
//! which runs the bundled nodes from the faultline executable, may use the
//! `systems` crate at all.

use std::path::{Path, PathBuf};

/// The `systems::` uses in `text`, as `line: text`, ignoring comments.
fn systems_uses(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("systems::")
        })
        .map(|(i, l)| format!("{}: {}", i + 1, l.trim()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_builtin_nodes_use_the_systems_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let mut bad = Vec::new();
    for f in files {
        if f.ends_with("builtin.rs") {
            continue;
        }
        for u in systems_uses(&std::fs::read_to_string(&f).unwrap()) {
            bad.push(format!("{}:{u}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "the harness uses the systems crate:\n{}",
        bad.join("\n")
    );
}

#[test]
fn a_systems_import_is_found() {
    let text = "use serde_json::Value;\n// systems::runtime in a comment\nuse systems::runtime::http::HttpClient;\n";
    assert_eq!(
        systems_uses(text),
        ["3: use systems::runtime::http::HttpClient;"]
    );
}
