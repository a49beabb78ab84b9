//! The replay's run: connections opened first, the feed started, then one worker per connection
//! on a `LocalSet` of the run's current-thread runtime. A worker writes each command when its due
//! time comes (origin + captured offset / speed), whatever is still in flight (open loop), or,
//! at `--speed max`, when the previous reply came (closed loop); latency is measured from the due
//! time, service time from the send. Errors follow `cluster::policy` as every other client does:
//! MOVED and ASK are followed, faults retried within a window, the rest counted.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;
use tokio::sync::mpsc;

use super::alarm::{Alarm, alarm_until};
use super::clock::Clock;
use super::feed::{self, Item};
use super::keys::Slot;
use super::link::{Event, Link, Own};
use super::{Env, Outcome, ReplayError, ReplaySpec, Seconds, Speed, Survey};
use crate::cluster::Route;
use crate::cluster::policy::{self, Action, Attempt};
use crate::cluster::topology::{NO_NODE, parse_redirect};
use crate::net::Peer;
use crate::resp::ErrorClass;
use crate::stats::{self, Recorder};

/// Connections are up and the feed has a head start when the first command is due.
const LEAD: Duration = Duration::from_millis(100);
/// How long a request is retried through faults (a lost connection, a failover), as the
/// engine's window.
const RETRY_WINDOW: Duration = Duration::from_secs(10);
/// With nothing left to send, replies still awaited after this long without any reply are
/// counted as timed out.
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// Commands already due that a worker writes in one go.
const BATCH: usize = 64;

/// What the workers share (one thread: no locks).
pub(super) struct Shared<'a> {
    pub env: &'a Env,
    pub rec: RefCell<Recorder>,
    pub origin: Instant,
    pub speed: Speed,
    pub deadline: Option<Instant>,
    pub max_lag: Cell<Duration>,
    pub last_reply: Cell<Instant>,
}

impl Shared<'_> {
    pub(super) fn sec(&self, at: Instant) -> usize {
        at.saturating_duration_since(self.origin).as_secs() as usize
    }

    fn due(&self, item: &Item) -> Instant {
        match self.speed {
            Speed::Times(f) => self.origin + Duration::from_secs_f64(item.due_us as f64 / 1e6 / f),
            Speed::Max => Instant::now(),
        }
    }

    fn cluster(&self) -> bool {
        matches!(self.env.route, Route::Cluster(_))
    }
}

/// Runs a surveyed replay on the current thread's runtime `rt` until the capture ends, its bounds
/// or `env.stop`, handing each second to `seconds` as it closes.
pub fn run(
    rt: &tokio::runtime::Runtime,
    spec: &ReplaySpec,
    survey: &Survey,
    env: &Env,
    seconds: &mut dyn Seconds,
) -> Result<Outcome, ReplayError> {
    // No more connections than captured clients to play.
    let n = spec.clients.min(survey.replayed_clients as usize).max(1);
    let local = tokio::task::LocalSet::new();
    let mut links = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::unbounded_channel();
        links.push(local.block_on(rt, connect(env, tx.clone()))?);
        events.push((tx, rx));
    }
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel(feed::QUEUE)).unzip();
    let feed = feed::spawn(spec, survey, txs, &env.stop).map_err(ReplayError::Thread)?;
    let (origin, started_at) = start(spec.start_at);
    let sh = Shared {
        env,
        rec: RefCell::new(Recorder::new(survey.names.len(), true)),
        origin,
        speed: spec.speed,
        deadline: spec.duration.map(|d| origin + d),
        max_lag: Cell::new(Duration::ZERO),
        last_reply: Cell::new(origin),
    };
    seconds.started(started_at);
    let mut clock = Clock::new(survey.names.len(), seconds);
    let play = async {
        // Made here, inside the runtime: each worker's alarm registers with its reactor.
        let workers = (links.into_iter().zip(rxs).zip(events))
            .map(|((links, rx), (tx, ev))| Worker::new(&sh, links, rx, tx, ev).run());
        let all = join_all(workers);
        tokio::pin!(all);
        loop {
            let next = origin + Duration::from_secs(clock.closed as u64 + 1);
            tokio::select! {
                done = &mut all => break done,
                _ = tokio::time::sleep_until(next.into()) => clock.close_until(&sh, Instant::now()),
            }
        }
    };
    let unanswered: u64 = local.block_on(rt, play).into_iter().sum();
    clock.finish(&sh);
    let report = feed.join().unwrap_or_default();
    if let Some(e) = report.error {
        return Err(e.into());
    }
    let recs = [sh.rec.into_inner()];
    Ok(Outcome {
        names: survey.names.clone(),
        stats: stats::merge_all(&recs, survey.names.len()),
        timeline: clock.timeline,
        elapsed: sh.last_reply.get().saturating_duration_since(origin),
        started_at,
        interrupted: env.stop.is_stopped(),
        max_lag: sh.max_lag.get(),
        skipped: report.skipped,
        crossslot: report.crossslot,
        bad_lines: survey.bad_lines,
        connections: n,
        captured_clients: survey.replayed_clients,
        unanswered,
    })
}

/// The first command's due time, as an instant and as the wall clock's time: `LEAD` from now, or
/// `--start-at` if that is later (shards start together).
fn start(at: Option<SystemTime>) -> (Instant, SystemTime) {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let wait = at
        .and_then(|t| t.duration_since(wall).ok())
        .unwrap_or_default()
        .max(LEAD);
    (now + wait, wall + wait)
}

/// One worker's links: the server, or every master of a cluster.
async fn connect(
    env: &Env,
    events: mpsc::UnboundedSender<Event>,
) -> Result<HashMap<Peer, Link>, ReplayError> {
    let peers: Vec<Peer> = match &env.route {
        Route::Single(p) => vec![p.clone()],
        Route::Cluster(t) => {
            let map = t.snapshot();
            map.masters()
                .into_iter()
                .filter_map(|i| map.nodes.get(i as usize).copied().map(Peer::Tcp))
                .collect()
        }
    };
    let opened = join_all(
        peers
            .iter()
            .map(|p| Link::open(env, p.clone(), events.clone())),
    )
    .await;
    let mut links = HashMap::new();
    for (p, l) in peers.into_iter().zip(opened) {
        links.insert(p, l.map_err(ReplayError::Connect)?);
    }
    Ok(links)
}

/// Why a worker woke.
enum Wake {
    Stop,
    Event(Event),
    Deadline,
    Retry,
    Send,
    Item(Option<Item>),
    Idle,
}

/// One connection of the replay (one link per node on a cluster).
struct Worker<'s, 'a> {
    sh: &'s Shared<'a>,
    links: HashMap<Peer, Link>,
    rx: mpsc::Receiver<Item>,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    next: Option<Rc<Item>>,
    input_done: bool,
    /// Replayed commands awaiting their reply.
    inflight: usize,
    /// Commands waiting out a backoff (or none, a redirect) before they are sent again.
    retries: Vec<Retry>,
    /// Wakes the worker when the next command is due (None: tokio's timer).
    alarm: Option<Alarm>,
}

/// A command to send again at `at`, to `ask` (with ASKING first) or to its slot's owner.
struct Retry {
    at: Instant,
    own: Own,
    ask: Option<std::net::SocketAddr>,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl<'s, 'a> Worker<'s, 'a> {
    fn new(
        sh: &'s Shared<'a>,
        links: HashMap<Peer, Link>,
        rx: mpsc::Receiver<Item>,
        events_tx: mpsc::UnboundedSender<Event>,
        events: mpsc::UnboundedReceiver<Event>,
    ) -> Worker<'s, 'a> {
        Worker {
            sh,
            links,
            rx,
            events_tx,
            events,
            next: None,
            input_done: false,
            inflight: 0,
            retries: Vec::new(),
            alarm: Alarm::new().ok(),
        }
    }

    /// Runs until everything was sent and answered (or the stop): the replies still awaited.
    async fn run(mut self) -> u64 {
        loop {
            if self.input_done
                && self.next.is_none()
                && self.inflight == 0
                && self.retries.is_empty()
            {
                return 0;
            }
            match self.wake().await {
                Wake::Stop => return self.inflight as u64,
                Wake::Event(ev) => self.on_event(ev).await,
                Wake::Deadline => self.end_input(),
                Wake::Retry => self.resend_due().await,
                Wake::Send => self.send_batch().await,
                Wake::Item(Some(i)) => self.next = Some(Rc::new(i)),
                Wake::Item(None) => self.input_done = true,
                Wake::Idle => {
                    self.give_up();
                    return 0;
                }
            }
        }
    }

    /// When the next command may be written: its due time (open loop), or now when nothing is
    /// in flight (closed loop).
    fn send_at(&self) -> Option<Instant> {
        let item = self.next.as_ref()?;
        match self.sh.speed {
            Speed::Times(_) => Some(self.sh.due(item)),
            // Not before the start: the run's clock (and its elapsed time) begins there.
            Speed::Max if self.inflight == 0 && self.retries.is_empty() => {
                Some(Instant::now().max(self.sh.origin))
            }
            Speed::Max => None,
        }
    }

    async fn wake(&mut self) -> Wake {
        let send_at = self.send_at();
        let retry_at = self.retries.iter().map(|r| r.at).min();
        let deadline = self.sh.deadline.filter(|_| !self.input_done);
        let want_item = self.next.is_none() && !self.input_done;
        let draining = self.input_done && self.next.is_none();
        tokio::select! {
            biased;
            _ = self.sh.env.stop.stopped() => Wake::Stop,
            Some(ev) = self.events.recv() => Wake::Event(ev),
            _ = sleep_until(deadline), if deadline.is_some() => Wake::Deadline,
            _ = sleep_until(retry_at), if retry_at.is_some() => Wake::Retry,
            _ = alarm_until(&mut self.alarm, send_at), if send_at.is_some() => Wake::Send,
            i = self.rx.recv(), if want_item => Wake::Item(i),
            _ = tokio::time::sleep(DRAIN_IDLE), if draining => Wake::Idle,
        }
    }

    /// `--duration` is up: nothing more is sent; what is in flight is still awaited.
    fn end_input(&mut self) {
        self.input_done = true;
        self.next = None;
        self.rx.close();
    }

    /// Writes the next command, and (open loop) the ones after it already due.
    async fn send_batch(&mut self) {
        let mut sent = 0;
        while let Some(item) = self.next.take() {
            let now = Instant::now();
            let due = self.sh.due(&item);
            if due > now && sent > 0 {
                self.next = Some(item);
                break;
            }
            let lag = now.saturating_duration_since(due);
            if lag > self.sh.max_lag.get() {
                self.sh.max_lag.set(lag);
            }
            self.route(
                Own {
                    item,
                    due,
                    sent: now,
                    attempts: 0,
                    redirects: 0,
                },
                None,
            )
            .await;
            sent += 1;
            if sent >= BATCH || matches!(self.sh.speed, Speed::Max) {
                break;
            }
            match self.rx.try_recv() {
                Ok(i) => self.next = Some(Rc::new(i)),
                Err(mpsc::error::TryRecvError::Disconnected) => self.input_done = true,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
        self.flush_all().await;
    }

    /// The node `own` goes to (an ASK target when given), its link opened if need be, and the
    /// command queued on it.
    async fn route(&mut self, own: Own, ask: Option<std::net::SocketAddr>) {
        let peer = match ask.map(Peer::Tcp).or_else(|| self.owner(own.item.slot)) {
            Some(p) => p,
            None => {
                let msg = "no node owns the slot".to_string();
                return self.settle_error(own, ErrorClass::ClusterDown, msg, None);
            }
        };
        if !self.links.contains_key(&peer) {
            match Link::open(self.sh.env, peer.clone(), self.events_tx.clone()).await {
                Ok(l) => {
                    self.links.insert(peer.clone(), l);
                }
                Err(e) => {
                    let class = ErrorClass::ConnRefused;
                    return self.settle_error(own, class, e.to_string(), None);
                }
            }
        }
        let cluster = self.sh.cluster();
        let link = self.links.get_mut(&peer).expect("opened above");
        let item = own.item.clone();
        if !cluster && item.select.is_none() && link.db != item.db {
            // The captured client was in another database than this connection is.
            let db = item.db.to_string();
            let mut b = bytes::BytesMut::new();
            crate::resp::encode_command(&mut b, &[b"SELECT", db.as_bytes()]);
            link.queue(&b, None);
            link.db = item.db;
        }
        if ask.is_some() {
            link.queue(b"*1\r\n$6\r\nASKING\r\n", None);
        }
        if let Some(db) = item.select.filter(|_| !cluster) {
            link.db = db;
        }
        link.queue(&item.cmd, Some(own));
        // Its bytes are in the link's buffer now: room for the reader to queue more.
        drop(item.ticket.borrow_mut().take());
        self.inflight += 1;
    }

    fn owner(&self, slot: Slot) -> Option<Peer> {
        match &self.sh.env.route {
            Route::Single(p) => Some(p.clone()),
            Route::Cluster(t) => {
                let map = t.snapshot();
                let id = match slot {
                    Slot::Of(s) => map.owner(s),
                    _ => map.masters().first().copied().unwrap_or(NO_NODE),
                };
                (id != NO_NODE).then(|| map.nodes.get(id as usize).copied().map(Peer::Tcp))?
            }
        }
    }

    async fn flush_all(&mut self) {
        let mut broken = Vec::new();
        for (p, l) in self.links.iter_mut() {
            if let Err(e) = l.flush().await {
                broken.push((p.clone(), format!("{p}: {e}")));
            }
        }
        for (from, msg) in broken {
            self.link_down(from, msg);
        }
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Reply { own, at, err, from } => {
                self.inflight -= 1;
                self.sh.last_reply.set(at.max(self.sh.last_reply.get()));
                match err {
                    None => self.record_ok(&own, at),
                    Some((class, msg)) => self.settle_error(own, class, msg, Some(from)),
                }
            }
            Event::Down { from, msg } => self.link_down(from, msg),
        }
        self.flush_all().await;
    }

    fn record_ok(&self, own: &Own, at: Instant) {
        let us = |t: Instant| at.saturating_duration_since(t).as_micros() as u64;
        let sec = self.sh.sec(at);
        let op = usize::from(own.item.op);
        self.sh
            .rec
            .borrow_mut()
            .ok(op, sec, us(own.due), us(own.sent));
    }

    /// A link that broke: dropped, and what was in flight on it settled as a lost connection
    /// (retried within the window, as the policy says).
    fn link_down(&mut self, from: Peer, msg: String) {
        let Some(link) = self.links.remove(&from) else {
            return;
        };
        let lost: Vec<Own> = link.pending.borrow_mut().drain(..).flatten().collect();
        for own in lost {
            self.inflight -= 1;
            self.settle_error(own, ErrorClass::ConnLost, msg.clone(), None);
        }
    }

    /// An error for `own`: redirected, retried after a backoff, or counted as failed.
    fn settle_error(&mut self, mut own: Own, class: ErrorClass, msg: String, from: Option<Peer>) {
        let now = Instant::now();
        let redirect = from
            .and_then(|p| p.tcp())
            .and_then(|a| parse_redirect(msg.as_bytes(), a.ip()));
        let d = policy::decide(&Attempt {
            class,
            redirect,
            cluster: self.sh.cluster(),
            attempts: own.attempts,
            redirects: own.redirects,
            age: now.saturating_duration_since(own.due),
            retry_window: RETRY_WINDOW,
            stopping: self.sh.env.stop.is_stopped(),
        });
        let (op, sec) = (usize::from(own.item.op), self.sh.sec(now));
        let mut rec = self.sh.rec.borrow_mut();
        if let Route::Cluster(t) = &self.sh.env.route
            && d.refresh
        {
            t.request_refresh();
        }
        match d.action {
            Action::Redirect { slot, to, ask } => {
                rec.event(op, sec, class);
                rec.words(op, class, msg.as_bytes());
                if let (Route::Cluster(t), false) = (&self.sh.env.route, ask) {
                    t.moved(slot, to);
                }
                own.redirects += 1;
                let ask = ask.then_some(to);
                self.retries.push(Retry { at: now, own, ask });
            }
            Action::Retry { after } => {
                rec.event(op, sec, class);
                rec.words(op, class, msg.as_bytes());
                own.attempts += 1;
                let at = now + after;
                self.retries.push(Retry { at, own, ask: None });
            }
            Action::Fail { class, also } => {
                if let Some(c) = also {
                    rec.event(op, sec, c);
                }
                rec.failed(op, sec, class);
                rec.words(op, class, msg.as_bytes());
            }
        }
    }

    /// Sends again what has waited out its backoff (or was redirected).
    async fn resend_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<Retry>, Vec<Retry>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|r| r.at <= now);
        self.retries = later;
        for r in due {
            let mut own = r.own;
            own.sent = now;
            self.route(own, r.ask).await;
        }
        self.flush_all().await;
    }

    /// Nothing more to send and no reply for `DRAIN_IDLE`: what is awaited timed out.
    fn give_up(&mut self) {
        let now = Instant::now();
        let sec = self.sh.sec(now);
        let mut rec = self.sh.rec.borrow_mut();
        let lost = self.links.values().flat_map(|l| {
            let ops: Vec<u16> = l
                .pending
                .borrow()
                .iter()
                .flatten()
                .map(|o| o.item.op)
                .collect();
            ops
        });
        let retried = self.retries.iter().map(|r| r.own.item.op);
        for op in lost.chain(retried).collect::<Vec<_>>() {
            rec.failed(usize::from(op), sec, ErrorClass::Timeout);
        }
        self.inflight = 0;
        self.retries.clear();
    }
}
