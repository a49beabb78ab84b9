//! The verdict's arithmetic: log samples, the pooled noise scale, a target's shift, one check.

use super::rank;
use super::{Better, Check, MIN_GROUP, MIN_REPEATS, Samples, Shift, ShiftStatus, Status, Unit};

/// n × the variance of the median of n standard normal samples (simulated, 200 000 draws each);
/// beyond the table, π/2 (its limit from below, so the scale errs on the wide side).
const MEDIAN_VAR: [f64; 12] = [
    1.0, 1.0, 1.343, 1.189, 1.429, 1.286, 1.467, 1.352, 1.492, 1.387, 1.506, 1.409,
];

/// n × the variance of the trimmed mean ([`centre`]) of n standard normal samples (simulated,
/// 200 000 draws each); beyond the table, its largest entry.
const CENTRE_VAR: [f64; 15] = [
    1.002, 1.003, 1.343, 1.189, 1.134, 1.103, 1.086, 1.073, 1.058, 1.136, 1.117, 1.104, 1.097,
    1.083, 1.134,
];

/// The variance of a side's centre of `n` samples, in units of one sample's variance.
fn centre_var(n: usize) -> f64 {
    let k = CENTRE_VAR.get(n.max(1) - 1).copied().unwrap_or(1.136);
    k / n.max(1) as f64
}

/// A side's centre on the log scale: the mean of the middle 60 % of its samples, at least one
/// dropped at each end from 3 samples up (the median of 3 or 4). As robust as the median to one
/// stalled repeat in five and to two in ten, and at 9 repeats it needs a third fewer samples than
/// the median for the same precision (1.06 against 1.49 in `CENTRE_VAR` / `MEDIAN_VAR`).
pub(super) fn centre(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let cut = if n >= 3 { (n / 5).max(1) } else { 0 };
    let kept = &v[cut..n - cut];
    if kept.is_empty() {
        return 0.0;
    }
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// The variance of a median of `n` samples, in units of one sample's variance.
fn median_var(n: usize) -> f64 {
    let k = MEDIAN_VAR
        .get(n.max(1) - 1)
        .copied()
        .unwrap_or(std::f64::consts::FRAC_PI_2);
    k / n.max(1) as f64
}

/// A check's samples on the log scale.
pub(super) struct Logs {
    /// Each baseline run's samples (a run unit: one pseudo-run of every run's median).
    runs: Vec<Vec<f64>>,
    /// Each candidate run's samples, and all of them.
    cand_runs: Vec<Vec<f64>>,
    cand: Vec<f64>,
    /// The pooled baseline's centre and the candidate's, linear (0 when the median is 0).
    base_centre: f64,
    cand_centre: f64,
    /// log(cand / base), signed so that worse is positive.
    worse: f64,
    /// Each baseline run's centre against the pooled centre, worse positive.
    run_worse: Vec<f64>,
    /// The largest deviation of one candidate run from the candidate's pooled centre (0: one run).
    cand_spread: f64,
    /// Judgeable at all: samples on both sides, a positive baseline, nothing unusable.
    usable: bool,
}

fn ln(v: f64) -> f64 {
    // A zero (a search that met nothing, a test with no reply) is far below any real sample.
    v.max(1e-9).ln()
}

fn signed(better: Better, base: f64, cand: f64) -> f64 {
    match better {
        Better::Higher => base - cand,
        Better::Lower => cand - base,
    }
}

/// A log change as the fraction the user's thresholds speak: a drop for higher-is-better.
pub(super) fn fraction(better: Better, worse: f64) -> f64 {
    match better {
        Better::Higher => 1.0 - (-worse).exp(),
        Better::Lower => worse.exp() - 1.0,
    }
}

fn log_of(better: Better, frac: f64) -> f64 {
    match better {
        Better::Higher => -(1.0 - frac.min(0.999_999)).ln(),
        Better::Lower => (1.0 + frac).ln(),
    }
}

impl Logs {
    pub(super) fn of(s: &Samples) -> Logs {
        let per_unit = |runs: &[Vec<f64>]| -> Vec<Vec<f64>> {
            match s.unit {
                Unit::Repeat => runs.iter().filter(|r| !r.is_empty()).cloned().collect(),
                Unit::Run => vec![
                    runs.iter()
                        .filter(|r| !r.is_empty())
                        .map(|r| median(r))
                        .collect(),
                ],
            }
        };
        let logs = |runs: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            runs.into_iter()
                .map(|r| r.iter().map(|v| ln(*v)).collect())
                .collect()
        };
        let (base_raw, cand_raw) = (per_unit(&s.base_runs), per_unit(&s.cand_runs));
        let positive = (
            median(&base_raw.concat()) > 0.0,
            median(&cand_raw.concat()) > 0.0,
        );
        let (runs, cand_runs) = (logs(base_raw), logs(cand_raw));
        let (pooled, cand) = (centre(&runs.concat()), cand_runs.concat());
        let cand_pooled = centre(&cand);
        let deviations = |runs: &[Vec<f64>], from: f64| -> Vec<f64> {
            runs.iter()
                .map(|r| signed(s.better, from, centre(r)))
                .collect()
        };
        let run_worse = match s.unit {
            Unit::Repeat => deviations(&runs, pooled),
            Unit::Run => Vec::new(),
        };
        let cand_spread = match s.unit {
            Unit::Repeat => deviations(&cand_runs, cand_pooled)
                .into_iter()
                .fold(0.0f64, |m, v| m.max(v.abs())),
            Unit::Run => 0.0,
        };
        let linear = |positive: bool, log: f64| if positive { log.exp() } else { 0.0 };
        Logs {
            worse: signed(s.better, pooled, cand_pooled),
            usable: s.unusable.is_none() && positive.0 && !cand.is_empty(),
            base_centre: linear(positive.0, pooled),
            cand_centre: linear(positive.1, cand_pooled),
            runs,
            cand_runs,
            cand,
            run_worse,
            cand_spread,
        }
    }

    fn base_n(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }
}

/// The noise scale of a metric on one target: the median pairwise difference between samples of
/// one run (each baseline run, and each candidate run), over every usable check of the metric on
/// that target, as a standard deviation. Per target, because targets differ in noise (an fsync per
/// write swings far more than memory). None when no run has two samples.
pub(super) fn scale(metrics: &[Samples], logs: &[Logs], metric: &str, group: &str) -> Option<f64> {
    let mut diffs = Vec::new();
    let mine = |s: &Samples, l: &Logs| s.metric == metric && s.group == group && l.usable;
    for (_, l) in metrics.iter().zip(logs).filter(|(s, l)| mine(s, l)) {
        for run in l.runs.iter().chain(&l.cand_runs) {
            for (i, a) in run.iter().enumerate() {
                diffs.extend(run[i + 1..].iter().map(|b| (a - b).abs()));
            }
        }
    }
    // For normal noise, |a − b| has median 0.6745·√2·σ.
    (!diffs.is_empty()).then(|| median(&diffs) / (0.674_49 * std::f64::consts::SQRT_2))
}

/// One target's shift for one metric.
pub(super) struct Level {
    worse: f64,
    configs: usize,
    /// Each baseline run's own shift (run order), for the configurations' bands.
    run_levels: Vec<f64>,
    band: f64,
    measured: bool,
    better: Better,
    threshold: f64,
}

/// The shift of `group` (median of its configurations' changes), when it has enough of them.
pub(super) fn level(
    metrics: &[Samples],
    logs: &[Logs],
    metric: &str,
    group: &str,
) -> Option<Level> {
    let members: Vec<(&Samples, &Logs)> = metrics
        .iter()
        .zip(logs)
        .filter(|(s, l)| s.metric == metric && s.group == group && l.usable)
        .collect();
    if members.len() < MIN_GROUP {
        return None;
    }
    let worse = median(&members.iter().map(|(_, l)| l.worse).collect::<Vec<_>>());
    let runs = members
        .iter()
        .map(|(_, l)| l.run_worse.len())
        .min()
        .unwrap_or(0);
    let run_levels: Vec<f64> = (0..runs)
        .map(|r| {
            median(
                &members
                    .iter()
                    .map(|(_, l)| l.run_worse[r])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let (s, _) = members[0];
    let (band, measured) = if runs >= 3 {
        let b = run_levels.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        (fraction(s.better, b).abs(), true)
    } else {
        (s.shared_band, false)
    };
    Some(Level {
        worse,
        configs: members.len(),
        run_levels,
        band,
        measured,
        better: s.better,
        threshold: s.threshold,
    })
}

impl Level {
    pub(super) fn shift(self, metric: &'static str, group: String) -> Shift {
        let (better, th) = (self.better, self.threshold);
        let worse_by = fraction(better, self.worse);
        let status = if worse_by <= th {
            ShiftStatus::Ok
        } else if self.worse <= log_of(better, self.band) {
            ShiftStatus::WithinBand
        } else {
            ShiftStatus::Regression
        };
        Shift {
            metric,
            group,
            configs: self.configs,
            worse_by,
            band: self.band,
            measured: self.measured,
            status,
        }
    }
}

/// Medians, own change, p-value and band; marks what cannot be judged. A check past its threshold
/// that can be judged is left `WithinNoise` for Holm to settle.
pub(super) fn first_look(
    s: &Samples,
    l: &Logs,
    level: Option<&Level>,
    scale: Option<f64>,
    first: f64,
) -> Check {
    let own = l.worse - level.map_or(0.0, |v| v.worse);
    let (n_base, n_cand) = (l.base_n(), l.cand.len());
    let p = p_value(s, l, level, scale, first);
    let of = |w: f64| {
        if l.base_centre > 0.0 {
            fraction(s.better, w)
        } else {
            0.0
        }
    };
    let (worse_by, own_by) = (of(l.worse), of(own));
    let need = match s.unit {
        Unit::Repeat => n_base.min(n_cand) < MIN_REPEATS,
        Unit::Run => n_base < MIN_REPEATS,
    };
    let status = if !l.usable {
        match &s.unusable {
            Some(why) if worse_by > s.threshold => Status::TooFew(why.clone()),
            _ => Status::Ok,
        }
    } else if own_by <= s.threshold {
        Status::Ok
    } else if need || scale.is_none() {
        Status::TooFew(too_few(s.unit, n_base, n_cand))
    } else {
        Status::WithinNoise { p, band: None }
    };
    Check {
        base_centre: l.base_centre,
        cand_centre: l.cand_centre,
        worse_by,
        own_by,
        p,
        band: band(s, l, level),
        status,
    }
}

/// The one-sided p-value of the own change: the z-test, or twice the smaller of it and the rank
/// test where the rank test can reach Holm's first step (`first`).
fn p_value(s: &Samples, l: &Logs, level: Option<&Level>, scale: Option<f64>, first: f64) -> f64 {
    let shared = level.map_or(0.0, |v| v.worse);
    let own = l.worse - shared;
    // The shift is itself a median of noisy changes: its variance adds to the own change's.
    let shift_var = level.map_or(0.0, |v| median_var(v.configs));
    let var = (centre_var(l.base_n()) + centre_var(l.cand.len())) * (1.0 + shift_var);
    let p_z = match scale.map(|sd| sd * var.sqrt()) {
        Some(se) if se > 0.0 => 1.0 - normal_cdf(own / se),
        _ if own > 0.0 && scale.is_some() => 0.0,
        _ => 1.0,
    };
    // The rank test on the candidate moved back by its target's shift.
    let back = match s.better {
        Better::Higher => shared,
        Better::Lower => -shared,
    };
    let adjusted: Vec<f64> = l.cand.iter().map(|v| v + back).collect();
    // Repeats of one run share that run's own level, so ranking them against another run's
    // treats a run's stray as evidence: the rank test needs a baseline of several runs.
    if l.runs.len() < 2 && s.unit == Unit::Repeat {
        return p_z;
    }
    match rank::p_worse(&l.runs.concat(), &adjusted, s.better, first) {
        Some(p_rank) => (2.0 * p_rank.min(p_z)).min(1.0),
        None => p_z,
    }
}

/// Each baseline run's own deviation (its target's shift in that run taken out) and how far the
/// candidate's own runs spread, when a side has several runs: the largest, as a fraction.
fn band(s: &Samples, l: &Logs, level: Option<&Level>) -> Option<f64> {
    let base_band = (l.run_worse.len() >= 2).then(|| {
        let dev = |(r, w): (usize, &f64)| w - level.map_or(0.0, |v| v.run_levels[r]);
        l.run_worse
            .iter()
            .enumerate()
            .map(dev)
            .fold(0.0f64, |m, v| m.max(v.abs()))
    });
    let cand_band = (l.cand_runs.len() >= 2).then_some(l.cand_spread);
    base_band
        .into_iter()
        .chain(cand_band)
        .reduce(f64::max)
        .map(|b| fraction(s.better, b).abs())
}

/// What would let a check be judged.
fn too_few(unit: Unit, base: usize, cand: usize) -> String {
    match unit {
        Unit::Repeat => format!(
            "{base} vs {cand} repeats: judging needs {MIN_REPEATS} or more on each side (--repeat {MIN_REPEATS})"
        ),
        Unit::Run => format!(
            "{base} baseline run{}: a searched rate is judged against {MIN_REPEATS} or more runs",
            if base == 1 { "" } else { "s" }
        ),
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Φ(z) via erfc (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7: plenty for a 5 % decision).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}
