use super::model::fraction;
use super::*;

/// A deterministic "noisy" sample: `n` values around `center` with relative spread `spread`.
pub(super) fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            center * (1.0 + spread * (2.0 * u - 1.0))
        })
        .collect()
}

fn rps(group: &str, base_runs: Vec<Vec<f64>>, cand: Vec<f64>) -> Samples {
    Samples {
        metric: "rps",
        group: group.into(),
        base_runs,
        cand_runs: vec![cand],
        base_rounds: Vec::new(),
        cand_rounds: Vec::new(),
        better: Better::Higher,
        unit: Unit::Repeat,
        threshold: 0.05,
        shared_band: 0.35,
        unusable: None,
    }
}

/// A target of five tests, 3 repeats a side, ±6 % noise; test `hit` scaled by `factor` on the
/// candidate, and every candidate value by `all`.
fn target(name: &str, seed: u64, hit: usize, factor: f64, all: f64) -> Vec<Samples> {
    (0..5)
        .map(|t| {
            let center = 100_000.0 * (1.0 + t as f64 / 10.0);
            let base = noisy(center, 0.06, 3, seed * 100 + t as u64);
            let f = if t == hit { factor * all } else { all };
            let cand = noisy(center * f, 0.06, 3, seed * 100 + 50 + t as u64);
            rps(name, vec![base], cand)
        })
        .collect()
}

fn regressed(j: &Judged) -> usize {
    j.checks
        .iter()
        .filter(|c| matches!(c.status, Status::Regression { .. }))
        .count()
        + j.shifts
            .iter()
            .filter(|s| s.status == ShiftStatus::Regression)
            .count()
}

#[test]
fn holm_steps_down() {
    assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
    assert_eq!(holm(&[0.01, 0.02, 0.03], 0.05), vec![true, true, true]);
    assert_eq!(holm(&[0.02, 0.5], 0.05), vec![true, false]);
    assert_eq!(holm(&[0.03, 0.5], 0.05), vec![false, false]);
    assert!(holm(&[], 0.05).is_empty());
}

#[test]
fn same_code_passes_and_a_one_test_drop_of_20_percent_fails_at_3_repeats() {
    // Three targets of five tests, 3 repeats against 3, ±6 % noise: a same-code comparison
    // rarely fails; a 20 % drop in one test is flagged, in that test only.
    let (mut alarms, mut caught, mut stray) = (0, 0, 0);
    for seed in 0..100 {
        let same: Vec<Samples> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .flat_map(|(i, t)| target(t, seed * 3 + i as u64, 0, 1.0, 1.0))
            .collect();
        alarms += usize::from(regressed(&judge_all(&same)) > 0);
        let mut hit = same.clone();
        hit[7].cand_runs[0] = hit[7].cand_runs[0].iter().map(|v| v * 0.8).collect();
        let j = judge_all(&hit);
        let hit7 = matches!(j.checks[7].status, Status::Regression { .. });
        caught += usize::from(hit7);
        stray += usize::from(regressed(&j) > usize::from(hit7));
    }
    assert!(alarms <= 10, "{alarms} false alarms in 100");
    assert!(stray <= 5, "{stray} other configurations flagged in 100");
    assert!(caught >= 90, "a 20 % drop caught {caught} times in 100");
}

#[test]
fn a_target_that_moves_as_a_whole_is_its_shift_judged_against_the_band() {
    // Every test of one target 20 % down: its own changes are nil; the shift is within the
    // ±35 % a single baseline run allows.
    let j = judge_all(&target("a", 1, 0, 1.0, 0.8));
    assert_eq!(regressed(&j), 0, "{j:?}");
    assert_eq!(j.shifts.len(), 1);
    let s = &j.shifts[0];
    assert_eq!(s.status, ShiftStatus::WithinBand);
    assert!((s.worse_by - 0.2).abs() < 0.06, "{s:?}");
    assert!(!s.measured);
    // 45 % down (AOF always in place of everysec) is past any band: a regression.
    let j = judge_all(&target("a", 1, 0, 1.0, 0.55));
    assert_eq!(j.shifts[0].status, ShiftStatus::Regression);
    // A whole target faster is fine.
    let j = judge_all(&target("a", 1, 0, 1.0, 1.3));
    assert_eq!(j.shifts[0].status, ShiftStatus::Ok);
}

#[test]
fn one_stalled_repeat_does_not_move_a_median() {
    let mut set = target("a", 3, 0, 1.0, 1.0);
    set[2].cand_runs[0][1] *= 0.6;
    let j = judge_all(&set);
    assert_eq!(regressed(&j), 0, "{j:?}");
}

#[test]
fn a_drop_inside_the_nights_own_spread_is_noise() {
    // Baseline nights vary ±12 % on test 0 alone; tonight 10 % down there is past 5 % and
    // significant against the repeats, but no worse than a baseline night was.
    let nights = [1.0, 1.12, 0.88, 1.04, 0.96];
    let set: Vec<Samples> = (0..4)
        .map(|t| {
            let runs = nights
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    let m = if t == 0 { *m } else { 1.0 };
                    noisy(100.0 * m, 0.01, 6, k as u64 + 10 * t)
                })
                .collect();
            let f = if t == 0 { 0.9 } else { 1.0 };
            rps("a", runs, noisy(100.0 * f, 0.01, 6, 99 + t))
        })
        .collect();
    let j = judge_all(&set);
    match &j.checks[0].status {
        Status::WithinNoise { band: Some(b), .. } => assert!(*b > 0.1, "{b}"),
        s => panic!("{s:?}"),
    }
    // The nights measured the target's shift band themselves.
    assert!(j.shifts[0].measured);
}

#[test]
fn tiny_samples_say_so() {
    // One sample each: a 50 % drop cannot be told from noise.
    let j = judge_all(&[rps("a", vec![vec![100.0]], vec![50.0])]);
    assert_eq!(
        j.checks[0].status,
        Status::TooFew("1 vs 1 repeats: judging needs 3 or more on each side (--repeat 3)".into())
    );
    // Small changes are simply ok, however few the samples.
    let j = judge_all(&[rps("a", vec![vec![100.0]], vec![99.0])]);
    assert_eq!(j.checks[0].status, Status::Ok);
    // Unusable samples (e.g. a p99 of too few requests) give their reason.
    let mut s = rps("a", vec![noisy(1.0, 0.1, 6, 1)], noisy(2.0, 0.1, 6, 2));
    s.better = Better::Lower;
    s.unusable = Some("p99 of < 10000 requests".into());
    let j = judge_all(&[s]);
    assert_eq!(
        j.checks[0].status,
        Status::TooFew("p99 of < 10000 requests".into())
    );
    // A zero baseline judges nothing.
    let j = judge_all(&[rps("a", vec![vec![0.0; 3]], vec![5.0; 3])]);
    assert_eq!(j.checks[0].status, Status::Ok);
}

#[test]
fn a_searched_rate_is_one_sample_per_run() {
    let search = |runs: Vec<Vec<f64>>, cand: f64| Samples {
        unit: Unit::Run,
        ..rps("a", runs, vec![cand])
    };
    // One baseline run: not judged, however many repeats re-ran its rate.
    let j = judge_all(&[search(vec![vec![100.0; 3]], 70.0)]);
    assert!(matches!(j.checks[0].status, Status::TooFew(_)), "{j:?}");
    // Five nights of ±3 %: a 30 % lower rate is a regression, a 4 % one is not.
    let nights: Vec<Vec<f64>> = noisy(100.0, 0.03, 5, 4)
        .into_iter()
        .map(|v| vec![v])
        .collect();
    let j = judge_all(&[search(nights.clone(), 70.0)]);
    assert!(
        matches!(j.checks[0].status, Status::Regression { .. }),
        "{j:?}"
    );
    let j = judge_all(&[search(nights, 96.0)]);
    assert_eq!(j.checks[0].status, Status::Ok);
    // Met nowhere (0) after being met: a regression.
    let nights: Vec<Vec<f64>> = noisy(100.0, 0.03, 4, 5)
        .into_iter()
        .map(|v| vec![v])
        .collect();
    let j = judge_all(&[search(nights, 0.0)]);
    assert!(
        matches!(j.checks[0].status, Status::Regression { .. }),
        "{j:?}"
    );
}

#[test]
fn fractions_follow_the_metric() {
    assert!((fraction(Better::Higher, (1.25f64).ln()) - 0.2).abs() < 1e-12);
    assert!((fraction(Better::Lower, (1.3f64).ln()) - 0.3).abs() < 1e-12);
    assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
    assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
}

#[test]
fn normal_cdf_values() {
    assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
    assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
    assert!((normal_cdf(-2.326_348) - 0.01).abs() < 1e-6);
}

/// Three targets of five tests, `reps` repeats a side in one run each, with every round of a
/// target slowed by up to ±`swing` together and ±3 % noise of each test's own.
fn rounds_set(reps: usize, swing: f64, seed: u64) -> Vec<Samples> {
    let side = |run: &str, s: u64| -> (Vec<f64>, Vec<Round>) {
        let slow = noisy(1.0, swing, reps, s);
        let own = noisy(1.0, 0.03, reps, s + 7);
        let vals = slow
            .iter()
            .zip(&own)
            .map(|(a, b)| 100_000.0 * a * b)
            .collect();
        let tags = (1..=reps as u32)
            .map(|repeat| Round {
                run: run.into(),
                repeat,
            })
            .collect();
        (vals, tags)
    };
    (0..15)
        .map(|c| {
            let t = c / 5;
            let (b, bt) = side("base", seed * 10 + t as u64);
            let (mut k, kt) = side("cand", seed * 10 + 5 + t as u64);
            // Each test's own noise, not its round's.
            let jitter = noisy(1.0, 0.03, reps * 2, seed * 1000 + c as u64);
            let b = b.iter().zip(&jitter).map(|(v, j)| v * j).collect();
            k = k.iter().zip(&jitter[reps..]).map(|(v, j)| v * j).collect();
            Samples {
                base_rounds: vec![bt],
                cand_rounds: vec![kt],
                ..rps(&format!("t{t}"), vec![b], k)
            }
        })
        .collect()
}

#[test]
fn rounds_that_slow_a_whole_target_are_taken_out() {
    // Rounds swinging ±25 % for a whole target hide a 20 % drop of one test among 9 repeats;
    // taken out round by round, the drop stands out and same-code runs still pass.
    let (mut alarms, mut caught, mut blind) = (0, 0, 0);
    for seed in 0..40 {
        let same = rounds_set(9, 0.25, seed);
        alarms += usize::from(regressed(&judge_all(&same)) > 0);
        let mut hit = same.clone();
        hit[2].cand_runs[0] = hit[2].cand_runs[0].iter().map(|v| v * 0.8).collect();
        caught += usize::from(matches!(
            judge_all(&hit).checks[2].status,
            Status::Regression { .. }
        ));
        // The same drop without the rounds (an older file without `repeat`).
        for s in &mut hit {
            s.base_rounds.clear();
            s.cand_rounds.clear();
        }
        blind += usize::from(matches!(
            judge_all(&hit).checks[2].status,
            Status::Regression { .. }
        ));
    }
    assert!(alarms <= 4, "{alarms} false alarms in 40");
    assert!(caught >= 36, "a 20 % drop caught {caught} times in 40");
    assert!(blind < caught, "without rounds {blind}, with {caught}");
}

#[test]
fn runs_of_few_repeats_are_not_round_adjusted() {
    // With 3 repeats each centre is one of its samples: adjusting would understate the noise.
    let set = rounds_set(3, 0.25, 1);
    let (adjusted, groups) = rounds::adjust(&set);
    assert!(groups.is_empty());
    assert_eq!(adjusted[0].base_runs, set[0].base_runs);
}

#[test]
fn the_centre_trims_the_ends() {
    use super::model::centre;
    assert_eq!(centre(&[1.0, 2.0]), 1.5);
    assert_eq!(centre(&[3.0, 1.0, 100.0]), 3.0);
    // 10 samples: two dropped at each end.
    let v = [0.0, 50.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -40.0, 7.0];
    assert!((centre(&v) - 3.5).abs() < 1e-12);
}
