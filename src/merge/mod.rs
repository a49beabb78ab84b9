//! `rbench merge FILE... [--json OUT]`: adds HDR histograms (repeats of a test, or the same test run
//! from several machines) and reports the union's count and percentiles. Percentiles of the union,
//! never an average of each file's percentiles: averaging p99s says nothing about the p99 of all.
//! Given results folders instead, it merges the shards of one run (`folders`, `shards`).

mod folders;
pub mod shards;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::cli::MergeCli;
use crate::exit::RunError;
use crate::report::files::{WriteError, write_atomic};
use crate::report::hlog::{self, HdrFileError};
use crate::stats::ms;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing given (rbench merge FILE.hdr|FILE.hlog... or rbench merge SHARD_DIR...)")]
    NoFiles,
    #[error("{} is a folder and {} a file: give HDR files, or the results folders of a run's shards", .0.display(), .1.display())]
    Mixed(PathBuf, PathBuf),
    #[error("{0} is for merging results folders, not HDR files")]
    FolderFlag(&'static str),
    #[error("{} and {} hold the same test (.hdr and .hlog of one result, or one file twice): give it once", .0.display(), .1.display())]
    Twice(PathBuf, PathBuf),
    #[error(transparent)]
    File(#[from] HdrFileError),
    #[error("{}: cannot add its histogram: {why}", .path.display())]
    Add { path: PathBuf, why: String },
}

/// The union's summary, latencies in ms (stored values are µs).
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    pub files: Vec<String>,
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
}

/// Who merge's lines are from.
const WHO: &str = "rbench merge";

/// Runs the subcommand: one block on `out`; any bad input is one `rbench merge: ` line (exit 2).
pub fn run(c: &MergeCli, out: &mut dyn Write) -> Result<(), RunError> {
    if !c.files.is_empty() && c.files.iter().all(|p| p.is_dir()) {
        return folders::run(c, out);
    }
    let merged = folder_flags(c)
        .and_then(|()| merge(&c.files))
        .map_err(|e| RunError::usage(WHO, e))?;
    let _ = write!(out, "{}", block(&merged));
    if let Some(path) = &c.json {
        write_json(path, &merged).map_err(|e| RunError::failed(WHO, e))?;
    }
    Ok(())
}

/// The flags that only mean something for folders.
fn folder_flags(c: &MergeCli) -> Result<(), MergeError> {
    let given = [
        (c.out.is_some(), "--out"),
        (c.run.is_some(), "--run"),
        (c.no_save, "--no-save"),
        (c.quiet, "-q"),
        (c.csv, "--csv"),
    ];
    match given.iter().find(|(set, _)| *set) {
        Some((_, flag)) => Err(MergeError::FolderFlag(flag)),
        None => Ok(()),
    }
}

/// Reads every file and adds their histograms.
pub fn merge(files: &[PathBuf]) -> Result<Merged, MergeError> {
    if files.is_empty() {
        return Err(MergeError::NoFiles);
    }
    if let Some(dir) = files.iter().find(|p| p.is_dir()) {
        let file = files.iter().find(|p| !p.is_dir()).unwrap_or(dir);
        return Err(MergeError::Mixed(dir.clone(), file.clone()));
    }
    check_distinct(files)?;
    let hists = files
        .iter()
        .map(|p| hlog::read_histogram(p))
        .collect::<Result<Vec<_>, _>>()?;
    let total = hlog::sum(hists.iter()).map_err(|e| MergeError::Add {
        path: files[0].clone(),
        why: e.to_string(),
    })?;
    let names = files.iter().map(|p| p.display().to_string()).collect();
    Ok(summary(names, &total))
}

/// A result's `.hdr` and `.hlog` (or one file named twice) would count every latency twice.
fn check_distinct(files: &[PathBuf]) -> Result<(), MergeError> {
    let mut seen: HashMap<PathBuf, &PathBuf> = HashMap::new();
    for p in files {
        let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let key = match full.extension().and_then(|e| e.to_str()) {
            Some("hdr" | "hlog") => full.with_extension(""),
            _ => full,
        };
        if let Some(first) = seen.insert(key, p) {
            return Err(MergeError::Twice(first.clone(), p.clone()));
        }
    }
    Ok(())
}

fn summary(files: Vec<String>, h: &Histogram<u64>) -> Merged {
    // An empty histogram's min/max are not defined by hdrhistogram; report zeros.
    let q = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(q))
        }
    };
    Merged {
        files,
        count: h.len(),
        min_ms: if h.is_empty() { 0.0 } else { ms(h.min()) },
        mean_ms: h.mean() / 1000.0,
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        p9999_ms: q(0.9999),
        max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
    }
}

/// The block `rbench merge` prints.
pub fn block(m: &Merged) -> String {
    let n = m.files.len();
    let mut s = format!(
        "====== merge of {n} file{} ======\n",
        if n == 1 { "" } else { "s" }
    );
    s.push_str(&format!("  files: {}\n", m.files.join(", ")));
    s.push_str(&format!("  {} latencies in the union\n", m.count));
    s.push_str("  latency summary (msec):\n");
    s.push_str(
        "          min      mean       p50       p90       p99     p99.9    p99.99       max\n",
    );
    s.push_str("   ");
    for v in [
        m.min_ms, m.mean_ms, m.p50_ms, m.p90_ms, m.p99_ms, m.p999_ms, m.p9999_ms, m.max_ms,
    ] {
        s.push_str(&format!(" {v:>9.3}"));
    }
    s.push('\n');
    s
}

fn write_json(path: &Path, m: &Merged) -> Result<(), WriteError> {
    let doc = serde_json::json!({
        "files": m.files, "count": m.count, "min_ms": m.min_ms, "mean_ms": m.mean_ms,
        "p50_ms": m.p50_ms, "p90_ms": m.p90_ms, "p99_ms": m.p99_ms, "p999_ms": m.p999_ms,
        "p9999_ms": m.p9999_ms, "max_ms": m.max_ms,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    write_atomic(path, text.as_bytes())
}
