//! Round adjustment: what one round did to a whole target, taken out of each of its samples.
//!
//! The repeats of a run go round the tests and the targets, so the tests of one target in one
//! repeat (a round) run back to back against one server within a second or two. On a shared
//! machine a slow moment then lowers all of them together: measured on a 2-core VM, the spread
//! between repeats of one test halves once each repeat is taken relative to its round (median
//! log deviation of the round's configurations from their own run's centre). A one-test regression
//! is untouched by this (the round's median ignores one configuration), while the noise it is
//! judged against shrinks.

use std::collections::BTreeMap;

use super::{MIN_GROUP, Round, Samples, Unit};

/// Repeats a run needs before its rounds are adjusted: each configuration's centre, from which a
/// round's deviations are taken, must not be one of few samples (with 3, the median is always
/// one of them, and the adjusted spread understates the noise by far).
pub const MIN_ROUNDS: usize = 5;

/// What adjusting did to a group: the fewest configurations any adjusted round had (0: none).
pub(super) type Adjusted = BTreeMap<(&'static str, String), usize>;

/// `metrics` with every repeat of a target (per metric) moved by its round's shift, where the
/// round has at least [`MIN_GROUP`] configurations measured in it; other samples as they were.
pub(super) fn adjust(metrics: &[Samples]) -> (Vec<Samples>, Adjusted) {
    let mut out = metrics.to_vec();
    let mut adjusted = Adjusted::new();
    let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, s) in metrics.iter().enumerate() {
        if s.unit == Unit::Repeat && s.unusable.is_none() {
            groups.entry((s.metric, &s.group)).or_default().push(i);
        }
    }
    for members in groups.values().filter(|m| m.len() >= MIN_GROUP) {
        let base = shifts(
            members
                .iter()
                .map(|&i| (&metrics[i].base_runs, &metrics[i].base_rounds)),
        );
        let cand = shifts(
            members
                .iter()
                .map(|&i| (&metrics[i].cand_runs, &metrics[i].cand_rounds)),
        );
        for &i in members {
            let s = &mut out[i];
            apply(&mut s.base_runs, &s.base_rounds, &base);
            apply(&mut s.cand_runs, &s.cand_rounds, &cand);
        }
        let fewest = base.values().chain(cand.values()).map(|(_, n)| *n).min();
        if let Some(n) = fewest {
            let s = &metrics[members[0]];
            adjusted.insert((s.metric, s.group.clone()), n);
        }
    }
    (out, adjusted)
}

/// Each round's shift on one side, and how many configurations it was taken over: the median,
/// over the configurations measured in the round, of a sample's log deviation from its run's
/// centre. Rounds with too few configurations, and runs of too few repeats, are left out.
fn shifts<'a>(
    members: impl Iterator<Item = (&'a Vec<Vec<f64>>, &'a Vec<Vec<Round>>)>,
) -> BTreeMap<&'a Round, (f64, usize)> {
    let mut devs: BTreeMap<&Round, Vec<f64>> = BTreeMap::new();
    for (runs, rounds) in members {
        let whole = |(r, t): &(&Vec<f64>, &Vec<Round>)| r.len() == t.len() && r.len() >= MIN_ROUNDS;
        for (run, tags) in runs.iter().zip(rounds).filter(whole) {
            let logs: Vec<f64> = run.iter().filter(|v| **v > 0.0).map(|v| v.ln()).collect();
            let centre = super::model::centre(&logs);
            for (v, tag) in run.iter().zip(tags).filter(|(v, _)| **v > 0.0) {
                devs.entry(tag).or_default().push(v.ln() - centre);
            }
        }
    }
    devs.into_iter()
        .filter(|(_, d)| d.len() >= MIN_GROUP)
        .map(|(tag, d)| (tag, (super::median(&d), d.len())))
        .collect()
}

fn apply(runs: &mut [Vec<f64>], rounds: &[Vec<Round>], shifts: &BTreeMap<&Round, (f64, usize)>) {
    for (run, tags) in runs
        .iter_mut()
        .zip(rounds)
        .filter(|(r, t)| r.len() == t.len())
    {
        for (v, tag) in run.iter_mut().zip(tags) {
            if let Some((s, _)) = shifts.get(tag) {
                *v *= (-s).exp();
            }
        }
    }
}
