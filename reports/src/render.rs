//! Rendering a run directory's report page.

use crate::error::ReportError;
use crate::{html, run};
use std::path::{Path, PathBuf};

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
    // On any failure (a full disk) the temporary file goes too: nothing
    // half-written is left beside the old page.
    let res = std::fs::write(&tmp, page).and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(path)
}
