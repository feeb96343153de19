//! HTML reports for faultline runs.
//!
//! - [`render_run`] writes `run_dir/index.html`: a self-contained page (CSS,
//!   JS and SVG inline, no network) with the run's header and verdicts, a
//!   canvas timeline of every op with fault bands, performance plots, the
//!   counterexample, stats and links to the run's files.
//! - [`serve`] serves a store read-only over HTTP with an index of its runs.
//!
//! See `README.md` for how the harness calls them.

pub mod campaign;
mod counterexample;
pub mod faults;
pub mod html;
pub mod run;
pub mod serve;
mod svg;

use std::path::{Path, PathBuf};

pub use serve::{run_summaries, serve, serve_listener, RunSummary};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: not a run directory (no test.json or history.jsonl)", .0.display())]
    NotARun(PathBuf),
}

/// Renders the report of the run in `run_dir` to a string (nothing written).
pub fn render_run_html(run_dir: &Path) -> Result<String, ReportError> {
    let run = run::Run::load(run_dir)?;
    Ok(html::page(&run))
}

/// Renders the report of the run in `run_dir` and writes it to
/// `run_dir/index.html` (via a temporary file and a rename). Returns the
/// page's path.
///
/// A missing `results.json` (a run that was not checked) or `history.jsonl`
/// still gives a page that says so.
pub fn render_run(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let page = render_run_html(run_dir)?;
    let path = run_dir.join("index.html");
    let tmp = run_dir.join(format!(".index.html.{}", std::process::id()));
    let io = |source| ReportError::Io {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, page).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
