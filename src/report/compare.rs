//! `rbench compare BASELINE.csv CANDIDATE.csv`: the nightly regression verdict.
//!
//! Both inputs are rbench "long CSV" files (one row per run × test). Rows are
//! grouped by configuration key; repeats of a key are reduced to medians so a
//! single noisy run cannot flip the verdict on its own.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::schema::{self, LongRow};

use super::verdict::{
    self, ALPHA, Better, Check, P99_MIN_REQUESTS, Round, Samples, Shift, ShiftStatus, Status, Unit,
    median,
};

/// Options for [`compare`]; the CLI layer fills this from its flags.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    pub baseline: PathBuf,
    pub candidate: PathBuf,
    pub thresholds: Thresholds,
    /// Keep only the newest run_id per configuration (for history files).
    pub latest_only: bool,
}

/// The three outcomes: every configuration judged and none regressed; some configuration moved
/// past its threshold and could not be judged; a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Inconclusive,
    Regression,
}

/// Everything that makes the comparison impossible (CLI exit code 2).
///
/// Paths are stored pre-rendered so every message is one self-contained line.
/// The I/O error is deliberately not a `#[source]`: its text is already in the
/// message, and chain printers (`{:#}`) would otherwise repeat it.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    #[error("{path}: missing column `{column}`")]
    MissingColumn { path: String, column: &'static str },
    #[error("{path}:{line}: invalid number `{value}` in column `{column}`")]
    InvalidNumber {
        path: String,
        line: u64,
        value: String,
        column: &'static str,
    },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: no rows")]
    NoRows { path: String },
    #[error(
        "no configuration in {candidate} matches {baseline} \
         (compared by target,test,clients,pipeline,data_size,keyspace,target_rps)"
    )]
    NoMatch { baseline: String, candidate: String },
    #[error("writing the report: {0}")]
    Output(io::Error),
}

/// Parses a threshold such as `5%`, `5` or `0.5%` into a fraction.
///
/// A bare number is a percentage too, so `--max-drop 5` means 5%, not 500%.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim_end();
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid percentage `{s}`: expected a number such as 5% or 0.5%"))?;
    if !v.is_finite() {
        return Err(format!(
            "invalid percentage `{s}`: expected a finite number such as 5% or 0.5%"
        ));
    }
    if v < 0.0 {
        return Err(format!("invalid percentage `{s}`: must not be negative"));
    }
    // `+ 0.0` turns a parsed "-0" into plain 0.
    Ok(v / 100.0 + 0.0)
}

/// The thresholds a comparison judges against (fractions: 0.05 = 5 %).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub max_drop: f64,
    pub max_p99_rise: f64,
}

/// Parses `--max-drop` and `--max-p99-rise`; the error names the flag.
pub fn thresholds(max_drop: &str, max_p99_rise: &str) -> Result<Thresholds, String> {
    let parse = |s: &str, flag: &str| parse_percent(s).map_err(|e| format!("{flag}: {e}"));
    Ok(Thresholds {
        max_drop: parse(max_drop, "--max-drop")?,
        max_p99_rise: parse(max_p99_rise, "--max-p99-rise")?,
    })
}

/// Compares the two files, prints the report to `out` and returns the verdict.
pub fn compare(opts: &CompareOpts, out: &mut dyn Write) -> Result<Verdict, CompareError> {
    let mut base_rows = load(&opts.baseline)?;
    let mut cand_rows = load(&opts.candidate)?;
    if opts.latest_only {
        base_rows = keep_latest(base_rows);
        cand_rows = keep_latest(cand_rows);
    }
    let th = opts.thresholds;
    let ev = evaluate(base_rows, cand_rows, &th);
    if ev.rows.is_empty() {
        return Err(CompareError::NoMatch {
            baseline: opts.baseline.display().to_string(),
            candidate: opts.candidate.display().to_string(),
        });
    }
    write_report(out, &ev, &th).map_err(CompareError::Output)?;
    Ok(ev.verdict())
}

/// One configuration found on both sides, with the verdict on each metric.
pub struct RowVerdict {
    key: Key,
    base: Stats,
    cand: Stats,
    /// The throughput check: rps, or the searched rate (`slo_max_rps`) of a searched profile.
    pub rps: Check,
    /// None for a searched row: its p99 was measured at whatever rate the search found.
    pub p99: Option<Check>,
}

impl RowVerdict {
    /// Whether the candidate measured rbench rather than the server (a repeat marked `bound =
    /// client`): its drop says nothing of the server, so it is not judged. A client-bound
    /// *baseline* is judged: it was a floor of what the server could do, so a server-bound
    /// candidate below it is the server's.
    pub fn client_bound(&self) -> bool {
        self.cand.client_bound()
    }

    fn checks(&self) -> Vec<(&'static str, &Check)> {
        let rate = if self.key.searched { "max rps" } else { "rps" };
        let mut v = vec![(rate, &self.rps)];
        v.extend(self.p99.as_ref().map(|c| ("p99", c)));
        v
    }

    fn any(&self, f: fn(&Status) -> bool) -> bool {
        self.checks().iter().any(|(_, c)| f(&c.status))
    }

    pub fn regressed(&self) -> bool {
        self.any(|s| matches!(s, Status::Regression { .. }))
    }

    /// Moved past a threshold with too little to judge it by.
    pub fn inconclusive(&self) -> bool {
        !self.regressed() && self.any(|s| matches!(s, Status::TooFew(_)))
    }

    /// "SET on no-aof", with the workload spelt out when `with_config`.
    pub fn label(&self, with_config: bool) -> String {
        self.key.label(with_config)
    }

    /// The status cell: the worst conclusion of the metrics, with its evidence.
    fn status(&self) -> String {
        if self.client_bound() {
            return if self.inconclusive() {
                "NOT JUDGED: client-bound candidate (its figures measure rbench)".to_string()
            } else {
                "ok (client-bound candidate)".to_string()
            };
        }
        let named = self.checks();
        let pick = |f: fn(&Status) -> Option<String>| -> Vec<String> {
            named
                .iter()
                .filter_map(|(n, c)| f(&c.status).map(|why| format!("{n} {why}")))
                .collect()
        };
        let reg = pick(|s| match s {
            Status::Regression { p } => Some(format!("p={}", fmt_p(*p))),
            _ => None,
        });
        if !reg.is_empty() {
            return format!("REGRESSION ({})", reg.join(", "));
        }
        let few = pick(|s| match s {
            Status::TooFew(why) => Some(why.clone()),
            _ => None,
        });
        if !few.is_empty() {
            return format!("NOT JUDGED: too few samples ({})", few.join(", "));
        }
        let noise = pick(|s| match s {
            Status::WithinNoise { p, band } => Some(match band {
                Some(b) => format!("runs vary ±{:.1}%", b * 100.0),
                None => format!("p={}", fmt_p(*p)),
            }),
            _ => None,
        });
        if !noise.is_empty() {
            return format!("within noise ({})", noise.join(", "));
        }
        "ok".to_string()
    }
}

/// Everything a comparison concluded.
pub struct Evaluation {
    pub rows: Vec<RowVerdict>,
    /// Each target's shared shift, per metric (targets with fewer than 3 configurations have none).
    pub shifts: Vec<Shift>,
    pub only_base: Vec<String>,
    pub only_cand: Vec<String>,
}

impl Evaluation {
    pub fn verdict(&self) -> Verdict {
        let shifted = self
            .shifts
            .iter()
            .any(|s| s.status == ShiftStatus::Regression);
        if shifted || self.rows.iter().any(RowVerdict::regressed) {
            Verdict::Regression
        } else if self.rows.iter().any(RowVerdict::inconclusive) {
            Verdict::Inconclusive
        } else {
            Verdict::Pass
        }
    }

    /// What regressed, as labels: "SET on no-aof", "every test on no-aof (rps)".
    pub fn regressions(&self) -> Vec<String> {
        let rows = self
            .rows
            .iter()
            .filter(|r| r.regressed())
            .map(|r| r.label(false));
        let shifts = self
            .shifts
            .iter()
            .filter(|s| s.status == ShiftStatus::Regression)
            .map(|s| format!("every test on {} ({})", s.group, s.metric));
        rows.chain(shifts).collect()
    }

    /// The configurations that could not be judged, as labels.
    pub fn inconclusive(&self) -> Vec<String> {
        let rows = self.rows.iter().filter(|r| r.inconclusive());
        rows.map(|r| r.label(false)).collect()
    }
}

/// Matches configurations and judges each one's rps and p99 (all checks Holm-corrected together).
pub fn evaluate(base_rows: Vec<Row>, cand_rows: Vec<Row>, th: &Thresholds) -> Evaluation {
    let base = aggregate(base_rows);
    let mut cand = aggregate(cand_rows);
    let only_base = base
        .keys()
        .filter(|k| !cand.contains_key(*k))
        .map(|k| k.label(true))
        .collect();
    let only_cand = cand
        .keys()
        .filter(|k| !base.contains_key(*k))
        .map(|k| k.label(true))
        .collect();
    let pairs: Vec<(Key, Stats, Stats)> = base
        .into_iter()
        .filter_map(|(k, b)| cand.remove(&k).map(|c| (k, b, c)))
        .collect();
    let mut metrics = Vec::with_capacity(pairs.len() * 2);
    for (k, b, c) in &pairs {
        metrics.extend(b.samples(k, c, th));
    }
    let judged = verdict::judge_all(&metrics);
    let mut checks = judged.checks.into_iter();
    let rows = pairs
        .into_iter()
        .map(|(key, base, cand)| {
            let rps = checks.next().expect("one check per metric");
            let p99 = (!key.searched).then(|| checks.next().expect("one check per metric"));
            RowVerdict {
                key,
                base,
                cand,
                rps,
                p99,
            }
        })
        .collect();
    Evaluation {
        rows,
        shifts: judged.shifts,
        only_base,
        only_cand,
    }
}

const COLS: usize = 15;

/// The delta table, the lists of unmatched configurations, and the summary line.
pub fn write_report(out: &mut dyn Write, ev: &Evaluation, th: &Thresholds) -> io::Result<()> {
    let mut table = vec![
        [
            "target", "test", "config", "n", "base rps", "cand rps", "Δrps", "base p50",
            "cand p50", "Δp50", "base p99", "cand p99", "Δp99", "Δerrors", "status",
        ]
        .map(String::from),
    ];
    table.extend(ev.rows.iter().map(table_row));
    write_table(out, &table)?;
    if !ev.only_base.is_empty() {
        writeln!(out, "only in baseline: {}", ev.only_base.join(", "))?;
    }
    if !ev.only_cand.is_empty() {
        writeln!(out, "only in candidate: {}", ev.only_cand.join(", "))?;
    }
    write_shifts(out, &ev.shifts)?;
    write_notes(out, ev)?;
    let regressions = ev.regressions().len();
    let few = ev.inconclusive().len();
    let noise = ev
        .rows
        .iter()
        .filter(|r| r.status().starts_with("within noise"))
        .count();
    let head = match (regressions, few) {
        (0, 0) => "PASS: no regression".to_string(),
        (0, n) => format!("INCONCLUSIVE: no regression, {n} not judged"),
        (1, _) => "REGRESSION: 1 regression".to_string(),
        (n, _) => format!("REGRESSION: {n} regressions"),
    };
    let compared = ev.rows.len();
    let plural = if compared == 1 { "" } else { "s" };
    writeln!(
        out,
        "{head} in {compared} compared configuration{plural} (max drop {}%, max p99 rise {}%; {noise} within noise, {few} with too few samples; trimmed means of the repeats against their spread, rounds adjusted, Holm α={ALPHA})",
        fmt_pct(th.max_drop),
        fmt_pct(th.max_p99_rise),
    )
}

/// A configuration's cells: medians on both sides, changes, and the status.
fn table_row(r: &RowVerdict) -> [String; COLS] {
    let (b, c) = (&r.base, &r.cand);
    [
        r.key.target.clone(),
        r.key.test.clone(),
        r.key.config(),
        format!("{}/{}", b.rows.len(), c.rows.len()),
        fmt_rps(r.rps.base_centre),
        fmt_rps(r.rps.cand_centre),
        fmt_delta(r.rps.base_centre, r.rps.cand_centre),
        fmt_ms(b.p50()),
        fmt_ms(c.p50()),
        fmt_delta(b.p50(), c.p50()),
        fmt_ms(b.p99()),
        fmt_ms(c.p99()),
        fmt_delta(b.p99(), c.p99()),
        fmt_signed(c.errors() - b.errors()),
        r.status(),
    ]
}

/// One line per target whose tests all moved together past the threshold.
fn write_shifts(out: &mut dyn Write, shifts: &[Shift]) -> io::Result<()> {
    for s in shifts.iter().filter(|s| s.status != ShiftStatus::Ok) {
        let band = if s.measured {
            format!(
                "the baseline runs' own shifts reach ±{:.0}%",
                s.band * 100.0
            )
        } else {
            format!(
                "±{:.0}% allowed with fewer than 3 baseline runs, which cannot measure this machine's run-to-run swing",
                s.band * 100.0
            )
        };
        let verdict = match s.status {
            ShiftStatus::Regression => "REGRESSION, past the band",
            _ => "within the band",
        };
        writeln!(
            out,
            "{}: all {} tests moved together, {} {:.1}% worse: {verdict} ({band})",
            s.group,
            s.configs,
            s.metric,
            s.worse_by * 100.0
        )?;
    }
    Ok(())
}

/// Why rows were not judged, and what would judge them.
fn write_notes(out: &mut dyn Write, ev: &Evaluation) -> io::Result<()> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let unjudged = ev
        .rows
        .iter()
        .filter(|r| r.client_bound() && r.inconclusive())
        .count();
    if unjudged > 0 {
        writeln!(
            out,
            "note: {unjudged} configuration{} not judged: rbench was the bottleneck of the candidate (bound = client), so a drop there is the load generator's, not the server's; give it more --threads or -P, or split it with --shard",
            plural(unjudged)
        )?;
    }
    let few = ev.inconclusive();
    if !few.is_empty() {
        writeln!(
            out,
            "note: {} configuration{} moved past the threshold and could not be judged ({}): see each status for what would judge it (exit 4; --inconclusive-ok accepts it)",
            few.len(),
            plural(few.len()),
            few.join(", ")
        )?;
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, table: &[[String; COLS]]) -> io::Result<()> {
    let mut widths = [0usize; COLS];
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in table {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            // Text columns (target, test, config, status) left, numbers right.
            if i <= 2 || i == COLS - 1 {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("{cell:>w$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

/// A non-negative finite number usable in an ordered map key.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub f64);

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Num {}
impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // f64 Display prints 50.0 as "50", which is what the CSV said.
        write!(f, "{}", self.0)
    }
}

/// Configuration identity; field order gives the report's sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    target: String,
    test: String,
    clients: Num,
    pipeline: Num,
    data_size: String,
    keyspace: Num,
    target_rps: Option<Num>,
    /// A command of a `--mix` (judged apart from the same command run alone).
    mix: bool,
    /// Searched (`--slo`): judged on the rate found.
    searched: bool,
}

impl Key {
    fn config(&self) -> String {
        let mut s = format!(
            "c={} p={} size={} keys={}",
            self.clients, self.pipeline, self.data_size, self.keyspace
        );
        if let Some(r) = self.target_rps {
            s.push_str(&format!(" rate={r}"));
        }
        if self.mix {
            s.push_str(" mix");
        }
        if self.searched {
            s.push_str(" searched");
        }
        s
    }

    fn label(&self, with_config: bool) -> String {
        if with_config {
            format!("{} on {} ({})", self.test, self.target, self.config())
        } else {
            format!("{} on {}", self.test, self.target)
        }
    }
}

/// One row of a long CSV: one test of one run (one repeat).
pub struct Row {
    key: Key,
    timestamp: String,
    pub run_id: String,
    /// Absent in files that lack the column (then p99 is judged regardless).
    requests: Option<f64>,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: f64,
    /// The row measured rbench, not the server (`bound = client`; older files: never).
    client_bound: bool,
    /// The rate a search found (`slo_max_rps`; 0 when the objective was not met).
    slo_max_rps: f64,
    /// Which repeat of its run (absent in files without the column: no round adjustment).
    repeat: Option<u32>,
}

/// Every row of one configuration on one side.
struct Stats {
    rows: Vec<Row>,
}

impl Stats {
    fn client_bound(&self) -> bool {
        self.rows.iter().any(|r| r.client_bound)
    }
}

/// The run-to-run swing a target's shift may have when the baseline has fewer than 3 runs:
/// the 95th percentile of one target's shift between two same-code runs of
/// `profiles/persistence.toml` on a 2-core VM (66 pairs of 12 runs: rps 33 %, p99 66 %).
const SHARED_BAND_RPS: f64 = 0.35;
const SHARED_BAND_P99: f64 = 0.70;

impl Stats {
    fn col(&self, f: impl Fn(&Row) -> f64) -> Vec<f64> {
        self.rows.iter().map(f).collect()
    }
    fn p50(&self) -> f64 {
        median(&self.col(|r| r.p50))
    }
    fn p99(&self) -> f64 {
        median(&self.col(|r| r.p99))
    }
    fn errors(&self) -> f64 {
        median(&self.col(|r| r.errors))
    }

    /// `f` of each run's rows, by run id.
    fn by_run(&self, f: fn(&Row) -> f64) -> Vec<Vec<f64>> {
        let mut runs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for r in &self.rows {
            runs.entry(&r.run_id).or_default().push(f(r));
        }
        runs.into_values().collect()
    }

    /// The round of each sample of `by_run`, in its order; a run with a row of unknown repeat
    /// has none (it is judged without round adjustment).
    fn rounds(&self) -> Vec<Vec<Round>> {
        let mut runs: BTreeMap<&str, Vec<Option<u32>>> = BTreeMap::new();
        for r in &self.rows {
            runs.entry(&r.run_id).or_default().push(r.repeat);
        }
        runs.into_iter()
            .map(|(run, repeats)| {
                let tag = |repeat| Round {
                    run: run.to_string(),
                    repeat,
                };
                repeats
                    .into_iter()
                    .map(|r| r.map(tag))
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The checks of this configuration, self as the baseline and `cand` as the candidate: the
    /// throughput (a searched row: the rate found, one sample per run), and the p99 unless searched.
    fn samples(&self, key: &Key, cand: &Stats, th: &Thresholds) -> Vec<Samples> {
        let bound = cand
            .client_bound()
            .then(|| "client-bound candidate".to_string());
        let base = Samples {
            metric: "rps",
            group: key.target.clone(),
            base_runs: self.by_run(|r| r.rps),
            cand_runs: cand.by_run(|r| r.rps),
            base_rounds: self.rounds(),
            cand_rounds: cand.rounds(),
            better: Better::Higher,
            unit: Unit::Repeat,
            threshold: th.max_drop,
            shared_band: SHARED_BAND_RPS,
            unusable: bound,
        };
        if key.searched {
            return vec![Samples {
                metric: "max rps",
                base_runs: self.by_run(|r| r.slo_max_rps),
                cand_runs: cand.by_run(|r| r.slo_max_rps),
                unit: Unit::Run,
                ..base
            }];
        }
        let few_requests = self
            .rows
            .iter()
            .chain(&cand.rows)
            .any(|r| r.requests.is_some_and(|n| n < P99_MIN_REQUESTS));
        let p99 = Samples {
            metric: "p99",
            base_runs: self.by_run(|r| r.p99),
            cand_runs: cand.by_run(|r| r.p99),
            better: Better::Lower,
            threshold: th.max_p99_rise,
            shared_band: SHARED_BAND_P99,
            unusable: base.unusable.clone().or_else(|| {
                few_requests.then(|| {
                    format!(
                        "a p99 needs {P99_MIN_REQUESTS} requests per run: raise -n or --duration"
                    )
                })
            }),
            ..base.clone()
        };
        vec![base, p99]
    }
}

// Only the columns we use are required, so files from newer rbench versions
// (extra columns) and reordered columns both still work.
const COLUMNS: [&str; 13] = [
    "timestamp",
    "run_id",
    "target",
    "test",
    "clients",
    "pipeline",
    "data_size",
    "keyspace",
    "target_rps",
    "rps",
    "errors",
    "p50_ms",
    "p99_ms",
];

pub fn load(path: &Path) -> Result<Vec<Row>, CompareError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|error| CompareError::Io {
        path: name.clone(),
        error,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        // A history file may hold rows from a newer rbench appended under an
        // older header; extra trailing fields are ignored, short rows caught below.
        .flexible(true)
        .from_reader(file);

    let headers = rdr.headers().map_err(|e| csv_error(&name, e))?.clone();
    if headers.iter().all(str::is_empty) {
        return Err(CompareError::NoRows { path: name });
    }
    let cols = columns(&headers, &name)?;
    let headers = schema::clean_header(&headers);
    let mut rows = Vec::new();
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(&name, e))? {
        let line = rec.position().map_or(0, csv::Position::line);
        let long: LongRow =
            schema::read_row(&rec, &headers).map_err(|e| CompareError::Malformed {
                path: name.clone(),
                line,
                message: e.to_string(),
            })?;
        if let Some(row) = row_of(&rec, &long, &cols, &name)? {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Err(CompareError::NoRows { path: name });
    }
    Ok(rows)
}

/// Where the columns compare reads sit in a file's header.
struct Columns {
    /// In the order of `COLUMNS`.
    idx: [usize; COLUMNS.len()],
    requests: Option<usize>,
    interrupted: Option<usize>,
}

fn columns(headers: &csv::StringRecord, name: &str) -> Result<Columns, CompareError> {
    let mut idx = [0usize; COLUMNS.len()];
    for (slot, col) in idx.iter_mut().zip(COLUMNS) {
        *slot = headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == col)
            .ok_or(CompareError::MissingColumn {
                path: name.to_string(),
                column: col,
            })?;
    }
    Ok(Columns {
        idx,
        requests: headers.iter().position(|h| h == "requests"),
        interrupted: headers.iter().position(|h| h == "interrupted"),
    })
}

/// One record as a row; None for a test cut short by a signal, which measured part of a run and
/// is not a sample of the configuration. The values are `long`'s (the schema's row of `rec`);
/// `rec` and the header positions in `c` tell a column a short row lacks from an empty one.
fn row_of(
    rec: &csv::StringRecord,
    long: &LongRow,
    c: &Columns,
    name: &str,
) -> Result<Option<Row>, CompareError> {
    let [
        i_ts,
        i_run,
        i_target,
        i_test,
        i_clients,
        i_pipeline,
        i_size,
        i_keys,
        i_rate,
        i_rps,
        i_err,
        i_p50,
        i_p99,
    ] = c.idx;
    let at = At {
        name,
        line: rec.position().map_or(0, csv::Position::line),
        len: rec.len(),
    };
    let (field, num) = (
        |i, col, v| at.field(i, col, v),
        |i, col, v| at.num(i, col, v),
    );
    if c.interrupted.is_some_and(|i| i < rec.len()) && long.interrupted == "true" {
        return Ok(None);
    }
    let target_rps = match field(i_rate, "target_rps", &long.target_rps)? {
        "" => None,
        v => Some(Num(num(i_rate, "target_rps", v)?)),
    };
    Ok(Some(Row {
        key: Key {
            target: field(i_target, "target", &long.target)?.to_string(),
            test: field(i_test, "test", &long.test)?.to_string(),
            clients: Num(num(i_clients, "clients", &long.clients)?),
            pipeline: Num(num(i_pipeline, "pipeline", &long.pipeline)?),
            data_size: field(i_size, "data_size", &long.data_size)?.to_string(),
            keyspace: Num(num(i_keys, "keyspace", &long.keyspace)?),
            target_rps,
            mix: long.mix == "true",
            searched: !long.slo.is_empty(),
        },
        timestamp: field(i_ts, "timestamp", &long.timestamp)?.to_string(),
        run_id: field(i_run, "run_id", &long.run_id)?.to_string(),
        requests: c
            .requests
            .map(|i| num(i, "requests", &long.requests))
            .transpose()?,
        rps: num(i_rps, "rps", &long.rps)?,
        p50: num(i_p50, "p50_ms", &long.p50_ms)?,
        p99: num(i_p99, "p99_ms", &long.p99_ms)?,
        errors: num(i_err, "errors", &long.errors)?,
        client_bound: long.bound == "client",
        slo_max_rps: parse_num(&long.slo_max_rps).unwrap_or(0.0),
        repeat: long.repeat.parse().ok(),
    }))
}

/// Where a record sits (file, line) and how many fields it has, for the checks of its cells.
struct At<'a> {
    name: &'a str,
    line: u64,
    len: usize,
}

impl At<'_> {
    /// `v`, the cell of column `col` at index `i`, if the record reaches that far.
    fn field<'v>(&self, i: usize, col: &'static str, v: &'v str) -> Result<&'v str, CompareError> {
        if i < self.len {
            return Ok(v);
        }
        Err(CompareError::Malformed {
            path: self.name.to_string(),
            line: self.line,
            message: format!("row has {} fields, too few for column `{col}`", self.len),
        })
    }

    fn num(&self, i: usize, col: &'static str, v: &str) -> Result<f64, CompareError> {
        let s = self.field(i, col, v)?;
        parse_num(s).ok_or_else(|| CompareError::InvalidNumber {
            path: self.name.to_string(),
            line: self.line,
            value: s.to_string(),
            column: col,
        })
    }
}

/// Rust's float parser accepts "NaN" and "inf"; neither is a measurement, and
/// negative values cannot occur in rbench output, so all are rejected.
fn parse_num(s: &str) -> Option<f64> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v + 0.0)
}

fn csv_error(path: &str, e: csv::Error) -> CompareError {
    let line = e.position().map_or(0, csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(error) => CompareError::Io {
            path: path.to_string(),
            error,
        },
        csv::ErrorKind::Utf8 { pos, .. } => CompareError::Malformed {
            path: path.to_string(),
            line: pos.map_or(line, |p| p.line()),
            message: "invalid UTF-8".to_string(),
        },
        other => CompareError::Malformed {
            path: path.to_string(),
            line,
            message: format!("malformed CSV: {other:?}"),
        },
    }
}

/// Keeps, per key, only the rows of the newest run. Selection is by run_id
/// rather than by row so repeats inside that run all survive.
fn keep_latest(rows: Vec<Row>) -> Vec<Row> {
    let mut newest: BTreeMap<&Key, (&str, &str)> = BTreeMap::new();
    for r in &rows {
        let cand = (r.timestamp.as_str(), r.run_id.as_str());
        newest
            .entry(&r.key)
            .and_modify(|best| {
                // RFC3339 UTC timestamps order correctly as strings; run_id
                // breaks ties so the choice never depends on row order.
                if cand > *best {
                    *best = cand;
                }
            })
            .or_insert(cand);
    }
    let keep: BTreeMap<Key, String> = newest
        .into_iter()
        .map(|(k, (_, run))| (k.clone(), run.to_string()))
        .collect();
    rows.into_iter()
        .filter(|r| keep.get(&r.key).is_some_and(|run| *run == r.run_id))
        .collect()
}

fn aggregate(rows: Vec<Row>) -> BTreeMap<Key, Stats> {
    let mut groups: BTreeMap<Key, Stats> = BTreeMap::new();
    for r in rows {
        groups
            .entry(r.key.clone())
            .or_insert_with(|| Stats { rows: Vec::new() })
            .rows
            .push(r);
    }
    groups
}

fn fmt_rps(v: f64) -> String {
    // Whole requests are enough at benchmark rates; keep detail for tiny ones.
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ms(v: f64) -> String {
    format!("{v:.3}")
}

fn fmt_delta(base: f64, cand: f64) -> String {
    if base > 0.0 {
        let pct = (cand - base) / base * 100.0;
        // Avoid printing "-0.0%" for a change too small to show.
        let pct = if pct.abs() < 0.05 { 0.0 } else { pct };
        format!("{pct:+.1}%")
    } else {
        "n/a".to_string()
    }
}

fn fmt_signed(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.fract() == 0.0 {
        format!("{v:+.0}")
    } else {
        format!("{v:+.1}")
    }
}

/// Fraction as a percentage with one decimal, more only when needed
/// (0.05 -> "5.0", 0.0025 -> "0.25"), so a threshold is echoed faithfully.
fn fmt_pct(frac: f64) -> String {
    let s = format!("{:.2}", frac * 100.0);
    match s.strip_suffix('0') {
        Some(t) => t.to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    const HEADER: &str = "timestamp,run_id,rbench_version,git_rev,profile,target,deployment,persistence,test,clients,pipeline,data_size,keyspace,target_rps,requests,duration_s,rps,ok,errors,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,p999_ms,max_ms";

    /// A temp directory removed on drop, so failing tests clean up too.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "rbench-compare-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, AtomicOrdering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, content: &str) -> PathBuf {
            let p = self.0.join(name);
            fs::write(&p, content).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[derive(Clone, Copy)]
    struct R {
        ts: &'static str,
        run: &'static str,
        target: &'static str,
        test: &'static str,
        clients: u32,
        rps: f64,
        p50: f64,
        p99: f64,
        errors: u64,
    }

    fn r(target: &'static str, test: &'static str, rps: f64, p99: f64) -> R {
        R {
            ts: "2026-11-22T10:00:00Z",
            run: "run1",
            target,
            test,
            clients: 50,
            rps,
            p50: 0.5,
            p99,
            errors: 0,
        }
    }

    fn line(r: &R) -> String {
        format!(
            "{},{},0.1.0,abc123,default,{},standalone,none,{},{},1,3,10000,,100000,10,{},100000,{},0.4,0.1,{},0.9,{},2.0,5.0",
            r.ts, r.run, r.target, r.test, r.clients, r.rps, r.errors, r.p50, r.p99
        )
    }

    /// Each row as 5 repeats of one run, jittered by −0.2..+0.2 % so the median is the row's own
    /// value and the samples are distinct (a verdict needs repeats).
    fn csv_of(rows: &[R]) -> String {
        let mut reps = Vec::new();
        for r in rows {
            for k in 0..5 {
                let f = 1.0 + 0.001 * (k as f64 - 2.0);
                reps.push(R {
                    rps: r.rps * f,
                    p99: r.p99 * f,
                    ..*r
                });
            }
        }
        csv_single(&reps)
    }

    /// The rows exactly as given.
    fn csv_single(rows: &[R]) -> String {
        let mut s = format!("{HEADER}\n");
        for r in rows {
            s.push_str(&line(r));
            s.push('\n');
        }
        s
    }

    fn opts(b: PathBuf, c: PathBuf) -> CompareOpts {
        CompareOpts {
            baseline: b,
            candidate: c,
            thresholds: Thresholds {
                max_drop: 0.05,
                max_p99_rise: 0.10,
            },
            latest_only: false,
        }
    }

    fn run(base: &str, cand: &str, latest_only: bool) -> (Result<Verdict, CompareError>, String) {
        let d = TempDir::new();
        let mut o = opts(d.file("baseline.csv", base), d.file("candidate.csv", cand));
        o.latest_only = latest_only;
        let mut out = Vec::new();
        let res = compare(&o, &mut out);
        (res, String::from_utf8(out).unwrap())
    }

    /// The error message, with the temp paths shortened to BASE / CAND.
    fn err_text(base: &str, cand: &str) -> String {
        let d = TempDir::new();
        let (b, c) = (d.file("baseline.csv", base), d.file("candidate.csv", cand));
        match compare(&opts(b.clone(), c.clone()), &mut Vec::new()) {
            Err(e) => e
                .to_string()
                .replace(&b.display().to_string(), "BASE")
                .replace(&c.display().to_string(), "CAND"),
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    fn basic() -> Vec<R> {
        vec![
            r("no-aof", "SET", 100000.0, 1.0),
            r("no-aof", "GET", 120000.0, 0.8),
            r("aof", "SET", 80000.0, 1.5),
        ]
    }

    /// The table row for `test` on `target`, split into whitespace-separated cells.
    fn row_of(out: &str, target: &str, test: &str) -> Vec<String> {
        out.lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .find(|c| c.len() > 2 && c[0] == target && c[1] == test)
            .unwrap_or_else(|| panic!("no row for {target} {test} in:\n{out}"))
    }

    #[test]
    fn equal_files_pass() {
        let f = csv_of(&basic());
        let (res, out) = run(&f, &f, false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert!(
            out.contains(
                "PASS: no regression in 3 compared configurations (max drop 5.0%, max p99 rise 10.0%; 0 within noise, 0 with too few samples; trimmed means of the repeats against their spread, rounds adjusted, Holm α=0.05)"
            ),
            "{out}"
        );
        assert!(!out.contains("REGRESSION"), "{out}");
        assert!(!out.contains("note:") && !out.contains("only in"), "{out}");
        let row = row_of(&out, "no-aof", "SET");
        // target test c= p= size= keys= n base cand Δ ...
        assert_eq!(&row[6..10], ["5/5", "100000", "100000", "+0.0%"], "{out}");
        assert_eq!(row.last().unwrap(), "ok");
        // Sorted by target then test.
        let order: Vec<_> = out
            .lines()
            .skip(1)
            .take(3)
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(order, ["aof SET", "no-aof GET", "no-aof SET"], "{out}");
    }

    /// A candidate whose rows measured rbench (bound = client) is not judged, and the report says so.
    #[test]
    fn a_client_bound_row_is_not_judged_as_the_servers_regression() {
        let mut c = basic();
        c[0].rps = 50000.0;
        let with_bound = |csv: String, bound: &str| -> String {
            let mut lines = csv.lines();
            let head = format!("{},bound", lines.next().unwrap());
            let body: Vec<String> = lines
                .map(|l| {
                    // Pad to the header's width, then the bound cell.
                    let pad = HEADER.split(',').count() - l.split(',').count();
                    format!("{l}{},{bound}", ",".repeat(pad))
                })
                .collect();
            format!("{head}\n{}\n", body.join("\n"))
        };
        let base = with_bound(csv_of(&basic()), "server");
        let cand = with_bound(csv_of(&c), "client");
        let (res, out) = run(&base, &cand, false);
        // Not a regression, and not a pass either: the drop could not be judged.
        assert_eq!(res.unwrap(), Verdict::Inconclusive, "{out}");
        let row = row_of(&out, "no-aof", "SET");
        assert!(
            row.join(" ")
                .ends_with("NOT JUDGED: client-bound candidate (its figures measure rbench)"),
            "{out}"
        );
        assert!(
            row_of(&out, "no-aof", "GET")
                .join(" ")
                .ends_with("ok (client-bound candidate)"),
            "{out}"
        );
        assert!(
            out.contains("note: 1 configuration not judged: rbench was the bottleneck"),
            "{out}"
        );
        // The same drop from a server-bound candidate is a regression, even against a
        // client-bound baseline (a floor of what the server did).
        let cand = with_bound(csv_of(&c), "server");
        assert_eq!(run(&base, &cand, false).0.unwrap(), Verdict::Regression);
        let base = with_bound(csv_of(&basic()), "client");
        assert_eq!(run(&base, &cand, false).0.unwrap(), Verdict::Regression);
    }

    #[test]
    fn rps_drop_past_threshold_is_regression() {
        let mut c = basic();
        c[0].rps = 94000.0; // -6% against a 5% budget
        c[1].errors = 3; // reported, but never a regression by itself
        let (res, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Regression, "{out}");
        let row = row_of(&out, "no-aof", "SET");
        assert_eq!(row[9], "-6.0%", "{out}");
        // 5 vs 5, jittered by ±0.2 %: a 6 % drop is far beyond that spread.
        assert!(
            row.join(" ").ends_with("REGRESSION (rps p=<0.0001)"),
            "{out}"
        );
        let get = row_of(&out, "no-aof", "GET");
        assert_eq!(&get[get.len() - 2..], ["+3", "ok"], "{out}");
        assert!(
            out.contains("REGRESSION: 1 regression in 3 compared configurations"),
            "{out}"
        );
    }

    #[test]
    fn rps_drop_within_threshold_passes() {
        let mut c = basic();
        c[0].rps = 96000.0; // -4%
        let (res, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert_eq!(row_of(&out, "no-aof", "SET")[9], "-4.0%", "{out}");

        // A change that rounds to zero is shown without a sign flip.
        let mut c = basic();
        c[0].rps = 99999.0;
        let (_, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(row_of(&out, "no-aof", "SET")[9], "+0.0%", "{out}");
    }

    #[test]
    fn p99_rise_past_threshold_is_regression() {
        let mut c = basic();
        c[2].p99 = 1.8; // +20% against a 10% budget
        let (res, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Regression, "{out}");
        let row = row_of(&out, "aof", "SET");
        assert!(row.contains(&"+20.0%".to_string()), "{out}");
        assert!(
            row.join(" ").ends_with("REGRESSION (p99 p=<0.0001)"),
            "{out}"
        );

        // Within budget (+5%) is fine.
        let mut c = basic();
        c[2].p99 = 1.575;
        let (res, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
    }

    #[test]
    fn zero_baseline_p99_skips_p99_check() {
        let b = vec![r("no-aof", "SET", 100000.0, 0.0)];
        let c = vec![r("no-aof", "SET", 100000.0, 5.0)];
        let (res, out) = run(&csv_of(&b), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert!(
            row_of(&out, "no-aof", "SET").contains(&"n/a".to_string()),
            "{out}"
        );
    }

    #[test]
    fn median_of_repeats_ignores_one_outlier() {
        let b = vec![
            r("no-aof", "SET", 100000.0, 1.0),
            r("no-aof", "SET", 101000.0, 1.0),
            r("no-aof", "SET", 99000.0, 1.0),
        ];
        let c = vec![
            r("no-aof", "SET", 100500.0, 1.0),
            r("no-aof", "SET", 60000.0, 3.0), // one bad run
            r("no-aof", "SET", 99500.0, 1.0),
        ];
        let (res, out) = run(&csv_single(&b), &csv_single(&c), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        let row = row_of(&out, "no-aof", "SET");
        assert_eq!(&row[6..9], ["3/3", "100000", "99500"], "{out}");
        assert_eq!(row.last().unwrap(), "ok", "{out}");
        assert!(
            out.contains("no regression in 1 compared configuration ("),
            "{out}"
        );
    }

    #[test]
    fn a_drop_with_too_few_samples_is_reported_not_failed() {
        let (res, out) = run(
            &csv_single(&basic()),
            &csv_single(&[r("no-aof", "SET", 50000.0, 1.0)]),
            false,
        );
        assert_eq!(res.unwrap(), Verdict::Inconclusive, "{out}");
        let row = row_of(&out, "no-aof", "SET").join(" ");
        assert!(
            row.ends_with("NOT JUDGED: too few samples (rps 1 vs 1 repeats: judging needs 3 or more on each side (--repeat 3))"),
            "{out}"
        );
        assert!(
            out.contains("note: 1 configuration moved past the threshold and could not be judged (SET on no-aof)"),
            "{out}"
        );
        assert!(
            out.contains("INCONCLUSIVE: no regression, 1 not judged"),
            "{out}"
        );
        assert!(
            out.contains("0 within noise, 1 with too few samples"),
            "{out}"
        );
    }

    #[test]
    fn a_drop_no_larger_than_the_baseline_runs_spread_is_noise() {
        // A history of 3 runs, one of them 25 % faster than the others; the candidate is 12.5 %
        // below the pooled centre and 8 % below every baseline sample: significant, past 5 %, but
        // the baseline runs themselves swing further than that.
        let mut hist = Vec::new();
        for (run, rps) in [("a", 100000.0), ("b", 100000.0), ("c", 125000.0)] {
            for k in 0..5 {
                let mut x = r("no-aof", "SET", rps * (1.0 + 0.001 * k as f64), 1.0);
                x.run = run;
                hist.push(x);
            }
        }
        let cand: Vec<R> = (0..5)
            .map(|k| r("no-aof", "SET", 92000.0 * (1.0 + 0.001 * k as f64), 1.0))
            .collect();
        let (res, out) = run(&csv_single(&hist), &csv_single(&cand), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        let row = row_of(&out, "no-aof", "SET").join(" ");
        assert!(row.contains("15/5"), "{out}");
        assert!(
            row.ends_with("within noise (rps runs vary ±15.9%)"),
            "{out}"
        );
    }

    #[test]
    fn p99_of_few_requests_is_not_judged() {
        let few = |p99: f64| {
            csv_single(&[r("no-aof", "SET", 100000.0, p99); 5]).replace(",100000,10,", ",5000,10,")
        };
        let (res, out) = run(&few(1.0), &few(3.0), false);
        assert_eq!(res.unwrap(), Verdict::Inconclusive, "{out}");
        let row = row_of(&out, "no-aof", "SET").join(" ");
        assert!(
            row.ends_with("NOT JUDGED: too few samples (p99 a p99 needs 10000 requests per run: raise -n or --duration)"),
            "{out}"
        );
    }

    #[test]
    fn latest_only_picks_newest_run() {
        let mut old = r("no-aof", "SET", 50000.0, 1.0);
        old.ts = "2026-11-20T10:00:00Z";
        old.run = "old";
        let news: Vec<R> = (0..5)
            .map(|k| {
                let mut x = r("no-aof", "SET", 100000.0 + 1000.0 * k as f64, 1.0);
                x.ts = "2026-11-22T10:00:00Z";
                x.run = "new";
                x
            })
            .collect();
        // Newest run's rows interleaved with the old run's, to show row order does not matter;
        // the old run has more repeats so it would win a plain median.
        let mut rows = Vec::new();
        for n in news {
            rows.push(n);
            rows.push(old);
            rows.push(old);
        }
        let history = csv_single(&rows);
        let cand = csv_of(&[r("no-aof", "SET", 60000.0, 1.0)]);

        let (res, out) = run(&history, &cand, true);
        assert_eq!(res.unwrap(), Verdict::Regression, "{out}");
        // The newest run's centre: the mean of its middle three repeats, on the log scale.
        assert_eq!(row_of(&out, "no-aof", "SET")[7], "101997", "{out}");

        // Without latest_only every run counts: the centre of 10 old repeats and 5 new ones
        // lies near the old run's (the middle 9 of the 15: seven old, two new).
        let (res, out) = run(&history, &cand, false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert_eq!(row_of(&out, "no-aof", "SET")[7], "58391", "{out}");
    }

    #[test]
    fn extra_unknown_column_tolerated() {
        let b = csv_of(&basic());
        let c: String = csv_of(&basic())
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("{l},cpu_pct\n")
                } else {
                    format!("{l},87.5\n")
                }
            })
            .collect();
        let (res, out) = run(&b, &c, false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert!(out.contains("no regression in 3 compared"), "{out}");
    }

    #[test]
    fn missing_column_is_error_naming_it() {
        let c = csv_of(&basic()).replacen(",rps,", ",throughput,", 1);
        assert_eq!(
            err_text(&csv_of(&basic()), &c),
            "CAND: missing column `rps`"
        );
    }

    #[test]
    fn malformed_number_names_file_line_and_column() {
        let mut c = csv_single(&basic());
        c.push_str(&line(&r("aof", "GET", 1.0, 7.25)).replace(",7.25,", ",abc,"));
        c.push('\n');
        let e = err_text(&csv_of(&basic()), &c);
        assert_eq!(e, "CAND:5: invalid number `abc` in column `p99_ms`");
    }

    #[test]
    fn empty_file_is_error() {
        assert_eq!(err_text("", &csv_of(&basic())), "BASE: no rows");
        assert_eq!(
            err_text(&format!("{HEADER}\n"), &csv_of(&basic())),
            "BASE: no rows"
        );
    }

    #[test]
    fn unreadable_file_is_error_with_path() {
        let d = TempDir::new();
        let o = opts(d.0.join("nope.csv"), d.file("c.csv", &csv_of(&basic())));
        let e = compare(&o, &mut Vec::new()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: ", d.0.join("nope.csv").display())),
            "{e}"
        );
    }

    #[test]
    fn no_matching_keys_is_error() {
        let c = csv_of(&[r("other", "SET", 1.0, 1.0)]);
        assert_eq!(
            err_text(&csv_of(&basic()), &c),
            "no configuration in CAND matches BASE (compared by target,test,clients,pipeline,data_size,keyspace,target_rps)"
        );
    }

    #[test]
    fn keys_only_in_one_file_are_listed() {
        let mut c = basic();
        c.pop(); // drop aof SET
        let mut extra = r("no-aof", "SET", 50.0, 1.0);
        extra.clients = 200;
        c.push(extra);
        let (res, out) = run(&csv_of(&basic()), &csv_of(&c), false);
        assert_eq!(res.unwrap(), Verdict::Pass, "{out}");
        assert!(
            out.contains("only in baseline: SET on aof (c=50 p=1 size=3 keys=10000)"),
            "{out}"
        );
        assert!(
            out.contains("only in candidate: SET on no-aof (c=200 p=1 size=3 keys=10000)"),
            "{out}"
        );
        assert!(
            out.contains("no regression in 2 compared configurations"),
            "{out}"
        );
    }

    #[test]
    fn parse_percent_cases() {
        assert_eq!(parse_percent("5%"), Ok(0.05));
        assert_eq!(parse_percent("5"), Ok(0.05));
        assert_eq!(parse_percent("0.5%"), Ok(0.005));
        assert_eq!(parse_percent(" 10 % "), Ok(0.10));
        assert_eq!(parse_percent("0"), Ok(0.0));
        for bad in ["-5%", "abc", "", "%", "5%%", "NaN", "inf"] {
            let e = parse_percent(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert!(parse_percent("-5%").unwrap_err().contains("negative"));
    }
}
