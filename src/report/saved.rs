//! A run read back from a results folder: its rows of the long CSV, its timeline CSV, its HDR
//! files and its SLO ladder become the same `TestResult`s the run held in memory, so the HTML report
//! and the Markdown table render alike during a run and long after it (`rbench report DIR`).

use std::collections::HashMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::experiment::{Experiment, FaultRow};
use super::files::hdr_stem;
use super::hlog::{self, Interval};
use super::observed::{Marker, Observed};
use super::table::ordered_unique;
use super::{RunMeta, TestResult, slo};
use crate::observe::bound::Bound;
use crate::resp::ErrorClass;
use crate::schema::{self, LONG_CSV, LongRow, TimelineRow};
use crate::slo::{Outcome, SloResult};
use crate::stats::{Summary, Tick, new_histogram};

/// One run of a results folder.
pub struct SavedRun {
    pub meta: RunMeta,
    pub results: Vec<TestResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: no such folder")]
    NoFolder(String),
    #[error("{0}: no results in this folder (no {LONG_CSV})")]
    NoResults(String),
    #[error("{0}: no runs recorded yet")]
    Empty(String),
    #[error("run {run} is not in {path} (runs there: {known})")]
    NoRun {
        run: String,
        path: String,
        known: String,
    },
    #[error("{path}: {message}")]
    Malformed { path: String, message: String },
    #[error("{0}")]
    Hdr(#[from] hlog::HdrFileError),
}

/// A CSV file as header-indexed string rows.
pub(super) struct Table {
    path: String,
    /// The header as read, without a byte-order mark.
    header: csv::StringRecord,
    cols: HashMap<String, usize>,
    pub(super) rows: Vec<csv::StringRecord>,
}

impl Table {
    pub(super) fn read(path: &Path) -> Result<Table, LoadError> {
        let name = path.display().to_string();
        let bad = |e: csv::Error| LoadError::Malformed {
            path: name.clone(),
            message: e.to_string(),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(bad)?;
        let header = schema::clean_header(rdr.headers().map_err(bad)?);
        let cols = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        let rows = rdr.records().collect::<Result<_, _>>().map_err(bad)?;
        Ok(Table {
            path: name,
            header,
            cols,
            rows,
        })
    }

    /// Record `row` as a row of the schema (missing trailing columns empty).
    fn typed<T: for<'de> serde::Deserialize<'de>>(
        &self,
        row: &csv::StringRecord,
    ) -> Result<T, LoadError> {
        schema::read_row(row, &self.header).map_err(|e| self.malformed(row, &e.to_string()))
    }

    /// `s`, the cell of column `col` in `row`, as a number.
    fn number(&self, row: &csv::StringRecord, col: &str, s: &str) -> Result<f64, LoadError> {
        s.parse()
            .map_err(|_| self.malformed(row, &format!("`{col}` is not a number: `{s}`")))
    }

    pub(super) fn get<'a>(&self, row: &'a csv::StringRecord, col: &str) -> &'a str {
        self.cols.get(col).and_then(|&i| row.get(i)).unwrap_or("")
    }

    pub(super) fn num(&self, row: &csv::StringRecord, col: &str) -> Result<f64, LoadError> {
        self.number(row, col, self.get(row, col))
    }

    /// `true` or `false`.
    pub(super) fn flag(&self, row: &csv::StringRecord, col: &str) -> Result<bool, LoadError> {
        match self.get(row, col) {
            "true" => Ok(true),
            "false" => Ok(false),
            s => Err(self.malformed(row, &format!("`{col}` is not true or false: `{s}`"))),
        }
    }

    /// What is wrong with `row`, with its line.
    pub(super) fn malformed(&self, row: &csv::StringRecord, message: &str) -> LoadError {
        LoadError::Malformed {
            path: self.path.clone(),
            message: format!("line {}: {message}", line_of(row)),
        }
    }
}

fn line_of(row: &csv::StringRecord) -> u64 {
    row.position().map_or(0, csv::Position::line)
}

/// The ids of the runs in `dir`, oldest first.
pub fn run_ids(dir: &Path) -> Result<Vec<String>, LoadError> {
    let (_, rows) = long_csv(dir)?;
    Ok(ids_of(&rows))
}

fn ids_of(rows: &[LongRow]) -> Vec<String> {
    let ids = ordered_unique(rows.iter().map(|r| r.run_id.as_str()));
    ids.into_iter()
        .filter(|id| !id.is_empty())
        .map(String::from)
        .collect()
}

/// The long CSV of `dir`: the file as read, and its records as rows of the schema (same order).
type LongCsv = (Table, Vec<LongRow>);

fn long_csv(dir: &Path) -> Result<LongCsv, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NoFolder(dir.display().to_string()));
    }
    let path = dir.join(LONG_CSV);
    if !path.is_file() {
        return Err(LoadError::NoResults(dir.display().to_string()));
    }
    let t = Table::read(&path)?;
    for col in ["run_id", "target", "test", "rps", "p50_ms", "p99_ms"] {
        if !t.cols.contains_key(col) {
            return Err(LoadError::Malformed {
                path: t.path.clone(),
                message: format!("no `{col}` column: not an rbench results file"),
            });
        }
    }
    let rows = t
        .rows
        .iter()
        .map(|r| t.typed(r))
        .collect::<Result<_, _>>()?;
    Ok((t, rows))
}

/// Run `run` of `dir`, or its newest run.
pub fn load(dir: &Path, run: Option<&str>) -> Result<SavedRun, LoadError> {
    let (t, long) = long_csv(dir)?;
    let ids = ids_of(&long);
    let id = match run {
        Some(r) if ids.iter().any(|i| i == r) => r.to_string(),
        Some(r) => {
            return Err(LoadError::NoRun {
                run: r.to_string(),
                path: t.path.clone(),
                known: known_runs(&ids),
            });
        }
        None => ids
            .last()
            .cloned()
            .ok_or_else(|| LoadError::Empty(t.path.clone()))?,
    };
    let rows: Vec<(&csv::StringRecord, &LongRow)> = t
        .rows
        .iter()
        .zip(&long)
        .filter(|(_, r)| r.run_id == id)
        .collect();
    let first = rows[0].1;
    let meta = RunMeta {
        timestamp: first.timestamp.clone(),
        run_id: id.clone(),
        version: first.rbench_version.clone(),
        git_rev: first.git_rev.clone(),
        profile: first.profile.clone(),
        environment: super::files::read_environment(dir, &id),
    };
    let mut seconds = timeline(&dir.join(schema::timeline_name(&id)))?;
    let mut ladders = slo::read(&dir.join(slo::file_name(&id)))?;
    let mut results = Vec::with_capacity(rows.len());
    for (rec, row) in rows {
        let mut r = result_of(&t, rec, row)?;
        let (hist, intervals) = histograms(dir, &id, &r)?;
        r.hist = hist;
        let key = (r.target.clone(), r.test.clone(), r.repeat);
        if let Some(search) = ladders.remove(&key) {
            r.slo = Some(search);
        }
        let (timeline, faults, markers) = seconds.remove(&key).unwrap_or_default();
        r.timeline = timeline;
        r.observed.events = markers;
        r.hlog = intervals.map(|iv| iv.into_iter().map(|i| i.hist).collect());
        r.experiment.faults = faults;
        results.push(r);
    }
    Ok(SavedRun { meta, results })
}

fn known_runs(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    let tail = &ids[ids.len().saturating_sub(SHOWN)..];
    let more = ids.len().saturating_sub(SHOWN);
    match more {
        0 => tail.join(", "),
        n => format!("{} and {n} older", tail.join(", ")),
    }
}

/// A long-CSV row as a result (timeline and histograms are filled in by the caller). `rps`,
/// `p50_ms` and `p99_ms` must be numbers; any other number that is not reads as 0 (or absent).
fn result_of(t: &Table, rec: &csv::StringRecord, row: &LongRow) -> Result<TestResult, LoadError> {
    let n = |s: &str| opt(s).unwrap_or(0.0);
    let latency = Summary {
        avg: n(&row.avg_ms),
        min: n(&row.min_ms),
        p50: t.number(rec, "p50_ms", &row.p50_ms)?,
        p95: n(&row.p95_ms),
        p99: t.number(rec, "p99_ms", &row.p99_ms)?,
        p999: n(&row.p999_ms),
        max: n(&row.max_ms),
    };
    let mut events = [0u64; ErrorClass::COUNT];
    for pair in row.error_classes.split_whitespace() {
        if let Some((name, count)) = pair.split_once('=')
            && let Some(c) = ErrorClass::ALL.iter().find(|c| c.name() == name)
        {
            events[c.index()] = count.parse().unwrap_or(0);
        }
    }
    let masters = (n(&row.masters) as usize).max(1);
    let clients = n(&row.clients) as usize;
    Ok(TestResult {
        target: row.target.clone(),
        deployment: row.deployment.clone(),
        persistence: row.persistence.clone(),
        server_version: row.server_version.clone(),
        masters,
        test: row.test.clone(),
        mix: row.mix == "true",
        clients,
        connections: clients * masters,
        pipeline: n(&row.pipeline) as usize,
        threads: n(&row.threads) as usize,
        data_size: row.data_size.clone(),
        keyspace: n(&row.keyspace) as u64,
        key_dist: row.key_dist.clone(),
        target_rps: opt(&row.target_rps),
        repeat: (n(&row.repeat) as u32).max(1),
        requests: n(&row.requests) as u64,
        duration_s: n(&row.duration_s),
        rps: t.number(rec, "rps", &row.rps)?,
        ok: n(&row.ok) as u64,
        errors: n(&row.errors) as u64,
        events,
        words: Default::default(),
        latency,
        latency_uncorrected: None,
        hist: new_histogram(),
        timeline: Vec::new(),
        hlog: None,
        achieved_rps: opt(&row.achieved_rps),
        max_lag_ms: None,
        client_lag: None,
        unanswered: 0,
        interrupted: row.interrupted == "true",
        experiment: Experiment::default(),
        slo: slo_of(row),
        shard: opt(&row.shard).map(|v| v as u32),
        shards: opt(&row.shards).map_or(1, |v| (v as u32).max(1)),
        started: opt(&row.start_unix_s).and_then(|s| {
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::try_from_secs_f64(s).ok()?)
        }),
        observed: observed_of(row),
        rate_shape: None,
    })
}

/// The observation columns read back (empty cells, and files older than them: unknown).
fn observed_of(row: &LongRow) -> Observed {
    use super::observed::read;
    Observed {
        server_us_per_call: read(&row.server_us_per_call),
        server_p50_ms: read(&row.server_p50_ms),
        server_p99_ms: read(&row.server_p99_ms),
        server_cpu: read(&row.server_cpu),
        server_main_cpu: read(&row.server_main_cpu),
        peak_memory: read(&row.server_peak_memory),
        forks: read(&row.server_forks),
        aof_rewrites: read(&row.server_aof_rewrites),
        evictions: read(&row.server_evictions),
        delayed_fsync: read(&row.server_delayed_fsync),
        client_cpu: read(&row.client_cpu),
        bound: Bound::parse(&row.bound),
        bound_why: row.bound_why.clone(),
        events: Vec::new(),
        notes: Vec::new(),
        client_seconds: Vec::new(),
    }
}

/// A cell as a number, if it is one.
fn opt(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// What the long CSV alone tells of a search: its objective and its answer. The ladder file, read
/// after, replaces this with the whole search; without it, the outcome is guessed from the answer.
fn slo_of(row: &LongRow) -> Option<SloResult> {
    if row.slo.is_empty() {
        return None;
    }
    let max_rps = opt(&row.slo_max_rps);
    Some(SloResult {
        objective: row.slo.clone(),
        max_rps,
        ceiling_rps: 0.0,
        outcome: if max_rps.is_some() {
            Outcome::Found
        } else {
            Outcome::NotMet
        },
        steps: Vec::new(),
        held: max_rps.is_some(),
    })
}

/// The whole run's histogram and its per-second intervals. The whole one from the `.hdr` (3
/// significant digits; the per-second ones keep 2), else the union of the interval log's seconds;
/// an empty one when neither was saved (the spectrum then leaves the result out).
fn histograms(
    dir: &Path,
    run_id: &str,
    r: &TestResult,
) -> Result<(Histogram<u64>, Option<Vec<Interval>>), LoadError> {
    // Not with_extension: a target named by its address has dots in the stem.
    let stem = hdr_stem(run_id, r);
    let hlog = dir.join("hdr").join(format!("{stem}.hlog"));
    let hdr = dir.join("hdr").join(format!("{stem}.hdr"));
    let intervals = if hlog.is_file() {
        let bytes = std::fs::read(&hlog).map_err(|e| LoadError::Malformed {
            path: hlog.display().to_string(),
            message: e.to_string(),
        })?;
        Some(hlog::read_intervals(&bytes).map_err(|e| e.with_path(&hlog))?)
    } else {
        None
    };
    let whole = if hdr.is_file() {
        hlog::read_histogram(&hdr)?
    } else {
        hlog::sum(intervals.iter().flatten().map(|i| &i.hist)).unwrap_or_else(|_| new_histogram())
    };
    Ok((whole, intervals))
}

/// Timeline rows keyed by (target, test, repeat), with the faults marked in them.
type Seconds = HashMap<(String, String, u32), (Vec<Tick>, Vec<FaultRow>, Vec<Marker>)>;

/// The `server_events` cell of second `elapsed` read back as markers at that second's start
/// (`kind@node (N ms)` entries, `; `-separated; see `files::server_events_in_second`).
fn markers_of(cell: Option<&str>, elapsed: usize) -> Vec<Marker> {
    cell.unwrap_or("")
        .split("; ")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (head, ms) = match e.split_once(" (") {
                Some((h, rest)) => (h, rest.trim_end_matches(" ms)").parse().ok()),
                None => (e, None),
            };
            let (kind, node) = head.split_once('@').unwrap_or((head, ""));
            Marker {
                at_s: elapsed.saturating_sub(1) as f64,
                kind: kind.to_string(),
                node: node.to_string(),
                latency_ms: ms,
            }
        })
        .collect()
}

fn timeline(path: &Path) -> Result<Seconds, LoadError> {
    let mut out = Seconds::new();
    if !path.is_file() {
        return Ok(out);
    }
    let t = Table::read(path)?;
    // Files written before the `repeat` column: a test's seconds restart at 1 with each repeat.
    let mut passes: HashMap<(String, String), u32> = HashMap::new();
    for rec in &t.rows {
        let row: TimelineRow = t.typed(rec)?;
        let elapsed = t.number(rec, "elapsed_s", &row.elapsed_s)? as usize;
        let repeat = match opt(&row.repeat) {
            Some(r) => r as u32,
            None => {
                let p = passes
                    .entry((row.target.clone(), row.test.clone()))
                    .or_insert(0);
                *p += u32::from(elapsed == 1);
                *p
            }
        };
        // Milliseconds to the µs, as written (`p50_ms` and the like).
        let us = |v: &str| {
            v.parse::<f64>()
                .map_or(0, |ms| (ms * 1000.0).round() as u64)
        };
        let mut sec = Tick {
            ok: t.number(rec, "ok", &row.ok)? as u64,
            failed: t.number(rec, "errors", &row.errors)? as u64,
            p50_us: us(&row.p50_ms),
            p99_us: us(&row.p99_ms),
            max_us: us(&row.max_ms),
            target: row.target_rps.as_deref().and_then(|v| v.parse().ok()),
            ..Tick::default()
        };
        for (c, cell) in ErrorClass::ALL.iter().zip(row.classes()) {
            let n = cell.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
            sec.add_event(c.index(), n);
        }
        let fault = row.fault.as_deref().unwrap_or("");
        let entry = out.entry((row.target, row.test, repeat)).or_default();
        for f in fault.split("; ").filter(|f| !f.is_empty()) {
            let (action, node) = f.split_once(' ').unwrap_or((f, ""));
            entry.1.push(FaultRow {
                at_s: elapsed.saturating_sub(1) as f64,
                action: action.to_string(),
                node: node.to_string(),
                ..FaultRow::default()
            });
        }
        entry
            .2
            .extend(markers_of(row.server_events.as_deref(), elapsed));
        entry.0.push(sec);
    }
    Ok(out)
}
