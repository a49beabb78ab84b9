//! Generators for keys, members, value sizes and mix choices. Seeded per worker so runs are
//! reproducible with `--seed`; nothing here allocates per request.

use super::keys::{Sampler, Space};
use super::{DrawnArgs, RAND_NTH, WorkloadError};

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

pub use super::keys::KeyDist;

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

/// Value sizes: fixed, uniform in a range, or a weighted list (`32:60,1024:30`, memtier's
/// `--data-size-list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSize {
    pub min: usize,
    pub max: usize,
    /// (size, weight) pairs; empty unless a list was given.
    pub list: Vec<(usize, u32)>,
}

impl DataSize {
    pub const MAX_BYTES: usize = 512 * 1024 * 1024;

    pub fn fixed(n: usize) -> DataSize {
        DataSize {
            min: n,
            max: n,
            list: Vec::new(),
        }
    }

    pub fn parse(s: &str) -> Result<DataSize, WorkloadError> {
        let bad = || WorkloadError::BadDataSize(s.to_string());
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
        if s.contains(':') {
            return Self::parse_list(s);
        }
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
        Ok(DataSize {
            min,
            max,
            list: Vec::new(),
        })
    }

    /// `32:60,1024:30,16384:10`: sizes and their weights.
    fn parse_list(s: &str) -> Result<DataSize, WorkloadError> {
        let bad = || WorkloadError::BadDataSize(s.to_string());
        let mut list = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (size, weight) = part.split_once(':').ok_or_else(bad)?;
            let size: usize = size.trim().parse().map_err(|_| bad())?;
            let weight: u32 = weight.trim().parse().map_err(|_| bad())?;
            if size > Self::MAX_BYTES || weight == 0 {
                return Err(bad());
            }
            list.push((size, weight));
        }
        let min = list.iter().map(|p| p.0).min().ok_or_else(bad)?;
        let max = list.iter().map(|p| p.0).max().ok_or_else(bad)?;
        Ok(DataSize { min, max, list })
    }

    pub fn label(&self) -> String {
        if !self.list.is_empty() {
            let parts: Vec<String> = self.list.iter().map(|(s, w)| format!("{s}:{w}")).collect();
            return parts.join(",");
        }
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}-{}", self.min, self.max)
        }
    }
}

impl Default for DataSize {
    fn default() -> Self {
        DataSize::fixed(3)
    }
}

/// Draws value sizes for one command.
#[derive(Clone, Debug)]
struct SizeDraw {
    min: usize,
    span: u64,
    /// A weighted list: its sizes and chooser.
    list: Option<(Vec<usize>, MixChooser)>,
}

impl SizeDraw {
    fn new(d: &DataSize) -> SizeDraw {
        let list = (!d.list.is_empty()).then(|| {
            let weights: Vec<u32> = d.list.iter().map(|p| p.1).collect();
            (
                d.list.iter().map(|p| p.0).collect(),
                MixChooser::new(&weights),
            )
        });
        SizeDraw {
            min: d.min,
            span: (d.max - d.min) as u64 + 1,
            list,
        }
    }

    #[inline]
    fn draw(&self, rng: &mut Rng) -> usize {
        if let Some((sizes, pick)) = &self.list {
            return sizes[pick.pick(rng)];
        }
        if self.span == 1 {
            self.min
        } else {
            self.min + rng.below(self.span) as usize
        }
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

/// One drawn request: its lane, its arguments' numbers, its value length and TTL (ms).
#[derive(Clone, Copy, Debug, Default)]
pub struct Draw {
    pub lane: usize,
    pub args: DrawnArgs,
    pub len: usize,
    pub ttl_ms: u32,
}

/// What the generator draws for one command of a phase.
#[derive(Clone, Debug)]
pub struct LaneDraw {
    /// Its share of the phase (0: never drawn, a follow-up row).
    pub weight: u32,
    /// Its key space (an index into the phase's spaces); None: keyless.
    pub space: Option<usize>,
    pub sizes: DataSize,
    /// TTL range in milliseconds.
    pub ttl: Option<(u64, u64)>,
    /// Which `__rand_Nth__` keys it uses (bit i: the (i+1)th).
    pub nth_mask: u16,
}

/// Draws keys, members, value lengths, TTLs and commands for one worker.
pub struct Generator {
    rng: Rng,
    mix: MixChooser,
    lanes: Vec<LaneDraw>,
    sizes: Vec<SizeDraw>,
    /// One per key space of the phase (shared by the commands that name it).
    samplers: Vec<Sampler>,
    /// Members (and the salt of multi-key draws) are uniform over the first space's range.
    members: u64,
    /// `__rand_1st__` .. `__rand_9th__`: each walks (or draws from) the first space on its own,
    /// as in valkey-benchmark.
    nth: Vec<Sampler>,
}

impl Generator {
    /// `worker` and `workers` spread sequential starting points so workers do not write the same
    /// keys. `spaces` is never empty: the first is the phase's own (`-r`, `--key-dist`).
    pub fn new(
        seed: u64,
        (worker, workers): (u64, u64),
        spaces: &[Space],
        lanes: Vec<LaneDraw>,
    ) -> Generator {
        let samplers: Vec<Sampler> = spaces
            .iter()
            .map(|s| Sampler::new(s, worker, workers))
            .collect();
        let first = samplers.first().cloned().unwrap_or_else(|| {
            let one = Space {
                lo: 0,
                n: 1,
                dist: KeyDist::Uniform,
            };
            Sampler::new(&one, 0, 1)
        });
        let weights: Vec<u32> = lanes.iter().map(|l| l.weight).collect();
        Generator {
            rng: Rng::new(seed ^ worker.wrapping_mul(0xA24B_AED4_963E_E407)),
            mix: MixChooser::new(&weights),
            sizes: lanes.iter().map(|l| SizeDraw::new(&l.sizes)).collect(),
            members: spaces.first().map_or(1, |s| s.n.max(1)),
            nth: vec![first.clone(); RAND_NTH],
            samplers,
            lanes,
        }
    }

    /// One request: which command (index into the phase's lanes), its numbers, its value length.
    #[inline(always)]
    pub fn draw(&mut self) -> Draw {
        let idx = self.mix.pick(&mut self.rng);
        let Some(lane) = self.lanes.get(idx) else {
            return Draw::default();
        };
        let key = match lane.space.and_then(|s| self.samplers.get_mut(s)) {
            Some(s) => s.next(&mut self.rng),
            None => 0,
        };
        let member = self.rng.below(self.members);
        let len = self.sizes[idx].draw(&mut self.rng);
        let ttl_ms = match lane.ttl {
            Some((lo, hi)) if hi > lo => lo + self.rng.below(hi - lo + 1),
            Some((lo, _)) => lo,
            None => 0,
        };
        // Kept in 32 bits (49 days) so a request stays small enough to move without a memcpy.
        let ttl_ms = ttl_ms.min(u64::from(u32::MAX)) as u32;
        let nth = match lane.nth_mask {
            0 => [0; RAND_NTH],
            m => self.nth_keys(m),
        };
        Draw {
            lane: idx,
            args: DrawnArgs { key, member, nth },
            len,
            ttl_ms,
        }
    }

    /// Independent keys for the `__rand_Nth__` placeholders in `mask`.
    fn nth_keys(&mut self, mask: u16) -> [u64; RAND_NTH] {
        let mut out = [0; RAND_NTH];
        for (i, slot) in out.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *slot = self.nth[i].next(&mut self.rng);
            }
        }
        out
    }
}

/// What values are made of: a server's memory (and RDB/AOF size, and any compression on the way)
/// depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataKind {
    /// `xxx...`, as redis-benchmark sends.
    #[default]
    X,
    /// Random bytes: incompressible.
    Random,
    /// Words of lowercase text: compresses about as prose does.
    Text,
}

impl DataKind {
    pub fn parse(s: &str) -> Result<DataKind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x" => Ok(DataKind::X),
            "random" | "binary" => Ok(DataKind::Random),
            "text" => Ok(DataKind::Text),
            _ => Err(format!("bad data kind `{s}`: expected x, random or text")),
        }
    }
}

/// One pre-filled payload buffer that every value is a slice of (the hot path never allocates: see
/// ARCHITECTURE.md, "Cross-cutting rules").
pub fn payload(max: usize, kind: DataKind, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    match kind {
        // 'x' like redis-benchmark, so server-side compression or dedup behaves the same for both.
        DataKind::X => vec![b'x'; max],
        DataKind::Random => (0..max).map(|_| rng.next_u64() as u8).collect(),
        DataKind::Text => {
            const WORDS: [&str; 16] = [
                "the", "cache", "of", "session", "user", "value", "and", "a", "redis", "key",
                "stream", "list", "to", "score", "in", "data",
            ];
            let mut out = Vec::with_capacity(max + 8);
            while out.len() < max {
                out.extend_from_slice(WORDS[rng.below(16) as usize].as_bytes());
                out.push(b' ');
            }
            out.truncate(max);
            out
        }
    }
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

    fn mk(worker: (u64, u64), n: u64, dist: KeyDist, lanes: Vec<LaneDraw>) -> Generator {
        Generator::new(1, worker, &[Space { lo: 0, n, dist }], lanes)
    }

    fn lane(nth_mask: u16, sizes: DataSize) -> LaneDraw {
        LaneDraw {
            weight: 1,
            space: Some(0),
            sizes,
            ttl: None,
            nth_mask,
        }
    }

    #[test]
    fn seq_wraps_and_spreads_workers() {
        let mut g = mk((1, 2), 4, KeyDist::Seq, vec![lane(0, DataSize::default())]);
        let keys: Vec<u64> = (0..5).map(|_| g.draw().args.key).collect();
        assert_eq!(keys, vec![2, 3, 0, 1, 2]);
    }

    #[test]
    fn rand_nth_keys_are_drawn_apart() {
        let one = |m| vec![lane(m, DataSize::default())];
        let mut g = mk((0, 1), 1_000_000, KeyDist::Uniform, one(0b1_0000_0001));
        let d = g.draw().args;
        assert!(d.nth[0] != d.nth[8] && d.nth[0] != d.key, "{d:?}");
        assert_eq!(d.nth[1..8], [0; 7]);
        // Sequential: each placeholder walks the key space on its own.
        let mut g = mk((0, 1), 3, KeyDist::Seq, one(0b11));
        let draws: Vec<_> = (0..4).map(|_| g.draw().args).collect();
        let seqs: Vec<_> = draws.iter().map(|d| (d.key, d.nth[0], d.nth[1])).collect();
        assert_eq!(seqs, [(0, 0, 0), (1, 1, 1), (2, 2, 2), (0, 0, 0)]);
        // Commands without them draw none.
        let mut g = mk((0, 1), 10, KeyDist::Uniform, one(0));
        assert_eq!(g.draw().args.nth, [0; RAND_NTH]);
    }

    #[test]
    fn parses_and_draws_sizes() {
        let d = DataSize::parse("16-512").unwrap();
        assert_eq!((d.min, d.max, d.list.len()), (16, 512, 0));
        assert_eq!(DataSize::parse("3").unwrap().label(), "3");
        for bad in [
            "",
            "a",
            "5-1",
            "-3",
            "1-",
            "999999999999",
            "32:x",
            "32:0",
            ":5",
            "32:60,",
            "1:1:1",
        ] {
            assert!(DataSize::parse(bad).is_err(), "{bad}");
        }
        let mut g = mk(
            (0, 1),
            10,
            KeyDist::Uniform,
            vec![lane(0, DataSize::parse("5-9").unwrap())],
        );
        for _ in 0..1000 {
            let d = g.draw();
            assert!((5..=9).contains(&d.len) && d.args.key < 10);
        }
        // A weighted list: each size in its share.
        let list = DataSize::parse("32:60, 1024:30,16384:10").unwrap();
        assert_eq!((list.min, list.max), (32, 16384));
        assert_eq!(list.label(), "32:60,1024:30,16384:10");
        let mut g = mk((0, 1), 10, KeyDist::Uniform, vec![lane(0, list)]);
        let mut c = std::collections::BTreeMap::new();
        for _ in 0..100_000 {
            *c.entry(g.draw().len).or_insert(0u32) += 1;
        }
        let share = |s| f64::from(c[&s]) / 100_000.0;
        assert!(
            (share(32) - 0.6).abs() < 0.01 && (share(16384) - 0.1).abs() < 0.01,
            "{c:?}"
        );
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn ttls_are_drawn_in_their_range_and_weights_of_0_never() {
        let mut ttl = lane(0, DataSize::default());
        ttl.ttl = Some((30_000, 300_000));
        let never = LaneDraw {
            weight: 0,
            ..lane(0, DataSize::default())
        };
        let mut g = mk((0, 1), 10, KeyDist::Uniform, vec![never, ttl]);
        for _ in 0..1000 {
            let d = g.draw();
            assert_eq!(d.lane, 1);
            assert!((30_000..=300_000).contains(&d.ttl_ms), "{}", d.ttl_ms);
        }
    }

    #[test]
    fn payloads_are_made_of_their_kind() {
        let x = payload(4096, DataKind::X, 1);
        assert!(x.len() == 4096 && x.iter().all(|&b| b == b'x'));
        let random = payload(4096, DataKind::Random, 1);
        let distinct: std::collections::BTreeSet<u8> = random.iter().copied().collect();
        assert!(
            random.len() == 4096 && distinct.len() > 250,
            "{}",
            distinct.len()
        );
        let text = payload(4096, DataKind::Text, 1);
        assert_eq!(text.len(), 4096);
        assert!(text.iter().all(|b| b.is_ascii_lowercase() || *b == b' '));
        assert!(text.split(|&b| b == b' ').filter(|w| !w.is_empty()).count() > 500);
        assert_eq!(DataKind::parse("TEXT"), Ok(DataKind::Text));
        assert!(DataKind::parse("zip").is_err());
    }
}
