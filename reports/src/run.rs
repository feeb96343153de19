//! Loading a stored run directory into what the page needs.

use crate::error::ReportError;
use crate::faults::{self, ClockPoint, FaultWindow};
use checker::results::RunResults;
use checker::{Event, Operation, Process};
use serde_json::Value;

pub use crate::markup::{str_of, value_text};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run directory, read from disk.
pub struct Run {
    pub dir: PathBuf,
    /// `test.json` (`Null` when missing or unreadable).
    pub test: Value,
    /// `results.json`, when the run got as far as checking (and the file
    /// fits the schema; otherwise a warning says why it is not shown).
    pub results: Option<RunResults>,
    /// Nemesis (and other named-process) events, in order.
    pub nemesis: Vec<Event>,
    /// Client operations (invocation paired with completion).
    pub ops: Vec<Operation>,
    /// Why the history could not be read, if it could not.
    pub history_error: Option<String>,
    /// Non-fatal problems while reading the history (e.g. a torn last line).
    pub warnings: Vec<String>,
    /// History `index` → `time` (ns), for every event.
    pub index_time: HashMap<u64, i64>,
    /// The last event time (ns).
    pub end_time: i64,
    pub faults: Vec<FaultWindow>,
    pub clock: Vec<ClockPoint>,
}

pub(crate) fn read_json(path: &Path) -> Result<Option<Value>, ReportError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Run {
    /// Reads `test.json`, `results.json` and `history.jsonl` under `dir`.
    ///
    /// A missing `results.json` or `history.jsonl` is tolerated (a crashed
    /// run still gets a page); a missing `test.json` and no history at all is
    /// an error, since then `dir` is not a run directory.
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::NotARun(dir.to_path_buf()));
        }
        let test = read_json(&dir.join("test.json"))?;
        let results_path = dir.join("results.json");
        let mut warnings = Vec::new();
        let results = match read_json(&results_path)? {
            None => None,
            Some(v) => match serde_json::from_value::<RunResults>(v) {
                Ok(r) => Some(r),
                Err(e) => {
                    warnings.push(format!(
                        "{}: not shown: it does not fit the results.json schema: {e}",
                        results_path.display()
                    ));
                    None
                }
            },
        };
        let hist_path = dir.join("history.jsonl");
        if test.is_none() && !hist_path.exists() {
            return Err(ReportError::NotARun(dir.to_path_buf()));
        }
        let mut run = Run {
            dir: dir.to_path_buf(),
            test: test.unwrap_or(Value::Null),
            results,
            nemesis: Vec::new(),
            ops: Vec::new(),
            history_error: None,
            warnings,
            index_time: HashMap::new(),
            end_time: 0,
            faults: Vec::new(),
            clock: Vec::new(),
        };
        if hist_path.exists() {
            match checker::formats::read_file(&hist_path, None) {
                Ok((history, _)) => {
                    for ev in &history.events {
                        if let Some(t) = ev.time {
                            run.index_time.insert(ev.index, t);
                            run.end_time = run.end_time.max(t);
                        }
                    }
                    match history.operations() {
                        Ok(ops) => run.ops = ops,
                        Err(e) => run.history_error = Some(e.to_string()),
                    }
                    run.nemesis = history
                        .events
                        .into_iter()
                        .filter(|e| matches!(e.process, Process::Named(_)))
                        .collect();
                    run.warnings.extend(history.warnings);
                }
                Err(e) => run.history_error = Some(e.to_string()),
            }
        } else {
            run.history_error = Some("history.jsonl is missing".into());
        }
        let (windows, warnings) = faults::run_windows(dir, &run.nemesis, run.end_time);
        run.faults = windows;
        run.warnings.extend(warnings);
        run.clock = faults::clock_offsets(&run.nemesis);
        Ok(run)
    }

    pub fn spec(&self, field: &str) -> &Value {
        &self.test["spec"][field]
    }

    /// The test name.
    pub fn name(&self) -> String {
        str_of(&self.test["name"])
            .or_else(|| str_of(self.spec("name")))
            .unwrap_or_else(|| {
                self.dir
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "run".into())
            })
    }

    /// Run length in seconds: from results.json, else from the history.
    pub fn seconds(&self) -> f64 {
        self.results
            .as_ref()
            .map(|r| r.stats.seconds)
            .filter(|s| *s > 0.0)
            .unwrap_or(self.end_time as f64 / 1e9)
    }

    /// Node ids: the `nodes/` subdirectories, else `n1..nN` from the spec.
    pub fn node_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.dir.join("nodes"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            if let Some(n) = self.spec("nodes").as_u64() {
                ids = (1..=n).map(|i| format!("n{i}")).collect();
            }
        }
        ids.sort_by_key(|a| natural_key(a));
        ids
    }

    /// The time of a history index (ns), when known.
    pub fn time_of(&self, index: u64) -> Option<i64> {
        self.index_time.get(&index).copied()
    }
}

/// Sorts `n10` after `n9`.
pub fn natural_key(s: &str) -> (String, u64, String) {
    let digits_at = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
    let (head, rest) = s.split_at(digits_at);
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n = rest[..end].parse().unwrap_or(0);
    (head.to_string(), n, rest[end..].to_string())
}
