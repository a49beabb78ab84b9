//! Runs one phase (a test, or a mix) against one target: engine threads (one event loop each,
//! DESIGN §5), a start barrier after every connection is up, progress and live lines while it
//! runs, and Ctrl-C / duration handling that keeps what was measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use crate::cluster::Route;
use crate::config::Workload;
use crate::conn::{Auth, ConnError};
use crate::engine::{self, Barrier, LiveSecond, RunShared, ThreadIo, ThreadReport};
use crate::net::Dialer;
use crate::observe::threads::{ClientSecond, CpuSecond, ThreadCpu};
use crate::stats::{OpStats, RateBands, Second, Tick, kept_seconds, merge_all};
use crate::stop::Stop;
use crate::workload::generator::payload;
use crate::workload::lanes::Lanes;
use crate::workload::pacing::Budget;
use crate::workload::shape::{Rate, Shape};

/// One phase: a test (or a mix) of the planned workload, against one target.
#[derive(Clone, Debug)]
pub struct PhaseSpec<'a> {
    pub workload: &'a Workload,
    /// The phase's commands resolved for this target: one lane per results row.
    pub lanes: Arc<Lanes>,
    /// The workload's key space, resolved for the target (cluster runs default to more keys).
    pub keyspace: u64,
    pub seed: u64,
    pub retry_window: Duration,
    /// Set to the measurement's start instant once every connection is up (faults count from it).
    pub started: Option<&'a std::sync::OnceLock<Instant>>,
    /// `--start-at`: with every connection up, the load waits for this wall-clock instant.
    pub start_at: Option<SystemTime>,
    /// Keep every second's histograms in `PhaseResult::hlog` (a search's steps, whose chosen row
    /// writes its whole `.hlog` at the end); a measured phase streams its seconds instead.
    pub keep_hists: bool,
}

impl<'a> PhaseSpec<'a> {
    /// The same phase run with another workload (a warm-up, a step of a search).
    pub fn with_workload<'w>(&self, workload: &'w Workload) -> PhaseSpec<'w>
    where
        'a: 'w,
    {
        PhaseSpec {
            workload,
            lanes: self.lanes.clone(),
            ..*self
        }
    }
}

pub struct PhaseResult {
    pub stats: Vec<OpStats>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Requests sent but never answered (the run was stopped while they were in flight).
    pub unanswered: u64,
    /// Open loop: the largest lag between a request's intended time and its send.
    pub max_lag: Option<Duration>,
    /// Open loop: the client's own delay in taking due requests (µs; see engine `own_lag`).
    pub client_lag: Option<hdrhistogram::Histogram<u64>>,
    /// The wall-clock instant the measured window began.
    pub started_at: SystemTime,
    /// `--start-at` had already passed when every connection was up, by this much.
    pub late: Option<Duration>,
    /// Per command (lane), one tick per second of the phase (`stats::fold_tail`'s rule: replies
    /// after a timed run's end are in its last second).
    pub timeline: Vec<Vec<Tick>>,
    /// Per command, each second's histogram, as `timeline` (only with `PhaseSpec::keep_hists`).
    pub hlog: Vec<Vec<hdrhistogram::Histogram<u64>>>,
    /// One per second of the phase: the client's CPU and lags, merged over its threads.
    pub client: Vec<ClientSecond>,
    /// A rate shape's latencies by band of its peak rate (None for a fixed rate or closed loop).
    pub bands: Option<RateBands>,
}

/// Receives progress while a phase runs (console progress bar and live lines live elsewhere).
pub trait Progress {
    /// The measurement began, at this wall-clock instant (before any tick or second).
    fn started(&mut self, _at: SystemTime) {}
    fn tick(&mut self, completed: u64, total: Option<u64>, elapsed: Duration);
    /// One finished second (1-based) of the timeline, merged over threads: a row per command, in
    /// the phase's order (the sink was told their names when it was made).
    fn second(&mut self, sec: usize, rows: &[Option<Second>]);
    /// A second the phase ended in, sent as it ended (the clock not past it; or a second after a
    /// timed run's end, holding late replies): part of the timeline, not shown as a live line.
    fn partial(&mut self, _sec: usize, _rows: &[Option<Second>]) {}
}

/// Progress that shows nothing (warm-ups, tests).
pub struct NoProgress;

impl Progress for NoProgress {
    fn tick(&mut self, _: u64, _: Option<u64>, _: Duration) {}
    fn second(&mut self, _: usize, _: &[Option<Second>]) {}
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("cannot start worker thread: {0}")]
    Thread(String),
}

fn shared_for(
    spec: &PhaseSpec<'_>,
    route: Route,
    auth: &Auth,
    dial: &Dialer,
    threads: usize,
) -> RunShared {
    let w = spec.workload;
    let limit = w.requests.unwrap_or(u64::MAX);
    RunShared {
        load: w.clone(),
        lanes: spec.lanes.clone(),
        auth: auth.clone(),
        dial: dial.clone(),
        route,
        stop: AtomicBool::new(false),
        payload: payload(spec.lanes.max_value(), w.data_kind, spec.seed),
        keyspace: spec.keyspace,
        seed: spec.seed,
        threads,
        retry_window: spec.retry_window,
        budget: Budget::new(limit),
        limit,
    }
}

/// How far ahead of the go signal the run's clock starts: more than a thread's wake-up from the
/// barrier on a loaded machine (tens of µs to a millisecond) and the server sampler's baseline
/// INFO, little enough to be unseen.
pub const START_LEAD: Duration = Duration::from_millis(10);

/// A started engine thread and its ends of the channels.
struct Worker {
    handle: std::thread::JoinHandle<Option<ThreadReport>>,
    ready: oneshot::Receiver<Result<(), ConnError>>,
    go: oneshot::Sender<Option<Instant>>,
    completed: Arc<AtomicU64>,
}

fn spawn_workers(
    shared: &Arc<RunShared>,
    clients: usize,
    live: &mpsc::Sender<LiveSecond>,
) -> Result<Vec<Worker>, RunError> {
    let threads = shared.threads;
    let mut out = Vec::with_capacity(threads);
    for t in 0..threads {
        // Spread clients evenly: thread t runs clients t, t+threads, ...
        let mine = (t..clients).step_by(threads).count();
        let (rtx, rrx) = oneshot::channel();
        let (gtx, grx) = oneshot::channel();
        let completed = Arc::new(AtomicU64::new(0));
        let io = ThreadIo {
            index: t,
            clients: mine,
            live: live.clone(),
            completed: completed.clone(),
        };
        let barrier = Barrier {
            ready: rtx,
            go: grx,
        };
        let shared = shared.clone();
        // Plain TCP keeps bare sockets (no transport dispatch per read and write).
        let plain = match &shared.route {
            Route::Single(p) => shared.dial.is_plain(p),
            Route::Cluster(_) => shared.dial.tls.is_none(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("rbench-w{t}"))
            .spawn(move || match plain {
                true => engine::run_thread::<mio::net::TcpStream>(shared, io, barrier),
                false => engine::run_thread::<crate::net::Stream>(shared, io, barrier),
            })
            .map_err(|e| RunError::Thread(e.to_string()))?;
        out.push(Worker {
            handle,
            ready: rrx,
            go: gtx,
            completed,
        });
    }
    Ok(out)
}

/// Runs the phase to completion; the calling runtime's thread only orchestrates.
pub async fn run_phase(
    spec: &PhaseSpec<'_>,
    route: Route,
    auth: &Auth,
    dial: &Dialer,
    stop: &Stop,
    progress: &mut dyn Progress,
) -> Result<PhaseResult, RunError> {
    let threads = spec.workload.threads.clamp(1, spec.workload.clients.max(1));
    let shared = Arc::new(shared_for(spec, route, auth, dial, threads));
    let (live_tx, live_rx) = mpsc::channel();
    let mut workers = spawn_workers(&shared, spec.workload.clients, &live_tx)?;
    drop(live_tx);

    // Barrier: every connection up (or the first error) before the clock starts.
    if let Some(e) = all_ready(&mut workers).await {
        for w in workers {
            let _ = w.go.send(None);
            join(w.handle).await;
        }
        return Err(e);
    }

    let late = match spec.start_at {
        Some(at) => match wait_until(at, stop).await {
            Waited::Stopped => {
                for w in workers {
                    let _ = w.go.send(None);
                    join(w.handle).await;
                }
                return Ok(PhaseResult::stopped_before_start());
            }
            Waited::Late(by) => Some(by),
            Waited::OnTime => None,
        },
        None => None,
    };
    // The clock starts a little ahead, so every thread is awake and waiting when the first requests
    // fall due: started at "now", the schedule's first requests were late by each thread's wake-up
    // from the barrier, a burst that made the first second's tail the worst of every open-loop run.
    let start = Instant::now() + START_LEAD;
    let clock = Clock {
        start,
        wall: SystemTime::now() + START_LEAD,
        late,
    };
    if let Some(s) = spec.started {
        let _ = s.set(start);
    }
    progress.started(clock.wall);
    let mut handles = Vec::with_capacity(workers.len());
    let mut counters = Vec::with_capacity(workers.len());
    for w in workers {
        let _ = w.go.send(Some(start));
        handles.push(w.handle);
        counters.push(w.completed);
    }
    let timeline = Timeline::new(
        spec.lanes.lanes.len(),
        kept_seconds(spec.workload.duration),
        spec.keep_hists,
    );
    let mut live = LiveView::new(threads, timeline, counters);
    if let Some(Rate::Shaped(s)) = &spec.workload.rps {
        live.bands = Some((s.clone(), RateBands::new(spec.lanes.lanes.len())));
    }
    let mut reports = watch(
        spec, &shared, stop, progress, &mut live, &live_rx, start, handles,
    )
    .await;
    // A refusal met on a set-up connection fails the phase as it would have at set-up.
    if let Some(e) = reports.iter_mut().find_map(|r| r.fatal.take()) {
        return Err(RunError::Conn(e));
    }
    let mut res = finish(spec, &shared, reports, &clock, live.interrupted);
    res.bands = live.bands.take().map(|(_, b)| b);
    (res.timeline, res.hlog, res.client) = live.finish();
    Ok(res)
}

/// Waits for every thread's connections; the first error, if any.
async fn all_ready(workers: &mut [Worker]) -> Option<RunError> {
    let mut first_err: Option<RunError> = None;
    for w in workers.iter_mut() {
        match (&mut w.ready).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(RunError::Conn(e));
            }
            Err(_) => {
                first_err.get_or_insert(RunError::Thread("a worker thread died".into()));
            }
        }
    }
    first_err
}

/// When a phase's measurement began.
struct Clock {
    start: Instant,
    wall: SystemTime,
    late: Option<Duration>,
}

enum Waited {
    OnTime,
    Late(Duration),
    Stopped,
}

/// Sleeps until the wall clock reaches `at` (a stop ends the wait). Timers run on the monotonic
/// clock, so the wall clock is read again when one fires: a clock stepped meanwhile means sleeping
/// on.
async fn wait_until(at: SystemTime, stop: &Stop) -> Waited {
    if let Ok(by) = SystemTime::now().duration_since(at)
        && !by.is_zero()
    {
        return Waited::Late(by);
    }
    loop {
        match at.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() => {
                tokio::select! {
                    () = tokio::time::sleep(left) => {}
                    () = stop.stopped() => return Waited::Stopped,
                }
            }
            _ if stop.is_stopped() => return Waited::Stopped,
            _ => return Waited::OnTime,
        }
    }
}

/// Ticks progress and the live view until every thread is done; returns their reports.
#[allow(clippy::too_many_arguments)]
async fn watch(
    spec: &PhaseSpec<'_>,
    shared: &Arc<RunShared>,
    stop: &Stop,
    progress: &mut dyn Progress,
    live: &mut LiveView,
    live_rx: &mpsc::Receiver<LiveSecond>,
    start: Instant,
    handles: Vec<std::thread::JoinHandle<Option<ThreadReport>>>,
) -> Vec<ThreadReport> {
    let mut joined = tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect::<Vec<_>>()
    });
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The client's CPU, once a second of the phase (aligned to its start).
    let second = Duration::from_secs(1);
    let first = tokio::time::Instant::from_std(start + second);
    let mut cpu_tick = tokio::time::interval_at(first, second);
    cpu_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = &mut joined => {
                live.sample_cpu(true);
                live.drain(live_rx, progress);
                return r.unwrap_or_default();
            }
            _ = cpu_tick.tick() => live.sample_cpu(false),
            // The engine threads check their own flag between steps: the run's stop is copied
            // into it once, when it comes.
            () = stop.stopped(), if !live.interrupted => {
                live.interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
            _ = tick.tick() => {
                live.drain(live_rx, progress);
                progress.tick(live.completed(), spec.workload.requests, start.elapsed());
            }
        }
    }
}

fn finish(
    spec: &PhaseSpec<'_>,
    shared: &RunShared,
    reports: Vec<ThreadReport>,
    clock: &Clock,
    interrupted: bool,
) -> PhaseResult {
    let start = clock.start;
    let end = reports
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or_else(Instant::now);
    let mut elapsed = end.saturating_duration_since(start);
    if let Some(d) = spec.workload.duration {
        elapsed = elapsed.min(d.max(Duration::from_millis(1)));
    }
    let claimed: u64 = reports.iter().map(|r| r.claimed).sum();
    let max_lag = shared
        .load
        .rps
        .as_ref()
        .map(|_| reports.iter().map(|r| r.max_lag).max().unwrap_or_default());
    let client_lag = shared.load.rps.as_ref().map(|_| {
        let mut h = crate::stats::new_histogram();
        for r in &reports {
            let _ = h.add(&r.own_lag);
        }
        h
    });
    let recs: Vec<_> = reports.into_iter().map(|r| r.rec).collect();
    let stats = merge_all(&recs, spec.lanes.lanes.len());
    let finished: u64 = stats.iter().map(|s| s.requests()).sum();
    PhaseResult {
        stats,
        elapsed: elapsed.max(Duration::from_micros(1)),
        interrupted,
        unanswered: claimed.saturating_sub(finished),
        max_lag,
        client_lag,
        started_at: clock.wall,
        late: clock.late,
        timeline: Vec::new(),
        hlog: Vec::new(),
        client: Vec::new(),
        bands: None,
    }
}

impl PhaseResult {
    /// A signal arrived while the phase waited for `--start-at`: nothing was measured.
    fn stopped_before_start() -> PhaseResult {
        PhaseResult {
            stats: Vec::new(),
            elapsed: Duration::from_micros(1),
            interrupted: true,
            unanswered: 0,
            max_lag: None,
            client_lag: None,
            started_at: SystemTime::now(),
            late: None,
            timeline: Vec::new(),
            hlog: Vec::new(),
            client: Vec::new(),
            bands: None,
        }
    }
}

async fn join(h: std::thread::JoinHandle<Option<ThreadReport>>) {
    let _ = tokio::task::spawn_blocking(move || h.join()).await;
}

/// Per lane, each second's histogram (`PhaseResult::hlog`).
type LaneHists = Vec<Vec<hdrhistogram::Histogram<u64>>>;

/// One second being merged over the threads: its rows and the threads' largest lags (µs).
struct Merging {
    /// Some thread closed it because its clock passed it (not only as it ended).
    complete: bool,
    rows: Vec<Option<Second>>,
    own_lag_us: u64,
    sched_lag_us: u64,
}

/// Merges the threads' finished seconds: second k is shown once every thread has reported it (or
/// has ended), then kept as ticks in the phase's timeline. Its histograms go no further than the
/// progress sink (unless the phase keeps them), so a long run's memory stays flat.
struct LiveView {
    pending: std::collections::BTreeMap<usize, Merging>,
    /// Per thread: seconds reported so far (usize::MAX once it has ended).
    reported: Vec<usize>,
    /// Each thread's finished-request count.
    counters: Vec<Arc<AtomicU64>>,
    interrupted: bool,
    timeline: Timeline,
    /// Per second (0-based): the largest own lag and lag behind the schedule of any thread (µs).
    lags: Vec<(u64, u64)>,
    cpu: ThreadCpu,
    /// One reading per second of the phase, and when the last was taken.
    cpu_seconds: Vec<CpuSecond>,
    cpu_at: Instant,
    /// A shaped rate: its seconds' latencies by band of its peak.
    bands: Option<(Arc<Shape>, RateBands)>,
}

impl LiveView {
    fn new(threads: usize, timeline: Timeline, counters: Vec<Arc<AtomicU64>>) -> LiveView {
        LiveView {
            pending: Default::default(),
            reported: vec![0; threads],
            counters,
            interrupted: false,
            timeline,
            lags: Vec::new(),
            cpu: ThreadCpu::new(),
            cpu_seconds: Vec::new(),
            cpu_at: Instant::now(),
            bands: None,
        }
    }

    fn completed(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Reads the client's CPU for the second just ended. `last`: the phase ended within a
    /// second; a sliver shorter than 0.1 s is left out (a few clock ticks would read as cores).
    fn sample_cpu(&mut self, last: bool) {
        if last && self.cpu_at.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.cpu_seconds.push(self.cpu.sample());
        self.cpu_at = Instant::now();
    }

    fn drain(&mut self, rx: &mpsc::Receiver<LiveSecond>, progress: &mut dyn Progress) {
        let n_ops = self.timeline.lanes.len();
        while let Ok(s) = rx.try_recv() {
            if let Some(r) = self.reported.get_mut(s.thread) {
                *r = if s.sec == usize::MAX {
                    usize::MAX
                } else {
                    s.sec + 1
                };
            }
            if s.sec == usize::MAX {
                continue;
            }
            let acc = self.pending.entry(s.sec).or_insert_with(|| Merging {
                complete: false,
                rows: vec![None; n_ops],
                own_lag_us: 0,
                sched_lag_us: 0,
            });
            acc.complete |= !s.partial;
            acc.own_lag_us = acc.own_lag_us.max(s.own_lag_us);
            acc.sched_lag_us = acc.sched_lag_us.max(s.sched_lag_us);
            for (a, row) in acc.rows.iter_mut().zip(s.rows) {
                match (a.as_mut(), row) {
                    (Some(a), Some(r)) => a.merge(&r),
                    (None, Some(r)) => *a = Some(r),
                    _ => {}
                }
            }
        }
        let complete = self.reported.iter().copied().min().unwrap_or(usize::MAX);
        while let Some((&sec, _)) = self.pending.iter().next() {
            if sec >= complete {
                break;
            }
            let Some(m) = self.pending.remove(&sec) else {
                break;
            };
            match m.complete {
                true => progress.second(sec + 1, &m.rows),
                false => progress.partial(sec + 1, &m.rows),
            }
            let k = sec.min(self.timeline.keep - 1);
            if self.lags.len() <= k {
                self.lags.resize(k + 1, (0, 0));
            }
            let l = &mut self.lags[k];
            *l = (l.0.max(m.own_lag_us), l.1.max(m.sched_lag_us));
            if let Some((shape, bands)) = &mut self.bands {
                let due = shape.area((sec + 1) as f64) - shape.area(sec as f64);
                bands.add(RateBands::band_of(due / shape.peak()), &m.rows);
            }
            self.timeline.add(sec, m.rows);
        }
    }

    /// The phase's timeline (per lane), its kept histograms and the client's seconds.
    fn finish(self) -> (Vec<Vec<Tick>>, LaneHists, Vec<ClientSecond>) {
        let keep = self.timeline.keep;
        let n = self.cpu_seconds.len().max(self.lags.len()).min(keep);
        let client = (0..n)
            .map(|k| {
                let c = self.cpu_seconds.get(k).copied().unwrap_or_default();
                let (own, sched) = self.lags.get(k).copied().unwrap_or_default();
                ClientSecond {
                    busiest_cpu: c.busiest,
                    busiest_demand: c.busiest_demand,
                    engine_cpu: c.engine,
                    process_cpu: c.process,
                    own_lag_ms: crate::stats::ms(own),
                    sched_lag_ms: crate::stats::ms(sched),
                }
            })
            .collect();
        let (ticks, hists) = self.timeline.finish();
        (ticks, hists, client)
    }
}

/// A phase's timeline built as its seconds complete: a tick per lane and second, with
/// `stats::fold_tail`'s rule (second `keep` and later fold into the last, held back until the
/// phase ends). A lane's timeline ends with its last second that had anything, as the merged
/// per-command seconds did.
struct Timeline {
    /// Seconds a timed run's timeline has (usize::MAX: not timed).
    keep: usize,
    lanes: Vec<LaneTimeline>,
    keep_hists: bool,
}

#[derive(Default)]
struct LaneTimeline {
    ticks: Vec<Tick>,
    hists: Vec<hdrhistogram::Histogram<u64>>,
    /// The last second of a timed run, with the replies that came after its end.
    held: Option<Second>,
}

impl Timeline {
    fn new(lanes: usize, keep: usize, keep_hists: bool) -> Timeline {
        Timeline {
            keep,
            lanes: (0..lanes).map(|_| LaneTimeline::default()).collect(),
            keep_hists,
        }
    }

    /// Second `sec` (0-based) of every lane.
    fn add(&mut self, sec: usize, rows: Vec<Option<Second>>) {
        let last = self.keep - 1;
        for (lane, row) in self.lanes.iter_mut().zip(rows) {
            let Some(s) = row else { continue };
            if sec >= last {
                match &mut lane.held {
                    Some(h) => h.merge(&s),
                    None => lane.held = Some(s),
                }
            } else {
                lane.put(sec, s, self.keep_hists);
            }
        }
    }

    fn finish(mut self) -> (Vec<Vec<Tick>>, LaneHists) {
        let last = self.keep.saturating_sub(1);
        for lane in &mut self.lanes {
            if let Some(s) = lane.held.take() {
                lane.put(last, s, self.keep_hists);
            }
        }
        self.lanes.into_iter().map(|l| (l.ticks, l.hists)).unzip()
    }
}

impl LaneTimeline {
    /// Second `sec` of the lane; the seconds before it that had nothing are empty ticks.
    fn put(&mut self, sec: usize, s: Second, keep_hists: bool) {
        self.ticks.resize(sec, Tick::default());
        self.ticks.push(Tick::of(&s));
        if keep_hists {
            self.hists.resize_with(sec, || Second::new().hist);
            self.hists.push(s.hist);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Recorder, new_histogram};

    /// The seconds a phase showed: each one's number and its rows' successful replies.
    #[derive(Default)]
    struct Seen(Vec<(usize, Vec<Option<u64>>)>);

    impl Progress for Seen {
        fn tick(&mut self, _: u64, _: Option<u64>, _: Duration) {}
        fn second(&mut self, sec: usize, rows: &[Option<Second>]) {
            let oks = rows.iter().map(|r| r.as_ref().map(|s| s.ok)).collect();
            self.0.push((sec, oks));
        }
    }

    fn ok(n: u64) -> Option<Second> {
        Some(Second {
            ok: n,
            ..Second::new()
        })
    }

    /// Thread `thread`'s second `sec` (0-based; usize::MAX: the thread ended).
    fn report(tx: &mpsc::Sender<LiveSecond>, thread: usize, sec: usize, rows: Vec<Option<Second>>) {
        let lag = (sec as u64)
            .saturating_add(1)
            .saturating_mul(1000)
            .saturating_add(thread as u64);
        tx.send(LiveSecond {
            thread,
            sec,
            rows,
            own_lag_us: lag,
            sched_lag_us: lag.saturating_mul(2),
            partial: false,
        })
        .unwrap();
    }

    fn view(threads: usize, lanes: usize, keep: usize) -> LiveView {
        LiveView::new(threads, Timeline::new(lanes, keep, true), Vec::new())
    }

    #[test]
    fn a_second_shows_once_every_thread_reported_it_or_ended() {
        let (tx, rx) = mpsc::channel();
        let mut live = view(2, 2, usize::MAX);
        let mut seen = Seen::default();
        report(&tx, 0, 0, vec![ok(10), None]);
        report(&tx, 0, 1, vec![ok(11), ok(1)]);
        live.drain(&rx, &mut seen);
        assert!(seen.0.is_empty(), "thread 1 has reported nothing yet");
        report(&tx, 1, 0, vec![ok(5), ok(3)]);
        live.drain(&rx, &mut seen);
        // Merged per command; second 2 waits for thread 1.
        assert_eq!(seen.0, [(1, vec![Some(15), Some(3)])]);
        report(&tx, 1, usize::MAX, Vec::new());
        report(&tx, 0, 2, vec![None, ok(2)]);
        live.drain(&rx, &mut seen);
        // An ended thread holds nothing back; each second shows once, in order.
        assert_eq!(
            seen.0[1..],
            [(2, vec![Some(11), Some(1)]), (3, vec![None, Some(2)])]
        );
        live.drain(&rx, &mut seen);
        assert_eq!(seen.0.len(), 3);
        let (ticks, hists, client) = live.finish();
        let oks = |lane: &[Tick]| lane.iter().map(|t| t.ok).collect::<Vec<_>>();
        assert_eq!(oks(&ticks[0]), [15, 11], "a lane ends at its last second");
        assert_eq!(oks(&ticks[1]), [3, 1, 2]);
        assert_eq!(hists[1].len(), 3);
        // The lags of a second are the largest of any thread's.
        let lags: Vec<_> = client
            .iter()
            .map(|c| (c.own_lag_ms, c.sched_lag_ms))
            .collect();
        assert_eq!(lags, [(1.001, 2.002), (2.0, 4.0), (3.0, 6.0)]);
    }

    #[test]
    fn a_timed_runs_late_replies_fold_into_its_last_second() {
        let (tx, rx) = mpsc::channel();
        // --duration 2: seconds 3 and 4 (replies in flight at the end) fold into second 2.
        let mut live = view(1, 2, 2);
        let mut seen = Seen::default();
        for (sec, n) in [(0, 10), (1, 20)] {
            report(&tx, 0, sec, vec![ok(n), None]);
        }
        // Sent as the thread ended: in the timeline, not shown as live lines.
        for (sec, n) in [(2, 3), (3, 1)] {
            let rows = vec![ok(n), None];
            let (own_lag_us, sched_lag_us) = (4000, 0);
            let partial = true;
            let last = LiveSecond {
                thread: 0,
                sec,
                rows,
                own_lag_us,
                sched_lag_us,
                partial,
            };
            tx.send(last).unwrap();
        }
        report(&tx, 0, usize::MAX, Vec::new());
        live.drain(&rx, &mut seen);
        assert_eq!(seen.0.len(), 2, "the sink shows complete seconds only");
        let (ticks, hists, client) = live.finish();
        assert_eq!(ticks[0].iter().map(|t| t.ok).collect::<Vec<_>>(), [10, 24]);
        assert!(ticks[1].is_empty() && hists[1].is_empty());
        assert_eq!(client.len(), 2);
        assert_eq!(
            client[1].own_lag_ms, 4.0,
            "the largest of the folded seconds"
        );
    }

    #[test]
    fn completed_sums_every_threads_counter() {
        let counters: Vec<_> = [3, 4].map(|n| Arc::new(AtomicU64::new(n))).into();
        let live = LiveView::new(2, Timeline::new(1, usize::MAX, false), counters.clone());
        assert_eq!(live.completed(), 7);
        counters[1].fetch_add(10, Ordering::Relaxed);
        assert_eq!(live.completed(), 17);
    }

    fn workload(args: &[&str]) -> Workload {
        use clap::Parser;
        let argv = std::iter::once("rbench").chain(args.iter().copied());
        let cli = crate::cli::Cli::parse_from(argv);
        crate::config::plan(&cli, &|_| None).unwrap().workload
    }

    /// A thread that stopped `after` the start, having answered `answered` of `claimed` SETs.
    fn thread_report(start: Instant, after: Duration, answered: u64, claimed: u64) -> ThreadReport {
        let mut rec = Recorder::new(1, false);
        for _ in 0..answered {
            rec.ok(0, 0, 100, 100);
        }
        ThreadReport {
            rec,
            end: start + after,
            claimed,
            max_lag: Duration::from_millis(after.as_secs()),
            own_lag: new_histogram(),
            fatal: None,
        }
    }

    /// `finish` over two threads that stopped 2 s and 3 s after the start.
    fn finished(w: &Workload, interrupted: bool) -> PhaseResult {
        let spec = PhaseSpec {
            workload: w,
            lanes: Arc::new(Lanes::build(
                &[(crate::workload::Cmd::Builtin(crate::workload::Op::Set), 1)],
                w,
                1,
                false,
            )),
            keyspace: 1,
            seed: 1,
            retry_window: Duration::from_secs(1),
            started: None,
            start_at: None,
            keep_hists: false,
        };
        let route = Route::Single(crate::net::Peer::Tcp(([127, 0, 0, 1], 6379).into()));
        let shared = shared_for(&spec, route, &Auth::default(), &Dialer::default(), 2);
        let start = Instant::now() + START_LEAD;
        let clock = Clock {
            start,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
            late: Some(Duration::from_millis(7)),
        };
        let reports = vec![
            thread_report(start, Duration::from_secs(2), 4, 5),
            thread_report(start, Duration::from_secs(3), 6, 8),
        ];
        finish(&spec, &shared, reports, &clock, interrupted)
    }

    #[test]
    fn finish_caps_the_elapsed_time_at_the_duration() {
        let timed = workload(&["-t", "set", "--duration", "1"]);
        let r = finished(&timed, false);
        assert_eq!(r.elapsed, Duration::from_secs(1));
        // Counted: the last thread to stop ends the window.
        let counted = workload(&["-t", "set", "-n", "10"]);
        let r = finished(&counted, true);
        assert_eq!(r.elapsed, Duration::from_secs(3));
        assert!(r.interrupted);
        assert_eq!(r.stats.len(), 1);
        assert_eq!(r.stats[0].ok, 10);
        // Claimed but never answered.
        assert_eq!(r.unanswered, 3);
        assert_eq!(
            (r.started_at, r.late),
            (
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
                Some(Duration::from_millis(7))
            )
        );
        // Closed loop: no schedule to lag behind.
        assert!(r.max_lag.is_none() && r.client_lag.is_none());
        let open = workload(&["-t", "set", "-n", "10", "--rps", "100"]);
        assert_eq!(
            finished(&open, false).max_lag,
            Some(Duration::from_millis(3))
        );
    }

    #[test]
    fn a_phase_stopped_before_its_start_measured_nothing() {
        let r = PhaseResult::stopped_before_start();
        assert!(r.stats.is_empty());
        assert!(r.interrupted);
        assert_eq!(r.unanswered, 0);
        assert!(r.elapsed > Duration::ZERO);
        assert!(r.max_lag.is_none() && r.client_lag.is_none() && r.late.is_none());
    }
}
