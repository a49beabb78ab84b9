//! The per-client loop: fill the window with requests (new ones and retries), route each to its node,
//! write every node's batch with one syscall, read the replies, and turn them into samples. Redirects
//! and faults are retried here, within bounds, so a run never dies because a node did.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::cluster::slot::slot_of;
use crate::cluster::topology::{NO_NODE, SlotMap, parse_redirect};
use crate::cluster::{Route, Topology};
use crate::conn::{Auth, Conn, ConnError};
use crate::resp::{ErrorClass, Reply};
use crate::stats::{Outcome, Sample, SharedRecorder, micros};
use crate::workload::generator::{DataSize, Generator, KeyDist};
use crate::workload::pacing::Pacer;
use crate::workload::template::Template;
use crate::workload::{Draw, EncodeOpts, MAX_KEY, Op, encode, key_of};

/// A redirect chain longer than this is a loop (or a cluster in flux): count it and move on.
const MAX_REDIRECTS: u8 = 5;
/// How long a cluster worker waits for a node's replies before declaring the connection dead.
const CLUSTER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_BASE: Duration = Duration::from_millis(2);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// What every worker of one run shares.
pub struct RunShared {
    pub ops: Vec<Op>,
    pub weights: Vec<u32>,
    pub encode: EncodeOpts,
    /// One compiled template per op (None: encoded by the general path).
    pub templates: Vec<Option<Template>>,
    pub pacer: Pacer,
    pub pipeline: usize,
    pub auth: Auth,
    pub route: Route,
    /// Set by Ctrl-C or the end of the run's duration.
    pub stop: Arc<AtomicBool>,
    /// Set when every connection is up; the run's duration counts from here.
    pub start: OnceLock<Instant>,
    pub duration: Option<Duration>,
    /// Latest time a worker finished (µs after start): the end of the measured wall time.
    pub end_us: AtomicU64,
    pub payload: Vec<u8>,
    pub keyspace: u64,
    pub key_dist: KeyDist,
    pub sizes: DataSize,
    pub seed: u64,
    pub workers: u64,
    pub read_from_replicas: bool,
    /// How long a request that hit a fault (lost connection, CLUSTERDOWN...) keeps being retried.
    pub retry_window: Duration,
    /// Requests finished (ok or failed), for the progress bar.
    pub completed: AtomicU64,
}

impl RunShared {
    pub fn stopping(&self, now: Instant) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline().is_some_and(|d| now >= d)
    }

    pub fn deadline(&self) -> Option<Instant> {
        Some(*self.start.get()? + self.duration?)
    }

    fn note_end(&self, at: Instant) {
        if let Some(s) = self.start.get() {
            self.end_us
                .fetch_max(micros(at.saturating_duration_since(*s)), Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Req {
    op: u8,
    draw: Draw,
    vlen: u32,
    /// Latency is measured from here: the schedule's intended time (open loop) or the first send.
    intended: Instant,
    sent: Instant,
    attempts: u16,
    redirects: u8,
    /// Send to this node with ASKING first (an ASK redirect), instead of the slot owner.
    ask: u16,
    not_before: Instant,
    last_err: ErrorClass,
}

/// Why a request could not be written to its node.
enum NodeDown {
    /// A connection attempt failed just now.
    Failed(ErrorClass),
    /// The node failed recently; it will be tried again at this time.
    Until(Instant),
}

#[derive(Clone, Copy, Debug)]
enum Raw {
    Ok,
    Err(ErrorClass, Option<(u16, SocketAddr)>),
}

/// One node as seen by one worker: its connection and this batch's requests in flight.
struct NodeIo {
    conn: Option<Conn>,
    /// Entries are `request index << 1 | secondary`: secondary replies (ASKING, LTRIM) are read and
    /// dropped.
    inflight: Vec<u32>,
    results: Vec<(Raw, Instant)>,
    failure: Option<ErrorClass>,
    down_until: Option<Instant>,
    down_backoff: Duration,
}

impl NodeIo {
    fn new() -> NodeIo {
        NodeIo {
            conn: None,
            inflight: Vec::new(),
            results: Vec::new(),
            failure: None,
            down_until: None,
            down_backoff: BACKOFF_BASE,
        }
    }

    async fn read_all(&mut self) {
        let n = self.inflight.len();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let results = &mut self.results;
        let from = conn.addr.ip();
        let res = conn
            .read_replies(n, |_, reply, at| {
                let raw = match reply {
                    Reply::Ok => Raw::Ok,
                    Reply::Error(c @ (ErrorClass::Moved | ErrorClass::Ask), msg) => {
                        Raw::Err(c, parse_redirect(msg, from))
                    }
                    Reply::Error(c, _) => Raw::Err(c, None),
                };
                results.push((raw, at));
            })
            .await;
        if let Err(e) = res {
            self.fail(&e);
        }
    }

    fn fail(&mut self, e: &ConnError) {
        self.conn = None;
        self.failure = Some(match e {
            ConnError::Protocol { .. } => ErrorClass::Protocol,
            ConnError::Timeout { .. } => ErrorClass::Timeout,
            _ => ErrorClass::ConnLost,
        });
    }
}

pub struct Worker {
    shared: Arc<RunShared>,
    rec: SharedRecorder,
    generator: Generator,
    map: Arc<SlotMap>,
    epoch: u64,
    nodes: Vec<NodeIo>,
    batch: Vec<Req>,
    waiting: Vec<Req>,
    samples: Vec<Sample>,
    replica_rr: usize,
    window: usize,
    /// Masters of `map` (for keyless commands), and the map epoch they were computed for: listing
    /// them scans all 16384 slots, far too slow to do per request.
    masters: Vec<u16>,
    masters_epoch: Option<u64>,
}

impl Worker {
    pub fn new(shared: Arc<RunShared>, id: u64, rec: SharedRecorder) -> Worker {
        let generator = Generator::new(
            shared.seed,
            id,
            shared.workers,
            shared.keyspace,
            &shared.key_dist,
            shared.sizes,
            &shared.weights,
        );
        let (map, epoch) = match &shared.route {
            Route::Cluster(t) => (t.snapshot(), t.epoch()),
            Route::Single(_) => (Arc::new(SlotMap::empty()), 0),
        };
        // -P is the depth of each connection's pipeline (as in redis-benchmark): a cluster client has
        // one connection per master, so its batch holds P requests per master on average.
        let nodes = match &shared.route {
            Route::Cluster(_) => map.masters().len().max(1),
            Route::Single(_) => 1,
        };
        let window = shared.pipeline.max(1) * nodes;
        Worker {
            shared,
            rec,
            generator,
            map,
            epoch,
            nodes: Vec::new(),
            batch: Vec::with_capacity(window),
            waiting: Vec::new(),
            samples: Vec::with_capacity(window * 2),
            replica_rr: id as usize,
            window,
            masters: Vec::new(),
            masters_epoch: None,
        }
    }

    /// Connects up front so a refused port or a bad password fails the run before it starts, and so
    /// connection setup is not measured as request latency.
    pub async fn connect_first(&mut self) -> Result<(), ConnError> {
        let targets: Vec<(u16, SocketAddr)> = match &self.shared.route {
            Route::Single(a) => vec![(0, *a)],
            Route::Cluster(_) => self
                .map
                .masters()
                .into_iter()
                .filter_map(|i| self.map.nodes.get(i as usize).map(|a| (i, *a)))
                .collect(),
        };
        let cap = self.buffer_size();
        for (id, addr) in targets {
            let conn = Conn::connect(addr, &self.shared.auth, cap).await?;
            self.node(id).conn = Some(conn);
        }
        Ok(())
    }

    fn buffer_size(&self) -> usize {
        // Sized to the window (DESIGN §5), so thousands of connections stay within a few MiB.
        let per = 64 + self.shared.sizes.max.min(16 * 1024);
        (per * self.window).clamp(1024, 64 * 1024)
    }

    fn node(&mut self, id: u16) -> &mut NodeIo {
        let i = id as usize;
        if self.nodes.len() <= i {
            self.nodes.resize_with(i + 1, NodeIo::new);
        }
        &mut self.nodes[i]
    }

    pub async fn run(mut self) {
        let shared = self.shared.clone();
        loop {
            let now = Instant::now();
            let stopping = shared.stopping(now);
            if stopping {
                self.abandon_waiting();
                break;
            }
            self.fill_batch(now);
            if self.batch.is_empty() {
                if shared.pacer.exhausted() && self.waiting.is_empty() {
                    break;
                }
                self.idle(now).await;
                continue;
            }
            self.dispatch().await;
            self.collect().await;
            self.settle();
            self.flush_samples();
        }
        self.flush_samples();
        shared.note_end(Instant::now());
    }

    /// Ready retries first (they are older), then new requests up to the window.
    fn fill_batch(&mut self, now: Instant) {
        self.batch.clear();
        let mut i = 0;
        while i < self.waiting.len() && self.batch.len() < self.window {
            if self.waiting[i].not_before <= now {
                let r = self.waiting.swap_remove(i);
                self.batch.push(r);
            } else {
                i += 1;
            }
        }
        // Parked retries bound how far ahead a worker runs while a node is down.
        // While a node is down its requests wait here; the rest keep flowing to live nodes, so the
        // outage shows as partial throughput. The cap bounds memory if the outage outlasts it.
        let parked_cap = (self.window * 256).max(4096);
        let room = self.window - self.batch.len();
        if room == 0 || self.waiting.len() >= parked_cap {
            return;
        }
        let shared = self.shared.clone();
        let Some(claim) = shared.pacer.claim(now, room as u64) else {
            return;
        };
        for k in 0..claim.count {
            let intended = match &shared.pacer {
                Pacer::Open(s) => s.intended(claim.first + k),
                Pacer::Closed(_) => now,
            };
            let (op, draw, vlen) = self.generator.draw(&shared.ops);
            self.batch.push(Req {
                op: op as u8,
                draw,
                vlen: vlen as u32,
                intended,
                sent: now,
                attempts: 0,
                redirects: 0,
                ask: NO_NODE,
                not_before: now,
                last_err: ErrorClass::Other,
            });
        }
        if let Pacer::Open(s) = &shared.pacer {
            s.note_lag(now.saturating_duration_since(s.intended(claim.first)));
        }
    }

    /// Nothing to send now: sleep until the next retry or the next scheduled request (bounded so the
    /// stop flag is seen promptly).
    async fn idle(&mut self, now: Instant) {
        let mut wake = now + Duration::from_millis(20);
        if let Some(r) = self.waiting.iter().map(|r| r.not_before).min() {
            wake = wake.min(r);
        }
        if let Pacer::Open(s) = &self.shared.pacer {
            wake = wake.min(s.next_due());
        }
        if wake > now {
            tokio::time::sleep_until(wake.into()).await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    fn refresh_map(&mut self) {
        if let Route::Cluster(t) = &self.shared.route {
            let e = t.epoch();
            if e != self.epoch {
                self.map = t.snapshot();
                self.epoch = e;
            }
        }
    }

    fn topology(&self) -> Option<&Arc<Topology>> {
        match &self.shared.route {
            Route::Cluster(t) => Some(t),
            Route::Single(_) => None,
        }
    }

    /// Routes and encodes the batch; writes each node's commands in one syscall.
    async fn dispatch(&mut self) {
        self.refresh_map();
        let shared = self.shared.clone();
        let now = Instant::now();
        for idx in 0..self.batch.len() {
            let req = self.batch[idx];
            let op = shared.ops[req.op as usize];
            let template = shared.templates[req.op as usize].as_ref();
            // The key bytes are only needed to hash the slot, or by the general encoder.
            let mut key = [0u8; MAX_KEY];
            let klen = if template.is_none() || matches!(shared.route, Route::Cluster(_)) {
                key_of(op, &req.draw, &shared.encode, &mut key)
            } else {
                0
            };
            let node = match &shared.route {
                Route::Single(_) => 0,
                Route::Cluster(_) if req.ask != NO_NODE => req.ask,
                Route::Cluster(_) => self.pick_node(op, slot_of(&key[..klen]), klen == 0),
            };
            if node == NO_NODE {
                // Slot not served (yet): CLUSTERDOWN as the server would say.
                self.park(idx, ErrorClass::ClusterDown, true);
                continue;
            }
            match self.ensure_conn(node, now).await {
                Ok(()) => {}
                Err(NodeDown::Failed(class)) => {
                    self.park(idx, class, true);
                    continue;
                }
                Err(NodeDown::Until(t)) => {
                    // Known down and not tried again: wait for the next connect attempt without
                    // counting another error (the events count real attempts, not waiting).
                    self.wait_for_node(idx, t);
                    continue;
                }
            }
            let value = &shared.payload[..req.vlen as usize];
            let io = &mut self.nodes[node as usize];
            let Some(conn) = io.conn.as_mut() else {
                continue;
            };
            if req.ask != NO_NODE {
                crate::resp::encode_command(&mut conn.wbuf, &[b"ASKING"]);
                io.inflight.push(((idx as u32) << 1) | 1);
            }
            let replies = match template {
                Some(t) => t.encode(&req.draw, value, &mut conn.wbuf),
                None => encode(
                    op,
                    &req.draw,
                    &key[..klen],
                    value,
                    &shared.encode,
                    &mut conn.wbuf,
                ),
            };
            io.inflight.push((idx as u32) << 1);
            for _ in 1..replies {
                io.inflight.push(((idx as u32) << 1) | 1);
            }
            if self.batch[idx].attempts == 0 {
                self.batch[idx].sent = now;
            }
        }
        for io in self.nodes.iter_mut() {
            if let Some(conn) = io.conn.as_mut() {
                if conn.wbuf.is_empty() {
                    continue;
                }
                if let Err(e) = conn.flush().await {
                    io.fail(&e);
                }
            }
        }
    }

    /// The node for a key's slot: its master, or a replica for reads with --read-from-replicas.
    fn pick_node(&mut self, op: Op, slot: u16, keyless: bool) -> u16 {
        if keyless {
            // PING and friends: spread over the masters.
            if self.masters_epoch != Some(self.epoch) {
                self.masters = self.map.masters();
                self.masters_epoch = Some(self.epoch);
            }
            if self.masters.is_empty() {
                return NO_NODE;
            }
            self.replica_rr = self.replica_rr.wrapping_add(1);
            return self.masters[self.replica_rr % self.masters.len()];
        }
        let owner = self.map.owner(slot);
        if owner != NO_NODE
            && self.shared.read_from_replicas
            && op.is_read()
            && let Some(reps) = self
                .map
                .replicas
                .get(owner as usize)
                .filter(|r| !r.is_empty())
        {
            self.replica_rr = self.replica_rr.wrapping_add(1);
            return reps[self.replica_rr % reps.len()];
        }
        owner
    }

    async fn ensure_conn(&mut self, node: u16, now: Instant) -> Result<(), NodeDown> {
        let cap = self.buffer_size();
        let addr = match &self.shared.route {
            Route::Single(a) => *a,
            Route::Cluster(_) => match self.map.nodes.get(node as usize) {
                Some(a) => *a,
                None => return Err(NodeDown::Failed(ErrorClass::ClusterDown)),
            },
        };
        let replica = self
            .map
            .is_replica
            .get(node as usize)
            .copied()
            .unwrap_or(false);
        let shared = self.shared.clone();
        let io = self.node(node);
        if io.conn.is_some() {
            return Ok(());
        }
        if let Some(t) = io.down_until.filter(|&t| now < t) {
            return Err(NodeDown::Until(t));
        }
        match Conn::connect(addr, &shared.auth, cap).await {
            Ok(mut conn) => {
                if replica && conn.request(&[b"READONLY"]).await.is_err() {
                    return Err(NodeDown::Failed(ErrorClass::ConnLost));
                }
                let io = self.node(node);
                io.conn = Some(conn);
                io.down_until = None;
                io.down_backoff = BACKOFF_BASE;
                Ok(())
            }
            Err(_) => {
                let io = self.node(node);
                io.down_until = Some(now + io.down_backoff);
                io.down_backoff = (io.down_backoff * 2).min(BACKOFF_MAX);
                if let Some(t) = self.topology() {
                    t.request_refresh();
                }
                Err(NodeDown::Failed(ErrorClass::ConnRefused))
            }
        }
    }

    /// Parks request `idx` until a down node may be tried again (or the map moves its slot).
    fn wait_for_node(&mut self, idx: usize, until: Instant) {
        let now = Instant::now();
        if now.saturating_duration_since(self.batch[idx].intended) >= self.shared.retry_window
            || self.shared.stopping(now)
        {
            let class = match self.batch[idx].last_err {
                ErrorClass::Other => ErrorClass::ConnRefused,
                c => c,
            };
            self.finish(idx, class, now);
            return;
        }
        let r = &mut self.batch[idx];
        r.ask = NO_NODE;
        if r.last_err == ErrorClass::Other {
            r.last_err = ErrorClass::ConnRefused;
        }
        r.not_before = until;
        self.waiting.push(*r);
    }

    /// Reads every node's replies; with several nodes, concurrently, so one slow node does not delay
    /// the timestamps of the others.
    async fn collect(&mut self) {
        let active = self
            .nodes
            .iter()
            .filter(|n| !n.inflight.is_empty() && n.conn.is_some())
            .count();
        match (&self.shared.route, active) {
            (_, 0) => {}
            (Route::Single(_), _) => {
                if let Some(io) = self.nodes.first_mut() {
                    io.read_all().await;
                }
            }
            (Route::Cluster(_), _) => {
                let reads = self
                    .nodes
                    .iter_mut()
                    .filter(|n| !n.inflight.is_empty() && n.conn.is_some())
                    .map(|n| n.read_all());
                let all = futures_util::future::join_all(reads);
                if tokio::time::timeout(CLUSTER_READ_TIMEOUT, all)
                    .await
                    .is_err()
                {
                    for io in self.nodes.iter_mut() {
                        if io.results.len() < io.inflight.len() {
                            io.conn = None;
                            io.failure = Some(ErrorClass::Timeout);
                        }
                    }
                }
            }
        }
    }

    /// Turns replies into samples and retries.
    fn settle(&mut self) {
        let now = Instant::now();
        let mut refresh = false;
        for n in 0..self.nodes.len() {
            let io = &mut self.nodes[n];
            if io.inflight.is_empty() {
                continue;
            }
            let inflight = std::mem::take(&mut io.inflight);
            let results = std::mem::take(&mut io.results);
            let failure = io.failure.take();
            for (k, &entry) in inflight.iter().enumerate() {
                if entry & 1 == 1 {
                    continue;
                }
                let idx = (entry >> 1) as usize;
                match results.get(k) {
                    Some((Raw::Ok, at)) => {
                        let r = self.batch[idx];
                        self.samples.push(Sample {
                            op: r.op,
                            at: *at,
                            outcome: Outcome::Ok {
                                us: micros(at.saturating_duration_since(r.intended)),
                                sent_us: micros(at.saturating_duration_since(r.sent)),
                            },
                        });
                    }
                    Some((Raw::Err(class, redirect), _)) => {
                        refresh |= self.on_error(idx, *class, *redirect, now);
                    }
                    None => {
                        let class = failure.unwrap_or(ErrorClass::ConnLost);
                        refresh |= self.on_error(idx, class, None, now);
                    }
                }
            }
            // Give the buffers back for the next batch.
            let io = &mut self.nodes[n];
            io.inflight = inflight;
            io.inflight.clear();
            io.results = results;
            io.results.clear();
        }
        if refresh && let Some(t) = self.topology() {
            t.request_refresh();
        }
    }

    /// Decides what an error reply means for request `idx`. Returns whether the topology should be
    /// refreshed.
    fn on_error(
        &mut self,
        idx: usize,
        class: ErrorClass,
        redirect: Option<(u16, SocketAddr)>,
        now: Instant,
    ) -> bool {
        let cluster = matches!(self.shared.route, Route::Cluster(_));
        match class {
            ErrorClass::Moved | ErrorClass::Ask if cluster => {
                let Some((slot, addr)) = redirect else {
                    self.finish(idx, class, now);
                    return true;
                };
                if self.batch[idx].redirects >= MAX_REDIRECTS {
                    self.event(idx, class, now);
                    self.finish(idx, ErrorClass::Redirects, now);
                    return true;
                }
                let ask = match (&self.shared.route, class) {
                    (Route::Cluster(t), ErrorClass::Moved) => {
                        t.moved(slot, addr);
                        NO_NODE
                    }
                    (Route::Cluster(t), _) => t.node_id(addr),
                    _ => NO_NODE,
                };
                self.refresh_map();
                let r = &mut self.batch[idx];
                r.redirects += 1;
                r.ask = ask;
                r.not_before = now;
                // If the run stops before the retry, the request ends as this redirect.
                r.last_err = class;
                self.event(idx, class, now);
                self.waiting.push(self.batch[idx]);
                false
            }
            ErrorClass::TryAgain
            | ErrorClass::ClusterDown
            | ErrorClass::Loading
            | ErrorClass::MasterDown
            | ErrorClass::ReadOnly
            | ErrorClass::ConnLost
            | ErrorClass::ConnRefused
            | ErrorClass::Timeout => {
                let retry = (cluster || !matches!(class, ErrorClass::ReadOnly))
                    && now.saturating_duration_since(self.batch[idx].intended)
                        < self.shared.retry_window
                    && !self.shared.stopping(now);
                if retry {
                    self.park(idx, class, false);
                } else {
                    self.finish(idx, class, now);
                }
                cluster
            }
            _ => {
                self.finish(idx, class, now);
                false
            }
        }
    }

    /// Counts the error and parks request `idx` for a retry after a backoff. `check_window` is set
    /// for requests that never reached the network (node down, slot unassigned).
    fn park(&mut self, idx: usize, class: ErrorClass, check_window: bool) {
        let now = Instant::now();
        if check_window
            && (now.saturating_duration_since(self.batch[idx].intended) >= self.shared.retry_window
                || self.shared.stopping(now))
        {
            self.finish(idx, class, now);
            return;
        }
        self.event(idx, class, now);
        let r = &mut self.batch[idx];
        r.attempts = r.attempts.saturating_add(1);
        r.ask = NO_NODE;
        r.last_err = class;
        let shift = u32::from(r.attempts.min(10));
        let backoff = (BACKOFF_BASE * (1u32 << shift)).min(BACKOFF_MAX);
        r.not_before = now + backoff;
        self.waiting.push(*r);
        if check_window && let Some(t) = self.topology() {
            t.request_refresh();
        }
    }

    fn event(&mut self, idx: usize, class: ErrorClass, at: Instant) {
        self.samples.push(Sample {
            op: self.batch[idx].op,
            at,
            outcome: Outcome::Event(class),
        });
    }

    fn finish(&mut self, idx: usize, class: ErrorClass, at: Instant) {
        self.samples.push(Sample {
            op: self.batch[idx].op,
            at,
            outcome: Outcome::Failed(class),
        });
    }

    /// The run is over: parked retries become failures with their last error.
    fn abandon_waiting(&mut self) {
        let now = Instant::now();
        for r in std::mem::take(&mut self.waiting) {
            // Its last error was already counted as an event when it was parked.
            self.samples.push(Sample {
                op: r.op,
                at: now,
                outcome: Outcome::GaveUp(r.last_err),
            });
        }
    }

    fn flush_samples(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let done = self
            .samples
            .iter()
            .filter(|s| {
                matches!(
                    s.outcome,
                    Outcome::Ok { .. } | Outcome::Failed(_) | Outcome::GaveUp(_)
                )
            })
            .count() as u64;
        self.rec.lock().apply(&self.samples);
        self.shared.completed.fetch_add(done, Ordering::Relaxed);
        self.samples.clear();
    }
}
