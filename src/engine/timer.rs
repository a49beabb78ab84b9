//! Time for the event loop: a monotonic nanosecond clock relative to the thread's start, and a
//! timerfd that wakes the loop at a precise instant. tokio's timer and epoll's own timeout both
//! round to milliseconds; an open-loop schedule needs tens of microseconds.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Nanoseconds since the clock's base.
pub type Ns = u64;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn new(base: Instant) -> Clock {
        Clock { base }
    }

    #[inline]
    pub fn now(&self) -> Ns {
        self.at(Instant::now())
    }

    #[inline]
    pub fn at(&self, t: Instant) -> Ns {
        t.saturating_duration_since(self.base).as_nanos() as Ns
    }

    pub fn instant(&self, ns: Ns) -> Instant {
        self.base + Duration::from_nanos(ns)
    }
}

/// A one-shot timerfd on CLOCK_MONOTONIC, armed at absolute instants.
pub struct Timer {
    fd: OwnedFd,
    armed: Option<Instant>,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the returned fd is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Timer { fd, armed: None })
    }

    /// Wakes the loop at `at` (an Instant; std's Instant is CLOCK_MONOTONIC on Linux). Re-arming at
    /// the same instant is free; arming replaces any earlier setting.
    pub fn arm(&mut self, at: Instant) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        let ts = monotonic_timespec(at);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: ts,
        };
        // SAFETY: valid fd and pointers to initialised structs.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(at);
        Ok(())
    }

    /// Called when the timer's event arrives: the setting is spent. Nothing is read: epoll is
    /// edge-triggered, every expiry is a new event, and re-arming resets the count.
    pub fn fired(&mut self) {
        self.armed = None;
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Source for Timer {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.raw()).register(r, t, i)
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.raw()).reregister(r, t, i)
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        SourceFd(&self.raw()).deregister(r)
    }
}

/// `at` as an absolute CLOCK_MONOTONIC time: the current clock reading plus the distance to `at`.
fn monotonic_timespec(at: Instant) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let base = Instant::now();
    let ahead = at.saturating_duration_since(base);
    let mut sec = now.tv_sec + ahead.as_secs() as libc::time_t;
    let mut nsec = now.tv_nsec + ahead.subsec_nanos() as libc::c_long;
    if nsec >= 1_000_000_000 {
        sec += 1;
        nsec -= 1_000_000_000;
    }
    // A time already past still fires (at once); zero would disarm the timer instead.
    if sec == 0 && nsec == 0 {
        nsec = 1;
    }
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_fires_close_to_its_instant() {
        let mut poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut t = Timer::new().unwrap();
        poll.registry()
            .register(&mut t, Token(0), Interest::READABLE)
            .unwrap();
        let at = Instant::now() + Duration::from_micros(1500);
        t.arm(at).unwrap();
        let mut woke = None;
        while woke.is_none() {
            poll.poll(&mut events, Some(Duration::from_secs(1)))
                .unwrap();
            if events.iter().any(|e| e.token() == Token(0)) {
                woke = Some(Instant::now());
            }
        }
        let woke = woke.unwrap();
        assert!(woke >= at, "fired early");
        // Loose: a loaded CI machine can be late, but never by a whole timer tick of 1 ms+.
        assert!(
            woke - at < Duration::from_millis(20),
            "late by {:?}",
            woke - at
        );
        t.fired();
    }

    #[test]
    fn clock_counts_from_its_base() {
        let base = Instant::now();
        let c = Clock::new(base);
        assert_eq!(c.at(base + Duration::from_micros(3)), 3_000);
        assert_eq!(c.instant(5_000), base + Duration::from_micros(5));
    }
}
