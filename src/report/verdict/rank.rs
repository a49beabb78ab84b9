//! The rank test: a one-sided Mann–Whitney U, exact for small samples. Scale-free, so a candidate
//! whose every repeat is below every baseline repeat is strong evidence however noisy the repeats
//! of other configurations are; it complements the z-test of `model`, which is what judges 3
//! repeats against 3 (the rank test cannot: 3 vs 3 gives p ≥ 0.05 at best).

use super::Better;
use super::model::normal_cdf;

/// One-sided p-value that `cand` is worse than `base`, or None when these sample sizes cannot reach
/// `level` however the samples fall (the test is then not used).
pub(super) fn p_worse(base: &[f64], cand: &[f64], better: Better, level: f64) -> Option<f64> {
    (min_p(cand.len(), base.len()) <= level).then(|| mann_whitney_worse(base, cand, better))
}

/// The smallest one-sided p-value `n1` vs `n2` samples can give: 1 / C(n1 + n2, n1).
fn min_p(n1: usize, n2: usize) -> f64 {
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

/// One-sided Mann–Whitney p-value that `cand` is worse than `base` (lower when higher is better).
/// Exact (no ties assumed, ties counted as half) for small samples, normal with tie correction
/// beyond.
fn mann_whitney_worse(base: &[f64], cand: &[f64], better: Better) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::super::tests::noisy;
    use super::*;

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
}
