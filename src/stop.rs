//! One cancellation signal, handed down from the run to everything it starts: deployment start-up,
//! target checks, the phase runner, scenarios, fault schedules. Threads that work in steps check it
//! between them ([`Stop::is_stopped`], one atomic load, cheap enough for the engine's loop); tasks
//! and blocked threads wait on it ([`Stop::stopped`], [`Stop::wait_timeout`]) and wake the moment it
//! is set — nothing polls it on a timer.
//!
//! A run gets its own `Stop` (see `lib::Context`), so runs in one process (tests driving `run_with`
//! side by side) stop independently; `signals` stops every run that registered with it.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The cause of a stop that no signal sent (a caller's own request, or the end of a workload).
const REQUESTED: i32 = -1;

/// A cancellation signal; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// 0 while running; then the signal that stopped it, or [`REQUESTED`].
    cause: AtomicI32,
    /// Wakes the tasks waiting in [`Stop::stopped`].
    tasks: Notify,
    /// Wakes the threads waiting in [`Stop::wait_timeout`].
    lock: Mutex<()>,
    threads: Condvar,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops, as signal `sig` asks; true when this was the first stop (a later cause is dropped).
    pub fn signal(&self, sig: i32) -> bool {
        self.set(sig.max(1))
    }

    /// Stops without a signal.
    pub fn request(&self) -> bool {
        self.set(REQUESTED)
    }

    fn set(&self, cause: i32) -> bool {
        let first = self
            .0
            .cause
            .compare_exchange(0, cause, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if first {
            self.0.tasks.notify_waiters();
            // Taking the lock orders this wake-up after a waiter's check-then-wait.
            let _g = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.0.threads.notify_all();
        }
        first
    }

    pub fn is_stopped(&self) -> bool {
        self.0.cause.load(Ordering::Relaxed) != 0
    }

    /// The signal that stopped it; None while running or when stopped without one.
    pub fn signal_received(&self) -> Option<i32> {
        match self.0.cause.load(Ordering::SeqCst) {
            s if s > 0 => Some(s),
            _ => None,
        }
    }

    /// Whether two handles are the same signal.
    pub fn same(&self, other: &Stop) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Returns once stopped (at once if already).
    pub async fn stopped(&self) {
        loop {
            let woken = self.0.tasks.notified();
            tokio::pin!(woken);
            // Registered before the check, so a stop between the check and the await still wakes it.
            woken.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            woken.await;
        }
    }

    /// Blocks the thread until stopped or `timeout` has passed; true when stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_stopped() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .0
                .threads
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Requests a stop when dropped: what depends on a piece of work ends with it, even if it panicked.
pub struct StopOnDrop<'a>(pub &'a Stop);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.request();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_is_kept() {
        let s = Stop::new();
        assert!(!s.is_stopped());
        assert_eq!(s.signal_received(), None);
        assert!(s.signal(libc::SIGTERM));
        assert!(!s.signal(libc::SIGINT));
        assert!(!s.request());
        assert!(s.is_stopped());
        assert_eq!(s.signal_received(), Some(libc::SIGTERM));
        let r = Stop::new();
        r.request();
        assert!(r.is_stopped());
        assert_eq!(r.signal_received(), None);
        assert!(s.clone().same(&s) && !s.same(&r));
    }

    #[test]
    fn a_waiting_thread_wakes_at_once() {
        let s = Stop::new();
        assert!(!s.wait_timeout(Duration::from_millis(20)));
        let t0 = Instant::now();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait_timeout(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(50));
        s.request();
        assert!(waiter.join().unwrap());
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_waiting_task_wakes_at_once_and_a_stopped_one_does_not_wait() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = Stop::new();
        rt.block_on(async {
            let waiter = tokio::spawn({
                let s = s.clone();
                async move { s.stopped().await }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiter.is_finished());
            s.signal(libc::SIGINT);
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .unwrap();
            tokio::time::timeout(Duration::from_millis(100), s.stopped())
                .await
                .expect("already stopped");
        });
    }
}
