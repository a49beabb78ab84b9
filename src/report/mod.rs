//! Everything the user reads: console blocks and `-q` lines, redis-benchmark CSV, results files, the
//! configuration table and the regression verdict. Reporters take finished results; they never
//! measure.

pub mod compare;
pub mod console;
pub mod experiment;
pub mod files;
#[cfg(test)]
mod fixtures;
pub mod hlog;
pub mod html;
pub mod ledger;
pub mod observed;
pub mod rows;
pub mod saved;
pub mod server_timeline;
pub mod shape;
pub mod slo;
pub mod stream;
pub mod summary;
pub mod svg;
pub mod table;
pub mod trend;
pub mod verdict;

use hdrhistogram::Histogram;

// Where the run's files and the console name a time; below `config` and `report` both.
pub use crate::timefmt::rfc3339;

use crate::resp::ErrorClass;
use crate::stats::{Summary, Tick, Words};

/// Identifies one invocation of rbench in every file it writes.
#[derive(Clone, Debug)]
pub struct RunMeta {
    pub timestamp: String,
    pub run_id: String,
    pub version: String,
    pub git_rev: String,
    pub profile: String,
    /// What the machine's settings may distort (`observe::env`), one line each.
    pub environment: Vec<String>,
}

/// One test (or one command of a mix) against one target: a row of every output.
#[derive(Clone, Debug)]
pub struct TestResult {
    pub target: String,
    pub deployment: String,
    pub persistence: String,
    pub server_version: String,
    pub masters: usize,
    pub test: String,
    pub mix: bool,
    pub clients: usize,
    pub connections: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub data_size: String,
    pub keyspace: u64,
    pub key_dist: String,
    pub target_rps: Option<f64>,
    pub repeat: u32,
    pub requests: u64,
    pub duration_s: f64,
    /// Successful replies per second of measured wall time.
    pub rps: f64,
    pub ok: u64,
    pub errors: u64,
    pub events: [u64; ErrorClass::COUNT],
    /// The first words seen per error class (the server's own, or what broke a connection).
    pub words: Words,
    pub latency: Summary,
    /// Open loop only: latency from the actual send time (what coordinated omission would report).
    pub latency_uncorrected: Option<Summary>,
    pub hist: Histogram<u64>,
    /// One tick per second of the measured window (the last one may be partial).
    pub timeline: Vec<Tick>,
    /// Each second's histogram, for a `.hlog` written whole when the result is saved: scenarios,
    /// a search's chosen step, merged shards, a saved run read back. None for a measured phase,
    /// whose `.hlog` was streamed second by second (`report::stream`).
    pub hlog: Option<Vec<Histogram<u64>>>,
    /// Open loop: requests sent per second, and the largest lag behind the schedule (ms).
    pub achieved_rps: Option<f64>,
    pub max_lag_ms: Option<f64>,
    /// Open loop: the client's own delay from a request's due time to taking it, while a window
    /// slot was free (what rbench adds; the server's stalls are not in it).
    pub client_lag: Option<Summary>,
    pub unanswered: u64,
    pub interrupted: bool,
    /// A scenario's ledger and the faults scheduled into the run (empty for plain tests).
    pub experiment: experiment::Experiment,
    /// `--slo`: the saturation search behind this row (its numbers are the final step's).
    pub slo: Option<crate::slo::SloResult>,
    /// `--shard`: the shard of the run that measured this row (None: the whole run, or a merge).
    pub shard: Option<u32>,
    /// Processes whose load the run spread over: 1, or the shards of a shard's or a merged row.
    pub shards: u32,
    /// The wall-clock instant the measured window began (None in files older than the column).
    pub started: Option<std::time::SystemTime>,
    /// The servers and rbench itself while the row was measured (issue "numbers that explain
    /// themselves"): server time per call, CPU, memory, events, and whose limit the row is.
    pub observed: observed::Observed,
    /// `--rps` with a shape: the seconds short of it and the latency per band of its peak.
    pub rate_shape: Option<shape::ShapeReport>,
}

impl TestResult {
    /// Error classes with a non-zero count, for summaries.
    pub fn error_classes(&self) -> Vec<(ErrorClass, u64)> {
        ErrorClass::ALL
            .iter()
            .map(|&c| (c, self.events[c.index()]))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// The seconds of the run that timeline row `i` covers: 1, but for a last partial second.
    pub fn span_of_second(&self, i: usize) -> f64 {
        let last = self.timeline.len().saturating_sub(1);
        if i < last {
            1.0
        } else {
            (self.duration_s - i as f64).clamp(0.0, 1.0)
        }
    }

    /// The words kept for `class`, if any.
    pub fn words_of(&self, class: ErrorClass) -> Option<&str> {
        self.words[class.index()].as_deref()
    }

    /// The client could not keep up with the target rate.
    pub fn fell_behind(&self) -> bool {
        match (self.target_rps, self.achieved_rps) {
            (Some(t), Some(a)) => a < t * 0.95 || self.max_lag_ms.is_some_and(|l| l > 100.0),
            _ => false,
        }
    }
}

#[cfg(test)]
impl TestResult {
    /// A row with nothing measured yet, for unit tests to fill in.
    pub fn blank(target: &str, test: &str) -> TestResult {
        TestResult {
            target: target.into(),
            deployment: "standalone".into(),
            persistence: "none".into(),
            server_version: String::new(),
            masters: 1,
            test: test.into(),
            mix: false,
            clients: 50,
            connections: 50,
            pipeline: 1,
            threads: 1,
            data_size: "3".into(),
            keyspace: 1,
            key_dist: "uniform".into(),
            target_rps: None,
            repeat: 1,
            requests: 0,
            duration_s: 0.0,
            rps: 0.0,
            ok: 0,
            errors: 0,
            events: [0; ErrorClass::COUNT],
            words: Default::default(),
            latency: Summary::default(),
            latency_uncorrected: None,
            hist: crate::stats::new_histogram(),
            timeline: Vec::new(),
            hlog: None,
            achieved_rps: None,
            max_lag_ms: None,
            client_lag: None,
            unanswered: 0,
            interrupted: false,
            experiment: Default::default(),
            slo: None,
            shard: None,
            shards: 1,
            started: None,
            observed: Default::default(),
            rate_shape: None,
        }
    }
}

/// Why a result fails the error check, if it does: no successful reply at all, or failed
/// requests above `max_rate` of its requests.
pub fn check_failure(r: &TestResult, max_rate: f64) -> Option<String> {
    let why = if r.ok == 0 {
        "no successful reply".to_string()
    } else if r.errors as f64 > max_rate * r.requests as f64 {
        format!("{} of {} requests failed", r.errors, r.requests)
    } else {
        return None;
    };
    let classes: Vec<String> = r
        .error_classes()
        .iter()
        .map(|&(c, n)| match r.words_of(c) {
            Some(w) => format!("{}={n}: {w}", c.name()),
            None => format!("{}={n}", c.name()),
        })
        .collect();
    let repeat = if r.repeat > 1 {
        format!(", repeat {}", r.repeat)
    } else {
        String::new()
    };
    Some(if classes.is_empty() {
        format!("{} on {}{repeat}: {why}", r.test, r.target)
    } else {
        format!(
            "{} on {}{repeat}: {why} ({})",
            r.test,
            r.target,
            classes.join("; ")
        )
    })
}

/// One line naming every result that failed the error check, or None when all passed.
pub fn error_check(results: &[TestResult], max_rate: f64) -> Option<String> {
    const SHOWN: usize = 5;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| check_failure(r, max_rate).or_else(|| experiment::check(r)))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let more = match failed.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" | and {n} more"),
    };
    let limit = if max_rate == 0.0 {
        "no failed request allowed".to_string()
    } else {
        format!("--max-error-rate {}%", max_rate * 100.0)
    };
    Some(format!(
        "{} of {} results failed the error check ({limit}): {}{more}",
        failed.len(),
        results.len(),
        failed[..failed.len().min(SHOWN)].join(" | ")
    ))
}
