//! Runs one phase (a test, or a mix) against one target: worker threads with a current-thread runtime
//! each (DESIGN §5), a start barrier after every connection is up, progress and live lines while it
//! runs, and Ctrl-C / duration handling that keeps what was measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::cluster::Route;
use crate::config::Workload;
use crate::conn::{Auth, ConnError};
use crate::stats::{OpStats, Recorder, SharedRecorder, merge_all, merged_second};
use crate::worker::{RunShared, Worker};
use crate::workload::Op;
use crate::workload::generator::payload;
use crate::workload::pacing::{Budget, Pacer, Schedule};
use crate::workload::template::Template;

/// How long workers get to finish their batch after the run is told to stop, before their runtime
/// is dropped (a stalled server must not hold the run hostage).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// One phase: a test (or a mix) of the planned workload, against one target.
#[derive(Clone, Debug)]
pub struct PhaseSpec<'a> {
    pub workload: &'a Workload,
    pub ops: Vec<Op>,
    pub weights: Vec<u32>,
    /// The workload's key space, resolved for the target (cluster runs default to more keys).
    pub keyspace: u64,
    pub seed: u64,
    pub retry_window: Duration,
}

pub struct PhaseResult {
    pub stats: Vec<OpStats>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Requests claimed but never answered (the run was stopped while they were in flight).
    pub unanswered: u64,
    /// Open loop: the largest lag between a request's intended time and when a worker took it.
    pub max_lag: Option<Duration>,
}

/// Receives progress while a phase runs (console progress bar and live lines live elsewhere).
pub trait Progress {
    fn tick(&mut self, completed: u64, total: Option<u64>, elapsed: Duration);
    /// One finished second of the timeline, merged over threads, per command.
    fn second(&mut self, sec: usize, ops: &[Op], rows: &[Option<crate::stats::Second>]);
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("cannot start worker thread: {0}")]
    Thread(String),
}

/// Runs the phase to completion on the calling runtime's thread (which only orchestrates).
pub async fn run_phase(
    spec: &PhaseSpec<'_>,
    route: Route,
    auth: &Auth,
    stop: Arc<AtomicBool>,
    progress: &mut dyn Progress,
) -> Result<PhaseResult, RunError> {
    let limit = spec.workload.requests.unwrap_or(u64::MAX);
    let pacer = match spec.workload.rps {
        Some(rate) => Pacer::Open(Schedule::unstarted(rate, limit)),
        None => Pacer::Closed(Budget::new(limit)),
    };
    let threads = spec.workload.threads.clamp(1, spec.workload.clients.max(1));
    let shared = Arc::new(RunShared {
        ops: spec.ops.clone(),
        weights: spec.weights.clone(),
        encode: spec.workload.encode.clone(),
        templates: spec
            .ops
            .iter()
            .map(|&op| Template::compile(op, &spec.workload.encode))
            .collect(),
        pacer,
        pipeline: spec.workload.pipeline,
        auth: auth.clone(),
        route,
        stop: Arc::new(AtomicBool::new(false)),
        start: OnceLock::new(),
        duration: spec.workload.duration,
        end_us: AtomicU64::new(0),
        payload: payload(spec.workload.sizes.max),
        keyspace: spec.keyspace,
        key_dist: spec.workload.key_dist.clone(),
        sizes: spec.workload.sizes,
        seed: spec.seed,
        workers: spec.workload.clients as u64,
        read_from_replicas: spec.workload.read_from_replicas,
        retry_window: spec.retry_window,
        completed: AtomicU64::new(0),
    });
    let open_loop = spec.workload.rps.is_some();
    let placeholder = Instant::now();
    let recorders: Vec<SharedRecorder> = (0..threads)
        .map(|_| SharedRecorder::new(Recorder::new(placeholder, spec.ops.len(), open_loop)))
        .collect();

    let mut ready_rx = Vec::new();
    let mut go_tx = Vec::new();
    let mut done_rx = Vec::new();
    let mut handles = Vec::new();
    for (t, rec) in recorders.iter().enumerate() {
        // Spread clients evenly: thread t runs clients t, t+threads, ...
        let ids: Vec<u64> = (t..spec.workload.clients)
            .step_by(threads)
            .map(|i| i as u64)
            .collect();
        let (rtx, rrx) = oneshot::channel::<Result<(), ConnError>>();
        let (gtx, grx) = oneshot::channel::<bool>();
        let (dtx, drx) = oneshot::channel::<()>();
        let shared = shared.clone();
        let rec = rec.clone();
        let h = std::thread::Builder::new()
            .name(format!("rbench-w{t}"))
            .spawn(move || worker_thread(shared, rec, ids, rtx, grx, dtx))
            .map_err(|e| RunError::Thread(e.to_string()))?;
        ready_rx.push(rrx);
        go_tx.push(gtx);
        done_rx.push(drx);
        handles.push(h);
    }

    // Barrier: every connection up (or the first error) before the clock starts.
    let mut first_err = None;
    for r in ready_rx {
        match r.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(ConnError::Eof {
                    addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                });
            }
        }
    }
    if let Some(e) = first_err {
        for g in go_tx {
            let _ = g.send(false);
        }
        join_threads(handles).await;
        return Err(RunError::Conn(e));
    }

    let start = Instant::now();
    let _ = shared.start.set(start);
    if let Pacer::Open(s) = &shared.pacer {
        s.start(start);
    }
    for r in &recorders {
        r.lock().start = start;
    }
    for g in go_tx {
        let _ = g.send(true);
    }

    let mut all_done = futures_util::future::join_all(done_rx);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_second = 1usize;
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = &mut all_done => break,
            _ = tick.tick() => {
                let now = Instant::now();
                if stop.load(Ordering::Relaxed) && !shared.stop.load(Ordering::Relaxed) {
                    interrupted = true;
                    shared.stop.store(true, Ordering::Relaxed);
                }
                progress.tick(shared.completed.load(Ordering::Relaxed), spec.workload.requests, now - start);
                // A second is shown once it is over (plus a little, for replies still in flight).
                while now.saturating_duration_since(start) >= Duration::from_millis(next_second as u64 * 1000 + 50) {
                    let rows: Vec<_> = (0..spec.ops.len())
                        .map(|op| merged_second(&recorders, op, next_second - 1))
                        .collect();
                    progress.second(next_second, &spec.ops, &rows);
                    next_second += 1;
                }
            }
        }
    }
    join_threads(handles).await;

    let end_us = shared.end_us.load(Ordering::Relaxed);
    let mut elapsed = if end_us > 0 {
        Duration::from_micros(end_us)
    } else {
        start.elapsed()
    };
    if let Some(d) = spec.workload.duration {
        elapsed = elapsed.min(d.max(Duration::from_millis(1)));
    }
    let stats = merge_all(&recorders, spec.ops.len());
    let finished: u64 = stats.iter().map(|s| s.requests()).sum();
    let unanswered = shared.pacer.claimed().saturating_sub(finished);
    let max_lag = match &shared.pacer {
        Pacer::Open(s) => Some(s.max_lag()),
        Pacer::Closed(_) => None,
    };
    Ok(PhaseResult {
        stats,
        elapsed,
        interrupted,
        unanswered,
        max_lag,
    })
}

async fn join_threads(handles: Vec<std::thread::JoinHandle<()>>) {
    let _ = tokio::task::spawn_blocking(move || {
        for h in handles {
            let _ = h.join();
        }
    })
    .await;
}

fn worker_thread(
    shared: Arc<RunShared>,
    rec: SharedRecorder,
    ids: Vec<u64>,
    ready: oneshot::Sender<Result<(), ConnError>>,
    go: oneshot::Receiver<bool>,
    done: oneshot::Sender<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(ConnError::Io {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                source: e,
            }));
            return;
        }
    };
    rt.block_on(async move {
        let mut workers: Vec<Worker> = ids
            .iter()
            .map(|&id| Worker::new(shared.clone(), id, rec.clone()))
            .collect();
        let connected =
            futures_util::future::join_all(workers.iter_mut().map(|w| w.connect_first())).await;
        let first_err = connected.into_iter().find_map(Result::err);
        let failed = first_err.is_some();
        let _ = ready.send(match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        });
        if failed || !go.await.unwrap_or(false) {
            return;
        }
        let tasks: Vec<_> = workers.into_iter().map(|w| tokio::spawn(w.run())).collect();
        let all = futures_util::future::join_all(tasks);
        tokio::select! {
            _ = all => {}
            _ = grace_after_stop(&shared) => {}
        }
    });
    // Dropping the runtime cancels workers still stuck on a stalled server.
    drop(rt);
    let _ = done.send(());
}

async fn grace_after_stop(shared: &RunShared) {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if shared.stopping(Instant::now()) {
            tokio::time::sleep(STOP_GRACE).await;
            return;
        }
    }
}
