//! `rbench merge DIR...`: the results folders of a run's shards become one run, printed as a run is
//! printed and written as a run writes its folder, so `rbench report`, `compare` and `nightly` read
//! the merged run like any other.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::WHO;
use super::shards::{self, ShardError, ShardRun};
use crate::cli::MergeCli;
use crate::exit::RunError;
use crate::render;
use crate::report::files::{self, LONG_CSV, WriteError};
use crate::report::saved::{self, LoadError};
use crate::report::{console, table};

#[derive(Debug, thiserror::Error)]
enum FolderError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Shards(#[from] ShardError),
    #[error("--out {}: that is a shard's folder; write the merged run elsewhere", .0.display())]
    OutIsShard(PathBuf),
    #[error("{} already holds run {run} (merged before?): give another --out", .dir.display())]
    AlreadyThere { dir: PathBuf, run: String },
    #[error("-q and --csv are two ways to print: give one")]
    TwoModes,
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("the HTML report: {0}")]
    Render(#[from] render::RenderError),
}

pub fn run(c: &MergeCli, out: &mut dyn Write) -> Result<(), RunError> {
    merge_folders(c, out).map_err(|e| match e {
        FolderError::Write(_) | FolderError::Render(_) => RunError::failed(WHO, e),
        _ => RunError::usage(WHO, e),
    })
}

fn merge_folders(c: &MergeCli, out: &mut dyn Write) -> Result<(), FolderError> {
    if c.quiet && c.csv {
        return Err(FolderError::TwoModes);
    }
    let runs = c
        .files
        .iter()
        .map(|dir| {
            Ok(ShardRun {
                dir: dir.clone(),
                run: saved::load(dir, c.run.as_deref())?,
            })
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let merged = shards::merge(runs)?;
    let dest = (!c.no_save).then(|| c.out.clone().unwrap_or_else(|| PathBuf::from("results")));
    if let Some(d) = &dest {
        check_destination(d, &c.files, &merged.meta.run_id)?;
    }
    print(c, &merged, out);
    if let Some(d) = &dest {
        save(d, &merged)?;
        if !c.quiet && !c.csv {
            let _ = writeln!(
                out,
                "results: {LONG_CSV}, timeline-{id}.csv, table-{id}.md, report-{id}.html in {}",
                d.display(),
                id = merged.meta.run_id
            );
        }
    }
    match &c.json {
        Some(p) if p.as_os_str() == "-" => {
            let _ = writeln!(out, "{}", files::json(&merged.meta, &merged.results));
        }
        Some(p) => files::write_atomic(p, files::json(&merged.meta, &merged.results).as_bytes())?,
        None => {}
    }
    Ok(())
}

/// Not a shard's own folder (its rows would mix with the merge's), and not one holding the run.
fn check_destination(dest: &Path, shards: &[PathBuf], run: &str) -> Result<(), FolderError> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if shards.iter().any(|s| canon(s) == canon(dest)) {
        return Err(FolderError::OutIsShard(dest.to_path_buf()));
    }
    if dest.join(LONG_CSV).is_file() && saved::run_ids(dest)?.iter().any(|id| id == run) {
        return Err(FolderError::AlreadyThere {
            dir: dest.to_path_buf(),
            run: run.to_string(),
        });
    }
    Ok(())
}

fn print(c: &MergeCli, m: &shards::Merged, out: &mut dyn Write) {
    if c.csv {
        let _ = writeln!(out, "{}", console::CSV_HEADER);
    } else if !c.quiet {
        let _ = writeln!(
            out,
            "====== run {} merged from {} shards ======\n{}",
            m.meta.run_id,
            m.shards,
            spread_line(&m.start_spread)
        );
    }
    for r in &m.results {
        let line = if c.csv {
            console::csv_row(r)
        } else if c.quiet {
            console::quiet_line(r)
        } else {
            console::block(r, crate::config::DEFAULT_PRECISION)
        };
        let _ = writeln!(out, "{line}");
    }
    if !c.quiet && !c.csv {
        let _ = writeln!(out, "{}", table::markdown(&m.results));
    }
}

/// How far apart the shards started: the first test (the one `--start-at` lines up) and the
/// widest of any later one (each shard goes on at its own pace).
fn spread_line(spreads: &[Option<Duration>]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let Some(Some(first)) = spreads.first() else {
        return String::new();
    };
    let widest = spreads.iter().flatten().copied().max().unwrap_or(*first);
    let mut s = format!(
        "  shards started the first test within {:.1} ms",
        ms(*first)
    );
    if spreads.len() > 1 {
        s.push_str(&format!(", any test within {:.1} ms", ms(widest)));
    }
    s + "\n\n"
}

/// The merged run's folder: long CSV rows, timeline, table, ladder, every row's HDR files and the
/// HTML report, as a run leaves them.
fn save(dir: &Path, m: &shards::Merged) -> Result<(), FolderError> {
    files::append_long_csv(dir, LONG_CSV, &m.meta, &m.results)?;
    files::write_run_files(dir, &m.meta, &m.results, 0)?;
    render::write_run(dir, &m.meta.run_id)?;
    Ok(())
}
