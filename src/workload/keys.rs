//! Key spaces: how a command's keys are spelled (`user:{}`), which numbers they take (a range) and
//! how those are drawn (uniform, zipf, sequential, gaussian, a hot set). Commands with the same
//! key space share one sampler per worker, so a sequential writer and reader walk the same keys.

use super::WorkloadError;
use super::generator::{Rng, Zipf};

/// How keys are drawn from the key space.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyDist {
    Uniform,
    Zipf(f64),
    Seq,
    /// memtier's G: normal around `mean` with `stddev` (both in keys from the range's start; None:
    /// the middle, and a sixth of the range), redrawn when it falls outside.
    Gaussian {
        mean: Option<f64>,
        stddev: Option<f64>,
    },
    /// `hot:1%:90%`: `share` of the requests go (uniformly) to the first `keys` fraction of the key
    /// space, the rest to the others.
    Hot {
        keys: f64,
        share: f64,
    },
}

impl KeyDist {
    pub fn parse(s: &str) -> Result<KeyDist, WorkloadError> {
        let bad = || WorkloadError::BadKeyDist(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "uniform" | "random" => return Ok(KeyDist::Uniform),
            "seq" | "sequential" => return Ok(KeyDist::Seq),
            "zipf" => return Ok(KeyDist::Zipf(0.99)),
            "gaussian" | "normal" => {
                return Ok(KeyDist::Gaussian {
                    mean: None,
                    stddev: None,
                });
            }
            _ => {}
        }
        if let Some(skew) = lower.strip_prefix("zipf:") {
            let v: f64 = skew.parse().map_err(|_| bad())?;
            return (v.is_finite() && v > 0.0 && v < 10.0)
                .then_some(KeyDist::Zipf(v))
                .ok_or_else(bad);
        }
        if let Some(args) = lower.strip_prefix("gaussian:") {
            let (m, d) = args.split_once(',').ok_or_else(bad)?;
            let num = |t: &str| t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
            let (mean, stddev) = (num(m).ok_or_else(bad)?, num(d).ok_or_else(bad)?);
            if mean < 0.0 || stddev <= 0.0 {
                return Err(bad());
            }
            return Ok(KeyDist::Gaussian {
                mean: Some(mean),
                stddev: Some(stddev),
            });
        }
        let hot = lower.strip_prefix("hot:").ok_or_else(bad)?;
        let (k, q) = hot.split_once(':').ok_or_else(bad)?;
        let pct = |t: &str| {
            let v: f64 = t.trim().strip_suffix('%')?.trim().parse().ok()?;
            (v > 0.0 && v < 100.0).then_some(v / 100.0)
        };
        Ok(KeyDist::Hot {
            keys: pct(k).ok_or_else(bad)?,
            share: pct(q).ok_or_else(bad)?,
        })
    }

    pub fn label(&self) -> String {
        match self {
            KeyDist::Uniform => "uniform".into(),
            KeyDist::Seq => "seq".into(),
            KeyDist::Zipf(s) => format!("zipf:{s}"),
            KeyDist::Gaussian {
                mean: Some(m),
                stddev: Some(d),
            } => format!("gaussian:{m},{d}"),
            KeyDist::Gaussian { .. } => "gaussian".into(),
            KeyDist::Hot { keys, share } => format!("hot:{}%:{}%", keys * 100.0, share * 100.0),
        }
    }
}

/// How a command spells its keys: `user:{}` is `user:` + the number as 12 digits. Built-in tests
/// keep their own prefixes; a `[[command]]` without one uses `key:{}`, the built-in SET/GET keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyPattern {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
}

impl Default for KeyPattern {
    fn default() -> Self {
        KeyPattern {
            prefix: b"key:".to_vec(),
            suffix: Vec::new(),
        }
    }
}

impl KeyPattern {
    /// `user:{}`, `{}:meta`, `cache:{}:v2`: exactly one `{}`.
    pub fn parse(s: &str) -> Result<KeyPattern, String> {
        let Some((prefix, suffix)) = s.split_once("{}") else {
            return Err(format!(
                "key pattern `{s}` has no `{{}}` for the key's number (e.g. user:{{}})"
            ));
        };
        if suffix.contains("{}") {
            return Err(format!("key pattern `{s}` has more than one `{{}}`"));
        }
        let p = KeyPattern {
            prefix: prefix.as_bytes().to_vec(),
            suffix: suffix.as_bytes().to_vec(),
        };
        if p.key_len() > super::MAX_KEY - 16 {
            return Err(format!(
                "key pattern `{s}` is too long (at most {} bytes besides the number)",
                super::MAX_KEY - 28
            ));
        }
        Ok(p)
    }

    /// The key's length: prefix, 12 digits, suffix.
    pub fn key_len(&self) -> usize {
        self.prefix.len() + 12 + self.suffix.len()
    }
}

/// Which numbers a key space takes and how they are drawn: `lo .. lo + n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub lo: u64,
    pub n: u64,
    pub dist: KeyDist,
}

/// Draws keys of one space for one worker (a sequential walk keeps its place here).
#[derive(Clone, Debug)]
pub struct Sampler {
    lo: u64,
    n: u64,
    dist: KeyDist,
    zipf: Option<Zipf>,
    seq: u64,
}

impl Sampler {
    /// Worker `worker` of `workers` starts a sequential walk at its share of the space.
    pub fn new(space: &Space, worker: u64, workers: u64) -> Sampler {
        let n = space.n.max(1);
        Sampler {
            lo: space.lo,
            n,
            zipf: match space.dist {
                KeyDist::Zipf(s) => Some(Zipf::new(n, s)),
                _ => None,
            },
            dist: space.dist.clone(),
            seq: (n as u128 * worker as u128 / workers.max(1) as u128) as u64,
        }
    }

    /// The next key (a sequential walk advances).
    #[inline(always)]
    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        match self.dist {
            KeyDist::Uniform => self.lo + rng.below(self.n),
            KeyDist::Seq => {
                let k = self.seq;
                self.seq = (k + 1) % self.n;
                self.lo + k
            }
            _ => self.draw(rng),
        }
    }

    /// A key drawn without moving the walk (a sequential space draws uniformly here: the extra
    /// keys of a multi-key command).
    #[inline]
    pub fn draw(&self, rng: &mut Rng) -> u64 {
        let n = self.n;
        let k = match &self.dist {
            KeyDist::Uniform | KeyDist::Seq => rng.below(n),
            KeyDist::Zipf(_) => self.zipf.as_ref().map_or(0, |z| z.sample(rng) - 1),
            KeyDist::Gaussian { mean, stddev } => {
                let m = mean.unwrap_or(n as f64 / 2.0);
                let d = stddev.unwrap_or(n as f64 / 6.0);
                gaussian(rng, m, d, n)
            }
            KeyDist::Hot { keys, share } => {
                let hot = ((n as f64 * keys).round() as u64).clamp(1, n);
                if hot == n || rng.unit() < *share {
                    rng.below(hot)
                } else {
                    hot + rng.below(n - hot)
                }
            }
        };
        self.lo + k
    }
}

/// A normal draw in `0..n` (Box–Muller), redrawn a few times when outside, then clamped.
fn gaussian(rng: &mut Rng, mean: f64, stddev: f64, n: u64) -> u64 {
    for _ in 0..8 {
        let u1 = rng.unit().max(f64::MIN_POSITIVE);
        let u2 = rng.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let x = (mean + z * stddev).round();
        if x >= 0.0 && x < n as f64 {
            return x as u64;
        }
    }
    (mean.round().max(0.0) as u64).min(n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distributions() {
        assert_eq!(KeyDist::parse("zipf").unwrap(), KeyDist::Zipf(0.99));
        assert_eq!(KeyDist::parse("zipf:1.2").unwrap(), KeyDist::Zipf(1.2));
        assert_eq!(KeyDist::parse("seq").unwrap(), KeyDist::Seq);
        assert_eq!(
            KeyDist::parse("hot:1%:90%").unwrap(),
            KeyDist::Hot {
                keys: 0.01,
                share: 0.9
            }
        );
        assert_eq!(
            KeyDist::parse("gaussian:500,100").unwrap().label(),
            "gaussian:500,100"
        );
        assert_eq!(KeyDist::parse("hot:1%:90%").unwrap().label(), "hot:1%:90%");
        for bad in [
            "zipf:0",
            "zipf:x",
            "gauss",
            "zipf:-1",
            "hot:1%",
            "hot:0%:50%",
            "hot:1:90%",
            "hot:1%:100%",
            "gaussian:1",
            "gaussian:5,0",
        ] {
            assert!(KeyDist::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_have_one_hole() {
        let p = KeyPattern::parse("user:{}:v").unwrap();
        assert_eq!(
            (&p.prefix[..], &p.suffix[..], p.key_len()),
            (&b"user:"[..], &b":v"[..], 19)
        );
        for bad in ["user", "a{}b{}", &"x".repeat(60)] {
            assert!(KeyPattern::parse(bad).is_err(), "{bad}");
        }
        // A hash tag around the number is kept as written.
        assert_eq!(KeyPattern::parse("u:{{}}").unwrap().prefix, b"u:{");
    }

    fn counts(dist: &str, n: u64, draws: usize) -> Vec<u64> {
        let space = Space {
            lo: 0,
            n,
            dist: KeyDist::parse(dist).unwrap(),
        };
        let mut s = Sampler::new(&space, 0, 1);
        let mut rng = Rng::new(9);
        let mut c = vec![0; n as usize];
        for _ in 0..draws {
            c[s.next(&mut rng) as usize] += 1;
        }
        c
    }

    #[test]
    fn a_hot_set_gets_its_share() {
        let c = counts("hot:1%:90%", 10_000, 200_000);
        let hot: u64 = c[..100].iter().sum();
        let share = hot as f64 / 200_000.0;
        assert!((share - 0.9).abs() < 0.01, "{share}");
        assert!(c[100..].iter().any(|&k| k > 0));
    }

    #[test]
    fn gaussian_centres_on_its_mean() {
        let c = counts("gaussian:500,50", 1000, 100_000);
        let within: u64 = c[450..=550].iter().sum();
        // ±1 stddev holds about 68 %.
        let share = within as f64 / 100_000.0;
        assert!((share - 0.68).abs() < 0.03, "{share}");
        let default = counts("gaussian", 600, 60_000);
        assert!(
            default[300] > default[50] * 5,
            "{} vs {}",
            default[300],
            default[50]
        );
    }

    #[test]
    fn a_range_offsets_keys_and_seq_walks_it() {
        let space = Space {
            lo: 1000,
            n: 3,
            dist: KeyDist::Seq,
        };
        let mut s = Sampler::new(&space, 0, 1);
        let mut rng = Rng::new(1);
        let got: Vec<u64> = (0..4).map(|_| s.next(&mut rng)).collect();
        assert_eq!(got, [1000, 1001, 1002, 1000]);
    }
}
