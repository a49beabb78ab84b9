//! A worker's wake-up at a command's due time. tokio's timer rounds a wake-up up to the next
//! millisecond, which would show as a millisecond of latency on every command; a timerfd (the
//! engine's `Timer`) watched by the runtime wakes the worker when due.

use std::time::Instant;

/// A timerfd the runtime watches: tokio's own timer rounds a wake-up up to the next millisecond,
/// which would show as a millisecond of latency on every command; this one wakes when due.
pub(super) struct Alarm(tokio::io::unix::AsyncFd<Fd>);

struct Fd(crate::engine::timer::Timer);

impl std::os::fd::AsRawFd for Fd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.raw()
    }
}

impl Alarm {
    pub(super) fn new() -> std::io::Result<Alarm> {
        let t = crate::engine::timer::Timer::new()?;
        let interest = tokio::io::Interest::READABLE;
        // SAFETY: the timerfd is owned by `Fd` and stays open, the same descriptor, until the
        // AsyncFd holding it is dropped.
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(Fd(t), interest) }
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Alarm(fd))
    }

    /// Returns at `at` (at once if it has passed; tokio's timer if the timerfd fails).
    async fn until(&mut self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        if self.0.get_mut().0.arm(at).is_err() {
            return tokio::time::sleep_until(at.into()).await;
        }
        loop {
            match self.0.readable_mut().await {
                Ok(mut g) => {
                    g.clear_ready();
                    g.get_inner_mut().0.fired();
                }
                Err(_) => return tokio::time::sleep_until(at.into()).await,
            }
            if Instant::now() >= at {
                return;
            }
            let _ = self.0.get_mut().0.arm(at);
        }
    }
}

pub(super) async fn alarm_until(alarm: &mut Option<Alarm>, at: Option<Instant>) {
    match (alarm, at) {
        (Some(a), Some(t)) => a.until(t).await,
        (None, Some(t)) => tokio::time::sleep_until(t.into()).await,
        (_, None) => std::future::pending().await,
    }
}
