//! faultline's checker: history formats, models, a parallel linearizability
//! checker, consistency checks and Jepsen's other checkers. A pure library:
//! it knows nothing of the harness that records histories.
//!
//! # A tour
//!
//! - **Histories** ([`history`]): an [`Event`] is one line of a history
//!   (invoke / ok / fail / info by a process); a [`History`] is the events in
//!   order; [`History::operations`] pairs invocations with completions into
//!   [`Operation`]s, which is what most checks work on.
//! - **Formats** ([`formats`]): readers for faultline JSONL, Jepsen EDN and
//!   Porcupine's logs ([`formats::read_file`], [`formats::parse`]), and
//!   [`formats::JsonlWriter`], which writes the same `Event`s as JSONL (the
//!   harness records `history.jsonl` through it).
//! - **Checking a history**: start at the [`checker::Checker`] trait:
//!   `check(&History, &Budget) -> CheckResult { verdict, details, anomalies }`.
//!   [`checkers::by_name`] builds a checker from a name
//!   (`linearizability:cas-register`, `consistency`, `total-queue:at-most-once`,
//!   `fifo-queue`, `lock`; Jepsen's `bank`, `counter`,
//!   `set-full:linearizable`, `long-fork:3`); [`checker::Compose`] runs several in parallel and
//!   merges their verdicts ([`verdict`]: invalid > unknown > valid);
//!   [`checker::Safe`] / [`checker::check_safe`] turn a panic into
//!   `unknown`.
//! - **Models and search**: the [`model::Model`] trait (a pure sequential
//!   specification), the built-in [`models`] (one file each), the WGL search
//!   ([`wgl`]) driven per key by [`linearizability`], and a brute-force
//!   [`oracle`] for tests.
//! - **Other checks**: the single-object [`consistency`] hierarchy and its
//!   measures, [`queue`] (total-queue, fifo pass), [`lock`] (mutual
//!   exclusion, fencing, mutex).
//! - **Run results**: [`stats`] (op counts, latency quantiles,
//!   availability, throughput) and [`results`] (the typed `results.json`
//!   the harness writes and the reports read).
//! - **Transactions**: [`txn`], Elle-style isolation checking of
//!   list-append and rw-register histories (dependency graph, cycles by
//!   anomaly class, placement in the lattice of isolation models).
//! - [`synth`] generates synthetic histories for benchmarks
//!   ([`txn::synth`] transactional ones).

pub mod checker;
pub mod checkers;
pub mod consistency;
pub mod formats;
pub mod history;
pub mod linearizability;
pub mod lock;
pub mod model;
pub mod models;
pub mod oracle;
pub mod queue;
pub mod results;
pub mod shrink;
pub mod stats;
pub mod synth;
pub mod txn;
pub mod verdict;
pub mod wgl;

pub use checker::{check_safe, Budget, CheckResult, Checker, Compose, Safe};
pub use history::{Event, EventType, History, InputError, Operation, Process, Status};
pub use linearizability::{check as check_linearizability, LinOptions, LinResult, ModelKind};
pub use results::RunResults;
pub use verdict::Verdict;
