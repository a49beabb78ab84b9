//! What the trend page shows, computed once from the ledger and the history: per configuration and
//! night, the median and range of the night's repeats, and the baseline that night's verdict was
//! made against (the last K accepted nights before it: their pooled median, the range of their
//! medians, the threshold); per night, its status and whether this configuration regressed.
//! Pure: the page and the Markdown only format this.

use std::collections::BTreeMap;

use crate::report::compare::{Num, Thresholds};
use crate::report::ledger::{NightRecord, Status};
use crate::report::verdict::median;
use crate::schema::LongRow;

/// How the trend is judged: the baseline's size and the verdict's thresholds.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The last K accepted nights before a night are its baseline (`--nights`).
    pub nights: usize,
    pub thresholds: Thresholds,
}

/// A finite number that orders, for the configuration key.
/// A configuration, keyed as `rbench compare` keys rows (its `Key`: target, test, clients,
/// pipeline, data size, keyspace, target rate), so a chart is what one verdict row judged.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigKey {
    pub target: String,
    pub test: String,
    pub clients: Num,
    pub pipeline: Num,
    pub data_size: String,
    pub keyspace: Num,
    pub target_rps: Option<Num>,
}

impl ConfigKey {
    /// `TEST on TARGET`: how the ledger's `regressions` names a configuration.
    pub fn label(&self) -> String {
        format!("{} on {}", self.test, self.target)
    }

    /// The workload, as `compare` writes it: `c=50 p=1 size=3 keys=1000 rate=5000`.
    pub fn config(&self) -> String {
        let mut s = format!(
            "c={} p={} size={} keys={}",
            self.clients, self.pipeline, self.data_size, self.keyspace
        );
        if let Some(r) = self.target_rps {
            s.push_str(&format!(" rate={r}"));
        }
        s
    }
}

/// One history row as the trend reads it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub key: ConfigKey,
    pub run_id: String,
    /// Requests per second, or the highest rate that met the objectives of a searched row.
    pub tps: f64,
    pub p99: f64,
    /// The objectives of a searched row (`--slo`), empty otherwise.
    pub slo: String,
}

/// A row's number cell: finite and not negative (what rbench writes).
fn number(row: &LongRow, col: &str, v: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x + 0.0)
        .ok_or_else(|| format!("run {}: invalid number `{v}` in column `{col}`", row.run_id))
}

impl Sample {
    /// `row` as a sample; None for a test cut short by a signal, which `compare` does not judge.
    pub fn of(row: &LongRow) -> Result<Option<Sample>, String> {
        if row.interrupted == "true" {
            return Ok(None);
        }
        let num = |col: &str, v: &str| number(row, col, v);
        let target_rps = match row.target_rps.trim() {
            "" => None,
            v => Some(Num(num("target_rps", v)?)),
        };
        let searched = !row.slo_max_rps.trim().is_empty();
        Ok(Some(Sample {
            key: ConfigKey {
                target: row.target.clone(),
                test: row.test.clone(),
                clients: Num(num("clients", &row.clients)?),
                pipeline: Num(num("pipeline", &row.pipeline)?),
                data_size: row.data_size.clone(),
                keyspace: Num(num("keyspace", &row.keyspace)?),
                target_rps,
            },
            run_id: row.run_id.clone(),
            tps: if searched {
                num("slo_max_rps", &row.slo_max_rps)?
            } else {
                num("rps", &row.rps)?
            },
            p99: num("p99_ms", &row.p99_ms)?,
            slo: if searched {
                row.slo.clone()
            } else {
                String::new()
            },
        }))
    }
}

/// One night: its ledger line, and the rbench that ran it (from its history rows).
#[derive(Clone, Debug)]
pub struct Night {
    pub rec: NightRecord,
    pub version: String,
    pub git_rev: String,
}

impl Night {
    /// The date part of the night's timestamp (`2026-12-07`), or its run id when there is none.
    pub fn date(&self) -> &str {
        match self.rec.timestamp.get(..10) {
            Some(d) if d.as_bytes().get(4) == Some(&b'-') => d,
            _ => &self.rec.run_id,
        }
    }
}

/// The repeats of one night: their median and range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    fn of(v: &[f64]) -> Option<Spread> {
        if v.is_empty() {
            return None;
        }
        Some(Spread {
            median: median(v),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: v.len(),
        })
    }
}

/// The baseline a night was judged against, for one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    /// Baseline nights that measured this configuration.
    pub nights: usize,
    /// The median of every repeat of those nights: what the verdict compares with.
    pub median: f64,
    /// The lowest and highest of those nights' own medians: the spread between nights.
    pub lo: f64,
    pub hi: f64,
    /// Past this the night's median is past the threshold (below it for throughput, above for p99).
    pub threshold: f64,
}

/// One metric of one configuration over the nights (a point per night, in ledger order).
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub points: Vec<Point>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Point {
    pub spread: Option<Spread>,
    pub baseline: Option<Baseline>,
}

/// How a night is drawn for one configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// First, pass, or a regression night in which this configuration did not regress.
    Normal,
    /// This configuration is in the night's regressions (not accepted).
    Regression,
    /// An accepted night (`--accept`) that did not name this configuration.
    Accepted,
    /// An accepted night in which this configuration regressed.
    AcceptedRegression,
    Inconclusive,
    Errors,
    Incomplete,
    /// Unjudged, or a status this build does not know.
    Unjudged,
}

impl Mark {
    pub const ALL: [Mark; 8] = [
        Mark::Normal,
        Mark::Regression,
        Mark::Accepted,
        Mark::AcceptedRegression,
        Mark::Inconclusive,
        Mark::Errors,
        Mark::Incomplete,
        Mark::Unjudged,
    ];

    /// Whether the night's figures join the median line: an `errors` or `incomplete` night's
    /// figures say nothing about speed, so they stand apart.
    pub fn joined(self) -> bool {
        !matches!(self, Mark::Errors | Mark::Incomplete)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mark::Normal => "first / pass",
            Mark::Regression => "regression",
            Mark::Accepted => "accepted (--accept)",
            Mark::AcceptedRegression => "regression accepted",
            Mark::Inconclusive => "inconclusive",
            Mark::Errors => "errors",
            Mark::Incomplete => "incomplete",
            Mark::Unjudged => "unjudged",
        }
    }
}

/// One configuration's two series.
#[derive(Clone, Debug)]
pub struct Config {
    pub key: ConfigKey,
    /// The objectives when the configuration was searched (`--slo`): its throughput is the highest
    /// rate that met them.
    pub slo: Option<String>,
    pub tps: Series,
    pub p99: Series,
}

impl Config {
    /// The last night that measured this configuration (its index).
    pub fn latest(&self) -> Option<usize> {
        self.tps.points.iter().rposition(|p| p.spread.is_some())
    }

    pub fn tps_title(&self) -> String {
        match &self.slo {
            Some(slo) => format!("max rps @ {slo}"),
            None => "requests per second".to_string(),
        }
    }
}

/// Everything the page and the Markdown show.
#[derive(Clone, Debug)]
pub struct Trend {
    pub nights: Vec<Night>,
    pub configs: Vec<Config>,
    pub opts: Options,
}

impl Trend {
    /// How night `i` is drawn in `config`'s charts.
    pub fn mark(&self, config: &Config, i: usize) -> Mark {
        let rec = &self.nights[i].rec;
        let named = rec.regressions.contains(&config.key.label());
        match (rec.kind(), named) {
            (Status::Accepted, true) => Mark::AcceptedRegression,
            (Status::Accepted, false) => Mark::Accepted,
            (_, true) => Mark::Regression,
            (Status::First | Status::Pass | Status::Regression, false) => Mark::Normal,
            (Status::Inconclusive, false) => Mark::Inconclusive,
            (Status::Errors, false) => Mark::Errors,
            (Status::Incomplete, false) => Mark::Incomplete,
            (Status::Unjudged | Status::Unknown, false) => Mark::Unjudged,
        }
    }

    /// The indexes of the accepted nights night `i` was judged against (at most K, oldest first).
    pub fn baseline_nights(&self, i: usize) -> Vec<usize> {
        let mut ids: Vec<usize> = (0..i)
            .rev()
            .filter(|&j| self.nights[j].rec.accepted)
            .take(self.opts.nights)
            .collect();
        ids.reverse();
        ids
    }
}

/// One configuration's samples in one night: throughput, p99.
type NightSamples = (Vec<f64>, Vec<f64>);

/// The trend of `nights` (the ledger, oldest first) over `rows` (the history). Rows of runs the
/// ledger does not list (a night killed before it was recorded) are left out.
pub fn build(nights: Vec<NightRecord>, rows: &[LongRow], opts: Options) -> Result<Trend, String> {
    let index: BTreeMap<&str, usize> = nights
        .iter()
        .enumerate()
        .map(|(i, n)| (n.run_id.as_str(), i))
        .collect();
    let mut by_key: BTreeMap<ConfigKey, Vec<NightSamples>> = BTreeMap::new();
    let mut slo: BTreeMap<ConfigKey, String> = BTreeMap::new();
    for row in rows {
        let Some(&i) = index.get(row.run_id.as_str()) else {
            continue;
        };
        let Some(s) = Sample::of(row)? else { continue };
        let per_night = by_key
            .entry(s.key.clone())
            .or_insert_with(|| vec![(Vec::new(), Vec::new()); nights.len()]);
        per_night[i].0.push(s.tps);
        per_night[i].1.push(s.p99);
        if !s.slo.is_empty() {
            slo.insert(s.key, s.slo);
        }
    }
    let nights: Vec<Night> = nights.into_iter().map(|rec| night_of(rec, rows)).collect();
    let mut trend = Trend {
        nights,
        configs: Vec::new(),
        opts,
    };
    for (key, samples) in by_key {
        let tps: Vec<&[f64]> = samples.iter().map(|s| s.0.as_slice()).collect();
        let p99: Vec<&[f64]> = samples.iter().map(|s| s.1.as_slice()).collect();
        let th = opts.thresholds;
        trend.configs.push(Config {
            slo: slo.remove(&key),
            key,
            tps: series(&trend, &tps, 1.0 - th.max_drop),
            p99: series(&trend, &p99, 1.0 + th.max_p99_rise),
        });
    }
    Ok(trend)
}

/// The night with the rbench that ran it (its first history row's version and revision).
fn night_of(rec: NightRecord, rows: &[LongRow]) -> Night {
    let first = rows.iter().find(|r| r.run_id == rec.run_id);
    Night {
        version: first.map(|r| r.rbench_version.clone()).unwrap_or_default(),
        git_rev: first.map(|r| r.git_rev.clone()).unwrap_or_default(),
        rec,
    }
}

/// One metric's points: each night's spread and its baseline; `factor` turns the baseline's
/// median into the threshold.
fn series(trend: &Trend, per_night: &[&[f64]], factor: f64) -> Series {
    let points = (0..per_night.len())
        .map(|i| Point {
            spread: Spread::of(per_night[i]),
            baseline: baseline(&trend.baseline_nights(i), per_night, factor),
        })
        .collect();
    Series { points }
}

/// The baseline made of nights `ids`, as the verdict pools it; None when none of them measured
/// the configuration.
fn baseline(ids: &[usize], per_night: &[&[f64]], factor: f64) -> Option<Baseline> {
    let pooled: Vec<f64> = ids
        .iter()
        .flat_map(|&j| per_night[j].iter().copied())
        .collect();
    if pooled.is_empty() {
        return None;
    }
    let medians: Vec<f64> = ids
        .iter()
        .filter(|&&j| !per_night[j].is_empty())
        .map(|&j| median(per_night[j]))
        .collect();
    let m = median(&pooled);
    Some(Baseline {
        nights: medians.len(),
        median: m,
        lo: medians.iter().copied().fold(f64::INFINITY, f64::min),
        hi: medians.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        threshold: m * factor,
    })
}

impl Trend {
    /// The latest night's index (the ledger is never empty here).
    pub fn last(&self) -> usize {
        self.nights.len().saturating_sub(1)
    }

    /// What night `i` concluded about `config`, in a word or two.
    pub fn config_status(&self, config: &Config, i: usize) -> String {
        let rec = &self.nights[i].rec;
        match self.mark(config, i) {
            Mark::Regression => "REGRESSION".into(),
            Mark::AcceptedRegression => "regression, accepted".into(),
            Mark::Accepted => "ok (night accepted)".into(),
            Mark::Normal if rec.kind() == Status::First => "first (baseline)".into(),
            Mark::Normal => "ok".into(),
            _ if rec.status.is_empty() => "unknown".into(),
            _ => rec.status.clone(),
        }
    }

    /// How many accepted nights night `i` was judged against.
    pub fn judged_against(&self, i: usize) -> usize {
        self.baseline_nights(i).len()
    }
}

/// `(cand - base) / base` as a signed percentage, or `-` without a base.
pub fn change(base: f64, cand: f64) -> String {
    if base > 0.0 {
        let pct = (cand - base) / base * 100.0;
        let pct = if pct.abs() < 0.05 { 0.0 } else { pct };
        format!("{pct:+.1}%")
    } else {
        "-".to_string()
    }
}

/// Requests per second as the compare table writes them.
pub fn fmt_rps(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_ms(v: f64) -> String {
    format!("{v:.3}")
}

impl Trend {
    /// The latest night's status in capitals, and a sentence saying what it means.
    pub fn headline(&self) -> (String, String) {
        let i = self.last();
        let n = &self.nights[i];
        let k = self.judged_against(i);
        let against = format!(
            "the last {k} accepted night{}",
            if k == 1 { "" } else { "s" }
        );
        let list = n.rec.regressions.join(", ");
        let what = match n.rec.kind() {
            Status::First if k == 0 => {
                "the first night: later nights are judged against it".to_string()
            }
            Status::First => "nothing in common with the baseline: it starts a new one".into(),
            Status::Pass => format!("no regression against {against}"),
            Status::Regression => {
                format!("regression in {list} against {against}; not accepted into the baseline")
            }
            Status::Accepted => format!(
                "regression in {list} against {against}, accepted with --accept: later nights are judged against it"
            ),
            Status::Inconclusive => format!(
                "a configuration moved past its threshold against {against} but could not be judged"
            ),
            Status::Errors => "tests failed the error check: not judged, never a baseline".into(),
            Status::Incomplete => "the run did not complete: not judged".into(),
            Status::Unjudged => "the history could not be judged".into(),
            Status::Unknown => format!("status `{}`", n.rec.status),
        };
        let word = if n.rec.status.is_empty() {
            "UNKNOWN".to_string()
        } else {
            n.rec.status.to_uppercase()
        };
        let who = format!(
            "Night {} of {} (rbench {}, git {})",
            n.rec.run_id,
            n.date(),
            or_dash(&n.version),
            or_dash(&n.git_rev)
        );
        (word, format!("{who}: {what}."))
    }
}

/// `s`, or `-` when empty.
pub fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}
