//! Placement: which isolation models a set of anomalies rules out.
//!
//! The lattice follows Elle's consistency-model graph (jepsen-io/elle,
//! `consistency_model.clj`), which draws on Adya's PL levels, Cerone et
//! al.'s atomic-visibility models and Bailis et al.'s "Highly Available
//! Transactions": a subset of its models (those whose anomalies faultline
//! can find), the same "stronger implies weaker" edges, the same anomaly
//! implications (G0 implies G1c, G-single implies G-nonadjacent, a data
//! cycle implies its -process and -realtime forms, ...) and the same
//! anomalies each model proscribes. The data here is written afresh.
//!
//! Two readings of our own: every anti-dependency faultline infers is on an
//! item (a key), so G-single and G-nonadjacent here are their "-item"
//! forms and also imply G2-item; and a garbage read (a value nobody wrote)
//! is, like duplicate elements, outside any Adya history, so it rules out
//! read uncommitted.

/// The usual models in one line (short name, model), weakest first: what
/// the CLI's `isolation:` line and the report's strip show.
pub const SUMMARY: [(&str, &str); 8] = [
    ("RU", "read-uncommitted"),
    ("RC", "read-committed"),
    ("MAV", "monotonic-atomic-view"),
    ("RR", "repeatable-read"),
    ("SI", "snapshot-isolation"),
    ("SER", "serializable"),
    ("SS-SER", "strong-session-serializable"),
    ("STRICT", "strict-serializable"),
];

/// The models, weakest first (a topological order: every model comes after
/// all the models it implies).
pub const MODELS: [&str; 23] = [
    "read-uncommitted",
    "read-committed",
    "strong-session-read-uncommitted",
    "strong-read-uncommitted",
    "strong-session-read-committed",
    "strong-read-committed",
    "cursor-stability",
    "monotonic-view",
    "monotonic-atomic-view",
    "consistent-view",
    "forward-consistent-view",
    "read-atomic",
    "causal-cerone",
    "prefix",
    "parallel-snapshot-isolation",
    "repeatable-read",
    "update-serializable",
    "snapshot-isolation",
    "strong-session-snapshot-isolation",
    "strong-snapshot-isolation",
    "serializable",
    "strong-session-serializable",
    "strict-serializable",
];

/// `(stronger, [weaker ...])`: a history satisfying the first satisfies
/// each of the others.
const IMPLIES: [(&str, &[&str]); 22] = [
    ("read-committed", &["read-uncommitted"]),
    ("strong-session-read-uncommitted", &["read-uncommitted"]),
    (
        "strong-read-uncommitted",
        &["strong-session-read-uncommitted"],
    ),
    (
        "strong-session-read-committed",
        &["read-committed", "strong-session-read-uncommitted"],
    ),
    (
        "strong-read-committed",
        &["strong-session-read-committed", "strong-read-uncommitted"],
    ),
    ("cursor-stability", &["read-committed"]),
    ("monotonic-view", &["read-committed"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("causal-cerone", &["read-atomic"]),
    ("prefix", &["causal-cerone"]),
    ("parallel-snapshot-isolation", &["causal-cerone"]),
    (
        "repeatable-read",
        &["cursor-stability", "monotonic-atomic-view"],
    ),
    ("update-serializable", &["forward-consistent-view"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strong-session-snapshot-isolation",
        &["snapshot-isolation", "strong-session-read-committed"],
    ),
    (
        "strong-snapshot-isolation",
        &["strong-session-snapshot-isolation", "strong-read-committed"],
    ),
    (
        "serializable",
        &[
            "repeatable-read",
            "snapshot-isolation",
            "update-serializable",
        ],
    ),
    (
        "strong-session-serializable",
        &["serializable", "strong-session-snapshot-isolation"],
    ),
    (
        "strict-serializable",
        &[
            "serializable",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
];

/// `(model, [anomalies it proscribes directly])`; a model also proscribes
/// what the models it implies proscribe.
const PROSCRIBES: [(&str, &[&str]); 22] = [
    (
        "read-uncommitted",
        &[
            "G0",
            "duplicate-elements",
            "garbage-read",
            "cyclic-versions",
        ],
    ),
    ("read-committed", &["G1"]),
    ("strong-session-read-uncommitted", &["G0-process"]),
    ("strong-read-uncommitted", &["G0-realtime"]),
    ("strong-session-read-committed", &["G1c-process"]),
    ("strong-read-committed", &["G1c-realtime"]),
    ("cursor-stability", &["G1", "lost-update"]),
    ("monotonic-view", &["G1"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1"]),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("causal-cerone", &["internal", "G1a"]),
    ("prefix", &["internal", "G1a"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("repeatable-read", &["G1", "G2-item", "lost-update"]),
    ("update-serializable", &["G1"]),
    ("snapshot-isolation", &["internal", "G1", "G-nonadjacent"]),
    (
        "strong-session-snapshot-isolation",
        &["internal", "G1-process", "G-nonadjacent-process"],
    ),
    (
        "strong-snapshot-isolation",
        &["internal", "G1-realtime", "G-nonadjacent-realtime"],
    ),
    (
        "serializable",
        &["internal", "G1", "G2", "serializable-cycle-exists"],
    ),
    (
        "strong-session-serializable",
        &[
            "G1-process",
            "G2-process",
            "strong-session-serializable-cycle-exists",
        ],
    ),
    (
        "strict-serializable",
        &[
            "G1",
            "G1c-realtime",
            "G2-realtime",
            "strict-serializable-cycle-exists",
        ],
    ),
];

/// `(anomaly, [anomalies its presence implies])`.
const ANOMALY_IMPLIES: [(&str, &[&str]); 26] = [
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    ("G-nonadjacent", &["G2-item", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-item-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-item-realtime"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-process", &["G2-realtime"]),
    ("incompatible-order", &["G1a"]),
    ("dirty-update", &["G1a"]),
    ("future-read", &["G1c"]),
    ("lost-update", &["G2-item"]),
    (
        "serializable-cycle-exists",
        &["strong-session-serializable-cycle-exists"],
    ),
];

/// Also implied, kept apart for the array's length.
const MORE_IMPLIES: [(&str, &[&str]); 1] = [(
    "strong-session-serializable-cycle-exists",
    &["strict-serializable-cycle-exists"],
)];

/// The canonical name of a model given by one of its names (Adya's PL
/// names and a few synonyms are accepted).
pub fn canonical(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase().replace('_', "-");
    let alias = match n.as_str() {
        "pl-1" | "ru" => "read-uncommitted",
        "pl-2" | "rc" => "read-committed",
        "pl-cs" => "cursor-stability",
        "pl-2l" => "monotonic-view",
        "pl-2+" => "consistent-view",
        "pl-fcv" => "forward-consistent-view",
        "pl-2.99" | "rr" => "repeatable-read",
        "pl-si" | "si" => "snapshot-isolation",
        "pl-3" | "conflict-serializable" | "ser" => "serializable",
        "pl-3u" => "update-serializable",
        "pl-ss" | "strong-serializable" | "strict-1sr" => "strict-serializable",
        "mav" => "monotonic-atomic-view",
        "ra" => "read-atomic",
        "psi" => "parallel-snapshot-isolation",
        other => other,
    };
    MODELS.iter().copied().find(|m| *m == alias)
}

fn weaker_of(m: &str) -> &'static [&'static str] {
    IMPLIES
        .iter()
        .find(|(s, _)| *s == m)
        .map_or(&[], |(_, w)| *w)
}

fn implied_by_anomaly(a: &str) -> &'static [&'static str] {
    ANOMALY_IMPLIES
        .iter()
        .chain(MORE_IMPLIES.iter())
        .find(|(s, _)| *s == a)
        .map_or(&[], |(_, w)| *w)
}

/// Every model `m` implies, `m` included.
pub fn implied_models(m: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut todo: Vec<&str> = vec![m];
    while let Some(x) = todo.pop() {
        if let Some(c) = canonical(x) {
            if !out.contains(&c) {
                out.push(c);
                todo.extend(weaker_of(c));
            }
        }
    }
    out
}

/// Every anomaly the presence of `found` implies, `found` included.
pub fn implied_anomalies<'a>(found: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut todo: Vec<String> = found.into_iter().map(str::to_string).collect();
    while let Some(x) = todo.pop() {
        if out.contains(&x) {
            continue;
        }
        todo.extend(implied_by_anomaly(&x).iter().map(|s| s.to_string()));
        out.push(x);
    }
    out
}

/// The anomalies a history must not have to satisfy `model`: what it and
/// the models it implies proscribe, plus every anomaly that implies one of
/// those.
pub fn prohibited_by(model: &str) -> Vec<String> {
    let direct: Vec<&str> = implied_models(model)
        .into_iter()
        .flat_map(|m| {
            PROSCRIBES
                .iter()
                .filter(move |(x, _)| *x == m)
                .flat_map(|(_, a)| a.iter().copied())
        })
        .collect();
    let all: Vec<&str> = ANOMALY_IMPLIES
        .iter()
        .chain(MORE_IMPLIES.iter())
        .flat_map(|(a, b)| std::iter::once(*a).chain(b.iter().copied()))
        .chain(direct.iter().copied())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for a in all {
        if out.iter().any(|x| x == a) {
            continue;
        }
        let imp = implied_anomalies([a]);
        if imp.iter().any(|x| direct.contains(&x.as_str())) {
            out.push(a.to_string());
        }
    }
    out
}

/// Where a history stands, given the anomalies found in it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Placement {
    /// The weakest models ruled out.
    pub not: Vec<&'static str>,
    /// The other models ruled out (stronger than some in `not`).
    pub also_not: Vec<&'static str>,
    /// The strongest models not ruled out.
    pub strongest_kept: Vec<&'static str>,
}

/// Is model `m` ruled out by the (implication-closed) anomalies `imp`?
fn ruled_out(m: &str, imp: &[String]) -> bool {
    implied_models(m).iter().any(|x| {
        PROSCRIBES
            .iter()
            .filter(|(y, _)| y == x)
            .any(|(_, a)| a.iter().any(|a| imp.iter().any(|i| i == a)))
    })
}

/// The placement of a history with anomalies `found`.
pub fn place<'a>(found: impl IntoIterator<Item = &'a str>) -> Placement {
    let imp = implied_anomalies(found);
    let out: Vec<&'static str> = MODELS
        .iter()
        .copied()
        .filter(|m| ruled_out(m, &imp))
        .collect();
    let kept: Vec<&'static str> = MODELS
        .iter()
        .copied()
        .filter(|m| !out.contains(m))
        .collect();
    // `not`: ruled out, and no weaker model ruled out.
    let not: Vec<&'static str> = out
        .iter()
        .copied()
        .filter(|m| !implied_models(m).iter().any(|w| w != m && out.contains(w)))
        .collect();
    let also_not = out.iter().copied().filter(|m| !not.contains(m)).collect();
    // `strongest_kept`: kept, and no stronger model kept.
    let strongest_kept = kept
        .iter()
        .copied()
        .filter(|m| !kept.iter().any(|s| s != m && implied_models(s).contains(m)))
        .collect();
    Placement {
        not,
        also_not,
        strongest_kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lattice_is_listed_weakest_first_and_closed() {
        for (i, m) in MODELS.iter().enumerate() {
            for w in weaker_of(m) {
                let j = MODELS.iter().position(|x| x == w).expect("known model");
                assert!(j < i, "{m} implies {w}, which is listed later");
            }
        }
        for (m, _) in PROSCRIBES {
            assert!(canonical(m).is_some(), "{m}");
        }
    }

    #[test]
    fn placements_follow_the_anomalies() {
        let clean = place([]);
        assert!(clean.not.is_empty());
        assert_eq!(clean.strongest_kept, ["strict-serializable"]);
        let p = place(["G0"]);
        assert_eq!(p.not, ["read-uncommitted"]);
        assert!(p.also_not.contains(&"strict-serializable"));
        assert!(p.strongest_kept.is_empty());
        let p = place(["G-single"]);
        assert_eq!(p.not, ["consistent-view", "repeatable-read"]);
        assert!(p.also_not.contains(&"snapshot-isolation"));
        assert!(p.strongest_kept.contains(&"parallel-snapshot-isolation"));
        let p = place(["G2-item"]);
        assert_eq!(p.not, ["repeatable-read"]);
        assert!(p.also_not.contains(&"serializable"));
        assert!(!p.also_not.contains(&"snapshot-isolation"));
        assert!(p.strongest_kept.contains(&"strong-snapshot-isolation"));
        let p = place(["G1c-realtime"]);
        assert_eq!(p.not, ["strong-read-committed"]);
        assert!(p.also_not.contains(&"strict-serializable"));
        assert!(p.strongest_kept.contains(&"strong-session-serializable"));
        let p = place(["G2-item-process"]);
        assert_eq!(p.not, ["strong-session-serializable"]);
        assert!(p.strongest_kept.contains(&"serializable"));
        assert!(prohibited_by("serializable").contains(&"G-single".to_string()));
        assert!(!prohibited_by("serializable").contains(&"G2-realtime".to_string()));
        assert!(prohibited_by("strict-serializable").contains(&"G0-realtime".to_string()));
        assert!(!prohibited_by("read-committed").contains(&"G2-item".to_string()));
        assert_eq!(canonical("PL-SI"), Some("snapshot-isolation"));
        assert_eq!(canonical("bogus"), None);
    }
}
