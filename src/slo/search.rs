//! Which rate to try next. The search starts at half the closed-loop ceiling; a pass there tries the
//! ceiling itself, a miss halves the rate until a step passes (exponential bracketing); then it
//! bisects between the highest pass and the lowest miss until they are within the resolution.
//! The answer must hold `confirm` times (`--slo-confirm`, 5 by default): when the bracket closes,
//! the highest pass is run again until it has held that often, and one miss there makes it a miss
//! (the search goes on below it). A rate whose tail is a coin toss passes a single step by luck
//! about as often as it misses; five passes in a row leave little room for luck, so the rate
//! reported holds when the user runs it again. Halving stops at a floor, or sooner when two
//! halvings in a row did not bring latency below the best seen yet: the objective is then below
//! what the deployment gives unloaded, and lower rates will not meet it.

use super::Outcome;

/// A miss whose latency improved by less than this factor over the previous miss did not improve.
const FLAT: f64 = 0.9;
/// Halvings without improvement before the search gives up going down.
const FLAT_STEPS: usize = 2;
/// The lowest rate is at least the ceiling over this (10 halvings).
const DEPTH: f64 = 1024.0;
/// A step needs this many requests to say anything of a percentile.
const MIN_STEP_REQUESTS: f64 = 20.0;
/// A bound on the bracketing and bisecting steps of one search, whatever the numbers do; each
/// confirmation allows `CONFIRM_STEPS` more (a failed confirmation costs up to one series).
const MAX_STEPS: usize = 40;
const CONFIRM_STEPS: usize = 6;

/// The runs of one rate: how many, and how many met the objectives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tally {
    pub rate: f64,
    pub runs: u32,
    pub held: u32,
}

#[derive(Clone, Debug)]
pub struct Ladder {
    ceiling: f64,
    floor: f64,
    resolution: f64,
    /// The runs the answer must hold.
    confirm: u32,
    /// Every rate tried, with its runs.
    tallies: Vec<Tally>,
    /// Latency over the objective (the worst ratio) of each delivered miss while going down.
    descent: Vec<f64>,
    steps: usize,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    Try(f64),
    Done(Outcome),
}

impl Ladder {
    /// `ceiling`: the closed-loop probe's rate; `step_s`: a step's length in seconds; `confirm`:
    /// the runs the answer must hold (at least 1).
    pub fn new(ceiling: f64, step_s: f64, resolution: f64, confirm: u32) -> Ladder {
        let floor = (ceiling / DEPTH)
            .max(MIN_STEP_REQUESTS / step_s.max(1e-3))
            .max(1.0);
        Ladder {
            ceiling: ceiling.max(1.0).round(),
            floor,
            resolution,
            confirm: confirm.max(1),
            tallies: Vec::new(),
            descent: Vec::new(),
            steps: 0,
        }
    }

    /// The lowest rate that missed at least once.
    pub fn miss(&self) -> Option<f64> {
        self.tallies
            .iter()
            .filter(|t| t.held < t.runs)
            .map(|t| t.rate)
            .reduce(f64::min)
    }

    /// The highest rate that met the objectives every time it ran, below every miss.
    pub fn best(&self) -> Option<f64> {
        let miss = self.miss().unwrap_or(f64::INFINITY);
        self.tallies
            .iter()
            .filter(|t| t.held == t.runs && t.rate < miss)
            .map(|t| t.rate)
            .reduce(f64::max)
    }

    /// The runs of `rate` so far.
    pub fn tally(&self, rate: f64) -> Option<Tally> {
        self.tallies.iter().find(|t| t.rate == rate).copied()
    }

    fn max_steps(&self) -> usize {
        MAX_STEPS + CONFIRM_STEPS * self.confirm as usize
    }

    pub fn next(&self) -> Next {
        if self.steps >= self.max_steps() {
            return Next::Done(if self.best().is_some() {
                Outcome::Found
            } else {
                Outcome::NotMet
            });
        }
        match (self.best(), self.miss()) {
            (None, None) => Next::Try((self.ceiling / 2.0).round().max(self.floor.ceil())),
            (None, Some(m)) => {
                let r = (m / 2.0).round();
                if r < self.floor || r >= m || self.flat() {
                    Next::Done(Outcome::NotMet)
                } else {
                    Next::Try(r)
                }
            }
            (Some(p), None) if p >= self.ceiling => Next::Done(Outcome::AtCeiling),
            (Some(p), None) => Next::Try((p * 2.0).min(self.ceiling).round()),
            (Some(p), Some(m)) => {
                let mid = ((p + m) / 2.0).round();
                if m - p > self.resolution * p && mid > p && mid < m {
                    Next::Try(mid)
                } else if self.tally(p).is_some_and(|t| t.held < self.confirm) {
                    Next::Try(p)
                } else {
                    Next::Done(Outcome::Found)
                }
            }
        }
    }

    /// Records a step at `rate`. `over` is the worst measured/limit ratio of the objectives, given
    /// for a miss whose rate was delivered (a miss by shortfall says nothing of latency).
    pub fn record(&mut self, rate: f64, pass: bool, over: Option<f64>) {
        self.steps += 1;
        match self.tallies.iter_mut().find(|t| t.rate == rate) {
            Some(t) => {
                t.runs += 1;
                t.held += u32::from(pass);
            }
            None => self.tallies.push(Tally {
                rate,
                runs: 1,
                held: u32::from(pass),
            }),
        }
        if !pass && self.best().is_none() {
            match over {
                Some(o) => self.descent.push(o),
                None => self.descent.clear(),
            }
        }
    }

    /// The last FLAT_STEPS halvings each left latency within FLAT of the best miss before them:
    /// latency at low rates is noise around the deployment's unloaded floor, so compared with the
    /// best so far rather than with the step before.
    fn flat(&self) -> bool {
        let d = &self.descent;
        if d.len() <= FLAT_STEPS {
            return false;
        }
        (d.len() - FLAT_STEPS..d.len()).all(|i| {
            let best = d[..i].iter().copied().fold(f64::INFINITY, f64::min);
            d[i] > best * FLAT
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a ladder against a deployment whose objective holds up to `limit` rps, with latency
    /// over the objective following `over(rate)` on a miss.
    fn search(
        ceiling: f64,
        limit: f64,
        over: impl Fn(f64) -> f64,
    ) -> (Outcome, Option<f64>, Vec<f64>) {
        search_steps(ceiling, 5.0, limit, over)
    }

    fn search_steps(
        ceiling: f64,
        step_s: f64,
        limit: f64,
        over: impl Fn(f64) -> f64,
    ) -> (Outcome, Option<f64>, Vec<f64>) {
        let mut l = Ladder::new(ceiling, step_s, 0.02, 5);
        let mut tried = Vec::new();
        loop {
            match l.next() {
                Next::Try(r) => {
                    tried.push(r);
                    let pass = r <= limit;
                    l.record(r, pass, (!pass).then(|| over(r)));
                }
                Next::Done(o) => return (o, l.best(), tried),
            }
        }
    }

    #[test]
    fn bisects_to_within_the_resolution() {
        let (o, best, tried) = search(100_000.0, 73_000.0, |r| r / 73_000.0);
        assert_eq!(o, Outcome::Found);
        let best = best.unwrap();
        assert!(
            (73_000.0 * 0.98..=73_000.0).contains(&best),
            "{best} {tried:?}"
        );
        assert_eq!(&tried[..2], &[50_000.0, 100_000.0]);
        // Bracketing and bisecting, then four more runs of the answer.
        assert!(tried.len() <= 9 + 4, "{tried:?}");
    }

    #[test]
    fn goes_down_by_halves_then_bisects() {
        let (o, best, tried) = search(100_000.0, 9_000.0, |r| r / 9_000.0);
        assert_eq!(o, Outcome::Found);
        assert_eq!(&tried[..4], &[50_000.0, 25_000.0, 12_500.0, 6_250.0]);
        let best = best.unwrap();
        assert!(
            (9_000.0 * 0.98..=9_000.0).contains(&best),
            "{best} {tried:?}"
        );
    }

    #[test]
    fn the_answer_holds_five_times() {
        let (_, best, tried) = search(100_000.0, 73_000.0, |r| r / 73_000.0);
        let n = tried.len();
        assert_eq!(tried[n - 1], best.unwrap(), "{tried:?}");
        assert_eq!(
            tried.iter().filter(|&&r| Some(r) == best).count(),
            5,
            "{tried:?}"
        );
    }

    #[test]
    fn a_lucky_pass_that_misses_again_is_a_miss() {
        let mut l = Ladder::new(100_000.0, 5.0, 0.12, 2);
        l.record(50_000.0, true, None);
        l.record(100_000.0, false, Some(5.0));
        l.record(75_000.0, false, Some(2.0));
        l.record(62_500.0, false, Some(1.5));
        l.record(56_250.0, true, None);
        // Bracket 56250..62500 is within 12%: the best pass runs again, and misses this time.
        assert_eq!(l.next(), Next::Try(56_250.0));
        l.record(56_250.0, false, Some(1.1));
        assert_eq!(l.best(), Some(50_000.0));
        assert_eq!(l.miss(), Some(56_250.0));
        assert_eq!(l.next(), Next::Try(53_125.0));
        l.record(53_125.0, true, None);
        assert_eq!(l.next(), Next::Try(53_125.0));
        l.record(53_125.0, true, None);
        assert_eq!(l.next(), Next::Done(Outcome::Found));
        assert_eq!(l.best(), Some(53_125.0));
        let t = |r| l.tally(r).map(|t| (t.held, t.runs));
        assert_eq!((t(53_125.0), t(56_250.0)), (Some((2, 2)), Some((1, 2))));
    }

    /// A deployment whose tail is a coin toss between `sure` and `never` rps: there, run k of a
    /// rate passes when k is even (half the time, deterministically).
    fn flaky(sure: f64, never: f64) -> (Outcome, Option<f64>, Vec<f64>, Ladder) {
        let mut l = Ladder::new(100_000.0, 5.0, 0.02, 5);
        let mut tried = Vec::new();
        loop {
            match l.next() {
                Next::Try(r) => {
                    let k = tried.iter().filter(|&&x| x == r).count();
                    tried.push(r);
                    let pass = r <= sure || (r < never && k % 2 == 0);
                    l.record(r, pass, (!pass).then_some(1.2));
                }
                Next::Done(o) => return (o, l.best(), tried, l),
            }
        }
    }

    #[test]
    fn a_rate_that_holds_half_the_time_is_not_the_answer() {
        let (o, best, tried, l) = flaky(60_000.0, 80_000.0);
        assert_eq!(o, Outcome::Found, "{tried:?}");
        let best = best.unwrap();
        // Every rate above 60k failed its first confirmation; the answer is at most 60k and
        // within the resolution of it, and held all five runs.
        assert!((60_000.0 * 0.98..=60_000.0).contains(&best), "{tried:?}");
        assert_eq!(l.tally(best).map(|t| (t.held, t.runs)), Some((5, 5)));
        let above = l.tally(l.miss().unwrap()).unwrap();
        assert!(above.held < above.runs && l.miss().unwrap() > best);
        assert!(tried.len() <= l.max_steps(), "{tried:?}");
    }

    #[test]
    fn one_confirmation_is_a_single_pass() {
        let mut l = Ladder::new(100_000.0, 5.0, 1.0, 1);
        l.record(50_000.0, true, None);
        l.record(100_000.0, false, Some(2.0));
        assert_eq!(l.next(), Next::Done(Outcome::Found));
    }

    #[test]
    fn met_at_the_ceiling_is_said_so() {
        let (o, best, tried) = search(100_000.0, f64::INFINITY, |_| 0.5);
        assert_eq!((o, best), (Outcome::AtCeiling, Some(100_000.0)));
        assert_eq!(tried, [50_000.0, 100_000.0]);
    }

    #[test]
    fn flat_latency_stops_the_descent() {
        // Latency stays 3x the objective however low the rate: three steps, not ten.
        let (o, best, tried) = search(100_000.0, 0.0, |_| 3.0);
        assert_eq!((o, best), (Outcome::NotMet, None));
        assert_eq!(tried, [50_000.0, 25_000.0, 12_500.0]);
    }

    #[test]
    fn improving_latency_goes_down_to_the_floor() {
        // Latency keeps improving but never meets the objective: down to ceiling / 1024.
        let (o, best, tried) = search(100_000.0, 0.0, |r| 2.0 + r / 1000.0);
        assert_eq!((o, best), (Outcome::NotMet, None));
        assert!(*tried.last().unwrap() >= 100_000.0 / 1024.0, "{tried:?}");
        assert!(tried.len() >= 9, "{tried:?}");
    }

    #[test]
    fn noise_around_the_floor_is_flat_too() {
        // As measured at low rates: the best miss is not beaten by 10% twice in a row.
        let mut l = Ladder::new(100_000.0, 5.0, 0.02, 5);
        for (r, o) in [(50_000.0, 18.0), (25_000.0, 2.75), (12_500.0, 17.5)] {
            l.record(r, false, Some(o));
        }
        assert_eq!(l.next(), Next::Try(6_250.0));
        l.record(6_250.0, false, Some(13.7));
        assert_eq!(l.next(), Next::Done(Outcome::NotMet));
    }

    #[test]
    fn a_shortfall_miss_does_not_count_as_flat() {
        let mut l = Ladder::new(100_000.0, 5.0, 0.02, 5);
        l.record(50_000.0, false, Some(3.0));
        l.record(25_000.0, false, Some(3.0));
        l.record(12_500.0, false, None);
        assert_eq!(l.next(), Next::Try(6_250.0));
    }

    #[test]
    fn the_floor_keeps_steps_countable() {
        // 100 rps ceiling, 1 s steps: nothing below 20 rps (20 requests a step).
        let (o, _, tried) = search_steps(100.0, 1.0, 0.0, |r| 2.0 + r);
        assert_eq!(o, Outcome::NotMet);
        assert!(tried.iter().all(|&r| r >= 20.0), "{tried:?}");
    }
}
