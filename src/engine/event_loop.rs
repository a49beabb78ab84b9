//! The loop itself: set-up (connect every link, wait for the start), then iterations of
//! "stop? → admit due work → fill windows → write → sleep until an event or a due time → read".

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::admission::Admission;
use super::link::{Done, Link, LinkFail, State};
use super::nodes::NodeTable;
use super::timer::{Clock, Ns, Timer};
use super::{
    LiveSecond, READ_TIMEOUT, Req, RunShared, STOP_GRACE, STOP_QUIET, ThreadIo, ThreadReport,
};
use crate::conn::{self, CONNECT_TIMEOUT, ConnError, SETUP_REPLY_TIMEOUT};
use crate::net::Transport;
use crate::stats::Recorder;
use crate::workload::generator::Generator;
use crate::workload::pacing::Schedule;

pub(super) const TIMER: Token = Token(usize::MAX);
/// The loop looks at the stop flag, timeouts and the live view at least this often.
const TICK: Duration = Duration::from_millis(50);
/// At most this many connects in flight at once, below Redis's default listen backlog (511), so
/// 10k clients do not lose SYNs and wait seconds for retransmits.
const MAX_CONNECTING: usize = 256;
/// A sleeping thread wakes tens of microseconds after its timer fires (more in a VM): the timer is
/// set this much before a due request, and the rest is waited out polling, so the request leaves
/// on time. Costs at most this much CPU per scheduled request, only while the loop is idle.
const SPIN: Ns = 60_000;

pub struct Engine<T: Transport> {
    pub(super) shared: Arc<RunShared>,
    pub(super) io: ThreadIo,
    pub(super) poll: Poll,
    events: Events,
    event_list: Vec<(Token, bool, bool)>,
    pub(super) timer: Timer,
    pub(super) clock: Clock,
    pub(super) links: Vec<Link<T>>,
    /// Nodes, their queues and the slot map: where each request goes.
    pub(super) nodes: NodeTable,
    /// Budget, schedule, retries and the stop: whether and when requests go.
    pub(super) adm: Admission,
    pub(super) generator: Generator,
    pub(super) rec: Recorder,
    pub(super) scratch: Vec<u8>,
    pub(super) done: Vec<Done>,
    pub(super) lost: Vec<Req>,
    /// Requests a new slot map sends elsewhere (kept to reuse its buffer).
    pub(super) rerouted: Vec<Req>,
    pub(super) dirty: Vec<usize>,
    pub(super) handshake: Vec<conn::HandshakeCmd>,
    pub(super) handshake_ro: Vec<conn::HandshakeCmd>,
    /// Requests in flight on links.
    pub(super) in_flight: usize,
    /// When a reply last arrived (the stop's quiet wait).
    last_reply: Ns,
    /// A connection opened at set-up was refused by its first reply: the run fails with this.
    pub(super) fatal: Option<ConnError>,
    next_maint: Ns,
    next_sec: usize,
}

impl<T: Transport> Engine<T> {
    pub fn new(shared: Arc<RunShared>, io: ThreadIo) -> Result<Engine<T>, ConnError> {
        let setup = || -> std::io::Result<(Poll, Timer)> {
            let poll = Poll::new()?;
            let mut timer = Timer::new()?;
            poll.registry()
                .register(&mut timer, TIMER, Interest::READABLE)?;
            Ok((poll, timer))
        };
        let (poll, timer) = match setup() {
            Ok(p) => p,
            Err(source) => return Err(ConnError::EventLoop(source)),
        };
        let threads = shared.threads.max(1);
        let generator = Generator::new(
            shared.seed,
            (io.index as u64, threads as u64),
            &shared.lanes.spaces,
            shared.lanes.lanes.iter().map(|l| l.draw.clone()).collect(),
        );
        let schedule = shared
            .load
            .rps
            .as_ref()
            .map(|r| Schedule::new(r, io.index, threads, shared.limit));
        let open = schedule.is_some();
        let adm = Admission::new(schedule, shared.load.duration, shared.retry_window);
        Ok(Engine {
            nodes: NodeTable::new(&shared.route, shared.load.read_from_replicas),
            adm,
            handshake: conn::handshake_commands(&shared.auth, false),
            handshake_ro: conn::handshake_commands(&shared.auth, true),
            rec: Recorder::new(shared.lanes.lanes.len(), open),
            shared,
            io,
            poll,
            events: Events::with_capacity(1024),
            event_list: Vec::new(),
            timer,
            clock: Clock::new(Instant::now()),
            links: Vec::new(),
            generator,
            scratch: vec![0; 64 * 1024],
            done: Vec::new(),
            lost: Vec::new(),
            rerouted: Vec::new(),
            dirty: Vec::new(),
            in_flight: 0,
            last_reply: 0,
            fatal: None,
            next_maint: 0,
            next_sec: 0,
        })
    }

    /// Runs from `start` (the run's common start instant) to the end; returns what was measured.
    pub fn run_from(mut self, start: Instant) -> ThreadReport {
        let start = self.clock.at(start);
        self.adm.start_at(start);
        self.next_maint = start;
        for l in 0..self.links.len() {
            self.list(l);
        }
        self.run();
        ThreadReport {
            end: Instant::now(),
            claimed: self.adm.claimed,
            max_lag: Duration::from_nanos(self.adm.max_lag()),
            own_lag: self.adm.own_lag,
            rec: self.rec,
            fatal: self.fatal,
        }
    }

    /// Opens every client's connection to every master (or the one server) before the clock starts,
    /// so a refused port or a bad password fails the run with the server's words, and connection
    /// set-up is not measured as latency.
    pub fn connect_all(&mut self) -> Result<(), ConnError> {
        for n in self.nodes.initial() {
            self.nodes.ensure(n);
            self.add_links(n);
        }
        // The first reply on these connections stands in for a set-up round trip (see `fatal`).
        for l in &mut self.links {
            l.initial = true;
        }
        let mut next = 0;
        loop {
            let now = self.clock.now();
            let connecting = self
                .links
                .iter()
                .filter(|l| !l.ready() && l.state != State::Idle);
            let mut busy = connecting.count();
            while busy < MAX_CONNECTING && next < self.links.len() {
                self.links_connect(next, now)
                    .map_err(|f| self.conn_error(next, f))?;
                next += 1;
                busy += 1;
            }
            if next == self.links.len() && self.links.iter().all(|l| l.ready()) {
                return Ok(());
            }
            if self.shared.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            self.check_setup_timeouts(now)?;
            self.poll_events(Some(TICK));
            self.setup_events()?;
        }
    }

    fn links_connect(&mut self, l: usize, now: Ns) -> Result<(), LinkFail> {
        let node = self.links[l].node;
        let hs = if self.nodes.get(node).replica {
            &self.handshake_ro
        } else {
            &self.handshake
        };
        self.links[l].connect(self.poll.registry(), Token(l), hs, &self.shared.dial, now)
    }

    fn check_setup_timeouts(&self, now: Ns) -> Result<(), ConnError> {
        for l in &self.links {
            match l.state {
                State::Connecting { since }
                    if now.saturating_sub(since) > CONNECT_TIMEOUT.as_nanos() as Ns =>
                {
                    return Err(ConnError::ConnectTimeout {
                        addr: l.addr.clone(),
                        secs: CONNECT_TIMEOUT.as_secs_f64(),
                    });
                }
                State::Handshake { since }
                    if now.saturating_sub(since) > SETUP_REPLY_TIMEOUT.as_nanos() as Ns =>
                {
                    return Err(ConnError::Timeout {
                        addr: l.addr.clone(),
                        secs: SETUP_REPLY_TIMEOUT.as_secs_f64(),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Set-up events: connects completing and handshake replies; any failure fails the run.
    fn setup_events(&mut self) -> Result<(), ConnError> {
        let list = std::mem::take(&mut self.event_list);
        for &(token, _, _) in &list {
            if token == TIMER {
                continue;
            }
            let l = token.0;
            let now = self.clock.now();
            let res = match self.links[l].state {
                State::Connecting { .. } => self.links[l].finish_connect(now).map(|_| ()),
                _ => {
                    let clock = self.clock;
                    let mut at = || clock.now();
                    let link = &mut self.links[l];
                    let rec = &mut self.rec;
                    let mut words = |op: u8, c, m: &[u8]| rec.words(op as usize, c, m);
                    link.read(&mut self.scratch, &mut at, &mut self.done, &mut words)
                        .and_then(|_| link.flush())
                }
            };
            if let Err(f) = res {
                self.event_list = list;
                return Err(self.conn_error(l, f));
            }
        }
        self.event_list = list;
        Ok(())
    }

    fn conn_error(&self, l: usize, f: LinkFail) -> ConnError {
        let addr = self.links[l].addr.clone();
        match f {
            LinkFail::Connect(source) => conn::connect_error(addr, source),
            // A TLS handshake fails on a read or a write, after the TCP connect.
            LinkFail::Io(source) => conn::io_error(addr, source),
            LinkFail::Eof => ConnError::Eof { addr },
            LinkFail::Timeout => ConnError::Timeout {
                addr,
                secs: SETUP_REPLY_TIMEOUT.as_secs_f64(),
            },
            LinkFail::Protocol(source) => ConnError::Protocol { addr, source },
            LinkFail::Handshake(cmd, msg) => {
                conn::handshake_error(addr, cmd, &msg, &self.shared.auth)
            }
            LinkFail::Refused(msg) => {
                conn::handshake_error(addr, "connection", &msg, &self.shared.auth)
            }
        }
    }

    /// The run: one iteration per wake-up.
    fn run(&mut self) {
        loop {
            let now = self.clock.now();
            self.check_stop(now);
            if self.finished(now) {
                break;
            }
            self.follow_map();
            self.admit(now);
            self.pump_marked();
            self.flush_dirty();
            if now >= self.next_maint {
                self.maintain(now);
                self.next_maint = now + TICK.as_nanos() as Ns;
            }
            self.publish(now);
            let timeout = self.sleep_time();
            self.poll_events(timeout);
            self.handle_events();
            self.settle();
        }
        let now = self.clock.now();
        self.publish(now);
        // The seconds still open (the last, partial one; replies after a timed run's end) go
        // too: the live view is where the timeline is kept.
        while self.rec.open_seconds() > 0 {
            self.send_second(true, true);
        }
        let _ = self.io.live.send(LiveSecond::end(self.io.index));
        self.io
            .completed
            .store(self.rec.finished(), Ordering::Relaxed);
    }

    pub(super) fn poll_events(&mut self, timeout: Option<Duration>) {
        self.event_list.clear();
        if let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            // epoll_wait only fails on a bad descriptor; nothing to do but try again next turn.
            return;
        }
        for e in self.events.iter() {
            let gone = e.is_error() || e.is_read_closed() || e.is_write_closed();
            self.event_list
                .push((e.token(), e.is_readable() || gone, e.is_writable() || gone));
        }
    }

    /// Reads replies, completes connects and writes what was waiting for room.
    fn handle_events(&mut self) {
        let list = std::mem::take(&mut self.event_list);
        for &(token, readable, writable) in &list {
            if token == TIMER {
                self.timer.fired();
                continue;
            }
            let l = token.0;
            if l >= self.links.len() {
                continue;
            }
            let res = self.link_event(l, readable, writable);
            if let Err(f) = res {
                let now = self.clock.now();
                self.link_failed(l, f, now);
            }
        }
        self.event_list = list;
    }

    fn link_event(&mut self, l: usize, readable: bool, writable: bool) -> Result<(), LinkFail> {
        let now = self.clock.now();
        if let State::Connecting { .. } = self.links[l].state {
            if !self.links[l].finish_connect(now)? {
                return Ok(());
            }
            if self.links[l].ready() {
                self.link_up(l);
            }
        }
        if readable {
            let before = self.done.len();
            let clock = self.clock;
            let mut at = || clock.now();
            let rec = &mut self.rec;
            let mut words = |op: u8, c, m: &[u8]| rec.words(op as usize, c, m);
            let up = self.links[l].read(&mut self.scratch, &mut at, &mut self.done, &mut words)?;
            self.in_flight -= self.done.len() - before;
            if self.done.len() > before {
                self.last_reply = now;
            }
            if !self.shared.load.keepalive && self.done.len() > before && self.links[l].drained() {
                self.recycle(l, now);
                return Ok(());
            }
            if up {
                self.link_up(l);
            } else if self.done.len() > before {
                self.list(l);
            }
        }
        // Also with nothing of ours left: a TLS transport may hold records the socket refused.
        if writable {
            self.links[l].flush()?;
        }
        Ok(())
    }

    /// How long to sleep: until the next due request when a window slot is free to take it (to
    /// the microsecond, by the timer), else until the next coarse deadline (stop, retry, tick).
    fn sleep_time(&mut self) -> Option<Duration> {
        let now = self.clock.now();
        if self.nodes.any_marked() {
            return Some(Duration::ZERO);
        }
        let mut wake = now + TICK.as_nanos() as Ns;
        wake = wake.min(self.next_maint);
        wake = wake.min(self.adm.start() + (self.next_sec as Ns + 1) * 1_000_000_000);
        if let Some(t) = self.adm.end_by() {
            wake = wake.min(t);
        }
        if let Some(t) = self.adm.next_retry() {
            wake = wake.min(t);
        }
        if let Some(due) = self.next_due() {
            if due <= now + SPIN {
                return Some(Duration::ZERO);
            }
            // The timer wakes us just before; the coarse bound stays as a safety net.
            if due < wake && self.timer.arm(self.clock.instant(due - SPIN)).is_err() {
                wake = due - SPIN;
            }
        }
        Some(Duration::from_nanos(wake.saturating_sub(now)))
    }

    fn check_stop(&mut self, now: Ns) {
        if self
            .adm
            .should_stop(now, self.shared.stop.load(Ordering::Relaxed))
        {
            self.begin_stop(now);
        }
    }

    fn finished(&self, now: Ns) -> bool {
        let quiet = || self.quiet_limit();
        self.adm.finished(
            now,
            self.nodes.queued,
            self.in_flight,
            self.last_reply,
            quiet,
        )
    }

    /// How long the stop waits with no reply arriving: longer when replies have been slow.
    fn quiet_limit(&self) -> Ns {
        let slowest_us = self.rec.ops().map(|o| o.hist.max()).max().unwrap_or(0);
        let quiet = STOP_QUIET.as_nanos() as Ns;
        (slowest_us * 2000).clamp(quiet, STOP_GRACE.as_nanos() as Ns)
    }

    /// Hands finished seconds to the live view, and the progress count.
    fn publish(&mut self, now: Ns) {
        let cur = self.sec(now);
        if self.next_sec >= cur {
            return;
        }
        while self.next_sec < cur {
            self.send_second(self.next_sec + 1 == cur, false);
        }
        self.io
            .completed
            .store(self.rec.finished(), Ordering::Relaxed);
    }

    /// Moves the recorder's oldest open second into a message (no copy kept). The lags seen since
    /// the last one go with it when `lags` (the newest of the seconds closed at once). `partial`:
    /// sent as the thread ends, the clock not past it.
    fn send_second(&mut self, lags: bool, partial: bool) {
        let (sec, rows) = self.rec.close_second();
        let (own_lag_us, sched_ns) = match lags {
            true => self.adm.take_second_lags(),
            false => (0, 0),
        };
        let _ = self.io.live.send(LiveSecond {
            thread: self.io.index,
            sec,
            rows,
            own_lag_us,
            sched_lag_us: sched_ns / 1000,
            partial,
        });
        self.next_sec = sec + 1;
    }

    /// Every tick: progress, dead connections, requests that waited too long for a down node.
    fn maintain(&mut self, now: Ns) {
        self.io
            .completed
            .store(self.rec.finished(), Ordering::Relaxed);
        let read_timeout = READ_TIMEOUT.as_nanos() as Ns;
        for l in 0..self.links.len() {
            let link = &self.links[l];
            let fail = match link.state {
                State::Connecting { since }
                    if now.saturating_sub(since) > CONNECT_TIMEOUT.as_nanos() as Ns =>
                {
                    Some(LinkFail::Connect(std::io::ErrorKind::TimedOut.into()))
                }
                State::Handshake { since }
                    if now.saturating_sub(since) > SETUP_REPLY_TIMEOUT.as_nanos() as Ns =>
                {
                    Some(LinkFail::Timeout)
                }
                State::Ready if link.busy > 0 => link
                    .oldest_sent()
                    .filter(|&s| now.saturating_sub(s) > read_timeout)
                    .map(|_| LinkFail::Timeout),
                _ => None,
            };
            if let Some(f) = fail {
                self.link_failed(l, f, now);
            }
        }
        self.expire_queues(now);
        self.give_up_on_dead_server(now);
        // Nodes with lost links or queued work get pumped: that reconnects them after their backoff.
        for n in 0..self.nodes.len() as u16 {
            let node = self.nodes.get(n);
            let idle = node
                .links
                .iter()
                .any(|&l| self.links[l].state == State::Idle);
            if (idle || !node.queue.is_empty()) && self.wants_links(n) {
                self.nodes.mark(n);
            }
        }
    }
}
