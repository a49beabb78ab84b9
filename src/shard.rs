//! `--shard I/N`: this process is one of N load generators acting as one run (one per machine, or
//! the pods of a Kubernetes Indexed Job). Every shard runs the same tests and options; the run's
//! totals (`-n`, `--rps`) are split exactly, remainders to the first shards, so the shares add up to
//! what one process would have sent. `rbench merge` adds the shards' result folders back into one.

use std::fmt;

/// Shard `index` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// More shards than this is a typo, not a deployment (and keeps every share's arithmetic small).
pub const MAX_SHARDS: u32 = 10_000;

impl Shard {
    /// `I/N` with 0 ≤ I < N.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes I/N with 0 <= I < N (e.g. 0/3), got `{s}`");
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("--shard {s}: a run has at least 1 shard"));
        }
        if count > MAX_SHARDS {
            return Err(format!("--shard {s}: at most {MAX_SHARDS} shards"));
        }
        if index >= count {
            return Err(format!(
                "--shard {s}: shards are numbered from 0, so the last of {count} is {}/{count}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `total`: `total / N`, plus one for the first `total % N` shards.
    pub fn share(&self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }

    /// This shard's part of a rate. Whole rates split as counts do (so `--rps 1000` over 3 shards is
    /// 334 + 333 + 333); a fractional rate splits evenly.
    pub fn share_rate(&self, rate: f64) -> f64 {
        if rate.fract() == 0.0 && rate <= u64::MAX as f64 {
            self.share(rate as u64) as f64
        } else {
            rate / f64::from(self.count)
        }
    }

    /// A seed of this shard's own, so shards draw different keys from the same key space
    /// (splitmix64 of the run's seed and the index: nearby seeds give unrelated streams).
    pub fn seed(&self, seed: u64) -> u64 {
        let mut z = seed ^ u64::from(self.index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A run id given with `--run-id`: it names files, so it keeps to `[A-Za-z0-9._-]`.
pub fn check_run_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--run-id must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with .), got `{id}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, count: 3 }));
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
        for bad in [
            "3/3", "0/0", "1", "a/3", "-1/3", "1/-3", "", "1/3/4", "0/10001",
        ] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("3/3").unwrap_err().contains("2/3"));
    }

    #[test]
    fn shares_add_up_exactly_with_remainders_first() {
        for n in 1..=7u32 {
            for total in [0u64, 1, 2, 6, 7, 100_000, 100_001, 99_999_999] {
                let shares: Vec<u64> = (0..n)
                    .map(|index| Shard { index, count: n }.share(total))
                    .collect();
                assert_eq!(shares.iter().sum::<u64>(), total, "{total} over {n}");
                assert!(shares.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            }
        }
        let s = |index| Shard { index, count: 3 };
        assert_eq!(
            [s(0), s(1), s(2)].map(|s| s.share_rate(1000.0)),
            [334.0, 333.0, 333.0]
        );
        assert!((s(1).share_rate(10.5) - 3.5).abs() < 1e-12);
    }

    #[test]
    fn seeds_differ_per_shard() {
        let seeds: Vec<u64> = (0..4)
            .map(|index| Shard { index, count: 4 }.seed(42))
            .collect();
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| a != b));
        }
        assert_eq!(Shard { index: 1, count: 4 }.seed(42), seeds[1]);
    }

    #[test]
    fn run_ids() {
        assert!(check_run_id("20261204T090000Z-s3").is_ok());
        for bad in ["", ".x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
    }
}
