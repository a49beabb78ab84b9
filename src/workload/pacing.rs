//! When requests may be sent. Closed loop: a shared request budget, claimed a window at a time. Open
//! loop (`--rps`): one schedule `t0 + i/rate` shared by every connection; request `i` has an intended
//! send time, and latency is measured from it, so a stalled server shows up as latency instead of as
//! requests that were never sent (coordinated omission, see wrk2).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Claims request indices from a shared counter without overshooting `limit`.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    next: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            next: AtomicU64::new(0),
        }
    }

    /// Claims up to `max` requests with indices `< upto`; returns the first index and the count.
    #[inline]
    fn claim_below(&self, upto: u64, max: u64) -> Option<(u64, u64)> {
        let upto = upto.min(self.limit);
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            if cur >= upto || max == 0 {
                return None;
            }
            let n = (upto - cur).min(max);
            match self.next.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((cur, n)),
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.limit)
    }

    pub fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.limit
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// Shared pacing for one run.
#[derive(Debug)]
pub enum Pacer {
    Closed(Budget),
    Open(Schedule),
}

/// A claim of requests: the first index, how many, and (open loop) their intended start times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Claim {
    pub first: u64,
    pub count: u64,
}

impl Pacer {
    /// Claims up to `max` requests that may be sent at `now`. `None` means nothing is due yet
    /// (open loop) or the budget is spent.
    #[inline]
    pub fn claim(&self, now: Instant, max: u64) -> Option<Claim> {
        let (first, count) = match self {
            Pacer::Closed(b) => b.claim_below(u64::MAX, max)?,
            Pacer::Open(s) => s.budget.claim_below(s.due(now), max)?,
        };
        Some(Claim { first, count })
    }

    pub fn exhausted(&self) -> bool {
        match self {
            Pacer::Closed(b) => b.exhausted(),
            Pacer::Open(s) => s.budget.exhausted(),
        }
    }

    pub fn claimed(&self) -> u64 {
        match self {
            Pacer::Closed(b) => b.claimed(),
            Pacer::Open(s) => s.budget.claimed(),
        }
    }
}

#[derive(Debug)]
pub struct Schedule {
    /// Set when the run starts (after every connection is up), so setup is not counted as lag.
    t0: OnceLock<Instant>,
    rate: f64,
    budget: Budget,
    /// Largest lag (µs) seen between a request's intended time and its claim: "the client fell behind".
    max_lag_us: AtomicU64,
}

impl Schedule {
    /// A schedule that starts at `t0`.
    pub fn new(t0: Instant, rate: f64, limit: u64) -> Schedule {
        let s = Schedule::unstarted(rate, limit);
        s.start(t0);
        s
    }

    pub fn unstarted(rate: f64, limit: u64) -> Schedule {
        Schedule {
            t0: OnceLock::new(),
            rate,
            budget: Budget::new(limit),
            max_lag_us: AtomicU64::new(0),
        }
    }

    pub fn start(&self, t0: Instant) {
        let _ = self.t0.set(t0);
    }

    fn t0(&self) -> Instant {
        *self.t0.get_or_init(Instant::now)
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many requests are due by `now` (request 0 is due at t0). Computed from the index, never
    /// accumulated, so the schedule cannot drift.
    #[inline]
    pub fn due(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.t0()).as_secs_f64();
        (elapsed * self.rate).floor() as u64 + 1
    }

    /// Intended send time of request `i`.
    #[inline]
    pub fn intended(&self, i: u64) -> Instant {
        self.t0() + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// When the next unclaimed request is due.
    pub fn next_due(&self) -> Instant {
        self.intended(self.budget.next.load(Ordering::Relaxed))
    }

    pub fn note_lag(&self, lag: Duration) {
        self.max_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn max_lag(&self) -> Duration {
        Duration::from_micros(self.max_lag_us.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_budget_never_overshoots() {
        let p = Pacer::Closed(Budget::new(10));
        let now = Instant::now();
        assert_eq!(p.claim(now, 4), Some(Claim { first: 0, count: 4 }));
        assert_eq!(p.claim(now, 4), Some(Claim { first: 4, count: 4 }));
        assert_eq!(p.claim(now, 4), Some(Claim { first: 8, count: 2 }));
        assert_eq!(p.claim(now, 4), None);
        assert!(p.exhausted());
        assert_eq!(p.claimed(), 10);
    }

    #[test]
    fn due_counts_per_tick() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1000.0, u64::MAX);
        assert_eq!(s.due(t0), 1);
        assert_eq!(s.due(t0 + Duration::from_millis(1)), 2);
        assert_eq!(s.due(t0 + Duration::from_micros(10_500)), 11);
        let p = Pacer::Open(s);
        // At 5 ms, requests 0..=5 are due; a window of 4 takes the first four, then two more.
        let at = t0 + Duration::from_millis(5);
        assert_eq!(p.claim(at, 4), Some(Claim { first: 0, count: 4 }));
        assert_eq!(p.claim(at, 4), Some(Claim { first: 4, count: 2 }));
        assert_eq!(p.claim(at, 4), None);
    }

    #[test]
    fn no_drift_over_a_million_requests() {
        let t0 = Instant::now();
        let rate = 100_000.0;
        let s = Schedule::new(t0, rate, 1_000_000);
        // The millionth request is due exactly 10 s after t0, not "10 s plus accumulated rounding".
        let last = s.intended(999_999);
        let expect = t0 + Duration::from_secs_f64(999_999.0 / rate);
        assert!(last.max(expect) - last.min(expect) < Duration::from_micros(1));
        // Simulate 1 ms ticks: every request is claimed exactly once, never early.
        let p = Pacer::Open(s);
        let mut total = 0u64;
        let mut tick = 0u64;
        while total < 1_000_000 {
            let now = t0 + Duration::from_millis(tick);
            while let Some(c) = p.claim(now, 1000) {
                if let Pacer::Open(s) = &p {
                    assert!(s.intended(c.first + c.count - 1) <= now);
                }
                assert_eq!(c.first, total);
                total += c.count;
            }
            tick += 1;
        }
        assert_eq!(total, 1_000_000);
        // 10^6 requests at 10^5/s take 10 s of ticks (9999 ms + the first at t0).
        assert!((9_999..=10_001).contains(&(tick - 1)), "ticks {tick}");
    }
}
