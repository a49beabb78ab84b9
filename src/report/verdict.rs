//! The regression verdict, shared by `rbench compare`, `rbench nightly` and `rbench report --compare`.
//!
//! A configuration regresses only when its change is past the user's threshold **and** unlikely to be
//! noise. The model, on the log scale (a drop of 20 % is the same size on a fast and a slow test):
//! - **A change has a shared part and an own part.** Every test of one target runs against the same
//!   server process on the same machine, and on a shared machine whole runs swing together (measured
//!   on a 2-core VM: two same-code runs of `profiles/persistence.toml` differ by ±30 % on one target,
//!   all tests alike, while a test's change *beyond its target's* stays within ±7 %). So, per metric
//!   and target with at least [`MIN_GROUP`] configurations, the target's **shift** is the median of
//!   its configurations' changes, and each configuration's **own change** is its change minus that.
//!   A one-test regression stands out from its target's other tests; a shift of the whole target
//!   is judged against the run-to-run band (see [`Shift`]).
//! - **Rounds are taken out first** (`rounds`): one repeat of a target's tests runs back to back, so
//!   a slow moment lowers that whole round; in runs of 5+ repeats each sample is taken relative to
//!   its round's median deviation (measured: the spread judged against halves).
//! - **Own changes are judged against the repeats' spread**, pooled over every configuration of the
//!   metric: the noise scale is the median of all pairwise differences between repeats of one run
//!   (robust: a stalled repeat is one large difference among many), and each side is summarised by its
//!   centre, the mean of its middle 60 % (robust: one stalled repeat of three, or two of ten, does not
//!   move it; at 9 repeats as precise as the median of 13). The z-score of the own change
//!   gives a one-sided p-value; the p-values of every check of the comparison are **Holm**-corrected,
//!   so 15 configurations × 2 metrics are not 30 chances of a false alarm.
//!   Where the baseline has several runs (a history of nights) and the exact Mann–Whitney rank test can
//!   reach significance, it is run too on the shift-adjusted samples (not against one baseline run:
//!   its repeats share the run's own level, which strays between runs), and the
//!   check's p-value is twice the smaller of the two (a valid union bound): the rank test is
//!   scale-free, so a candidate entirely below a baseline stays significant on a noisy machine.
//! - **Between runs:** when the baseline holds several runs (nights), a change no larger than a
//!   baseline night's own deviation from their pooled median is what a same-code night already did
//!   (and likewise the candidate's runs, when it has several).
//!
//! Three outcomes: a check past its threshold is a regression, within noise (judged: the data could
//! tell, and it did not see one), or **too few samples** (not judged: fewer than [`MIN_REPEATS`]
//! repeats a side, or a p99 of fewer than [`P99_MIN_REQUESTS`] requests). The last is not a pass.

use std::collections::BTreeMap;

/// Family-wise false-alarm rate of one comparison (Holm over all its checks).
pub const ALPHA: f64 = 0.05;

/// A p99 needs ~100 replies above it to mean something.
pub const P99_MIN_REQUESTS: f64 = 10_000.0;

/// Repeats a side needs to be judged: the median of three ignores one stalled repeat.
pub const MIN_REPEATS: usize = 3;

/// Configurations of one target (per metric) needed to tell the target's shift from a test's own.
pub const MIN_GROUP: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// What one sample is: a repeat within a run, or a whole run (a saturation search's answer, of
/// which a run has one: its later repeats re-run the same rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Repeat,
    Run,
}

/// One metric of one configuration: the samples on both sides.
#[derive(Clone, Debug)]
pub struct Samples {
    /// The metric's name ("rps", "p99", ...): checks of one metric share a noise scale and shifts.
    pub metric: &'static str,
    /// The configurations that share a shift: the target.
    pub group: String,
    /// Each baseline run's samples.
    pub base_runs: Vec<Vec<f64>>,
    /// Each candidate run's samples (usually one run).
    pub cand_runs: Vec<Vec<f64>>,
    /// The round of each sample, parallel to `base_runs` and `cand_runs` (a run without them, or
    /// with fewer than its samples, is not round-adjusted: `rounds`).
    pub base_rounds: Vec<Vec<Round>>,
    pub cand_rounds: Vec<Vec<Round>>,
    pub better: Better,
    pub unit: Unit,
    /// Largest tolerated change in the bad direction, as a fraction.
    pub threshold: f64,
    /// The run-to-run swing a target's shift may have when the baseline has fewer than 3 runs to
    /// measure it from, as a fraction.
    pub shared_band: f64,
    /// Why the samples cannot be judged at all (e.g. a p99 of too few requests).
    pub unusable: Option<String>,
}

/// Which run and repeat measured a sample: the tests of one target in one round ran back to back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Round {
    pub run: String,
    pub repeat: u32,
}

/// What one check concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Not past the threshold in the bad direction (its own change; its target's shift aside).
    Ok,
    /// Past the threshold, but the samples cannot judge it: the text says why and what would.
    TooFew(String),
    /// Past the threshold, but not beyond noise: the test did not reject (`band` None), or it did
    /// but the baseline runs themselves spread that far (`band`: their largest deviation).
    WithinNoise {
        p: f64,
        band: Option<f64>,
    },
    Regression {
        p: f64,
    },
}

#[derive(Clone, Debug)]
pub struct Check {
    /// Each side's centre (the trimmed mean of its log samples, back on the linear scale: the
    /// median for 3 or 4 samples; 0 when the median is 0).
    pub base_centre: f64,
    pub cand_centre: f64,
    /// How much worse the candidate's centre is, as a fraction (negative: better).
    pub worse_by: f64,
    /// The part of `worse_by` that is this configuration's own (its target's shift taken out).
    pub own_by: f64,
    /// One-sided p-value that the own change is noise, unadjusted.
    pub p: f64,
    pub band: Option<f64>,
    pub status: Status,
}

/// A change shared by every configuration of one target (one metric): the machine, the server
/// process, or a change common to all its tests. Judged against the run-to-run band: the largest
/// shift of one baseline run from their pooled median when the baseline has 3 runs or more,
/// otherwise the `shared_band` of its samples.
#[derive(Clone, Debug)]
pub struct Shift {
    pub metric: &'static str,
    pub group: String,
    pub configs: usize,
    /// As a fraction, worse positive.
    pub worse_by: f64,
    pub band: f64,
    /// The band came from the baseline's own runs (else the default).
    pub measured: bool,
    pub status: ShiftStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftStatus {
    Ok,
    WithinBand,
    Regression,
}

/// Everything one comparison concluded: a check per metric given, and each target's shifts.
#[derive(Clone, Debug)]
pub struct Judged {
    pub checks: Vec<Check>,
    pub shifts: Vec<Shift>,
}

mod model;
mod rank;
mod rounds;
pub use model::{median, normal_cdf};

/// Judges every metric of a comparison together (Holm needs them all).
pub fn judge_all(metrics: &[Samples]) -> Judged {
    let (metrics, adjusted) = rounds::adjust(metrics);
    let metrics = &metrics[..];
    let logs: Vec<model::Logs> = metrics.iter().map(model::Logs::of).collect();
    let mut scales = BTreeMap::new();
    let mut levels = BTreeMap::new();
    for s in metrics {
        scales
            .entry((s.metric, s.group.clone()))
            .or_insert_with(|| {
                let scale = model::scale(metrics, &logs, s.metric, &s.group);
                // A round's shift is taken over its configurations, this one among them, so the
                // adjusted samples spread by √((C−1)/C) less than the noise they carry.
                let c = adjusted.get(&(s.metric, s.group.clone())).copied();
                match c {
                    Some(c) if c > 1 => scale.map(|v| v * (c as f64 / (c - 1) as f64).sqrt()),
                    _ => scale,
                }
            });
        levels
            .entry((s.metric, s.group.clone()))
            .or_insert_with(|| model::level(metrics, &logs, s.metric, &s.group));
    }
    // The first step of Holm: a rank test that cannot reach it is not used.
    let first = ALPHA / metrics.len().max(1) as f64;
    let mut checks: Vec<Check> = metrics
        .iter()
        .zip(&logs)
        .map(|(s, l)| {
            let level = &levels[&(s.metric, s.group.clone())];
            let scale = scales[&(s.metric, s.group.clone())];
            model::first_look(s, l, level.as_ref(), scale, first)
        })
        .collect();
    let rejected = holm(&checks.iter().map(|c| c.p).collect::<Vec<_>>(), ALPHA);
    for (c, rejected) in checks.iter_mut().zip(rejected) {
        if !matches!(c.status, Status::WithinNoise { .. }) {
            continue;
        }
        let beyond_band = c.band.is_none_or(|b| c.own_by > b);
        c.status = match (rejected, beyond_band) {
            (true, true) => Status::Regression { p: c.p },
            (true, false) => Status::WithinNoise {
                p: c.p,
                band: c.band,
            },
            (false, _) => Status::WithinNoise { p: c.p, band: None },
        };
    }
    let shifts = levels
        .into_iter()
        .filter_map(|((metric, group), l)| l.map(|l| l.shift(metric, group)))
        .collect();
    Judged { checks, shifts }
}

/// Which of `p` Holm's step-down procedure rejects at family-wise level `alpha`.
pub fn holm(p: &[f64], alpha: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p[i] > alpha / (m - rank) as f64 {
            break;
        }
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests;
