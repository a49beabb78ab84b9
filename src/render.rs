//! `rbench report DIR`: renders a saved run of a results folder (its HTML report and Markdown
//! table), two runs side by side with the `rbench compare` verdict, or a nightly folder's trend
//! (`--trend`, `report::trend`). A run writes its own report
//! through `write_run` after every result, from the same saved files, so the page a run leaves and
//! the page rendered later are the same page.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::ReportCli;
use crate::exit::RunError;
use crate::report::compare::{self, Thresholds, thresholds};
use crate::report::files::{LONG_CSV, WriteError, write_atomic};
use crate::report::saved::{self, LoadError, SavedRun};
use crate::report::trend::{self, TrendError};
use crate::report::{html, table};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Unusable input: exit 2.
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Compare(#[from] compare::CompareError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Trend(#[from] TrendError),
    /// A file could not be written: exit 1.
    #[error("{0}")]
    Write(#[from] WriteError),
}

pub fn run(c: &ReportCli, out: &mut dyn Write) -> Result<(), RunError> {
    let res = match c.compare.as_deref() {
        _ if c.trend => trend_files(c, out),
        Some([a, b]) => side_by_side(c, a, b, out),
        Some(_) => Err(RenderError::Usage("--compare takes two run ids".into())),
        None => single(&c.dir, c.run.as_deref(), out),
    };
    res.map_err(|e| match e {
        RenderError::Write(_) | RenderError::Trend(TrendError::Write(_)) => {
            RunError::failed("rbench report", e)
        }
        _ => RunError::usage("rbench report", e),
    })
}

/// Writes `report-<run>.html` for run `run_id` of `dir` from its saved files.
pub fn write_run(dir: &Path, run_id: &str) -> Result<PathBuf, RenderError> {
    let run = saved::load(dir, Some(run_id))?;
    let path = dir.join(format!("report-{run_id}.html"));
    write_atomic(&path, html::run_page(&run).as_bytes())?;
    Ok(path)
}

fn single(dir: &Path, run: Option<&str>, out: &mut dyn Write) -> Result<(), RenderError> {
    let saved = saved::load(dir, run)?;
    let id = &saved.meta.run_id;
    let md = table::markdown(&saved.results);
    write_atomic(&dir.join(format!("table-{id}.md")), md.as_bytes())?;
    let path = write_run(dir, id)?;
    let _ = writeln!(out, "{md}");
    let _ = writeln!(out, "report: {}", path.display());
    Ok(())
}

/// `trend.html` and `trend.md` of a nightly folder; prints their paths.
fn trend_files(c: &ReportCli, out: &mut dyn Write) -> Result<(), RenderError> {
    let opts = trend::Options {
        nights: c.nights,
        thresholds: thresholds(&c.thresholds.max_drop, &c.thresholds.max_p99_rise)
            .map_err(RenderError::Usage)?,
    };
    for path in trend::write(&c.dir, &opts)? {
        let _ = writeln!(out, "trend: {}", path.display());
    }
    Ok(())
}

fn side_by_side(
    c: &ReportCli,
    base: &str,
    cand: &str,
    out: &mut dyn Write,
) -> Result<(), RenderError> {
    let th = thresholds(&c.thresholds.max_drop, &c.thresholds.max_p99_rise)
        .map_err(RenderError::Usage)?;
    let a = saved::load(&c.dir, Some(base))?;
    let b = saved::load(&c.dir, Some(cand))?;
    let verdict = verdict(&c.dir, &a, &b, &th)?;
    let path = c.dir.join(format!("compare-{base}-{cand}.html"));
    write_atomic(&path, html::compare_page(&a, &b, &verdict).as_bytes())?;
    let _ = write!(out, "{verdict}");
    let _ = writeln!(out, "report: {}", path.display());
    Ok(())
}

/// `rbench compare`'s table and verdict for run `b` against run `a`, as text.
fn verdict(dir: &Path, a: &SavedRun, b: &SavedRun, th: &Thresholds) -> Result<String, RenderError> {
    let rows = compare::load(&dir.join(LONG_CSV))?;
    let (base, cand): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .filter(|r| r.run_id == a.meta.run_id || r.run_id == b.meta.run_id)
        .partition(|r| r.run_id == a.meta.run_id);
    let ev = compare::evaluate(base, cand, th);
    if ev.rows.is_empty() {
        return Ok(format!(
            "no configuration of run {} matches one of run {}: nothing to compare\n",
            b.meta.run_id, a.meta.run_id
        ));
    }
    let mut text = Vec::new();
    compare::write_report(&mut text, &ev, th).map_err(compare::CompareError::Output)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}
