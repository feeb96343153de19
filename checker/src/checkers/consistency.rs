//! The `consistency` checker.

use super::{clip, with_checker};
use crate::checker::{Anomaly, Budget, CheckResult, Checker};
use crate::consistency::{self, ConsistencyOptions, ConsistencyResult, Model};
use crate::history::{History, InputError};
use crate::verdict::Verdict;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a register history sits on the single-object consistency
/// hierarchy, with stale reads, lost writes and convergence (see
/// [`crate::consistency`]).
///
/// With `require: None` it is informational and its verdict is that of
/// the strongest model, `linearizable`; with a model, its verdict is that
/// model's and it counts.
///
/// Details: `consistency` (model key -> verdict), `measures`,
/// `witnesses`, `reasons`, `summary`, plus `checker` and `verdict`.
/// Anomalies: the witness of each model found invalid (part: the model's
/// key), its explanation cut to about 160 characters; with a required
/// model, only the models whose violation breaks it (the required model
/// and those it implies): a history that is sequential but not
/// linearizable does not break a claim of `sequential`, so its
/// linearizability witness is no anomaly of `consistency:sequential` (it
/// stays in the details). Its name is then `consistency:MODEL`, so a
/// checker rebuilt from the name (shrinking) requires the same model.
#[derive(Debug, Clone)]
pub struct Consistency {
    pub require: Option<Model>,
    /// The most the sequential search may take (it also stays within the
    /// time budget).
    pub sequential_timeout: Duration,
    /// The registers' initial value (`null`: nil; see
    /// [`ConsistencyOptions::init`]).
    pub init: Value,
}

impl Consistency {
    /// The typed result.
    pub fn run(&self, history: &History, budget: &Budget) -> Result<ConsistencyResult, InputError> {
        let sequential = budget
            .timeout
            .map_or(self.sequential_timeout, |t| t.min(self.sequential_timeout));
        let opts = ConsistencyOptions {
            timeout: budget.timeout,
            sequential_timeout: Some(sequential),
            max_bytes: budget.max_bytes,
            init: self.init.clone(),
            ..Default::default()
        };
        consistency::check_history(history, &opts)
    }

    /// The [`CheckResult`] of a typed result.
    pub fn judge(&self, r: &ConsistencyResult) -> CheckResult {
        let verdict = r.verdict(self.require.unwrap_or(Model::Linearizable));
        let mut details = with_checker(serde_json::to_value(r).unwrap_or_default(), "consistency");
        if let Value::Object(m) = &mut details {
            m.insert("verdict".into(), json!(verdict.as_str()));
            if let Some(req) = self.require {
                m.insert("require".into(), json!(req.key()));
            }
        }
        let anomalies = r
            .models
            .iter()
            .filter(|m| m.verdict == Verdict::Invalid)
            .filter(|m| self.require.is_none_or(|req| req.implies(m.model)))
            .filter_map(|m| {
                let w = m.witness.as_ref()?;
                Some(Anomaly {
                    part: m.model.key().to_string(),
                    what: format!("{}: {}", m.model.key(), clip(&w.explanation, 160)),
                    ops: w.ops.iter().map(|o| o.index).collect(),
                })
            })
            .collect();
        CheckResult {
            verdict,
            details,
            anomalies,
        }
    }
}

impl Checker for Consistency {
    fn name(&self) -> &str {
        match self.require {
            None => "consistency",
            Some(Model::Linearizable) => "consistency:linearizable",
            Some(Model::Sequential) => "consistency:sequential",
            Some(Model::Causal) => "consistency:causal",
            Some(Model::Pram) => "consistency:pram",
            Some(Model::MonotonicReads) => "consistency:monotonic-reads",
            Some(Model::MonotonicWrites) => "consistency:monotonic-writes",
            Some(Model::ReadYourWrites) => "consistency:read-your-writes",
            Some(Model::WritesFollowReads) => "consistency:writes-follow-reads",
        }
    }

    fn informational(&self) -> bool {
        self.require.is_none()
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        match self.run(history, budget) {
            Ok(r) => self.judge(&r),
            Err(e) => CheckResult::unknown("consistency", e.to_string()),
        }
    }
}
