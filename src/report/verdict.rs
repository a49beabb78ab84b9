//! The regression verdict, shared by `rbench compare` and `rbench nightly`.
//!
//! A configuration regresses only when its change is past the user's threshold **and** unlikely to be
//! noise. Noise is judged twice, because a benchmark has two kinds:
//! - within a run, between repeats: a one-sided **Mann–Whitney U** rank test of the candidate's
//!   repeats against every baseline repeat. Ranks, not means, because throughput noise on a shared
//!   machine is skewed (a stalled second makes one repeat 30 % slow, never 30 % fast) and p99 is
//!   heavy-tailed; the test assumes no distribution, and is exact for the small samples nightly
//!   jobs have. The p-values of all checks in one comparison are **Holm**-corrected, so a nightly
//!   run of 10 configurations × 2 metrics is not 20 chances of a false alarm.
//! - between runs (nights): when the baseline holds several runs, their medians spread around the
//!   pooled median; a change no larger than that spread is what a same-code night already did.
//!
//! A check whose samples cannot reach significance even if perfectly separated says "too few
//! samples" instead of guessing; a p99 from fewer than `P99_MIN_REQUESTS` replies says so too.

/// Family-wise false-alarm rate of one comparison (Holm over all its checks).
pub const ALPHA: f64 = 0.05;

/// A p99 needs ~100 replies above it to mean something.
pub const P99_MIN_REQUESTS: f64 = 10_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One metric of one configuration: the samples on both sides.
#[derive(Clone, Debug)]
pub struct Samples {
    /// Every baseline repeat, of every baseline run.
    pub base: Vec<f64>,
    /// The median of each baseline run (night), for the between-run spread.
    pub base_runs: Vec<f64>,
    pub cand: Vec<f64>,
    pub better: Better,
    /// Largest tolerated change in the bad direction, as a fraction.
    pub threshold: f64,
    /// Why the samples cannot be judged at all (e.g. a p99 of too few requests).
    pub unusable: Option<String>,
}

/// What one check concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Not past the threshold in the bad direction.
    Ok,
    /// Past the threshold, but the samples cannot tell it from noise.
    TooFew(String),
    /// Past the threshold, but not beyond noise: the rank test did not reject (`band` None), or it
    /// did but the baseline runs themselves spread that far (`band`: their largest deviation).
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
    pub base_median: f64,
    pub cand_median: f64,
    /// How much worse the candidate's median is, as a fraction (negative: better).
    pub worse_by: f64,
    /// One-sided p-value that the candidate is worse, unadjusted.
    pub p: f64,
    pub band: Option<f64>,
    pub status: Status,
}

/// Judges every metric of a comparison together (Holm needs them all).
pub fn judge_all(metrics: &[Samples]) -> Vec<Check> {
    let m = metrics.len().max(1);
    let level = ALPHA / m as f64;
    let mut checks: Vec<Check> = metrics.iter().map(|s| first_look(s, level)).collect();
    let rejected = holm(&checks.iter().map(|c| c.p).collect::<Vec<_>>(), ALPHA);
    for (i, c) in checks.iter_mut().enumerate() {
        if c.status != Status::Ok || metrics[i].unusable.is_some() {
            continue;
        }
        let s = &metrics[i];
        if c.worse_by <= s.threshold {
            continue;
        }
        let beyond_band = c.band.is_none_or(|b| c.worse_by > b);
        c.status = match (rejected[i], beyond_band) {
            (true, true) => Status::Regression { p: c.p },
            (true, false) => Status::WithinNoise {
                p: c.p,
                band: c.band,
            },
            (false, _) => Status::WithinNoise { p: c.p, band: None },
        };
    }
    checks
}

/// Medians, change and p-value; marks checks that cannot be judged.
fn first_look(s: &Samples, level: f64) -> Check {
    let base_median = median(&s.base);
    let cand_median = median(&s.cand);
    let worse_by = relative_worse(base_median, cand_median, s.better);
    let p = if s.base.is_empty() || s.cand.is_empty() {
        1.0
    } else {
        mann_whitney_worse(&s.base, &s.cand, s.better)
    };
    let band = (s.base_runs.len() >= 2 && base_median > 0.0).then(|| {
        s.base_runs
            .iter()
            .map(|r| (r / base_median - 1.0).abs())
            .fold(0.0, f64::max)
    });
    let past = worse_by > s.threshold;
    let status = match &s.unusable {
        Some(why) if past => Status::TooFew(why.clone()),
        _ if past && min_p(s.cand.len(), s.base.len()) > level => {
            Status::TooFew(format!("{} vs {} samples", s.base.len(), s.cand.len()))
        }
        _ => Status::Ok,
    };
    Check {
        base_median,
        cand_median,
        worse_by,
        p,
        band,
        status,
    }
}

fn relative_worse(base: f64, cand: f64, better: Better) -> f64 {
    if base <= 0.0 {
        return 0.0; // nothing measured: no change can be judged
    }
    match better {
        Better::Higher => (base - cand) / base,
        Better::Lower => (cand - base) / base,
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

/// The smallest one-sided p-value `n1` vs `n2` samples can give: 1 / C(n1 + n2, n1).
pub fn min_p(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (k, n) = (n1.min(n2), n1 + n2);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    1.0 / c
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

/// One-sided Mann–Whitney p-value that `cand` is worse than `base` (lower when higher is better).
/// Exact (no ties assumed, ties counted as half) for small samples, normal with tie correction
/// beyond.
pub fn mann_whitney_worse(base: &[f64], cand: &[f64], better: Better) -> f64 {
    // u2 = twice U, so ties (½) stay integers: the pairs where the candidate is *better*.
    let mut u2: u64 = 0;
    for &c in cand {
        for &b in base {
            let better_pair = match better {
                Better::Higher => c > b,
                Better::Lower => c < b,
            };
            u2 += if better_pair {
                2
            } else if c == b {
                1
            } else {
                0
            };
        }
    }
    let (n1, n2) = (cand.len(), base.len());
    if n1 * n2 <= 2500 {
        // A half-count rounds up: the conservative side.
        let u = u2.div_ceil(2) as usize;
        let counts = u_distribution(n1, n2);
        let total: f64 = counts.iter().sum();
        counts[..=u.min(counts.len() - 1)].iter().sum::<f64>() / total
    } else {
        normal_approx(u2 as f64 / 2.0, base, cand)
    }
}

/// Number of orderings of n1 vs n2 distinct values giving each U = 0..=n1·n2 (the coefficients of
/// the Gaussian binomial): f(i, j, u) = f(i−1, j, u−j) + f(i, j−1, u).
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    let width = n1 * n2 + 1;
    // prev[j][u] = f(i−1, j, u); cur[j][u] = f(i, j, u).
    let mut prev = vec![vec![0.0f64; width]; n2 + 1];
    for row in prev.iter_mut() {
        row[0] = 1.0; // f(0, j, 0) = 1
    }
    for _i in 1..=n1 {
        let mut cur = vec![vec![0.0f64; width]; n2 + 1];
        cur[0][0] = 1.0; // f(i, 0, 0) = 1
        for j in 1..=n2 {
            for u in 0..width {
                let from_i = if u >= j { prev[j][u - j] } else { 0.0 };
                cur[j][u] = from_i + cur[j - 1][u];
            }
        }
        prev = cur;
    }
    prev.swap_remove(n2)
}

fn normal_approx(u: f64, base: &[f64], cand: &[f64]) -> f64 {
    let (n1, n2) = (cand.len() as f64, base.len() as f64);
    let n = n1 + n2;
    let mut all: Vec<f64> = base.iter().chain(cand).copied().collect();
    all.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < all.len() {
        let j = all[i..].iter().take_while(|v| **v == all[i]).count();
        let t = j as f64;
        ties += t * t * t - t;
        i += j;
    }
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u + 0.5 - n1 * n2 / 2.0) / var.sqrt();
    normal_cdf(z)
}

/// Φ(z) via erfc (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7: plenty for a 5 % decision).
fn normal_cdf(z: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic "noisy" sample: `n` values around `center` with relative spread `spread`.
    fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
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

    fn rps(base: Vec<f64>, runs: Vec<f64>, cand: Vec<f64>) -> Samples {
        Samples {
            base,
            base_runs: runs,
            cand,
            better: Better::Higher,
            threshold: 0.05,
            unusable: None,
        }
    }

    #[test]
    fn u_distribution_matches_known_counts() {
        // 2 vs 2: orderings with U = 0..4 are 1,1,2,1,1 (C(4,2) = 6 in all).
        assert_eq!(u_distribution(2, 2), vec![1.0, 1.0, 2.0, 1.0, 1.0]);
        // Totals are binomial coefficients; the distribution is symmetric.
        let d = u_distribution(5, 7);
        assert_eq!(d.iter().sum::<f64>(), 792.0);
        let rev: Vec<f64> = d.iter().rev().copied().collect();
        assert_eq!(d, rev);
        assert!((min_p(5, 7) - 1.0 / 792.0).abs() < 1e-15);
        assert!((min_p(6, 6) - 1.0 / 924.0).abs() < 1e-15);
    }

    #[test]
    fn mann_whitney_exact_and_normal_agree_with_textbook_values() {
        // Complete separation, 3 vs 3: p = 1/20.
        let p = mann_whitney_worse(&[10.0, 11.0, 12.0], &[1.0, 2.0, 3.0], Better::Higher);
        assert!((p - 0.05).abs() < 1e-12, "{p}");
        // The candidate is better: p near 1.
        let p = mann_whitney_worse(&[1.0, 2.0, 3.0], &[10.0, 11.0, 12.0], Better::Higher);
        assert!(p > 0.99, "{p}");
        // Lower is better mirrors it.
        let p = mann_whitney_worse(&[1.0, 2.0, 3.0], &[10.0, 11.0, 12.0], Better::Lower);
        assert!((p - 0.05).abs() < 1e-12, "{p}");
        // All tied: no evidence either way.
        let p = mann_whitney_worse(&[5.0; 4], &[5.0; 4], Better::Higher);
        assert!(p > 0.5, "{p}");
        // Large samples take the normal path; a clear shift is tiny, none is about ½.
        let base = noisy(100.0, 0.1, 60, 1);
        let p = mann_whitney_worse(&base, &noisy(80.0, 0.1, 60, 2), Better::Higher);
        assert!(p < 1e-6, "{p}");
        let p = mann_whitney_worse(&base, &noisy(100.0, 0.1, 60, 3), Better::Higher);
        assert!(p > 0.05 && p < 0.95, "{p}");
        // Normal approximation near the exact value where both apply (10 vs 10, shifted).
        let (b, c) = (noisy(100.0, 0.1, 10, 4), noisy(95.0, 0.1, 10, 5));
        let exact = mann_whitney_worse(&b, &c, Better::Higher);
        let u2: f64 = c
            .iter()
            .flat_map(|x| b.iter().map(move |y| if x > y { 1.0 } else { 0.0 }))
            .sum();
        let approx = normal_approx(u2, &b, &c);
        assert!((exact - approx).abs() < 0.02, "{exact} vs {approx}");
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
    fn identical_distributions_pass() {
        // Same code, same noise (±10 %): a false alarm needs a drop past 5 % *and* p < α, so at
        // most α of such comparisons fail (here 200 of them, deterministic samples).
        let mut alarms = 0;
        for seed in 0..200 {
            let base = noisy(100.0, 0.10, 30, seed);
            let runs: Vec<f64> = base.chunks(6).map(median).collect();
            let c = judge_all(&[rps(base, runs, noisy(100.0, 0.10, 6, seed + 1000))]);
            if matches!(c[0].status, Status::Regression { .. }) {
                alarms += 1;
            }
        }
        assert!(alarms <= 10, "{alarms} false alarms in 200");
        // Identical samples never fail.
        let same = noisy(100.0, 0.10, 6, 5);
        let c = judge_all(&[rps(same.clone(), vec![], same)]);
        assert_eq!(c[0].status, Status::Ok);
    }

    #[test]
    fn a_shifted_distribution_fails() {
        let base = noisy(100.0, 0.05, 30, 7);
        let runs: Vec<f64> = base.chunks(6).map(median).collect();
        let c = judge_all(&[rps(base, runs, noisy(80.0, 0.05, 6, 8))]);
        assert!(
            matches!(c[0].status, Status::Regression { p } if p < 0.001),
            "{:?}",
            c[0]
        );
        assert!((c[0].worse_by - 0.2).abs() < 0.05, "{:?}", c[0]);
    }

    #[test]
    fn a_drop_inside_the_nights_own_spread_is_noise() {
        // Baseline nights vary ±12 %; a candidate 10 % down is past 5 % and significant against
        // the pooled repeats, but no worse than a baseline night was.
        let mut base = Vec::new();
        for (k, m) in [100.0, 112.0, 88.0, 104.0, 96.0].iter().enumerate() {
            base.extend(noisy(*m, 0.01, 6, k as u64));
        }
        let runs: Vec<f64> = base.chunks(6).map(median).collect();
        let c = judge_all(&[rps(base, runs, noisy(90.0, 0.01, 6, 99))]);
        match &c[0].status {
            Status::WithinNoise { band: Some(b), .. } => assert!(*b > 0.1, "{b}"),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn tiny_samples_say_so() {
        // One sample each: a 50 % drop cannot be told from noise.
        let c = judge_all(&[rps(vec![100.0], vec![100.0], vec![50.0])]);
        assert_eq!(c[0].status, Status::TooFew("1 vs 1 samples".into()));
        // Small changes are simply ok, however few the samples.
        let c = judge_all(&[rps(vec![100.0], vec![], vec![99.0])]);
        assert_eq!(c[0].status, Status::Ok);
        // Unusable samples (e.g. a p99 of too few requests) give their reason.
        let mut s = rps(noisy(1.0, 0.1, 6, 1), vec![], noisy(2.0, 0.1, 6, 2));
        s.better = Better::Lower;
        s.unusable = Some("p99 of < 10000 requests".into());
        let c = judge_all(&[s]);
        assert_eq!(
            c[0].status,
            Status::TooFew("p99 of < 10000 requests".into())
        );
    }

    #[test]
    fn holm_spreads_alpha_over_all_checks() {
        // 5 vs 5 reaches p = 1/252 ≈ 0.004 at best: enough for one check (0.05), not for twenty
        // (0.0025 for the first step), which say "too few samples" instead.
        let one = judge_all(&[rps(
            noisy(100.0, 0.01, 5, 1),
            vec![],
            noisy(70.0, 0.01, 5, 2),
        )]);
        assert!(
            matches!(one[0].status, Status::Regression { .. }),
            "{one:?}"
        );
        let mut many = vec![rps(
            noisy(100.0, 0.01, 5, 1),
            vec![],
            noisy(70.0, 0.01, 5, 2),
        )];
        for k in 0..19 {
            many.push(rps(
                noisy(100.0, 0.01, 5, k),
                vec![],
                noisy(100.0, 0.01, 5, k + 50),
            ));
        }
        let c = judge_all(&many);
        assert!(matches!(c[0].status, Status::TooFew(_)), "{:?}", c[0]);
    }

    #[test]
    fn normal_cdf_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-2.326_348) - 0.01).abs() < 1e-6);
    }
}
