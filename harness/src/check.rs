//! `faultline check`: run checkers over history files. By default the
//! linearizability checker (with `--consistency`, also the consistency
//! hierarchy); with `--checker NAME[,NAME]`, any checkers of the registry
//! (`checker::checkers`), composed as a run composes them.

use checker::checker::{catch_panic, Budget, Judged};
use checker::checkers::{self, BankOptions, Consistency, JepsenOptions, Linearizability, Options};
use checker::consistency::{ConsistencyResult, Model};
use checker::formats::{self, Format};
use checker::linearizability::{LinResult, ModelKind};
use checker::queue::Delivery;
use checker::txn::raw::Prepared;
use checker::{InputError, Verdict};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen EDN (op maps or Knossos [process type f value] vectors), a JSON array of op objects, Jepsen history.txt, Jepsen / Porcupine etcd logs, Porcupine kv logs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The file format (default: detected from the content).
    #[arg(long, value_parser = ["jsonl", "edn", "json", "jepsen-text", "porcupine-etcd", "porcupine-kv"])]
    pub format: Option<String>,
    /// The model (default: cas-register for Porcupine etcd logs, kv for
    /// Porcupine kv logs, otherwise guessed from the operation names).
    /// `bank`, `counter`, `set-full` and `long-fork` run Jepsen's checkers
    /// of those names instead of linearizability (see --total-amount,
    /// --accounts, --negative-balances, --linearizable, --group-size).
    /// `list-append` and `rw-register` check transactional isolation
    /// (Elle-style) instead of linearizability: the same as `--checker
    /// list-append` / `--checker rw-register`.
    #[arg(long, value_parser = ["register", "cas-register", "kv", "multi-register", "mutex", "set", "fifo-queue", "unordered-queue", "bank", "counter", "set-full", "long-fork", "list-append", "rw-register"])]
    pub model: Option<String>,
    // isolation (txn)
    /// With `--model list-append|rw-register`: the isolation model the
    /// history must satisfy (`strict-serializable`, `serializable`,
    /// `snapshot-isolation`, `repeatable-read`, `read-committed`, ... or an
    /// Adya name such as `PL-2`). Default: `strict-serializable`.
    #[arg(long, value_name = "MODEL")]
    pub isolation: Option<String>,
    /// With `--model rw-register`: assumptions that let it infer version
    /// orders: `wfr-keys` (a txn's write follows its read of the key),
    /// `sequential-keys` (each process sees each key's versions in order),
    /// `linearizable-keys` (each key is linearizable).
    #[arg(long, value_name = "ASSUMPTION[,ASSUMPTION]", value_delimiter = ',')]
    pub assume: Vec<String>,
    // end isolation (txn)
    /// Check the whole history as one state instead of splitting it by key.
    #[arg(long)]
    pub no_partition: bool,
    /// Keep searching every key after one is found not linearizable, and
    /// report each (by default the check stops at the first: the verdict
    /// is decided).
    #[arg(long)]
    pub all_anomalies: bool,
    /// What a failed cas means: `drop` (it did not happen; Jepsen) or
    /// `observe` (the value was not the expected one; Porcupine's etcd
    /// model). Default: observe for Porcupine etcd logs, drop otherwise.
    #[arg(long, value_parser = ["drop", "observe"])]
    pub fail_cas: Option<String>,
    /// Time budget per file, in seconds; past it the verdict is unknown.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<f64>,
    /// Memory budget for the search, in MiB, shared by the files checked at
    /// once; past it the verdict is unknown. Default: half the memory
    /// available when the check starts, at most 8192.
    #[arg(long, value_name = "MIB")]
    pub max_memory: Option<u64>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Print each counterexample in full under the table.
    #[arg(long, short = 'v')]
    pub explain: bool,
    /// Also place each register/kv history on the consistency hierarchy
    /// (linearizable, sequential, causal, PRAM, session guarantees) and
    /// report stale reads, lost writes and convergence. The exit code still
    /// follows linearizability.
    #[arg(long, conflicts_with = "checker")]
    pub consistency: bool,
    /// Run these checkers instead of linearizability alone: registry names,
    /// comma-separated or repeated: `linearizability[:MODEL]`,
    /// `consistency[:MODEL]`, `total-queue[:DELIVERY]`, `fifo-queue`,
    /// `lock`, `bank[:negative-balances]`, `counter`,
    /// `set-full[:linearizable]`, `long-fork[:N]`. The verdict merges those
    /// that are not informational, as `faultline test` does (informational
    /// ones alone decide when no other is named).
    #[arg(long, value_name = "NAME[,NAME]", value_delimiter = ',')]
    pub checker: Vec<String>,
    /// The delivery guarantee `total-queue` checks against when its name
    /// does not say (`total-queue:at-most-once`).
    #[arg(long, value_parser = ["at-least-once", "at-most-once", "exactly-once"])]
    pub delivery: Option<String>,
    /// The initial state, as JSON (default: nil for registers, empty for kv
    /// and the other models). A register model takes a value (`--init 0`)
    /// or, on a history split by key, a map from key to value; multi-register
    /// takes a map from register to value (`--init '{"x":0,"y":0}'`, as
    /// Knossos's multi-register tests start); kv takes a string or a map
    /// from key to string.
    #[arg(long, value_name = "JSON", value_parser = parse_init)]
    pub init: Option<serde_json::Value>,
    /// What an `ok` read that returned nil means: `value` (it read nil, the
    /// initial value: a stale nil is an anomaly; the default) or `unknown`
    /// (Knossos's register models: "we don't know what the read was", so it
    /// matches any state; such reads are taken as `info`).
    #[arg(long, value_name = "MEANING", value_parser = ["value", "unknown"])]
    pub nil_read: Option<String>,
    // jepsen's other checkers: their options.
    /// bank: the money in the bank, which every read must add up to
    /// (default: the total most reads show).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub total_amount: Option<i64>,
    /// bank: the accounts, comma-separated; a read showing another is an
    /// `unexpected-key` error (default: not checked).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub accounts: Option<Vec<String>>,
    /// bank: balances may go negative.
    #[arg(long)]
    pub negative_balances: bool,
    /// set-full: the set should be linearizable, so a stale read (one that
    /// misses an element known to be added) makes the history invalid.
    #[arg(long)]
    pub linearizable: bool,
    /// long-fork: how many keys each read reads (default 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub group_size: Option<u64>,
    // end of jepsen's other checkers
}

fn parse_init(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| {
        format!("not JSON ({e}); e.g. --init 0, --init '\"x\"', --init '{{\"x\":0,\"y\":0}}'")
    })
}

impl CheckArgs {
    // jepsen's other checkers
    /// `--model bank|counter|set-full|long-fork`: the registry name of that
    /// checker (Jepsen's checkers are not linearizability models).
    pub(crate) fn jepsen_model(&self) -> Option<&'static str> {
        let m = self.model.as_deref()?;
        checkers::JEPSEN_NAMES.into_iter().find(|n| *n == m)
    }

    /// The checkers to run by name: `--checker`, else the isolation checker
    /// that `--model list-append|rw-register` stands for, else a Jepsen
    /// `--model`; empty for linearizability alone.
    pub(crate) fn checker_names(&self) -> Vec<String> {
        if !self.checker.is_empty() {
            return self.checker.clone();
        }
        match self.model.as_deref() {
            Some(m @ ("list-append" | "rw-register")) => {
                let model = self.isolation.as_deref().unwrap_or("strict-serializable");
                let mut name = format!("{m}:{model}");
                for a in &self.assume {
                    name.push('+');
                    name.push_str(a);
                }
                vec![name]
            }
            _ => self
                .jepsen_model()
                .map(|m| vec![m.to_string()])
                .unwrap_or_default(),
        }
    }

    /// The options of Jepsen's checkers these arguments give.
    fn jepsen_options(&self) -> JepsenOptions {
        JepsenOptions {
            bank: BankOptions {
                accounts: self.accounts.clone(),
                total_amount: self.total_amount,
                negative_balances: self.negative_balances,
            },
            set_full_linearizable: self.linearizable,
            long_fork_group_size: self.group_size.and_then(|n| usize::try_from(n).ok()),
        }
    }

    /// A checker's flag given while no checker that takes it runs
    /// (`--isolation`, `--assume`, `--init`, Jepsen's checkers' options):
    /// the message saying so (a flag is never ignored silently).
    pub(crate) fn flag_error(&self) -> Option<String> {
        let names = self.checker_names();
        let base = |n: &String| {
            n.trim()
                .split([':', '+'])
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let txn = names
            .iter()
            .any(|n| matches!(base(n).as_str(), "list-append" | "rw-register"));
        if !txn {
            if self.isolation.is_some() {
                return Some(
                    "--isolation is an option of the isolation checkers: use it with --model list-append or --model rw-register".into(),
                );
            }
            if !self.assume.is_empty() {
                return Some(
                    "--assume is an option of the rw-register checker: use it with --model rw-register".into(),
                );
            }
        }
        if (self.isolation.is_some() || !self.assume.is_empty()) && !self.checker.is_empty() {
            return Some(
                "--isolation and --assume go with --model list-append|rw-register; with --checker, write them in the name (list-append:serializable, rw-register:serializable+wfr-keys)".into(),
            );
        }
        let linearizability = names.is_empty()
            || names
                .iter()
                .any(|n| matches!(base(n).as_str(), "linearizability" | "consistency"));
        if self.init.is_some() && !linearizability {
            return Some(
                "--init gives the initial state of the linearizability models and the consistency checks; the checkers named here do not take one".into(),
            );
        }
        let runs = |c: &str| names.iter().any(|n| n.trim().split(':').next() == Some(c));
        let flags = [
            ("--total-amount", self.total_amount.is_some(), "bank"),
            ("--accounts", self.accounts.is_some(), "bank"),
            ("--negative-balances", self.negative_balances, "bank"),
            ("--linearizable", self.linearizable, "set-full"),
            ("--group-size", self.group_size.is_some(), "long-fork"),
        ];
        if let (Some(m), true) = (self.jepsen_model(), self.consistency) {
            return Some(format!(
                "--consistency places register and kv histories; it does not apply to --model {m}"
            ));
        }
        flags
            .into_iter()
            .find(|&(_, given, c)| given && !runs(c))
            .map(|(flag, _, c)| {
                format!("{flag} is an option of the {c} checker: use it with --model {c} (or --checker {c})")
            })
    }
    // end of jepsen's other checkers

    /// The registry options these arguments give for a file in `format`
    /// (the same per-format defaults as without `--checker`: Porcupine etcd
    /// logs are cas-registers where a failed cas observes, kv logs are kv).
    pub(crate) fn options(&self, format: Option<Format>) -> Options {
        let model = self
            .model
            .as_deref()
            .and_then(ModelKind::parse)
            .or(match format {
                Some(Format::PorcupineEtcd) => Some(ModelKind::CasRegister),
                Some(Format::PorcupineKv) => Some(ModelKind::Kv),
                _ => None,
            });
        let fail_cas_observes = match self.fail_cas.as_deref() {
            Some(v) => v == "observe",
            None => format == Some(Format::PorcupineEtcd),
        };
        Options {
            model,
            partition: !self.no_partition,
            fail_cas_observes,
            init: self.init.clone().unwrap_or_default(),
            all_anomalies: self.all_anomalies,
            delivery: self
                .delivery
                .as_deref()
                .and_then(Delivery::parse)
                .unwrap_or(Delivery::AtLeastOnce),
            jepsen: self.jepsen_options(),
            ..Options::default()
        }
    }
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'static str>,
    /// valid | invalid | unknown | error
    verdict: &'static str,
    ops: usize,
    seconds: f64,
    #[serde(skip)]
    result: Option<LinResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partitions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_ops: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counterexample: Option<checker::linearizability::Counterexample>,
    /// With `--all-anomalies`: those of the other failing keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    more_counterexamples: Vec<checker::linearizability::Counterexample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<checker::linearizability::SearchStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<InputError>,
    /// The error as one line of text.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// Events of named processes (the nemesis, ...), by process: counted,
    /// never checked (only integer processes are clients).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    named_events: std::collections::BTreeMap<String, usize>,
    /// With `--consistency`: `consistency`, `measures`, `witnesses`,
    /// `reasons` and `summary`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    consistency: Option<ConsistencyResult>,
    /// With `--consistency`, when the consistency checks could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    consistency_error: Option<String>,
    /// With `--checker`: each checker's `verdict`, `informational`,
    /// `seconds` and `details`, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkers: Option<Map<String, Value>>,
    /// With `--checker`: the anomalies the checkers named (`checker`,
    /// `part`, `what`, `ops` as history indices).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    anomalies: Vec<Value>,
    #[serde(skip)]
    judged: Vec<Judged>,
}

fn check_one(path: &std::path::Path, args: &CheckArgs, budget: usize) -> FileReport {
    let start = Instant::now();
    let file = path.display().to_string();
    let mut rep = FileReport {
        file: file.clone(),
        format: None,
        model: None,
        verdict: "error",
        ops: 0,
        seconds: 0.0,
        result: None,
        partitions: None,
        checked_ops: None,
        reason: None,
        counterexample: None,
        more_counterexamples: Vec::new(),
        stats: None,
        error: None,
        message: None,
        warnings: Vec::new(),
        named_events: Default::default(),
        consistency: None,
        consistency_error: None,
        checkers: None,
        anomalies: Vec::new(),
        judged: Vec::new(),
    };
    let format = args.format.as_deref().and_then(Format::parse_name);
    let names = args.checker_names();
    if !names.is_empty() {
        rep.model = args.jepsen_model();
        check_named(path, &names, args, budget, format, &mut rep);
        rep.message = rep.error.as_ref().map(|e| e.to_string());
        rep.seconds = start.elapsed().as_secs_f64();
        return rep;
    }
    let outcome = catch_panic(|| {
        let (mut history, fmt) = formats::read_file(path, format)?;
        apply_nil_read(&mut history, args);
        let ops = history.operations()?;
        let model = match args.model.as_deref().and_then(ModelKind::parse) {
            Some(m) => m,
            None => match fmt {
                Format::PorcupineEtcd => ModelKind::CasRegister,
                Format::PorcupineKv => ModelKind::Kv,
                _ => ModelKind::infer(&ops),
            },
        };
        let fail_cas_observes = match args.fail_cas.as_deref() {
            Some(v) => v == "observe",
            None => fmt == Format::PorcupineEtcd,
        };
        let lin = Linearizability {
            model: Some(model),
            partition: !args.no_partition,
            fail_cas_observes,
            all_anomalies: args.all_anomalies,
            init: args
                .init
                .clone()
                .or_else(|| history.init.clone())
                .unwrap_or_default(),
        };
        let r = lin.run(&ops, &budget_of(args, budget), &file)?;
        let cons = args
            .consistency
            .then(|| consistency_of(&history, args, budget));
        let named = history.named_events();
        Ok::<_, InputError>((fmt, history.warnings, named, r, cons))
    });
    match outcome {
        Ok(Ok((fmt, warnings, named, r, cons))) => {
            rep.named_events = named;
            match cons {
                Some(Ok(c)) => rep.consistency = Some(c),
                Some(Err(e)) => rep.consistency_error = Some(e),
                None => {}
            }
            rep.format = Some(fmt.name());
            rep.model = Some(r.model);
            rep.verdict = r.verdict.as_str();
            rep.ops = r.ops;
            rep.warnings = warnings;
            rep.partitions = Some(r.partitions);
            rep.checked_ops = Some(r.checked_ops);
            rep.reason = r.reason.clone();
            rep.counterexample = r.counterexample.clone();
            rep.more_counterexamples = r.more_counterexamples.clone();
            rep.stats = Some(r.stats);
            rep.result = Some(r);
        }
        Ok(Err(e)) => rep.error = Some(e),
        Err(msg) => {
            rep.error = Some(InputError::new(
                &file,
                0,
                None,
                format!("internal error: the checker panicked: {msg}"),
            ));
        }
    }
    rep.message = rep.error.as_ref().map(|e| e.to_string());
    rep.seconds = start.elapsed().as_secs_f64();
    rep
}

/// The budget of one file's check.
/// `--nil-read unknown`: Knossos's reading of a read of nil. Without it, a
/// history whose initial state is not nil (`--init` or its header) but
/// whose reads return nil gets a warning that names the flag: such a read
/// cannot be the initial value, and Knossos would have accepted it.
fn apply_nil_read(history: &mut checker::History, args: &CheckArgs) {
    if args.nil_read.as_deref() == Some("unknown") {
        history.nil_reads_unknown();
        return;
    }
    let init = args.init.as_ref().or(history.init.as_ref());
    if args.nil_read.is_none() && init.is_some_and(|v| !v.is_null()) {
        let n = history.count_nil_reads();
        if n > 0 {
            history.warnings.push(format!(
                "{n} ok reads returned nil although the initial state is not nil; they are judged as reads of nil (Knossos takes a read of nil as a read of an unknown value: --nil-read unknown)"
            ));
        }
    }
}

fn budget_of(args: &CheckArgs, max_bytes: usize) -> Budget {
    Budget {
        timeout: args.timeout.map(Duration::from_secs_f64),
        max_bytes,
    }
}

/// The consistency checks of one history; an error (or a panic) becomes a
/// message so the linearizability verdict still stands.
fn consistency_of(
    history: &checker::History,
    args: &CheckArgs,
    budget: usize,
) -> Result<ConsistencyResult, String> {
    let c = Consistency {
        require: None,
        sequential_timeout: Duration::from_secs_f64(args.timeout.unwrap_or(30.0)),
        init: args
            .init
            .clone()
            .or_else(|| history.init.clone())
            .unwrap_or_default(),
    };
    match catch_panic(|| c.run(history, &budget_of(args, budget))) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(msg) => Err(format!(
            "internal error: the consistency checks panicked: {msg}"
        )),
    }
}

/// `--checker`: the named checkers over one file, composed. A history that
/// cannot be read or paired is an error (as without `--checker`); what the
/// checkers say is in `checkers` and `anomalies`.
fn check_named(
    path: &std::path::Path,
    names: &[String],
    args: &CheckArgs,
    budget: usize,
    format: Option<Format>,
    rep: &mut FileReport,
) {
    // isolation (txn): the isolation checkers pair the history themselves
    // (same errors) without copying its values, and read a JSONL file's
    // micro-ops in compact form; when they are all that runs, the op count
    // comes from them.
    let txn_only = names
        .iter()
        .all(|n| n.starts_with("list-append") || n.starts_with("rw-register"));
    let read = match txn_only {
        true => formats::read_txn_file(path, format),
        false => formats::read_file(path, format).map(|(h, f)| (Prepared::plain(h), f)),
    };
    let (mut prepared, fmt) = match read {
        Ok(x) => x,
        Err(e) => {
            rep.error = Some(e);
            return;
        }
    };
    if !txn_only {
        apply_nil_read(&mut prepared.history, args);
    }
    let history = &prepared.history;
    let mut options = args.options(Some(fmt));
    if args.init.is_none() {
        if let Some(init) = &history.init {
            options.init = init.clone();
        }
    }
    let compose = match checkers::compose(names, &options) {
        Ok(c) => c,
        Err(e) => {
            rep.error = Some(InputError::new(
                &rep.file,
                0,
                None,
                format!("--checker: {e}"),
            ));
            return;
        }
    };
    rep.format = Some(fmt.name());
    rep.warnings = history.warnings.clone();
    rep.named_events = history.named_events();
    if !txn_only {
        match history.operations() {
            Ok(ops) => rep.ops = ops.len(),
            Err(e) => {
                rep.error = Some(e);
                return;
            }
        }
    }
    // end isolation (txn)
    let judged = compose.check_each_prepared(&prepared, &budget_of(args, budget));
    // A big history takes a while to free: not on the way to the answer.
    checker::checker::drop_later(prepared);
    // A checker that found an op it cannot read said where: that is an
    // input error, as one the reader finds.
    if let Some(e) = judged.iter().find_map(|j| input_error(&j.result.details)) {
        rep.error = Some(e);
        return;
    }
    for j in &judged {
        if j.name.starts_with("list-append") || j.name.starts_with("rw-register") {
            let w = j.result.details["warnings"]
                .as_array()
                .into_iter()
                .flatten();
            rep.warnings
                .extend(w.filter_map(Value::as_str).map(str::to_string));
        }
    }
    if txn_only {
        rep.ops = judged
            .iter()
            .filter_map(|j| {
                let t = &j.result.details["txns"];
                Some(t["total"].as_u64()? + t["not_txn"].as_u64()?)
            })
            .max()
            .unwrap_or(0) as usize;
    }
    // end isolation (txn)
    let verdict = checker::checker::merged_verdict(&judged);
    rep.verdict = verdict.as_str();
    let mut map = Map::new();
    for j in &judged {
        for a in &j.result.anomalies {
            rep.anomalies.push(json!({
                "checker": j.name, "part": a.part, "what": a.what, "ops": a.ops,
            }));
        }
        map.insert(
            j.name.clone(),
            json!({
                "verdict": j.result.verdict.as_str(),
                "informational": j.informational,
                "seconds": j.seconds,
                "details": j.result.details,
            }),
        );
    }
    // Why the merged verdict is unknown: the first unknown checker's reason.
    if verdict == Verdict::Unknown {
        let all_informational = judged.iter().all(|j| j.informational);
        rep.reason = judged
            .iter()
            .filter(|j| {
                (all_informational || !j.informational) && j.result.verdict == Verdict::Unknown
            })
            .find_map(|j| j.result.reason().map(|r| format!("{}: {r}", j.name)));
    }
    rep.checkers = Some(map);
    rep.judged = judged;
}

/// The input error a checker's details carry (`input-error`: `file`,
/// `line`, `field`, `message`), if any.
fn input_error(details: &Value) -> Option<InputError> {
    // Jepsen's checkers write `input-error`, the isolation checkers
    // `input_error`.
    let e = details
        .get("input-error")
        .or_else(|| details.get("input_error"))?;
    Some(InputError::new(
        e["file"].as_str().unwrap_or_default(),
        e["line"]
            .as_u64()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0),
        e["field"].as_str(),
        e["message"].as_str().unwrap_or_default(),
    ))
}

/// `--checker`: one line per checker under the table, then its summary or
/// why it is unknown, and the anomalies (all of them with `-v`).
fn write_checkers(out: &mut impl Write, reports: &[FileReport], explain: bool) {
    for r in reports {
        if r.judged.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", r.file);
        for j in &r.judged {
            let d = &j.result.details;
            let _ = writeln!(
                out,
                "  {:<16} {:<8}{} {:.3} s",
                j.name,
                j.result.verdict.as_str(),
                if j.informational {
                    " (informational)"
                } else {
                    ""
                },
                j.seconds
            );
            let line = d["summary"]
                .as_str()
                .or_else(|| d["explanation"].as_str())
                .or_else(|| d["counterexample"]["explanation"].as_str())
                .or_else(|| j.result.reason());
            if let Some(l) = line {
                let _ = writeln!(out, "    {l}");
            }
            // isolation (txn): the usual models, ruled out (✗) or kept (✓).
            if let (Some(not), Some(also)) = (d["not"].as_array(), d["also_not"].as_array()) {
                let out_of = |m: &str| not.iter().chain(also).any(|x| x == m);
                let row: Vec<String> = checker::txn::lattice::SUMMARY
                    .iter()
                    .map(|(short, m)| format!("{short} {}", if out_of(m) { "✗" } else { "✓" }))
                    .collect();
                let _ = writeln!(out, "    isolation: {}", row.join("  "));
            }
            if let Some(w) = d
                .get("anomalies")
                .and_then(Value::as_object)
                .filter(|_| explain)
            {
                for (class, list) in w {
                    for x in list.as_array().into_iter().flatten() {
                        let _ = writeln!(
                            out,
                            "    {class}: {}",
                            x["explanation"].as_str().unwrap_or("")
                        );
                        for t in x["txns"].as_array().into_iter().flatten() {
                            let _ = writeln!(
                                out,
                                "      T{:<8} process {:<6} {:<5} {}",
                                t["index"],
                                t["process"],
                                t["status"].as_str().unwrap_or(""),
                                t["value"].as_str().unwrap_or("")
                            );
                        }
                    }
                }
                continue;
            }
            // end isolation (txn)
            let shown = if explain { usize::MAX } else { 3 };
            for a in j.result.anomalies.iter().take(shown) {
                let ops: Vec<String> = a.ops.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    out,
                    "    anomaly: {} (history indices {})",
                    a.what,
                    ops.join(", ")
                );
            }
            if j.result.anomalies.len() > shown {
                let _ = writeln!(
                    out,
                    "    ... {} more anomalies (-v shows all)",
                    j.result.anomalies.len() - shown
                );
            }
        }
    }
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "✓",
        Verdict::Invalid => "✗",
        Verdict::Unknown => "?",
    }
}

/// The hierarchy rows under the table.
fn write_consistency(out: &mut impl Write, reports: &[FileReport], width: usize, explain: bool) {
    let short = ["lin", "seq", "causal", "PRAM", "MR", "MW", "RYW", "WFR"];
    let width = width.max("consistency".len());
    let _ = write!(out, "\n{:<width$} ", "consistency");
    for s in short {
        let _ = write!(out, " {s:>6}");
    }
    let _ = writeln!(
        out,
        "  {:>6}  {:>14}  {:>5}  {:>9}",
        "stale", "max-stale-ms", "lost", "converged"
    );
    for r in reports {
        let Some(c) = &r.consistency else {
            if let Some(e) = &r.consistency_error {
                let _ = writeln!(out, "{:<width$}  error: {e}", r.file);
            }
            continue;
        };
        let _ = write!(out, "{:<width$} ", r.file);
        for m in Model::ALL {
            let _ = write!(out, " {:>6}", mark(c.verdict(m)));
        }
        let m = &c.measures;
        let _ = writeln!(
            out,
            "  {:>6}  {:>14}  {:>5}  {:>9}",
            m.stale_reads,
            m.max_staleness_ms
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            m.lost_writes,
            match m.converged {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
    }
    for r in reports {
        let Some(c) = &r.consistency else { continue };
        let _ = writeln!(out, "\n{}: {}", r.file, c.summary);
        let mut shown: Vec<&str> = Vec::new();
        for mr in &c.models {
            if let Some(w) = &mr.witness {
                if shown.contains(&w.explanation.as_str()) {
                    continue;
                }
                shown.push(&w.explanation);
                // every model this same witness refutes
                let names: Vec<&str> = c
                    .models
                    .iter()
                    .filter(|x| {
                        x.witness
                            .as_ref()
                            .is_some_and(|y| y.explanation == w.explanation)
                    })
                    .map(|x| x.model.name())
                    .collect();
                let _ = writeln!(out, "  {}: {}", names.join(", "), w.explanation);
                if explain {
                    for o in &w.ops {
                        let _ = writeln!(
                            out,
                            "    index {:<8} process {:<6} {} {} {}{}",
                            o.index,
                            o.process.to_string(),
                            serde_json::to_string(&o.status)
                                .unwrap_or_default()
                                .trim_matches('"'),
                            o.f,
                            checker::model::show_value(&o.value),
                            o.node
                                .as_ref()
                                .map(|n| format!(" on {n}"))
                                .unwrap_or_default()
                        );
                    }
                }
            } else if let (Verdict::Unknown, Some(why)) = (mr.verdict, &mr.reason) {
                let _ = writeln!(out, "  {}: unknown: {why}", mr.model.name());
            }
        }
    }
}

/// A duration in seconds: finite, not negative, at most a year.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=31_536_000.0).contains(&v) {
        return Err(format!("`{s}` must be between 0 and 31536000 seconds"));
    }
    Ok(v)
}

/// Half of the memory available now (from /proc/meminfo), at most 8 GiB;
/// 4 GiB when it cannot be read.
fn default_memory_mib() -> u64 {
    let avail_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    });
    match avail_kib {
        Some(k) => (k / 1024 / 2).clamp(256, 8192),
        None => 4096,
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: &CheckArgs) -> i32 {
    let start = Instant::now();
    if !args.checker.is_empty() && args.jepsen_model().is_some() {
        eprintln!(
            "error: --model {} and --checker: name the checker once (--checker {})",
            args.model.as_deref().unwrap_or_default(),
            args.model.as_deref().unwrap_or_default()
        );
        return 255;
    }
    if let Some(e) = args.flag_error() {
        eprintln!("error: {e}");
        return 255;
    }
    let names = args.checker_names();
    if !names.is_empty() {
        // A bad name fails before any file is read.
        if let Err(e) = checkers::compose(&names, &args.options(None)) {
            eprintln!("error: --checker: {e}");
            return 255;
        }
    }
    let parallel = args.files.len().min(rayon::current_num_threads()).max(1);
    let mib = args.max_memory.unwrap_or_else(default_memory_mib);
    let budget = usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX) / parallel;
    let reports: Vec<FileReport> = args
        .files
        .par_iter()
        .map(|p| check_one(p, args, budget))
        .collect();
    let count = |v: &str| reports.iter().filter(|r| r.verdict == v).count();
    let (valid, invalid, unknown, errors) = (
        count("valid"),
        count("invalid"),
        count("unknown"),
        count("error"),
    );
    let code = if errors > 0 {
        255
    } else if invalid > 0 {
        Verdict::Invalid.exit_code()
    } else if unknown > 0 {
        Verdict::Unknown.exit_code()
    } else {
        0
    };
    let total = start.elapsed().as_secs_f64();
    for r in &reports {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(e) = &r.error {
            eprintln!("error: {e}");
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let doc = serde_json::json!({
            "files": reports,
            "summary": {"files": reports.len(), "valid": valid, "invalid": invalid, "unknown": unknown, "errors": errors, "seconds": total, "exit": code,
                        "max_memory_mib": mib, "max_memory_default": args.max_memory.is_none()},
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
        return code;
    }
    let width = reports
        .iter()
        .map(|r| r.file.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:<8}  {:>9}",
        "file", "ops", "verdict", "seconds"
    );
    for r in &reports {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:<8}  {:>9.3}",
            r.file, r.ops, r.verdict, r.seconds
        );
    }
    let _ = writeln!(
        out,
        "{} files: {valid} valid, {invalid} invalid, {unknown} unknown, {errors} errors in {total:.3} s (memory budget {mib} MiB{})",
        reports.len(),
        if args.max_memory.is_none() {
            ", half the memory available; --max-memory sets it"
        } else {
            ""
        }
    );
    for r in reports.iter().filter(|r| !r.named_events.is_empty()) {
        let each: Vec<String> = r
            .named_events
            .iter()
            .map(|(p, n)| format!("{p:?} ({n} events)"))
            .collect();
        let _ = writeln!(
            out,
            "{}: not checked, events of named processes: {}",
            r.file,
            each.join(", ")
        );
    }
    if args.consistency {
        write_consistency(&mut out, &reports, width, args.explain);
    }
    write_checkers(&mut out, &reports, args.explain);
    for r in &reports {
        if let Some(res) = &r.result {
            if let Some(reason) = &res.reason {
                let _ = writeln!(out, "\n{}: unknown: {reason}", r.file);
            }
            for cx in res.counterexample.iter().chain(&res.more_counterexamples) {
                let _ = writeln!(out, "\n{}: {}", r.file, cx.explanation);
                if args.explain {
                    let _ = write!(out, "{}", describe_counterexample(cx));
                }
            }
        }
    }
    code
}

/// The counterexample as indented text.
pub fn describe_counterexample(cx: &checker::linearizability::Counterexample) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let shown = 20;
    let skip = cx.linearized.len().saturating_sub(shown);
    let _ = writeln!(
        s,
        "  longest linearizable prefix ({} ops):",
        cx.linearized.len()
    );
    if skip > 0 {
        let _ = writeln!(s, "    ... {skip} earlier ops");
    }
    for st in &cx.linearized[skip..] {
        let _ = writeln!(
            s,
            "    process {:<6} {:<28} -> state {}",
            st.op.process.to_string(),
            st.op.description,
            st.state_after
        );
    }
    let _ = writeln!(s, "  state: {}", cx.state);
    let _ = writeln!(
        s,
        "  could not linearize: process {} {} (index {}, line {})",
        cx.op.process,
        cx.op.description,
        cx.op.complete_index.unwrap_or(cx.op.invoke_index),
        cx.op.complete_line
    );
    let _ = writeln!(s, "  candidates for the next step:");
    for c in &cx.candidates {
        let _ = writeln!(
            s,
            "    process {:<6} {:<28} {}",
            c.op.process.to_string(),
            c.op.description,
            c.reason
        );
    }
    s
}
