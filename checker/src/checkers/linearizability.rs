//! The `linearizability` checker.

use super::with_checker;
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::history::{History, InputError, Operation};
use crate::linearizability::{self as lin, LinOptions, LinResult, ModelKind};
use crate::verdict::Verdict;
use serde_json::json;

/// Linearizability against a model, per key (see
/// [`crate::linearizability`]).
///
/// Details: the [`LinResult`] (`verdict`, `model`, `ops`, `checked_ops`,
/// `partitions`, `stats`, `reason`, `counterexample`) with `checker`.
/// Anomaly: the counterexample (the op that cannot be linearized, the
/// longest linearization found, the candidates).
#[derive(Debug, Clone, Default)]
pub struct Linearizability {
    /// `None`: guessed from the op names ([`ModelKind::infer`]).
    pub model: Option<ModelKind>,
    pub partition: bool,
    pub fail_cas_observes: bool,
    /// The initial state (`null`: the model's own); see
    /// [`crate::model::Model::initial`].
    pub init: serde_json::Value,
    /// Search every partition and report each failing one.
    pub all_anomalies: bool,
}

impl Linearizability {
    /// The model for these ops.
    pub fn model_for(&self, ops: &[Operation]) -> ModelKind {
        self.model.unwrap_or_else(|| ModelKind::infer(ops))
    }

    /// The typed result on paired ops; `source` names the history in
    /// errors.
    pub fn run(
        &self,
        ops: &[Operation],
        budget: &Budget,
        source: &str,
    ) -> Result<LinResult, InputError> {
        let opts = LinOptions {
            model: self.model_for(ops),
            partition: self.partition,
            fail_cas_observes: self.fail_cas_observes,
            timeout: budget.timeout,
            max_bytes: budget.max_bytes,
            init: self.init.clone(),
            all_anomalies: self.all_anomalies,
        };
        lin::check(ops, &opts, source)
    }

    /// The [`CheckResult`] of a typed result.
    pub fn judge(r: &LinResult) -> CheckResult {
        CheckResult {
            verdict: r.verdict,
            details: with_checker(
                serde_json::to_value(r).unwrap_or_default(),
                "linearizability",
            ),
            anomalies: std::iter::once(r.counterexample.as_ref())
                .chain(r.more_counterexamples.iter().map(Some))
                .filter_map(|ce| anomaly_of(r, ce?, "linearizable", "key", ""))
                .collect(),
        }
    }
}

impl Checker for Linearizability {
    fn name(&self) -> &str {
        "linearizability"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        let model = self.model.map(ModelKind::name);
        let failed = |model: Option<&str>, e: InputError| CheckResult {
            verdict: Verdict::Unknown,
            details: json!({"checker": "linearizability", "model": model, "verdict": "unknown",
                            "error": e.to_string()}),
            anomalies: Vec::new(),
        };
        let ops = match history.operations() {
            Ok(ops) => ops,
            Err(e) => return failed(model, e),
        };
        match self.run(&ops, budget, &history.source) {
            Ok(r) => Self::judge(&r),
            Err(e) => failed(Some(self.model_for(&ops).name()), e),
        }
    }
}

/// The anomaly of an invalid result's counterexample: `label: <op> on
/// <key_word> <key>`, its ops the failing op, the linearized prefix and the
/// candidates.
pub(crate) fn anomaly(r: &LinResult, label: &str, key_word: &str, part: &str) -> Option<Anomaly> {
    anomaly_of(r, r.counterexample.as_ref()?, label, key_word, part)
}

fn anomaly_of(
    r: &LinResult,
    ce: &lin::Counterexample,
    label: &str,
    key_word: &str,
    part: &str,
) -> Option<Anomaly> {
    if r.verdict != Verdict::Invalid {
        return None;
    }
    let mut ops = vec![ce.op.invoke_index];
    ops.extend(ce.linearized.iter().map(|s| s.op.invoke_index));
    ops.extend(ce.candidates.iter().map(|c| c.op.invoke_index));
    let key = match &ce.partition {
        Some(k) => format!(" on {key_word} {k}"),
        None => String::new(),
    };
    Some(Anomaly {
        part: part.to_string(),
        what: format!("{label}: {}{key}", ce.op.description),
        ops,
    })
}
