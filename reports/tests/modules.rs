//! The crate's modules depend on each other in a DAG: no two modules reach
//! each other through `crate::` paths (the crate root, which only declares
//! and re-exports, is left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the modules its source names as `crate::<module>`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mods = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.extension().and_then(|x| x.to_str()) != Some("rs") || name == "lib" {
            continue;
        }
        mods.insert(name, std::fs::read_to_string(&p).unwrap());
    }
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    mods.iter()
        .map(|(m, text)| {
            let mut deps = BTreeSet::new();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                // `crate::{a, b}` and `crate::a::...`
                let group = if let Some(g) = rest.strip_prefix('{') {
                    &g[..g.find('}').unwrap_or(g.len())]
                } else {
                    &rest[..rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len())]
                };
                for part in group.split(',') {
                    let d = part.trim().split("::").next().unwrap_or("").trim();
                    if names.contains(d) && d != m {
                        deps.insert(d.to_string());
                    }
                }
            }
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn module_dependencies_form_a_dag() {
    let g = graph();
    assert!(g.contains_key("markup") && g.contains_key("html"), "{g:?}");
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = path.iter().position(|x| x == m) {
            panic!("import cycle: {} -> {m}", path[i..].join(" -> "));
        }
        path.push(m.to_string());
        for d in &g[m] {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(m, &g, &mut Vec::new(), &mut done);
    }
    // The escaping module is the bottom: it uses no other module.
    assert!(g["markup"].is_empty(), "{:?}", g["markup"]);
    assert!(!g["faults"].contains("run"), "faults must not use run");
}
