//! Generators for keys, members, value sizes and mix choices. Seeded per worker so runs are
//! reproducible with `--seed`; nothing here allocates per request.

use super::{DrawnArgs, Op, RAND_NTH, WorkloadError};

/// xoshiro256++: fast, small state, good enough statistics for load generation.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 spreads any seed (even 0) over the whole state.
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-64·n, irrelevant here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How keys are drawn from the key space.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyDist {
    Uniform,
    Zipf(f64),
    Seq,
}

impl KeyDist {
    pub fn parse(s: &str) -> Result<KeyDist, WorkloadError> {
        let bad = || WorkloadError::BadKeyDist(s.to_string());
        match s.trim().to_ascii_lowercase().as_str() {
            "uniform" | "random" => Ok(KeyDist::Uniform),
            "seq" | "sequential" => Ok(KeyDist::Seq),
            "zipf" => Ok(KeyDist::Zipf(0.99)),
            other => {
                let skew = other.strip_prefix("zipf:").ok_or_else(bad)?;
                let v: f64 = skew.parse().map_err(|_| bad())?;
                if v.is_finite() && v > 0.0 && v < 10.0 {
                    Ok(KeyDist::Zipf(v))
                } else {
                    Err(bad())
                }
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            KeyDist::Uniform => "uniform".into(),
            KeyDist::Seq => "seq".into(),
            KeyDist::Zipf(s) => format!("zipf:{s}"),
        }
    }
}

/// Zipf over ranks 1..=n by rejection-inversion (Hörmann & Derflinger 1996): O(1) per draw with no
/// table, so it works for key spaces of billions and any skew > 0 (including ≥ 1, where the
/// YCSB/Gray formula breaks down).
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    threshold: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Zipf {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            threshold: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n + 0.5);
        z.threshold = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        expm1_over_x((1.0 - self.s) * lx) * lx
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }

    /// A rank in 1..=n; rank 1 is the most popular.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + rng.unit() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// ln(1+x)/x, accurate near 0 (`helper1` in Apache Commons' rejection-inversion sampler).
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x − 1)/x, accurate near 0 (`helper2` in Apache Commons' rejection-inversion sampler).
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Value sizes: fixed, or uniform in a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSize {
    pub min: usize,
    pub max: usize,
}

impl DataSize {
    pub const MAX_BYTES: usize = 512 * 1024 * 1024;

    pub fn parse(s: &str) -> Result<DataSize, WorkloadError> {
        let bad = || WorkloadError::BadDataSize(s.to_string());
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
        let (min, max) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let v = num(s)?;
                (v, v)
            }
        };
        if min > max || max > Self::MAX_BYTES {
            return Err(bad());
        }
        Ok(DataSize { min, max })
    }

    pub fn label(&self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}-{}", self.min, self.max)
        }
    }
}

impl Default for DataSize {
    fn default() -> Self {
        DataSize { min: 3, max: 3 }
    }
}

/// Picks commands by weight (cumulative table; mixes are short, so a scan beats anything clever).
#[derive(Clone, Debug)]
pub struct MixChooser {
    cumulative: Vec<u64>,
    total: u64,
}

impl MixChooser {
    pub fn new(weights: &[u32]) -> MixChooser {
        let mut acc = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                acc += w as u64;
                acc
            })
            .collect();
        MixChooser {
            cumulative,
            total: acc.max(1),
        }
    }

    /// Index of the chosen command.
    #[inline]
    pub fn pick(&self, rng: &mut Rng) -> usize {
        if self.cumulative.len() <= 1 {
            return 0;
        }
        let x = rng.below(self.total);
        self.cumulative
            .iter()
            .position(|&c| x < c)
            .unwrap_or(self.cumulative.len() - 1)
    }
}

/// Draws keys, members, value lengths and commands for one worker.
pub struct Generator {
    rng: Rng,
    keyspace: u64,
    dist: KeyDist,
    zipf: Option<Zipf>,
    seq_next: u64,
    sizes: DataSize,
    mix: MixChooser,
    /// Per command: which `__rand_Nth__` keys it uses (bit i: the (i+1)th).
    nth_masks: Vec<u16>,
    /// `--key-dist seq`: each `__rand_Nth__` walks the key space on its own, as in valkey-benchmark.
    seq_nth: [u64; RAND_NTH],
}

impl Generator {
    /// `worker` and `workers` spread sequential starting points so workers do not write the same keys.
    pub fn new(
        seed: u64,
        worker: u64,
        workers: u64,
        keyspace: u64,
        dist: &KeyDist,
        sizes: DataSize,
        weights: &[u32],
    ) -> Generator {
        let keyspace = keyspace.max(1);
        let zipf = match dist {
            KeyDist::Zipf(s) => Some(Zipf::new(keyspace, *s)),
            _ => None,
        };
        let start = (keyspace as u128 * worker as u128 / workers.max(1) as u128) as u64;
        Generator {
            rng: Rng::new(seed ^ worker.wrapping_mul(0xA24B_AED4_963E_E407)),
            keyspace,
            dist: dist.clone(),
            zipf,
            seq_next: start,
            sizes,
            mix: MixChooser::new(weights),
            nth_masks: Vec::new(),
            seq_nth: [start; RAND_NTH],
        }
    }

    /// Draws `__rand_Nth__` keys for the commands that use them (`masks[i]` for command i).
    pub fn with_rand_nth(mut self, masks: Vec<u16>) -> Generator {
        self.nth_masks = masks;
        self
    }

    #[inline]
    fn key(&mut self) -> u64 {
        let mut seq = self.seq_next;
        let k = self.key_from(&mut seq);
        self.seq_next = seq;
        k
    }

    /// A key by the distribution; `seq` is the sequence to advance for `--key-dist seq`.
    #[inline]
    fn key_from(&mut self, seq: &mut u64) -> u64 {
        match &self.dist {
            KeyDist::Uniform => self.rng.below(self.keyspace),
            KeyDist::Seq => {
                let k = *seq;
                *seq = (k + 1) % self.keyspace;
                k
            }
            KeyDist::Zipf(_) => match &self.zipf {
                Some(z) => z.sample(&mut self.rng) - 1,
                None => 0,
            },
        }
    }

    /// One request: which command (index into the run's command list), its key/member, value length.
    #[inline]
    pub fn draw(&mut self, ops: &[Op]) -> (usize, DrawnArgs, usize) {
        let idx = self.mix.pick(&mut self.rng);
        let key = if ops.get(idx).is_some_and(|o| o.has_key()) {
            self.key()
        } else {
            0
        };
        let member = self.rng.below(self.keyspace);
        let len = if self.sizes.min == self.sizes.max {
            self.sizes.min
        } else {
            self.sizes.min + self.rng.below((self.sizes.max - self.sizes.min + 1) as u64) as usize
        };
        let nth = match self.nth_masks.get(idx) {
            Some(&m) if m != 0 => self.nth_keys(m),
            _ => [0; RAND_NTH],
        };
        (idx, DrawnArgs { key, member, nth }, len)
    }

    /// Independent keys for the `__rand_Nth__` placeholders in `mask`.
    fn nth_keys(&mut self, mask: u16) -> [u64; RAND_NTH] {
        let mut out = [0; RAND_NTH];
        for (i, slot) in out.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                let mut seq = self.seq_nth[i];
                *slot = self.key_from(&mut seq);
                self.seq_nth[i] = seq;
            }
        }
        out
    }
}

/// One pre-filled payload buffer that every value is a slice of (the hot path never allocates: see
/// ARCHITECTURE.md, "Cross-cutting rules").
pub fn payload(max: usize) -> Vec<u8> {
    // 'x' like redis-benchmark, so server-side compression or dedup behaves the same for both tools.
    vec![b'x'; max]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_uniform() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[a.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn mix_weights_are_respected() {
        let m = MixChooser::new(&[3, 7]);
        let mut rng = Rng::new(7);
        let n = 200_000;
        let first = (0..n).filter(|_| m.pick(&mut rng) == 0).count() as f64 / n as f64;
        assert!((first - 0.3).abs() < 0.01, "share {first}");
        let m = MixChooser::new(&[1, 1, 1, 1]);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[m.pick(&mut rng)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_300..10_700).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn zipf_is_skewed_and_in_range() {
        for s in [0.5, 0.99, 1.0, 1.5] {
            let z = Zipf::new(1000, s);
            let mut rng = Rng::new(3);
            let mut hist = vec![0u32; 1001];
            for _ in 0..100_000 {
                let k = z.sample(&mut rng);
                assert!((1..=1000).contains(&k));
                hist[k as usize] += 1;
            }
            // Rank 1 is drawn more than rank 10, which is drawn more than rank 100: p(k) ∝ k^-s.
            let ratio = hist[1] as f64 / hist[10].max(1) as f64;
            let expect = 10f64.powf(s);
            assert!(
                (ratio / expect - 1.0).abs() < 0.35,
                "s={s} ratio {ratio} expect {expect}"
            );
            assert!(hist[10] > hist[100]);
        }
    }

    #[test]
    fn seq_wraps_and_spreads_workers() {
        let mut g = Generator::new(1, 1, 2, 4, &KeyDist::Seq, DataSize::default(), &[1]);
        let keys: Vec<u64> = (0..5).map(|_| g.draw(&[Op::Set]).1.key).collect();
        assert_eq!(keys, vec![2, 3, 0, 1, 2]);
    }

    #[test]
    fn rand_nth_keys_are_drawn_apart() {
        let mut g = Generator::new(
            1,
            0,
            1,
            1_000_000,
            &KeyDist::Uniform,
            DataSize::default(),
            &[1],
        )
        .with_rand_nth(vec![0b1_0000_0001]);
        let (_, d, _) = g.draw(&[Op::Custom]);
        assert!(d.nth[0] != d.nth[8] && d.nth[0] != d.key, "{d:?}");
        assert_eq!(d.nth[1..8], [0; 7]);
        // Sequential: each placeholder walks the key space on its own.
        let mut g = Generator::new(1, 0, 1, 3, &KeyDist::Seq, DataSize::default(), &[1])
            .with_rand_nth(vec![0b11]);
        let draws: Vec<_> = (0..4).map(|_| g.draw(&[Op::Custom]).1).collect();
        let seqs: Vec<_> = draws.iter().map(|d| (d.key, d.nth[0], d.nth[1])).collect();
        assert_eq!(seqs, [(0, 0, 0), (1, 1, 1), (2, 2, 2), (0, 0, 0)]);
        // Commands without them draw none.
        let mut g = Generator::new(1, 0, 1, 10, &KeyDist::Uniform, DataSize::default(), &[1]);
        assert_eq!(g.draw(&[Op::Custom]).1.nth, [0; RAND_NTH]);
    }

    #[test]
    fn parses_sizes_and_dists() {
        assert_eq!(
            DataSize::parse("16-512").unwrap(),
            DataSize { min: 16, max: 512 }
        );
        assert_eq!(DataSize::parse("3").unwrap().label(), "3");
        for bad in ["", "a", "5-1", "-3", "1-", "999999999999"] {
            assert!(DataSize::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(KeyDist::parse("zipf").unwrap(), KeyDist::Zipf(0.99));
        assert_eq!(KeyDist::parse("zipf:1.2").unwrap(), KeyDist::Zipf(1.2));
        assert_eq!(KeyDist::parse("seq").unwrap(), KeyDist::Seq);
        for bad in ["zipf:0", "zipf:x", "gauss", "zipf:-1"] {
            assert!(KeyDist::parse(bad).is_err(), "{bad}");
        }
        let mut g = Generator::new(
            1,
            0,
            1,
            10,
            &KeyDist::Uniform,
            DataSize { min: 5, max: 9 },
            &[1],
        );
        for _ in 0..1000 {
            let (_, d, len) = g.draw(&[Op::Set]);
            assert!((5..=9).contains(&len) && d.key < 10);
        }
    }
}
