//! Admission for one engine thread: whether and when the next request may be sent (closed loop:
//! the shared budget, claimed in chunks; open loop: the schedule), what becomes of a request whose
//! attempt failed (retried after a backoff within the retry window, redirected, or ended), and
//! when the run stops and is finished. Plain state: every decision takes `now` (the thread clock's
//! nanoseconds) and returns what to do; the event loop carries it out.

use std::net::SocketAddr;
use std::time::Duration;

use super::timer::Ns;
use super::{Req, STOP_GRACE};
use crate::cluster::policy::{self, Action, Attempt};
use crate::cluster::topology::NO_NODE;
use crate::resp::ErrorClass;
use crate::workload::pacing::{Budget, LocalBudget, Schedule};

/// Open loop: what the schedule says at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// A request is due: draw it, intended at this time.
    Draw(Ns),
    /// One is due but the windows are full: it waits in the schedule (its latency still counts
    /// from its intended time).
    Held,
    /// Nothing due now (or no schedule, or stopping).
    Idle,
}

/// What becomes of a request whose attempt failed.
#[derive(Clone, Copy, Debug)]
pub(super) enum Fate {
    /// It ends as `class`; `also` is one more event to count first.
    Fail {
        class: ErrorClass,
        also: Option<ErrorClass>,
    },
    /// Send `req` again (updated) to the node a MOVED/ASK named.
    Redirect {
        req: Req,
        slot: u16,
        to: SocketAddr,
        ask: bool,
    },
    /// It waits out a backoff here (see `due_retry`).
    Retry,
    /// A redirect came after the run ended: it ends as the redirect.
    GaveUp,
}

/// A failed attempt's fate, and whether the slot map should be refreshed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Judged {
    pub fate: Fate,
    pub refresh: bool,
}

/// A request still waiting when the run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unsent {
    /// Never sent: not counted at all (its claim is given back).
    Uncounted,
    /// Sent before and waiting for a retry: it ends as its last error.
    GaveUp,
}

pub(super) struct Admission {
    /// The run's start on the thread clock (the schedule counts from it).
    start: Ns,
    /// `--duration` from the start.
    duration: Option<Ns>,
    budget: LocalBudget,
    schedule: Option<Schedule>,
    /// Requests waiting out a backoff: (when, request).
    retries: Vec<(Ns, Req)>,
    retry_window: Duration,
    stopping: Option<Ns>,
    /// Requests taken from the budget or schedule.
    pub claimed: u64,
    /// Open loop: the most a request left after its intended time, over the seconds already
    /// taken (`take_second_lags`); see `max_lag()`.
    max_lag: Ns,
    /// Open loop: the most a request left after its intended time since the last second taken.
    sec_lag: Ns,
    /// Open loop: the most the loop itself was late taking a due request since the last second
    /// taken (µs; what `own_lag` records).
    sec_own_lag: u64,
    /// Last time full windows held a due request back.
    held_at: Ns,
    /// Open loop: how late the loop took each due request (µs), counted only while no full window
    /// held the schedule back: the client's own delay, apart from the server's.
    pub own_lag: hdrhistogram::Histogram<u64>,
}

impl Admission {
    pub fn new(
        schedule: Option<Schedule>,
        duration: Option<Duration>,
        retry_window: Duration,
    ) -> Admission {
        Admission {
            start: 0,
            duration: duration.map(|d| d.as_nanos() as Ns),
            budget: LocalBudget::new(64),
            schedule,
            retries: Vec::new(),
            retry_window,
            stopping: None,
            claimed: 0,
            max_lag: 0,
            sec_lag: 0,
            sec_own_lag: 0,
            held_at: 0,
            own_lag: crate::stats::new_histogram(),
        }
    }

    pub fn start_at(&mut self, start: Ns) {
        self.start = start;
    }

    #[inline]
    pub fn start(&self) -> Ns {
        self.start
    }

    #[inline]
    pub fn stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// The run should stop now: its duration is up or it was told to (Ctrl-C, a fatal refusal).
    pub fn should_stop(&self, now: Ns, told: bool) -> bool {
        let deadline = self.duration.is_some_and(|d| now >= self.start + d);
        self.stopping.is_none() && (deadline || told)
    }

    /// The run stops: sending ends; the requests waiting for a retry go to `waiting` (see `unsent`).
    pub fn begin_stop(&mut self, now: Ns, waiting: &mut Vec<Req>) {
        self.stopping = Some(now);
        waiting.extend(self.retries.drain(..).map(|(_, r)| r));
    }

    /// What a request still waiting at the stop comes to.
    pub fn unsent(&mut self, r: &Req) -> Unsent {
        if r.fresh() {
            self.claimed -= 1;
            Unsent::Uncounted
        } else {
            Unsent::GaveUp
        }
    }

    /// The thread is done. Stopping: once nothing is in flight, the grace is over, or no reply
    /// came for `quiet()` (since the last reply or the stop). Else: once every request it may
    /// send was taken and answered.
    pub fn finished(
        &self,
        now: Ns,
        queued: usize,
        in_flight: usize,
        last_reply: Ns,
        quiet: impl FnOnce() -> Ns,
    ) -> bool {
        match self.stopping {
            Some(t) => {
                in_flight == 0
                    || now >= t + STOP_GRACE.as_nanos() as Ns
                    || now.saturating_sub(last_reply.max(t)) >= quiet()
            }
            None => {
                let spent = match &self.schedule {
                    Some(s) => s.exhausted(),
                    None => self.budget.exhausted(),
                };
                spent && queued == 0 && self.retries.is_empty() && in_flight == 0
            }
        }
    }

    /// The next coarse deadline: the end of the stop's grace, else the end of `--duration`.
    pub fn end_by(&self) -> Option<Ns> {
        match self.stopping {
            Some(t) => Some(t + STOP_GRACE.as_nanos() as Ns),
            None => self.duration.map(|d| self.start + d),
        }
    }

    /// Open loop: takes the next request of the schedule if it is due at `now` and the windows
    /// have `room` for it.
    #[inline]
    pub fn scheduled(&mut self, now: Ns, room: bool) -> Due {
        let Some(s) = self.schedule.as_mut() else {
            return Due::Idle;
        };
        if self.stopping.is_some() {
            return Due::Idle;
        }
        let rel = now.saturating_sub(self.start);
        if !room {
            if s.next_due().is_some_and(|d| d <= rel) {
                self.held_at = now;
                return Due::Held;
            }
            return Due::Idle;
        }
        let Some(due) = s.take_due(rel) else {
            return Due::Idle;
        };
        if self.start + due > self.held_at {
            let us = (rel - due) / 1000;
            crate::stats::record(&mut self.own_lag, us);
            self.sec_own_lag = self.sec_own_lag.max(us);
        }
        self.claimed += 1;
        Due::Draw(self.start + due)
    }

    /// Open loop: when the next scheduled request is due, if there is `room` to take it.
    #[inline]
    pub fn next_due(&self, room: bool) -> Option<Ns> {
        let s = self.schedule.as_ref()?;
        if self.stopping.is_some() || !room {
            return None;
        }
        Some(self.start + s.next_due()?)
    }

    /// Closed loop, not stopping: fresh requests are drawn when a window slot is free (asked
    /// once per draw round, not per request; see `take`).
    #[inline]
    pub fn drawing(&self) -> bool {
        self.schedule.is_none() && self.stopping.is_none()
    }

    /// Closed loop (see `drawing`): takes one request from the budget; false when it is spent
    /// (wait for replies and the end).
    #[inline]
    pub fn take(&mut self, budget: &Budget) -> bool {
        if !self.budget.take(budget) {
            return false;
        }
        self.claimed += 1;
        true
    }

    /// Closed loop: a request was taken but is not sent (its node's queue is full): the claim
    /// goes back, to be taken again for the next draw.
    #[inline]
    pub fn untake(&mut self) {
        self.claimed -= 1;
        self.budget.untake();
    }

    /// Closed loop: requests may still be taken for fresh sends.
    #[inline]
    pub fn wants_fresh(&self) -> bool {
        self.schedule.is_none() && self.stopping.is_none() && !self.budget.exhausted()
    }

    /// `r` is sent at `t`: a fresh request's latency counts from its intended time (open loop,
    /// its lateness noted) or from now (closed loop); a retried one keeps its first.
    #[inline]
    pub fn stamp(&mut self, r: &mut Req, t: Ns) {
        if r.fresh() {
            if self.schedule.is_some() {
                // One compare per request: the run's max is folded in once a second.
                self.sec_lag = self.sec_lag.max(t.saturating_sub(r.intended));
            } else {
                r.intended = t;
            }
        }
        r.sent = t;
    }

    /// Open loop: the most a request left after its intended time, over the whole run so far.
    pub fn max_lag(&self) -> Ns {
        self.max_lag.max(self.sec_lag)
    }

    /// The largest own lag (µs) and lag behind the schedule (ns) since the last call, for the
    /// second being closed; both start again from 0. Closed loop: zeros.
    pub fn take_second_lags(&mut self) -> (u64, Ns) {
        self.max_lag = self.max_lag.max(self.sec_lag);
        let lags = (self.sec_own_lag, self.sec_lag);
        (self.sec_own_lag, self.sec_lag) = (0, 0);
        lags
    }

    /// A request's attempt failed with `class`: the reply policy's decision, carried out for a
    /// retry (the request waits here for its backoff).
    pub fn judge(
        &mut self,
        mut r: Req,
        class: ErrorClass,
        redirect: Option<(u16, SocketAddr)>,
        cluster: bool,
        now: Ns,
    ) -> Judged {
        let d = policy::decide(&Attempt {
            class,
            redirect,
            cluster,
            attempts: r.attempts,
            redirects: r.redirects,
            age: Duration::from_nanos(now.saturating_sub(r.intended)),
            retry_window: self.retry_window,
            stopping: self.stopping.is_some(),
        });
        let fate = match d.action {
            Action::Fail { class, also } => Fate::Fail { class, also },
            Action::Redirect { .. } if self.stopping.is_some() => Fate::GaveUp,
            Action::Redirect { slot, to, ask } => {
                r.redirects += 1;
                r.last_err = class;
                r.ask_node = NO_NODE;
                Fate::Redirect {
                    req: r,
                    slot,
                    to,
                    ask,
                }
            }
            Action::Retry { after } => {
                r.attempts = r.attempts.saturating_add(1);
                r.last_err = class;
                r.ask_node = NO_NODE;
                self.retries.push((now + after.as_nanos() as Ns, r));
                Fate::Retry
            }
        };
        Judged {
            fate,
            refresh: d.refresh,
        }
    }

    /// The next retry whose backoff is over at `now`, scanning from `*at` (start at 0; the caller
    /// keeps `at` between calls so one pass visits each waiting request once).
    #[inline]
    pub fn due_retry(&mut self, now: Ns, at: &mut usize) -> Option<Req> {
        while *at < self.retries.len() {
            if self.retries[*at].0 <= now {
                return Some(self.retries.swap_remove(*at).1);
            }
            *at += 1;
        }
        None
    }

    /// When the earliest waiting retry is due.
    pub fn next_retry(&self) -> Option<Ns> {
        self.retries.iter().map(|r| r.0).min()
    }

    /// A queued request that has waited out the retry window gives up.
    #[inline]
    pub fn expired(&self, r: &Req, now: Ns) -> bool {
        now.saturating_sub(r.intended) >= self.retry_window.as_nanos() as Ns
    }

    /// Closed loop: a server down since `down_since` has refused connections for the whole retry
    /// window: the run gives up on it.
    pub fn server_gone(&self, down_since: Option<Ns>, now: Ns) -> bool {
        let window = self.retry_window.as_nanos() as Ns;
        self.schedule.is_none()
            && self.stopping.is_none()
            && down_since.is_some_and(|t| now.saturating_sub(t) >= window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Ns = 1_000_000;

    fn closed() -> Admission {
        Admission::new(None, None, Duration::from_secs(1))
    }

    /// 1000 rps on one thread: request i is due at i ms.
    fn open(limit: u64) -> Admission {
        Admission::new(
            Some(Schedule::new(
                &crate::workload::shape::Rate::Fixed(1000.0),
                0,
                1,
                limit,
            )),
            Some(Duration::from_secs(5)),
            Duration::from_secs(1),
        )
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7001))
    }

    #[test]
    fn a_spent_budget_admits_nothing_more() {
        let budget = Budget::new(3);
        let mut a = closed();
        assert!(a.wants_fresh());
        assert!(a.take(&budget) && a.take(&budget) && a.take(&budget));
        assert!(!a.take(&budget), "the budget is spent: wait");
        assert!(!a.wants_fresh());
        assert_eq!(a.claimed, 3);
        a.untake();
        assert_eq!(a.claimed, 2);
        assert!(a.take(&budget), "a claim given back is taken again");
        assert!(a.finished(0, 0, 0, 0, || 0), "all taken and answered");
        assert!(!a.finished(0, 0, 1, 0, || 0), "a reply is still due");
    }

    #[test]
    fn a_closed_loop_draws_nothing_once_stopping_or_when_open() {
        let mut a = closed();
        assert!(a.drawing() && a.wants_fresh());
        a.begin_stop(0, &mut Vec::new());
        assert!(!a.drawing() && !a.wants_fresh());
        assert!(!open(10).drawing(), "the schedule decides in the open loop");
        assert!(!open(10).wants_fresh());
    }

    #[test]
    fn the_schedule_admits_requests_when_due() {
        let mut a = open(3);
        a.start_at(100 * MS);
        assert_eq!(a.scheduled(100 * MS, true), Due::Draw(100 * MS));
        assert_eq!(
            a.scheduled(100 * MS, true),
            Due::Idle,
            "the next is due at 1 ms"
        );
        assert_eq!(a.next_due(true), Some(101 * MS));
        assert_eq!(a.next_due(false), None, "no room: no wake-up for it");
        assert_eq!(
            a.scheduled(103 * MS, true),
            Due::Draw(101 * MS),
            "late, not skipped"
        );
        assert_eq!(a.scheduled(103 * MS, true), Due::Draw(102 * MS));
        assert_eq!(
            a.scheduled(200 * MS, true),
            Due::Idle,
            "the limit is reached"
        );
        assert_eq!(a.claimed, 3);
        assert!(a.finished(200 * MS, 0, 0, 0, || 0));
        assert_eq!(a.own_lag.max(), 2000, "taken 2 ms late");
        assert_eq!(a.take_second_lags().0, 2000, "the second's own lag");
        assert_eq!(
            a.take_second_lags(),
            (0, 0),
            "taken: the next second starts at 0"
        );
    }

    #[test]
    fn a_request_held_by_full_windows_is_not_the_clients_own_lag() {
        let mut a = open(10);
        assert_eq!(a.scheduled(5 * MS, false), Due::Held);
        assert_eq!(a.claimed, 0, "a held request stays in the schedule");
        assert_eq!(a.scheduled(6 * MS, true), Due::Draw(0));
        assert_eq!(
            a.own_lag.len(),
            0,
            "due before the hold: the server's delay"
        );
        assert_eq!(a.scheduled(9 * MS, true), Due::Draw(MS));
        assert_eq!(a.own_lag.len(), 0);
        let mut b = open(10);
        assert_eq!(b.scheduled(MS / 2, false), Due::Held);
        b.scheduled(MS / 2, true);
        assert_eq!(b.scheduled(MS + 300_000, true), Due::Draw(MS));
        assert_eq!(
            b.own_lag.len(),
            1,
            "due after the hold: the client's own delay"
        );
    }

    #[test]
    fn sending_stamps_fresh_requests_only() {
        let mut a = closed();
        let mut r = Req::test(0, 0);
        a.stamp(&mut r, 7);
        assert_eq!(
            (r.intended, r.sent),
            (7, 7),
            "closed loop: latency from the send"
        );
        r.attempts = 1;
        a.stamp(&mut r, 9);
        assert_eq!((r.intended, r.sent), (7, 9), "a retry keeps its first time");
        let mut o = open(10);
        let mut r = Req::test(0, 3 * MS);
        o.stamp(&mut r, 5 * MS);
        assert_eq!(
            (r.intended, o.max_lag()),
            (3 * MS, 2 * MS),
            "open loop: from the schedule"
        );
        // The second's lag behind the schedule; the run's max outlives it.
        assert_eq!(o.take_second_lags(), (0, 2 * MS));
        let mut r = Req::test(0, 6 * MS);
        o.stamp(&mut r, 7 * MS);
        assert_eq!(o.take_second_lags(), (0, MS));
        assert_eq!(o.max_lag(), 2 * MS);
    }

    #[test]
    fn a_transient_fault_is_retried_after_its_backoff() {
        let mut a = closed();
        let j = a.judge(Req::test(0, 0), ErrorClass::ConnLost, None, false, 10 * MS);
        assert!(matches!(j.fate, Fate::Retry) && !j.refresh);
        assert_eq!(a.next_retry(), Some(14 * MS), "the first backoff is 4 ms");
        let mut at = 0;
        assert!(
            a.due_retry(13 * MS, &mut at).is_none(),
            "not before its backoff"
        );
        assert!(!a.finished(13 * MS, 0, 0, 0, || 0), "a retry is waiting");
        let mut at = 0;
        let r = a.due_retry(14 * MS, &mut at).expect("due");
        assert_eq!((r.attempts, r.last_err), (1, ErrorClass::ConnLost));
        assert_eq!(a.next_retry(), None);
    }

    #[test]
    fn a_fault_past_the_retry_window_gives_up() {
        let mut a = closed();
        let j = a.judge(
            Req::test(0, 0),
            ErrorClass::ConnLost,
            None,
            false,
            1000 * MS,
        );
        assert!(matches!(
            j.fate,
            Fate::Fail {
                class: ErrorClass::ConnLost,
                also: None
            }
        ));
        assert_eq!(a.next_retry(), None);
        assert!(!a.expired(&Req::test(0, 0), 999 * MS) && a.expired(&Req::test(0, 0), 1000 * MS));
        assert!(!a.server_gone(Some(0), 999 * MS) && a.server_gone(Some(0), 1000 * MS));
        assert!(
            !a.server_gone(None, 5000 * MS),
            "a server that works is not gone"
        );
    }

    #[test]
    fn a_redirect_is_followed_unless_the_run_has_ended() {
        let mut a = closed();
        let mut r = Req::test(0, 0);
        r.ask_node = 3;
        let j = a.judge(r, ErrorClass::Moved, Some((42, addr())), true, MS);
        let Fate::Redirect { req, slot, ask, .. } = j.fate else {
            panic!("{:?}", j.fate)
        };
        assert_eq!(
            (slot, ask, req.redirects, req.ask_node),
            (42, false, 1, NO_NODE)
        );
        a.begin_stop(MS, &mut Vec::new());
        let j = a.judge(r, ErrorClass::Ask, Some((42, addr())), true, MS);
        assert!(matches!(j.fate, Fate::GaveUp));
    }

    #[test]
    fn the_stop_drops_unsent_requests_and_ends_retried_ones() {
        let budget = Budget::new(10);
        let mut a = closed();
        a.take(&budget);
        a.take(&budget);
        a.judge(Req::test(0, 0), ErrorClass::TryAgain, None, true, 0);
        let mut waiting = Vec::new();
        assert!(!a.should_stop(MS, false), "no duration: only when told");
        assert!(a.should_stop(MS, true));
        a.begin_stop(MS, &mut waiting);
        assert!(!a.should_stop(MS, true), "once");
        assert_eq!(waiting.len(), 1, "the retry waits no more");
        assert_eq!(a.unsent(&waiting[0]), Unsent::GaveUp);
        assert_eq!(a.unsent(&Req::test(0, 0)), Unsent::Uncounted);
        assert_eq!(a.claimed, 1, "an unsent request is not counted");
    }

    #[test]
    fn a_stopping_run_waits_for_replies_within_the_grace() {
        let mut a = open(100);
        assert!(!a.should_stop(4999 * MS, false));
        assert!(a.should_stop(5000 * MS, false), "the duration is up");
        assert_eq!(a.end_by(), Some(5000 * MS));
        a.begin_stop(5000 * MS, &mut Vec::new());
        let grace = STOP_GRACE.as_nanos() as Ns;
        assert_eq!(a.end_by(), Some(5000 * MS + grace));
        let quiet = || 200 * MS;
        assert!(
            !a.finished(5100 * MS, 0, 1, 5050 * MS, quiet),
            "a reply came 50 ms ago"
        );
        assert!(
            a.finished(5100 * MS, 0, 0, 5050 * MS, quiet),
            "nothing in flight"
        );
        assert!(
            a.finished(5250 * MS, 0, 1, 5050 * MS, quiet),
            "quiet for 200 ms"
        );
        assert!(
            a.finished(5000 * MS + grace, 0, 1, 5000 * MS + grace, quiet),
            "grace over"
        );
        assert_eq!(
            a.scheduled(6000 * MS, true),
            Due::Idle,
            "nothing is admitted"
        );
    }
}
