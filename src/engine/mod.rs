//! The engine: one event loop per thread (as redis-benchmark's ae loop) driving every connection of
//! that thread's clients. Each connection keeps up to `-P` requests in flight and a reply frees its
//! slot at once (sliding windows); in cluster mode each node has its own queue, so a slow or dead
//! node never holds back requests to the others. Open-loop requests are sent when due, woken by a
//! timerfd, and recording is per thread without locks. Knows nothing of output: it hands a
//! `Recorder` back, and finished seconds to the live view.

mod admission;
mod dispatch;
mod event_loop;
pub mod link;
mod nodes;
mod settle;
pub mod timer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::cluster::Route;
use crate::conn::{Auth, ConnError};
use crate::resp::ErrorClass;
use crate::stats::{Recorder, Second};
use crate::workload::lanes::Lanes;
use crate::workload::pacing::Budget;
use crate::workload::{DrawnArgs, Workload};

use crate::net::Transport;
pub use event_loop::Engine;
use timer::Ns;

/// How long in-flight requests get to finish once the run is told to stop (a stalled server must
/// not hold the run hostage).
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Within the grace, the wait also ends once no reply has come for this long (or twice the
/// slowest reply seen, if longer): a server that stopped answering costs a test this, not 2 s.
pub const STOP_QUIET: Duration = Duration::from_millis(200);
/// How long a connection may leave a request unanswered before it is declared dead (the request is
/// then retried, elsewhere in a cluster as after a failover; a silent server fails it as `timeout`).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every thread of one run shares: read-only while it runs, but for the stop flag and the
/// closed-loop budget (claimed in chunks).
pub struct RunShared {
    /// The phase's workload as config resolved it: pipeline, sizes, key distribution, duration,
    /// open-loop rate (`rps`), keepalive... The engine reads its settings here.
    pub load: Workload,
    /// The phase's commands, one per results row: template, key space, sizes, TTL.
    pub lanes: Arc<Lanes>,
    pub auth: Auth,
    pub dial: crate::net::Dialer,
    pub route: Route,
    /// Set by Ctrl-C: stop sending, finish what is in flight.
    pub stop: AtomicBool,
    pub payload: Vec<u8>,
    pub keyspace: u64,
    pub seed: u64,
    pub threads: usize,
    /// How long a request that hit a fault (lost connection, CLUSTERDOWN...) keeps being retried.
    pub retry_window: Duration,
    /// Closed loop: the run's request budget.
    pub budget: Budget,
    /// The run's request limit (open loop: the schedule's).
    pub limit: u64,
}

/// One request, from its draw to its last reply. Times are the thread clock's nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub draw: DrawnArgs,
    /// Latency is measured from here: the schedule's intended time (open loop) or the first send.
    pub intended: Ns,
    pub sent: Ns,
    pub vlen: u32,
    /// The drawn TTL (ms), for a command with one.
    pub ttl_ms: u32,
    pub attempts: u16,
    /// The node id an ASK redirect named: sent there with ASKING first instead of to the slot
    /// owner (`NO_NODE`: none).
    pub ask_node: u16,
    pub op: u8,
    pub redirects: u8,
    pub last_err: ErrorClass,
    /// `RELOAD`, `NIL_FAILS`: one byte, so a request (and a window entry holding one) stays
    /// within 128 bytes, which the compiler moves without a memcpy call (measured: +30
    /// instructions a request past it).
    pub flags: u8,
}

impl Req {
    /// Met NOSCRIPT: the script is loaded again on the link before the request is resent.
    pub const RELOAD: u8 = 1;
    /// Ends with an EXEC: a nil reply is a failed WATCH (`exec_nil`), not a success.
    pub const NIL_FAILS: u8 = 2;

    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

const _: () = assert!(std::mem::size_of::<Req>() <= 120, "see Req::flags");

impl Req {
    /// A request of `op` intended at `intended`, nothing drawn, never sent: what the engine's
    /// unit tests queue, route and settle (and a stand-in where a reply has no request).
    pub(crate) fn test(op: u8, intended: Ns) -> Req {
        Req {
            draw: DrawnArgs::default(),
            intended,
            sent: intended,
            vlen: 0,
            ttl_ms: 0,
            attempts: 0,
            ask_node: crate::cluster::topology::NO_NODE,
            op,
            redirects: 0,
            last_err: ErrorClass::Other,
            flags: 0,
        }
    }

    pub(crate) fn blank() -> Req {
        Req::test(0, 0)
    }
}

impl Req {
    /// Never sent yet (no retry or redirect behind it).
    #[inline]
    pub fn fresh(&self) -> bool {
        self.attempts == 0 && self.redirects == 0
    }
}

/// One finished second of the run, from one thread, for the live view: its rows are moved out of
/// the thread's recorder (which keeps no copy). A thread's last message has `sec == usize::MAX`:
/// it reports no more seconds.
pub struct LiveSecond {
    pub thread: usize,
    pub sec: usize,
    pub rows: Vec<Option<Second>>,
    /// Open loop: the most the thread itself was late taking a due request in this second (µs;
    /// see `ThreadReport::own_lag`). Closed loop: 0.
    pub own_lag_us: u64,
    /// Open loop: the most a request left after its intended time in this second (µs; the
    /// run's `max_lag`, second by second). Closed loop: 0.
    pub sched_lag_us: u64,
    /// Sent as the thread ended, not because the clock passed it: the second the run ended in
    /// (or one after a timed run's end, holding late replies).
    pub partial: bool,
}

impl LiveSecond {
    /// The thread's last message: no more seconds from it.
    pub fn end(thread: usize) -> LiveSecond {
        LiveSecond {
            thread,
            sec: usize::MAX,
            rows: Vec::new(),
            own_lag_us: 0,
            sched_lag_us: 0,
            partial: false,
        }
    }
}

/// How a thread talks to the orchestrator while it runs.
pub struct ThreadIo {
    pub index: usize,
    pub clients: usize,
    pub live: std::sync::mpsc::Sender<LiveSecond>,
    /// Requests finished so far, for the progress bar (written a few times a second).
    pub completed: Arc<AtomicU64>,
}

/// The start barrier: a thread reports its connections up (or the first error), then waits for the
/// run's start instant (None: give up).
pub struct Barrier {
    pub ready: oneshot::Sender<Result<(), ConnError>>,
    pub go: oneshot::Receiver<Option<Instant>>,
}

/// What a thread measured.
pub struct ThreadReport {
    pub rec: Recorder,
    /// When the thread stopped measuring.
    pub end: Instant,
    /// Requests taken from the budget or schedule (answered or not).
    pub claimed: u64,
    pub max_lag: Duration,
    /// Open loop: the client's own delay in taking due requests (µs).
    pub own_lag: hdrhistogram::Histogram<u64>,
    /// The server refused a connection opened at set-up (its first reply): the run fails.
    pub fatal: Option<ConnError>,
}

/// A worker thread's whole life: connect, wait for the start, run, report.
pub fn run_thread<T: Transport>(
    shared: Arc<RunShared>,
    io: ThreadIo,
    barrier: Barrier,
) -> Option<ThreadReport> {
    let mut engine = match Engine::<T>::new(shared, io) {
        Ok(e) => e,
        Err(e) => {
            let _ = barrier.ready.send(Err(e));
            return None;
        }
    };
    let connected = engine.connect_all();
    let ok = connected.is_ok();
    let _ = barrier.ready.send(connected);
    if !ok {
        return None;
    }
    let start = barrier.go.blocking_recv().ok().flatten()?;
    wait_until(start);
    Some(engine.run_from(start))
}

/// Waits for the run's start instant: a sleep to just before it (a sleep can overshoot by the
/// timer slack), then a spin, so the first requests go when due rather than a wake-up late.
fn wait_until(start: Instant) {
    const SPIN: std::time::Duration = std::time::Duration::from_micros(300);
    let now = Instant::now();
    if start > now + SPIN {
        std::thread::sleep(start - now - SPIN);
    }
    while Instant::now() < start {
        std::hint::spin_loop();
    }
}
