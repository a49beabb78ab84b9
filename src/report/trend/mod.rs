//! The nightly trend (`rbench report DIR --trend`, and after every night of `rbench nightly`):
//! from a nightly folder's ledger and history, `trend.html` (per configuration, throughput and p99
//! night by night against the baseline each night was judged by) and `trend.md` (the latest
//! night's status, a table per configuration and the last nights, for a CI job to post).
//! `data` computes, `html` and `markdown` only format.

mod chart;
pub mod data;
mod html;
mod markdown;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use data::Options;

use super::files::{WriteError, write_atomic};
use super::ledger::{self, HISTORY, LEDGER, LedgerError};
use crate::schema::{self, LongRow};

/// The page's and the summary's file names in the nightly folder.
pub const HTML: &str = "trend.html";
pub const MARKDOWN: &str = "trend.md";

/// Why the trend cannot be drawn. `Write` is a runtime failure (exit 1); the rest is unusable
/// input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    #[error("{0}: no such folder")]
    NoFolder(String),
    #[error("{0}: no nightly history here (no {LEDGER}; `rbench nightly --out DIR` writes it)")]
    NoLedger(String),
    #[error("{0}: no nights recorded yet")]
    NoNights(String),
    #[error("{0}: no nightly history here (no {HISTORY}; `rbench nightly --out DIR` writes it)")]
    NoHistory(String),
    #[error("--nights must be at least 1")]
    Nights,
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("{path}: {msg}")]
    History { path: String, msg: String },
    #[error("{0}")]
    Write(#[from] WriteError),
}

/// Reads `dir`'s ledger and history and writes `trend.html` and `trend.md` there (each whole, to a
/// temp name then renamed); returns their paths.
pub fn write(dir: &Path, opts: &Options) -> Result<[PathBuf; 2], TrendError> {
    if opts.nights == 0 {
        return Err(TrendError::Nights);
    }
    if !dir.is_dir() {
        return Err(TrendError::NoFolder(dir.display().to_string()));
    }
    let ledger_path = dir.join(LEDGER);
    if !ledger_path.is_file() {
        return Err(TrendError::NoLedger(dir.display().to_string()));
    }
    let nights = ledger::read(&ledger_path)?;
    if nights.is_empty() {
        return Err(TrendError::NoNights(ledger_path.display().to_string()));
    }
    let history = dir.join(HISTORY);
    if !history.is_file() {
        return Err(TrendError::NoHistory(dir.display().to_string()));
    }
    let rows = read_history(&history)?;
    let trend = data::build(nights, &rows, *opts).map_err(|msg| TrendError::History {
        path: history.display().to_string(),
        msg,
    })?;
    let (page, summary) = (dir.join(HTML), dir.join(MARKDOWN));
    write_atomic(&page, html::page(&trend).as_bytes())?;
    write_atomic(&summary, markdown::summary(&trend).as_bytes())?;
    Ok([page, summary])
}

/// Every row of the history through the results schema (older files' missing columns read
/// empty); a row whose figures are not numbers is named by its line.
fn read_history(path: &Path) -> Result<Vec<LongRow>, TrendError> {
    let name = path.display().to_string();
    let bad = |msg: String| TrendError::History {
        path: name.clone(),
        msg,
    };
    let file = File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let header = schema::clean_header(rdr.headers().map_err(|e| bad(e.to_string()))?);
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let line = rec.position().map_or(0, csv::Position::line);
        let row: LongRow =
            schema::read_row(&rec, &header).map_err(|e| bad(format!("line {line}: {e}")))?;
        data::Sample::of(&row).map_err(|e| bad(format!("line {line}: {e}")))?;
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests;
