//! Results files under `--out`: the long CSV (appended, whole rows in one write), the per-second
//! timeline CSV, HDR histograms (V2, mergeable across machines, and the per-second interval log that
//! HdrHistogram's own tools read), the configuration table in Markdown, and the optional JSON
//! summary. Whole files are written to a temp name and renamed, so an interrupted run never leaves a
//! half-written file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::{Serializer, V2Serializer};

use serde::Serialize;

use super::{RunMeta, TestResult, experiment, hlog, slo, table};
use crate::resp::ErrorClass;
use crate::schema::{self, LongRow, TimelineRow};
use crate::stats::ms;

// The file's name belongs to the schema, below `config` (which names it too); kept here for callers.
pub use crate::schema::LONG_CSV;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub(super) fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// An instant as Unix seconds to the microsecond (what lines shards' windows up in `rbench merge`).
fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

pub(super) fn f3(v: f64) -> String {
    format!("{v:.3}")
}

/// A result as its long-CSV row, formatted as the long CSV always had it.
pub fn long_row(meta: &RunMeta, r: &TestResult) -> LongRow {
    let l = &r.latency;
    let classes: Vec<String> = r
        .error_classes()
        .iter()
        .map(|(c, n)| format!("{}={n}", c.name()))
        .collect();
    LongRow {
        timestamp: meta.timestamp.clone(),
        run_id: meta.run_id.clone(),
        rbench_version: meta.version.clone(),
        git_rev: meta.git_rev.clone(),
        profile: meta.profile.clone(),
        target: r.target.clone(),
        deployment: r.deployment.clone(),
        persistence: r.persistence.clone(),
        test: r.test.clone(),
        clients: r.clients.to_string(),
        pipeline: r.pipeline.to_string(),
        data_size: r.data_size.clone(),
        keyspace: r.keyspace.to_string(),
        target_rps: r.target_rps.map(|v| format!("{v}")).unwrap_or_default(),
        requests: r.requests.to_string(),
        duration_s: f3(r.duration_s),
        rps: format!("{:.2}", r.rps),
        ok: r.ok.to_string(),
        errors: r.errors.to_string(),
        avg_ms: f3(l.avg),
        min_ms: f3(l.min),
        p50_ms: f3(l.p50),
        p95_ms: f3(l.p95),
        p99_ms: f3(l.p99),
        p999_ms: f3(l.p999),
        max_ms: f3(l.max),
        masters: r.masters.to_string(),
        threads: r.threads.to_string(),
        key_dist: r.key_dist.clone(),
        mix: r.mix.to_string(),
        repeat: r.repeat.to_string(),
        achieved_rps: r
            .achieved_rps
            .map(|v| format!("{v:.2}"))
            .unwrap_or_default(),
        p99_uncorrected_ms: r.latency_uncorrected.map(|u| f3(u.p99)).unwrap_or_default(),
        error_classes: classes.join(" "),
        interrupted: r.interrupted.to_string(),
        server_version: r.server_version.clone(),
        slo: r
            .slo
            .as_ref()
            .map(|s| s.objective.clone())
            .unwrap_or_default(),
        slo_max_rps: r
            .slo
            .as_ref()
            .and_then(|s| s.max_rps)
            .map(|v| format!("{v:.0}"))
            .unwrap_or_default(),
        shard: r.shard.map(|i| i.to_string()).unwrap_or_default(),
        shards: r.shards.to_string(),
        start_unix_s: r.started.map(unix_seconds).unwrap_or_default(),
        rate_shape: r
            .rate_shape
            .as_ref()
            .map_or(String::new(), |s| s.spec.clone()),
        short_seconds: r
            .rate_shape
            .as_ref()
            .map_or(String::new(), |s| s.short.len().to_string()),
        ..observed_cells(&r.observed)
    }
}

/// The observation columns of a row.
fn observed_cells(o: &super::observed::Observed) -> LongRow {
    use super::observed::{cell, cell3};
    LongRow {
        server_us_per_call: cell3(o.server_us_per_call),
        server_p50_ms: cell3(o.server_p50_ms),
        server_p99_ms: cell3(o.server_p99_ms),
        server_cpu: cell3(o.server_cpu),
        server_main_cpu: cell3(o.server_main_cpu),
        server_peak_memory: cell(o.peak_memory),
        server_forks: cell(o.forks),
        server_aof_rewrites: cell(o.aof_rewrites),
        server_evictions: cell(o.evictions),
        server_delayed_fsync: cell(o.delayed_fsync),
        client_cpu: cell3(o.client_cpu),
        bound: o.bound.name().to_string(),
        bound_why: o.bound_why.clone(),
        ..LongRow::default()
    }
}

/// `rows` as CSV text, under `header` when one is given (a header-less writer, so a file with no
/// rows still gets its header, and one appended to does not get a second).
pub fn csv_bytes<T: Serialize>(
    header: Option<&csv::StringRecord>,
    rows: impl IntoIterator<Item = T>,
) -> Result<Vec<u8>, std::io::Error> {
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    if let Some(h) = header {
        w.write_record(h).map_err(io)?;
    }
    for row in rows {
        w.serialize(row).map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Appends the rows of `results` to `<dir>/<name>` (the long CSV), with the header when the file is
/// new. The rows go out in one `write_all` on an O_APPEND file, so a crash leaves whole rows or none.
pub fn append_long_csv(
    dir: &Path,
    name: &str,
    meta: &RunMeta,
    results: &[TestResult],
) -> Result<PathBuf, WriteError> {
    let path = dir.join(name);
    fs::create_dir_all(dir).map_err(werr(dir))?;
    let fresh = fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(true);
    let header = schema::header_of(&LongRow::default())
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(werr(&path))?;
    let rows = results.iter().map(|r| long_row(meta, r));
    let bytes = csv_bytes(fresh.then_some(&header), rows).map_err(werr(&path))?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(werr(&path))?;
    f.write_all(&bytes).map_err(werr(&path))?;
    Ok(path)
}

/// Writes `bytes` to `path` via a temp file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(werr(dir))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(werr(path))
}

/// The per-second timeline of every result so far (DESIGN §6), one file per invocation.
pub fn timeline_csv(results: &[TestResult]) -> String {
    // One column per error class seen anywhere in this file; faults and consumer lag get a column
    // once any result has them (plain runs keep the format).
    let classes: Vec<bool> = ErrorClass::ALL
        .iter()
        .map(|c| results.iter().any(|r| r.events[c.index()] > 0))
        .collect();
    let columns = Columns {
        classes: &classes,
        lag: results.iter().any(|r| !r.experiment.lag.is_empty()),
        faults: results.iter().any(|r| !r.experiment.faults.is_empty()),
        server_events: results.iter().any(|r| !r.observed.events.is_empty()),
        client: results
            .iter()
            .any(|r| !r.observed.client_seconds.is_empty()),
        target: results
            .iter()
            .any(|r| r.timeline.iter().any(|t| t.target.is_some())),
    };
    let columns = &columns;
    let rows = results
        .iter()
        .flat_map(|r| (0..r.timeline.len()).map(move |i| timeline_row(r, i, columns)));
    // A file with no seconds still has its header: that of a row with these columns.
    let header = schema::header_of(&columns.blank());
    let bytes = header
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|h| csv_bytes(Some(&h), rows));
    String::from_utf8(bytes.unwrap_or_default()).unwrap_or_default()
}

/// Which of the timeline's optional columns a file has.
struct Columns<'a> {
    classes: &'a [bool],
    lag: bool,
    faults: bool,
    server_events: bool,
    client: bool,
    target: bool,
}

impl Columns<'_> {
    /// A row with this file's columns present and empty.
    fn blank(&self) -> TimelineRow {
        let mut row = TimelineRow::default();
        for (cell, &on) in row.classes_mut().into_iter().zip(self.classes) {
            *cell = on.then(String::new);
        }
        row.lag = self.lag.then(String::new);
        row.fault = self.faults.then(String::new);
        row.server_events = self.server_events.then(String::new);
        row.client_cpu = self.client.then(String::new);
        row.client_lag_ms = self.client.then(String::new);
        row.target_rps = self.target.then(String::new);
        row
    }
}

/// Second `i` of `r` as a timeline row.
fn timeline_row(r: &TestResult, i: usize, columns: &Columns) -> TimelineRow {
    let s = &r.timeline[i];
    let mut row = columns.blank();
    for (k, cell) in row.classes_mut().into_iter().enumerate() {
        if let Some(c) = cell {
            *c = s.event(ErrorClass::ALL[k].index()).to_string();
        }
    }
    if let (Some(cell), Some(n)) = (&mut row.lag, r.experiment.lag.get(i)) {
        *cell = n.to_string();
    }
    if let Some(cell) = &mut row.fault {
        *cell = experiment::faults_in_second(r, i);
    }
    if let Some(cell) = &mut row.server_events {
        *cell = server_events_in_second(r, i);
    }
    if let (Some(cell), Some(t)) = (&mut row.target_rps, s.target) {
        *cell = format!("{t:.2}");
    }
    if let (Some(cpu), Some(lag), Some(c)) = (
        &mut row.client_cpu,
        &mut row.client_lag_ms,
        r.observed.client_seconds.get(i),
    ) {
        // A last second too short to sample has no CPU figure: empty, not 0.
        let sampled = c.busiest_demand > 0.0 || c.busiest_cpu > 0.0;
        *cpu = if sampled {
            f3(c.busiest_demand)
        } else {
            String::new()
        };
        *lag = f3(c.own_lag_ms);
    }
    TimelineRow {
        elapsed_s: (i + 1).to_string(),
        target: r.target.clone(),
        test: r.test.clone(),
        ok: s.ok.to_string(),
        errors: s.failed.to_string(),
        p50_ms: f3(ms(s.p50_us)),
        p99_ms: f3(ms(s.p99_us)),
        max_ms: f3(ms(s.max_us)),
        span_s: f3(r.span_of_second(i)),
        repeat: r.repeat.to_string(),
        ..row
    }
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The HDR files' name for a result, without the extension: `<run>-<target>-<test>-r<repeat>`.
pub fn hdr_stem(run_id: &str, r: &TestResult) -> String {
    hdr_stem_of(run_id, &r.target, &r.test, r.repeat)
}

/// `hdr_stem` of the result of `test` on `target`, repeat `repeat` (before the result exists).
pub fn hdr_stem_of(run_id: &str, target: &str, test: &str, repeat: u32) -> String {
    format!(
        "{run_id}-{}-{}-r{repeat}",
        file_safe(target),
        file_safe(test)
    )
}

/// Everything but the long CSV, rewritten after each result: timeline, table, the SLO ladder (when
/// a result ran a search), and the HDR files (`.hdr`, `.hlog`) of the results from `fresh` on (the
/// ones just added: every command of a mix has its own).
pub fn write_run_files(
    dir: &Path,
    meta: &RunMeta,
    results: &[TestResult],
    fresh: usize,
) -> Result<(), WriteError> {
    write_atomic(
        &dir.join(schema::timeline_name(&meta.run_id)),
        timeline_csv(results).as_bytes(),
    )?;
    write_atomic(
        &dir.join(format!("table-{}.md", meta.run_id)),
        table::markdown(results).as_bytes(),
    )?;
    slo::write(dir, &meta.run_id, results)?;
    if !meta.environment.is_empty() {
        let text: String = meta.environment.iter().map(|l| format!("{l}\n")).collect();
        write_atomic(&dir.join(environment_name(&meta.run_id)), text.as_bytes())?;
    }
    for r in results.get(fresh..).unwrap_or_default() {
        write_hdr(dir, meta, r)?;
    }
    Ok(())
}

/// A result's histogram (`.hdr`) and, when it kept its seconds' histograms (`TestResult::hlog`),
/// its per-second interval log (`.hlog`) under `<dir>/hdr/`. A measured phase's `.hlog` was
/// written second by second as it ran (`report::stream`) and is left as it is.
pub fn write_hdr(dir: &Path, meta: &RunMeta, r: &TestResult) -> Result<(), WriteError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(&r.hist, &mut bytes)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))
        .map_err(werr(dir))?;
    let stem = hdr_stem(&meta.run_id, r);
    let hdr = dir.join("hdr");
    write_atomic(&hdr.join(format!("{stem}.hdr")), &bytes)?;
    match &r.hlog {
        Some(hists) => write_atomic(
            &hdr.join(format!("{stem}.hlog")),
            &interval_log(meta, r, hists),
        ),
        None => Ok(()),
    }
}

/// The comment line of the `.hlog` of `test` on `target`, repeat `repeat`.
pub fn hlog_comment(meta: &RunMeta, target: &str, test: &str, repeat: u32) -> String {
    format!(
        "rbench {} run {} target {target} test {test} repeat {repeat}, values in microseconds",
        meta.version, meta.run_id
    )
}

/// The result's per-second histograms as an HdrHistogram interval log, from the instant its
/// measurement began (or, not known, `duration_s` before now: the log is written as the test ends).
fn interval_log(meta: &RunMeta, r: &TestResult, hists: &[hdrhistogram::Histogram<u64>]) -> Vec<u8> {
    let now = SystemTime::now();
    let took = Duration::try_from_secs_f64(r.duration_s).unwrap_or_default();
    let start = r
        .started
        .unwrap_or_else(|| now.checked_sub(took).unwrap_or(now));
    let comment = hlog_comment(meta, &r.target, &r.test, r.repeat);
    let intervals: Vec<_> = hists
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let span = Duration::try_from_secs_f64(r.span_of_second(i)).unwrap_or_default();
            (Duration::from_secs(i as u64), span, h)
        })
        .collect();
    hlog::interval_log(start, &comment, &intervals)
}

/// `--json FILE`: a machine-readable summary of every result.
pub fn json(meta: &RunMeta, results: &[TestResult]) -> String {
    super::summary::json(meta, results)
}

/// The file of run `run_id`'s environment findings (absent when there were none).
pub fn environment_name(run_id: &str) -> String {
    format!("environment-{run_id}.txt")
}

/// The environment findings a run recorded (none: no file, as in runs older than it).
pub fn read_environment(dir: &Path, run_id: &str) -> Vec<String> {
    fs::read_to_string(dir.join(environment_name(run_id)))
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// The servers' events in second `i` of `r` (0-based): `kind@node (N ms)`, `; `-separated.
pub fn server_events_in_second(r: &TestResult, i: usize) -> String {
    r.observed
        .events
        .iter()
        .filter(|e| e.at_s.max(0.0).floor() as usize == i)
        .map(|e| {
            let ms = e
                .latency_ms
                .map(|m| format!(" ({m} ms)"))
                .unwrap_or_default();
            format!("{}@{}{ms}", e.kind, e.node)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
