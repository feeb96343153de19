//! The direction of dependencies between the workspace's crates
//! (ARCHITECTURE.md, "Crates and the direction of dependencies"), checked
//! over `cargo metadata`:
//!
//! * `checker` depends on no crate of ours (it is a library others can use);
//! * `systems` on none (the systems under test know nothing of the harness);
//! * `nemesis` on at most `checker` (for the history types);
//! * `reports` on at most `checker`;
//! * only `faultline` (the harness) may depend on everything.
//!
//! Every kind of dependency counts (normal, build and dev): a dev-dependency
//! pointing the wrong way still ties a crate's tests to a crate above it.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The workspace crates each crate may depend on; `None` means any.
fn allowed(package: &str) -> Option<Option<&'static [&'static str]>> {
    match package {
        "checker" => Some(Some(&[])),
        "systems" => Some(Some(&[])),
        "nemesis" => Some(Some(&["checker"])),
        "reports" => Some(Some(&["checker"])),
        "faultline" => Some(None),
        _ => None,
    }
}

/// One arrow between workspace crates: (from, to, kind).
type Arrow = (String, String, String);

/// The arrows between workspace members in `cargo metadata` output.
fn arrows(metadata: &Value) -> (BTreeSet<String>, Vec<Arrow>) {
    let packages = metadata["packages"].as_array().expect("`packages` array");
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap_or_default().to_string();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let to = d["name"].as_str().unwrap_or_default();
            // A workspace crate is a path dependency on a member (`name` is
            // the package name even when the dependency is renamed).
            if d["path"].is_string() && members.contains(to) {
                let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                out.push((from.clone(), to.to_string(), kind));
            }
        }
    }
    (members, out)
}

/// Every rule broken, as one line each.
fn violations(metadata: &Value) -> Vec<String> {
    let (members, arrows) = arrows(metadata);
    let mut bad = Vec::new();
    for m in &members {
        if allowed(m).is_none() {
            bad.push(format!(
                "workspace crate `{m}` is not in the dependency table: add a rule for it here and in ARCHITECTURE.md"
            ));
        }
    }
    for (from, to, kind) in &arrows {
        if let Some(Some(ok)) = allowed(from) {
            if !ok.contains(&to.as_str()) {
                let may = if ok.is_empty() {
                    "no crate of ours".to_string()
                } else {
                    ok.join(", ")
                };
                bad.push(format!(
                    "`{from}` has a {kind} dependency on `{to}`, but it may depend on {may}"
                ));
            }
        }
    }
    bad
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .args(["--manifest-path", manifest])
        .output()
        .unwrap_or_else(|e| panic!("run `{cargo} metadata`: {e}"));
    assert!(
        out.status.success(),
        "`cargo metadata` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn dependency_arrows_point_down() {
    let metadata = cargo_metadata();
    let (members, arrows) = arrows(&metadata);
    // The crates of the table exist, so the rules are not vacuous.
    for name in ["checker", "nemesis", "systems", "reports", "faultline"] {
        assert!(
            members.contains(name),
            "no workspace crate `{name}`: {members:?}"
        );
    }
    // Path dependencies are recognised: the harness uses the checker.
    assert!(
        arrows
            .iter()
            .any(|(f, t, _)| f == "faultline" && t == "checker"),
        "no arrow faultline -> checker found: {arrows:?}"
    );
    let bad = violations(&metadata);
    let mut graph: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (from, to, kind) in &arrows {
        graph
            .entry(from)
            .or_default()
            .push(format!("{to} ({kind})"));
    }
    assert!(
        bad.is_empty(),
        "dependency arrows point the wrong way:\n  {}\nworkspace graph: {graph:?}",
        bad.join("\n  ")
    );
}

/// The rules catch what they should, on made-up metadata.
#[test]
fn violations_are_reported() {
    let dep = |name: &str, kind: Option<&str>| serde_json::json!({"name": name, "kind": kind, "path": format!("/ws/{name}")});
    let ext = serde_json::json!({"name": "serde", "kind": null});
    let metadata = serde_json::json!({"packages": [
        {"name": "checker", "dependencies": [ext, dep("reports", Some("dev"))]},
        {"name": "systems", "dependencies": [dep("checker", None)]},
        {"name": "nemesis", "dependencies": [dep("checker", None), dep("systems", Some("build"))]},
        {"name": "reports", "dependencies": [dep("checker", None)]},
        {"name": "faultline", "dependencies": [
            dep("checker", None), dep("nemesis", None), dep("systems", None), dep("reports", None)
        ]},
        {"name": "scripts", "dependencies": []},
    ]});
    let bad = violations(&metadata);
    assert_eq!(bad.len(), 4, "{bad:#?}");
    assert!(bad[0].contains("`scripts` is not in the dependency table"));
    assert!(bad[1].contains("`checker` has a dev dependency on `reports`"));
    assert!(bad[2].contains("`systems` has a normal dependency on `checker`"));
    assert!(bad[3].contains("`nemesis` has a build dependency on `systems`"));

    // The real layering, as in ARCHITECTURE.md, passes.
    let ok = serde_json::json!({"packages": [
        {"name": "checker", "dependencies": [ext]},
        {"name": "systems", "dependencies": []},
        {"name": "nemesis", "dependencies": [dep("checker", None)]},
        {"name": "reports", "dependencies": [dep("checker", None)]},
        {"name": "faultline", "dependencies": [dep("checker", None), dep("systems", Some("dev"))]},
    ]});
    assert!(violations(&ok).is_empty(), "{:#?}", violations(&ok));
}
