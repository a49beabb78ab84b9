//! The per-second server sampler: on its own thread (its own current-thread tokio runtime) and its
//! own connections, one `INFO all` per node per interval, aligned on the measured window's start
//! (t0 + k·interval). Each closed second's rows go out on a channel as it closes; `finish` takes a
//! last sample (the partial last second), reads the LATENCY monitor and returns the window's
//! summary. It never touches the engine: the runner only sets the `clock` it waits for.
//!
//! Every node is sampled, replicas included; a cluster's node list is re-read each second, so nodes
//! that appear (failover, restart) are added. A node that does not answer within half an interval
//! is missing that second (values None, never zeros) and is reconnected next second; one that
//! refuses INFO is noted once and not asked again.

use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;

use crate::cluster::Route;
use crate::conn::Auth;
use crate::net::{Dialer, Peer};
use crate::stop::Stop;

use super::latency;
use super::node::{Ctx, Node};
use super::second::ServerSecond;
use super::track::{NodeTrack, Observed};
use super::window::{self, ServerEvent, ServerWindow};

/// How the sampler samples.
#[derive(Clone, Debug)]
pub struct SamplerOpts {
    /// Between two samples (`--server-stats 1s`, the default; `off` is the caller's: no sampler).
    pub interval: Duration,
    /// CONFIG RESETSTAT on each node before the baseline, so latencystats (and the percentiles in
    /// `CmdWindow`) are the window's own. For servers rbench spawned only: it wipes the server's
    /// counters for everyone.
    pub reset_stats: bool,
    /// `Some(ms)`: CONFIG SET latency-monitor-threshold ms on each node when the sampler first
    /// connects to it (1 on spawned servers; `--set-latency-monitor MS` on existing ones). None:
    /// only read it; events are read at `finish` from nodes where it is on.
    pub latency_monitor: Option<u32>,
}

impl Default for SamplerOpts {
    fn default() -> SamplerOpts {
        SamplerOpts {
            interval: Duration::from_secs(1),
            reset_stats: false,
            latency_monitor: None,
        }
    }
}

/// A running sampler; `finish` it to get the window's summary (dropping it stops it unread).
pub struct Sampler {
    stop: Stop,
    thread: Option<JoinHandle<ServerWindow>>,
    /// Why the thread could not start.
    failed: Option<String>,
}

/// Longest wait for one node's LATENCY history at the end.
const HISTORY_BUDGET: Duration = Duration::from_secs(2);

impl Sampler {
    /// Starts connecting to every node of `route` (one connection each, through `dial` with
    /// `auth`'s credentials) and waits for `clock`: the runner sets it when the measured window
    /// starts (the engine's start instant). Takes the baseline sample then and one every interval
    /// after it, sending each finished second's rows (one per node) on `tx` as it closes.
    pub fn start(
        route: Route,
        auth: Auth,
        dial: Dialer,
        opts: SamplerOpts,
        clock: Arc<OnceLock<Instant>>,
        tx: Sender<ServerSecond>,
    ) -> Sampler {
        let stop = Stop::new();
        let job = Job {
            route,
            ctx: Ctx::new(dial, auth, opts.latency_monitor),
            opts,
            clock,
            tx,
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("rbench-sampler".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(job.run()),
                    Err(e) => noted(format!("server sampling: cannot start a runtime: {e}")),
                }
            });
        let (thread, failed) = match spawned {
            Ok(h) => (Some(h), None),
            Err(e) => (
                None,
                Some(format!("server sampling: cannot start a thread: {e}")),
            ),
        };
        Sampler {
            stop,
            thread,
            failed,
        }
    }

    /// Takes a last sample (the partial last second), reads the LATENCY monitors, stops and
    /// returns the window's summary. Waits at most about half an interval plus the LATENCY reads.
    pub fn finish(mut self) -> ServerWindow {
        self.stop.request();
        match self.thread.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| noted("server sampling: the sampler failed".into())),
            None => noted(self.failed.take().unwrap_or_default()),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // Unfinished: let the thread end on its own (it stops at its next wait).
        self.stop.request();
    }
}

fn noted(note: String) -> ServerWindow {
    ServerWindow {
        notes: vec![note],
        ..ServerWindow::default()
    }
}

/// The sampler thread's work.
struct Job {
    route: Route,
    ctx: Ctx,
    opts: SamplerOpts,
    clock: Arc<OnceLock<Instant>>,
    tx: Sender<ServerSecond>,
    stop: Stop,
}

/// The nodes and what has been seen of them.
struct State {
    nodes: Vec<Node>,
    tracks: Vec<NodeTrack>,
    events: Vec<ServerEvent>,
    t0: Instant,
}

impl Job {
    async fn run(self) -> ServerWindow {
        let mut st = State {
            nodes: Vec::new(),
            tracks: Vec::new(),
            events: Vec::new(),
            t0: Instant::now(),
        };
        st.add_nodes(&self.route);
        let budget = self.opts.interval.max(Duration::from_secs(1));
        let reset = self.opts.reset_stats;
        let set_up = join_all(
            st.nodes
                .iter_mut()
                .map(|n| n.set_up(&self.ctx, reset, budget)),
        );
        tokio::select! {
            _ = set_up => {}
            _ = self.stop.stopped() => {}
        }
        let Some(t0) = self.wait_clock().await else {
            return st.summary(0, Vec::new(), false);
        };
        // The baseline is taken as soon as the start is known, in the runner's lead before it:
        // no request is sent before t0, so its counters are the window's start all the same, and
        // its INFO no longer lands on the server (and this thread on a core) with the first ones.
        st.t0 = t0;
        // t0 may still be ahead (the lead) or already past.
        let (now, wall_now) = (Instant::now(), unix_now());
        let wall0 = match t0.checked_duration_since(now) {
            Some(ahead) => wall_now + ahead.as_secs_f64(),
            None => wall_now - now.duration_since(t0).as_secs_f64(),
        };
        let seconds = self.sample_window(&mut st).await;
        let wall_end = unix_now();
        let mut notes = st.latency_events(&self.ctx, wall0, wall_end).await;
        notes.extend(st.missing_notes(seconds));
        st.summary(seconds, notes, reset)
    }

    /// The measured window's start, or None when the sampler was stopped before it began.
    async fn wait_clock(&self) -> Option<Instant> {
        loop {
            if let Some(t0) = self.clock.get() {
                return Some(*t0);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                // Stopped as the window started: it still gets its baseline and last sample.
                _ = self.stop.stopped() => return self.clock.get().copied(),
            }
        }
    }

    /// The baseline, then a tick every interval until stopped, then the partial last second.
    /// Returns the number of seconds.
    async fn sample_window(&self, st: &mut State) -> usize {
        let mut last = Instant::now();
        st.tick(self, 0, 0.0, true).await;
        let mut k = 1u32;
        loop {
            let due = st.t0 + self.opts.interval * k;
            let stopped = tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => false,
                _ = self.stop.stopped() => true,
            };
            let now = Instant::now();
            let span = now.saturating_duration_since(last).as_secs_f64();
            last = now;
            st.tick(self, k as usize, span, !stopped).await;
            if stopped {
                return k as usize;
            }
            k += 1;
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl State {
    /// Adds the nodes of `route` not sampled yet (a cluster's list grows on failover or restart).
    fn add_nodes(&mut self, route: &Route) {
        let peers: Vec<Peer> = match route {
            Route::Single(p) => vec![p.clone()],
            Route::Cluster(topo) => topo
                .snapshot()
                .nodes
                .iter()
                .map(|a| Peer::Tcp(*a))
                .collect(),
        };
        for p in peers {
            let name = p.to_string();
            if !self.nodes.iter().any(|n| n.name == name) {
                self.tracks.push(NodeTrack::new(name));
                self.nodes.push(Node::new(p));
            }
        }
    }

    /// Samples every node; tick 0 is the baseline, tick k > 0 closes second k (covering `span_s`;
    /// `full` unless it is the partial last one) and sends its rows.
    async fn tick(&mut self, job: &Job, k: usize, span_s: f64, full: bool) {
        self.add_nodes(&job.route);
        // A state change happened somewhere in the second that ends now: marked at its middle, so
        // it falls in that second of the timeline.
        let at_s = (self.t0.elapsed().as_secs_f64() - span_s / 2.0).max(0.0);
        let budget = job.opts.interval / 2;
        let ctx = &job.ctx;
        let seen: Vec<Observed> =
            join_all(self.nodes.iter_mut().map(|n| n.sample(ctx, budget))).await;
        if k == 0 {
            for (t, obs) in self.tracks.iter_mut().zip(seen) {
                t.baseline(obs);
            }
            return;
        }
        let mut rows: Vec<ServerSecond> = self
            .tracks
            .iter_mut()
            .zip(seen)
            .map(|(t, obs)| t.second(k, span_s, full, obs))
            .collect();
        fill_lag(&mut rows, &self.tracks);
        for row in rows {
            self.events
                .extend(row.events.iter().map(|kind| ServerEvent {
                    node: row.node.clone(),
                    at_s,
                    kind: kind.clone(),
                    latency_ms: None,
                }));
            // The receiver may be gone (the run ended): the window is still summarized.
            let _ = job.tx.send(row);
        }
    }

    /// The LATENCY monitors' events inside the window (unix seconds `start`..`end`); returns the
    /// notes of nodes that could not be read.
    async fn latency_events(&mut self, ctx: &Ctx, start: f64, end: f64) -> Vec<String> {
        let read = self
            .nodes
            .iter_mut()
            .map(|n| n.histories(ctx, HISTORY_BUDGET));
        let results = join_all(read).await;
        let mut notes = Vec::new();
        for (node, result) in self.nodes.iter().zip(results) {
            let histories = match result {
                Ok(h) => h,
                Err(note) => {
                    notes.push(note);
                    continue;
                }
            };
            for (kind, history) in histories {
                for (at_s, ms) in latency::in_window(&history, start, end) {
                    self.events.push(ServerEvent {
                        node: node.name.clone(),
                        at_s,
                        kind: kind.clone(),
                        latency_ms: Some(ms),
                    });
                }
            }
        }
        notes
    }

    /// A line for each node that missed seconds, with the last reason.
    fn missing_notes(&self, seconds: usize) -> Vec<String> {
        self.nodes
            .iter()
            .zip(&self.tracks)
            .filter_map(|(n, t)| {
                let missed = t.window().missing_seconds;
                (missed > 0).then(|| {
                    let why = n.last_error.as_deref().unwrap_or("no answer");
                    format!(
                        "{}: no answer in {missed} of {seconds} seconds ({why})",
                        n.name
                    )
                })
            })
            .collect()
    }

    fn summary(&mut self, seconds: usize, extra: Vec<String>, percentiles: bool) -> ServerWindow {
        let mut notes: Vec<String> = self
            .nodes
            .iter_mut()
            .flat_map(|n| n.notes.drain(..))
            .collect();
        if seconds == 0 {
            notes.push("server sampling: the measured window never started".into());
        }
        notes.extend(extra);
        let events = std::mem::take(&mut self.events);
        window::summarize(&self.tracks, events, notes, seconds, percentiles)
    }
}

/// Each replica's lag in bytes: its master's offset less its own, both from this second.
fn fill_lag(rows: &mut [ServerSecond], tracks: &[NodeTrack]) {
    for (row, t) in rows.iter_mut().zip(tracks) {
        let Some(replica) = t.current().filter(|s| !s.is_master()) else {
            continue;
        };
        let master = replica
            .master
            .as_deref()
            .and_then(|m| tracks.iter().find(|t| t.name == m))
            .and_then(NodeTrack::current);
        if let (Some(m), Some(own)) = (master, replica.slave_repl_offset) {
            row.lag_bytes = m.master_repl_offset.map(|off| off - own);
        }
    }
}
