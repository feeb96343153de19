//! HTML reports for faultline runs.
//!
//! - [`render_run`] writes `run_dir/index.html`: a self-contained page (CSS,
//!   JS and SVG inline, no network) with the run's header and verdicts, a
//!   canvas timeline of every op with fault bands, performance plots, the
//!   counterexample, stats and links to the run's files.
//! - [`serve`] serves a store read-only over HTTP with an index of its runs.
//!
//! Module dependencies form a DAG: [`markup`] (escaping, small elements)
//! and `error` at the bottom; [`faults`] and [`run`] (loading a run
//! directory, `results.json` as `checker::results::RunResults`) above them;
//! the page parts (`svg`, `counterexample`, `isolation`) above `run`; [`html`] (the
//! page) above those; `render`, [`serve`] and [`campaign`] on top.
//!
//! See `README.md` for how the harness calls them.

pub mod campaign;
mod counterexample;
mod error;
pub mod faults;
pub mod html;
mod isolation;
pub mod markup;
mod render;
pub mod run;
pub mod serve;
mod svg;

pub use error::ReportError;
pub use render::{render_run, render_run_html};
pub use serve::{
    run_summaries, serve, serve_listener, serve_listener_with, RunSummary, ServeOptions, ServeStats,
};
