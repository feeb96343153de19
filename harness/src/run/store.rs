//! The run directory and the history recorder.
//!
//! `store/<test>/<timestamp>/` holds `test.json` (written first),
//! `history.jsonl` (one event per line, flushed as each event happens, so a
//! crashed run still leaves a checkable history), `results.json`,
//! `nodes/<id>/` and `harness.log`; `store/latest` points at the newest run.

use anyhow::{Context, Result};
use checker::formats::JsonlWriter;
use checker::{Event, EventType, Process};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Creates `store/<name>/<timestamp>/` (with a suffix if taken).
pub fn create_run_dir(store: &Path, name: &str) -> Result<PathBuf> {
    let base = store.join(name);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let ts = timestamp(SystemTime::now());
    for i in 0..1000 {
        let dir = if i == 0 {
            base.join(&ts)
        } else {
            base.join(format!("{ts}-{i}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!(
        "cannot create a fresh run directory under {}",
        base.display()
    )
}

/// Points `store/latest` at `run_dir` (relative link, replaced atomically).
pub fn update_latest(store: &Path, run_dir: &Path) -> Result<()> {
    let rel = run_dir.strip_prefix(store).unwrap_or(run_dir);
    let tmp = store.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(rel, &tmp)
        .with_context(|| format!("creating the symlink {}", tmp.display()))?;
    std::fs::rename(&tmp, store.join("latest"))
        .with_context(|| format!("updating {}", store.join("latest").display()))?;
    Ok(())
}

/// Writes `v` as pretty JSON to `path` atomically: a temp file beside it,
/// synced, then renamed over it. A reader sees the old file or the new one,
/// never a torn one; on failure (a full disk) the temp file is removed and
/// the old file is left as it was.
pub fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v)? + "\n";
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to `path` atomically (see [`write_json`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// The process name of the run markers ([`Recorder::marker`]).
pub const HARNESS: &str = "harness";

/// Who performed an event (a `checker::Process`, without allocating for
/// the named ones until the event is written).
#[derive(Debug, Clone)]
pub enum Who {
    Client(u64),
    Named(&'static str),
}

impl Who {
    fn process(&self) -> Process {
        match self {
            Who::Client(p) => Process::Client(*p),
            Who::Named(n) => Process::Named(n.to_string()),
        }
    }
}

/// Live counts, for the progress line.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub invokes: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Completions per (f, type).
    pub by_f: BTreeMap<String, [u64; 3]>,
    /// Nemesis events per f (invocations).
    pub nemesis: BTreeMap<String, u64>,
    /// Faults in effect now (for progress): node ids by fault name.
    pub active_faults: BTreeMap<String, Vec<String>>,
}

struct Inner {
    w: JsonlWriter<BufWriter<File>>,
    next_index: u64,
    counts: Counts,
    error: Option<String>,
    /// Called once, at the first write error (the run driver stops the run).
    on_error: Option<Box<dyn FnOnce() + Send>>,
    /// Keyed client events also go here (the online check).
    tap: Option<std::sync::mpsc::Sender<Event>>,
    /// Every client event also goes here (the online prefix pass).
    tap_all: Option<std::sync::mpsc::Sender<Event>>,
}

/// Appends events to `history.jsonl`, flushing each one, through the
/// checker's [`JsonlWriter`]: the lines are `checker::Event`s, the type the
/// reader returns.
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
    path: PathBuf,
}

impl Recorder {
    pub fn create(path: &Path, start: Instant) -> Result<Recorder> {
        let w =
            JsonlWriter::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Recorder {
            start,
            inner: Mutex::new(Inner {
                w,
                next_index: 0,
                counts: Counts::default(),
                error: None,
                on_error: None,
                tap: None,
                tap_all: None,
            }),
            path: path.to_path_buf(),
        })
    }

    /// Records one event; returns its index. Index and time are taken under
    /// the same lock, so both increase along the file.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        process: Who,
        kind: &str,
        f: &str,
        key: Option<u64>,
        value: &Value,
        node: Option<&str>,
        error: Option<&Value>,
    ) -> u64 {
        self.record_extra(process, kind, f, key, value, node, error, None)
            .0
    }

    /// [`Recorder::record`] with extra top-level fields; returns the
    /// event's index and time (ns since the run started).
    #[allow(clippy::too_many_arguments)]
    pub fn record_extra(
        &self,
        process: Who,
        kind: &str,
        f: &str,
        key: Option<u64>,
        value: &Value,
        node: Option<&str>,
        error: Option<&Value>,
        extra: Option<&serde_json::Map<String, Value>>,
    ) -> (u64, u64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let index = g.next_index;
        g.next_index += 1;
        let time = i64::try_from(self.start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let ev = Event {
            index,
            time: Some(time),
            process: process.process(),
            // The callers pass invoke/ok/fail/info; anything else is an
            // unknown outcome.
            kind: EventType::parse(kind).unwrap_or(EventType::Info),
            f: f.to_string(),
            key: key.map(Value::from),
            value: value.clone(),
            node: node.map(str::to_string),
            error: error.cloned(),
            extra: extra.cloned().unwrap_or_default(),
            line: 0,
        };
        if let (Some(tap), Who::Client(_), Some(_)) = (&g.tap, &process, &ev.key) {
            // The online check may have ended (its receiver gone): fine.
            let _ = tap.send(ev.clone());
        }
        if let (Some(tap), Who::Client(_)) = (&g.tap_all, &process) {
            let _ = tap.send(ev.clone());
        }
        if let Err(e) = g.w.write(&ev) {
            if g.error.is_none() {
                tracing::error!("writing {}: {e}; stopping the run", self.path.display());
                g.error = Some(format!("writing {}: {e}", self.path.display()));
                if let Some(stop) = g.on_error.take() {
                    stop();
                }
            }
        }
        let c = &mut g.counts;
        match (&process, kind) {
            (Who::Named(_), "invoke") => *c.nemesis.entry(f.to_string()).or_default() += 1,
            (Who::Named(_), _) => {}
            (Who::Client(_), "invoke") => c.invokes += 1,
            (Who::Client(_), k) => {
                let slot = match k {
                    "ok" => {
                        c.ok += 1;
                        0
                    }
                    "fail" => {
                        c.fail += 1;
                        1
                    }
                    _ => {
                        c.info += 1;
                        2
                    }
                };
                c.by_f.entry(f.to_string()).or_default()[slot] += 1;
            }
        }
        (index, time as u64)
    }

    pub fn counts(&self) -> Counts {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counts
            .clone()
    }

    pub fn set_active_faults(&self, name: &str, nodes: Vec<String>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if nodes.is_empty() {
            g.counts.active_faults.remove(name);
        } else {
            g.counts.active_faults.insert(name.to_string(), nodes);
        }
    }

    /// `stop` runs once, at the first error writing the history (a full
    /// disk): the run must not go on producing events it cannot keep.
    pub fn on_error(&self, stop: impl FnOnce() + Send + 'static) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.error.is_some() {
            drop(g);
            stop();
        } else {
            g.on_error = Some(Box::new(stop));
        }
    }

    /// Records a run marker (process `harness`, type `info`): `phase` with
    /// the phase that begins (`main`, `final-heal`, `final-reads`), or
    /// `end` with `{"interrupted": bool, ...}` as the last event of a run
    /// that finished writing its history. `faultline analyze` judges a
    /// history without `end` incomplete.
    /// Sends keyed client events to `tap` from now on (`None`: stop, which
    /// lets the receiver finish).
    pub fn set_tap(&self, tap: Option<std::sync::mpsc::Sender<Event>>) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).tap = tap;
    }

    /// Sends every client event to `tap` from now on (`None`: stop).
    pub fn set_tap_all(&self, tap: Option<std::sync::mpsc::Sender<Event>>) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).tap_all = tap;
    }

    pub fn marker(&self, f: &str, value: Value) {
        self.record(Who::Named(HARNESS), "info", f, None, &value, None, None);
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .error
            .clone()
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "20231114T221320.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000Z");
    }

    /// Every event is counted and lands on its own line (its speed is a
    /// benchmark's business, not a test's).
    #[test]
    fn recorder_counts_and_writes_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::create(&dir.path().join("h.jsonl"), Instant::now()).unwrap();
        let n = 20_000u64;
        let v = serde_json::json!([12345, 12346]);
        for i in 0..n {
            let kind = if i % 2 == 0 { "invoke" } else { "ok" };
            rec.record(
                Who::Client(i % 10),
                kind,
                "cas",
                Some(i / 100),
                &v,
                Some("n1"),
                None,
            );
        }
        assert_eq!(rec.counts().ok, n / 2);
        let text = std::fs::read_to_string(dir.path().join("h.jsonl")).unwrap();
        assert_eq!(text.lines().count() as u64, n);
    }

    /// The recorder's lines keep the shape of `docs/history-format.md` and
    /// read back through the checker's reader as the same events.
    #[test]
    fn recorded_lines_keep_their_shape_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let rec = Recorder::create(&path, Instant::now()).unwrap();
        let err = serde_json::json!("connect: refused");
        rec.record(
            Who::Client(3),
            "invoke",
            "write",
            Some(1),
            &serde_json::json!(4),
            Some("n2"),
            None,
        );
        rec.record(
            Who::Client(3),
            "fail",
            "write",
            Some(1),
            &serde_json::json!(4),
            Some("n2"),
            Some(&err),
        );
        let mut extra = serde_json::Map::new();
        extra.insert("shape".into(), serde_json::json!("majority"));
        rec.record_extra(
            Who::Named("nemesis"),
            "info",
            "partition",
            None,
            &serde_json::json!({"n1": ["n2"]}),
            None,
            None,
            Some(&extra),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let mut want = vec![
            "error", "f", "index", "key", "node", "process", "time", "type", "value",
        ];
        want.sort();
        assert_eq!(keys(&lines[1]), want);
        assert_eq!(lines[1]["error"], "connect: refused");
        assert_eq!(lines[1]["key"], 1);
        assert_eq!(lines[2]["process"], "nemesis");
        assert_eq!(lines[2]["shape"], "majority");
        assert!(lines[2].get("node").is_none() && lines[2].get("key").is_none());
        assert!(text.starts_with(r#"{"index":0,"time":"#), "{text}");
        let (h, _) = checker::formats::read_file(&path, None).unwrap();
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.events[1].error, Some(err));
        assert_eq!(h.events[1].kind, EventType::Fail);
        assert_eq!(h.events[2].extra, extra);
        assert_eq!(h.events[2].process, Process::Named("nemesis".into()));
        let ops = h.operations().unwrap();
        assert_eq!(ops.len(), 1);
    }
}
