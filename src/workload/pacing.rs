//! When requests may be sent. Closed loop: a request budget shared by the threads, claimed in
//! chunks so no atomic is touched per request. Open loop (`--rps`): the schedule `t0 + i/rate`
//! (or, for a rate shape, the time the shape's area reaches i: `shape`);
//! request `i` has an intended send time and latency is measured from it, so a stalled server
//! shows up as latency instead of as requests never sent (coordinated omission, see wrk2). Each
//! thread owns every T-th request of the schedule, so threads share nothing while they pace.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::shape::{Rate, Shape};

/// Nanoseconds since the run's start.
pub type Ns = u64;

/// The closed-loop budget of a run (`-n`), shared by its threads.
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

    /// Claims up to `max` requests; returns how many were granted (0: the budget is spent).
    pub fn claim(&self, max: u64) -> u64 {
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            if cur >= self.limit || max == 0 {
                return 0;
            }
            let n = (self.limit - cur).min(max);
            match self.next.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return n,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// One thread's share of a closed-loop budget.
#[derive(Debug)]
pub struct LocalBudget {
    left: u64,
    chunk: u64,
    spent: bool,
}

impl LocalBudget {
    /// `chunk`: how many requests to claim at once (small enough that threads finish together).
    pub fn new(chunk: u64) -> LocalBudget {
        LocalBudget {
            left: 0,
            chunk: chunk.max(1),
            spent: false,
        }
    }

    /// Takes one request from the budget.
    #[inline]
    pub fn take(&mut self, shared: &Budget) -> bool {
        if self.left == 0 {
            if self.spent {
                return false;
            }
            self.left = shared.claim(self.chunk);
            if self.left == 0 {
                self.spent = true;
                return false;
            }
        }
        self.left -= 1;
        true
    }

    /// Gives back a request that was taken but never sent.
    pub fn untake(&mut self) {
        self.left += 1;
    }

    /// Every request this thread may send has been taken.
    pub fn exhausted(&self) -> bool {
        self.spent && self.left == 0
    }
}

/// One thread's part of the open-loop schedule: requests `thread, thread + threads, ...` of the
/// global schedule (request i is due when the rate's area reaches i: `i / rate` seconds after the
/// start for a fixed rate), at most `limit` in all (over all threads).
#[derive(Clone, Debug)]
pub struct Schedule {
    pace: Pace,
    stride: u64,
    next: u64,
    limit: u64,
    /// Request `next`'s intended time, computed as `next` moves.
    due: Ns,
}

#[derive(Clone, Debug)]
enum Pace {
    Fixed(f64),
    /// A shape, and the piece the thread's last request fell in.
    Shaped(Arc<Shape>, usize),
}

impl Schedule {
    pub fn new(rate: &Rate, thread: usize, threads: usize, limit: u64) -> Schedule {
        let pace = match rate {
            Rate::Fixed(r) => Pace::Fixed(*r),
            Rate::Shaped(s) => Pace::Shaped(s.clone(), 0),
        };
        let mut s = Schedule {
            pace,
            stride: threads.max(1) as u64,
            next: thread as u64,
            limit,
            due: 0,
        };
        s.due = s.intended(s.next);
        s
    }

    /// Intended send time of this thread's next request, or None when its share is done.
    #[inline]
    pub fn next_due(&self) -> Option<Ns> {
        (self.next < self.limit).then_some(self.due)
    }

    /// Takes the next request if it is due at `now`; returns its intended time.
    #[inline]
    pub fn take_due(&mut self, now: Ns) -> Option<Ns> {
        let due = self.next_due().filter(|&t| t <= now)?;
        self.next += self.stride;
        self.due = self.intended(self.next);
        Some(due)
    }

    pub fn exhausted(&self) -> bool {
        self.next >= self.limit
    }

    /// Request `i`'s intended time, computed from the index so the schedule cannot drift.
    #[inline]
    fn intended(&mut self, i: u64) -> Ns {
        match &mut self.pace {
            Pace::Fixed(rate) => (i as f64 * 1e9 / *rate) as Ns,
            Pace::Shaped(shape, cursor) => (shape.time_of(i as f64, cursor) * 1e9) as Ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_never_overshoots() {
        let b = Budget::new(10);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 2);
        assert_eq!(b.claim(4), 0);
        let shared = Budget::new(5);
        let (mut a, mut c) = (LocalBudget::new(2), LocalBudget::new(2));
        let mut taken = 0;
        for _ in 0..10 {
            taken += a.take(&shared) as u32 + c.take(&shared) as u32;
        }
        assert_eq!(taken, 5);
        assert!(a.exhausted() && c.exhausted());
        a.untake();
        assert!(!a.exhausted());
        assert!(a.take(&shared));
    }

    #[test]
    fn threads_split_the_schedule_exactly() {
        // 3 threads, 10 requests at 1000/s: together they take each index once, at i ms.
        let mut seen = Vec::new();
        for t in 0..3 {
            let mut s = Schedule::new(&Rate::Fixed(1000.0), t, 3, 10);
            while let Some(at) = s.take_due(u64::MAX) {
                seen.push(at);
            }
            assert!(s.exhausted());
        }
        seen.sort_unstable();
        let want: Vec<Ns> = (0..10).map(|i| i * 1_000_000).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn threads_split_a_shaped_schedule_exactly() {
        // A ramp over 3 threads: together they take each request once, at the shape's times.
        let rate = crate::workload::shape::parse("ramp:1000..3000/2s", None).unwrap();
        let (mut seen, mut want) = (Vec::new(), Vec::new());
        for t in 0..3 {
            let mut s = Schedule::new(&rate, t, 3, 4000);
            while let Some(at) = s.take_due(u64::MAX) {
                seen.push(at);
            }
        }
        let mut cursor = 0;
        let shape = rate.shape().unwrap();
        for i in 0..4000 {
            want.push((shape.time_of(i as f64, &mut cursor) * 1e9) as Ns);
        }
        seen.sort_unstable();
        assert_eq!(seen, want);
        // The ramp's 4000th request: 1000 t + 500 t² = 4000 → t = 2 s.
        assert!(want[3999] < 2_000_000_000 && want[3999] > 1_999_000_000);
    }

    #[test]
    fn nothing_is_taken_early() {
        let mut s = Schedule::new(&Rate::Fixed(1000.0), 0, 1, u64::MAX);
        assert_eq!(s.take_due(0), Some(0));
        assert_eq!(s.take_due(999_999), None);
        assert_eq!(s.next_due(), Some(1_000_000));
        assert_eq!(s.take_due(1_000_000), Some(1_000_000));
    }

    #[test]
    fn no_drift_over_a_million_requests() {
        let rate = 100_000.0;
        let mut s = Schedule::new(&Rate::Fixed(rate), 0, 1, 1_000_000);
        let mut n = 0u64;
        let mut last = 0;
        while let Some(at) = s.take_due(u64::MAX) {
            assert!(at >= last);
            last = at;
            n += 1;
        }
        assert_eq!(n, 1_000_000);
        // The millionth request is due 9.99999 s after t0, not "that plus accumulated rounding".
        assert!(last.abs_diff(9_999_990_000) < 1_000, "{last}");
    }
}
