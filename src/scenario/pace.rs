//! When a scenario's client may send its next request: closed loop (a shared count) or open loop
//! (its share of the schedule `i / rate`, latency counted from the intended time), until the count,
//! the duration or a stop ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stop::Stop;
use crate::workload::pacing::{Budget, Schedule};
use crate::workload::shape::Rate;

/// The bounds shared by the clients of one role.
pub struct Bounds {
    pub budget: Arc<Budget>,
    pub deadline: Option<Instant>,
    pub stop: Stop,
}

impl Bounds {
    /// `count` requests (None: unbounded) within `duration` from `origin`.
    pub fn new(
        count: Option<u64>,
        duration: Option<Duration>,
        origin: Instant,
        stop: Stop,
    ) -> Bounds {
        Bounds {
            budget: Arc::new(Budget::new(count.unwrap_or(u64::MAX))),
            deadline: duration.map(|d| origin + d),
            stop,
        }
    }

    fn over(&self, now: Instant) -> bool {
        self.stop.is_stopped() || self.deadline.is_some_and(|d| now >= d)
    }
}

/// One client's pacing.
pub struct Pace<'a> {
    bounds: &'a Bounds,
    schedule: Option<Schedule>,
    origin: Instant,
}

impl<'a> Pace<'a> {
    /// Client `index` of `clients` sharing `rate` (None: closed loop).
    pub fn new(
        bounds: &'a Bounds,
        rate: Option<&Rate>,
        index: usize,
        clients: usize,
        origin: Instant,
    ) -> Pace<'a> {
        Pace {
            bounds,
            schedule: rate.map(|r| Schedule::new(r, index, clients, bounds.budget.limit())),
            origin,
        }
    }

    /// Waits for this client's next turn; returns its intended send time, or None when done.
    /// A turn already due when asked for (the last reply came late) keeps its scheduled time, so
    /// the server's stall shows as latency; a turn waited for counts from when the timer woke:
    /// the timer's own lateness (up to a tick) is rbench's, not the server's.
    pub async fn next(&mut self) -> Option<Instant> {
        let Some(s) = self.schedule.as_mut() else {
            let now = Instant::now();
            return (!self.bounds.over(now) && self.bounds.budget.claim(1) == 1).then_some(now);
        };
        let due = self.origin + Duration::from_nanos(s.next_due()?);
        if self.bounds.deadline.is_some_and(|d| due >= d) {
            return None;
        }
        let now = Instant::now();
        if self.bounds.over(now) {
            return None;
        }
        let mut intended = due;
        if now < due {
            // `due` is before the deadline (checked above): only a stop can end the wait early.
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => intended = Instant::now(),
                () = self.bounds.stop.stopped() => return None,
            }
        }
        s.take_due(u64::MAX)?;
        Some(intended)
    }
}
