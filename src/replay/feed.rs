//! The capture streamed to the connections: one thread reads the file a line at a time (again for
//! each `--loop` pass), drops what must not be sent, gives each captured client its connection
//! (`client % clients` by first appearance) and hands each command, encoded, to that connection's
//! bounded channel. A full channel blocks the reader, so memory stays flat whatever the file's
//! size.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::capture::{CaptureError, CaptureReader, Captured};
use super::keys::{self, Slot};
use super::{ReplaySpec, Speed, Survey};
use crate::resp;
use crate::stop::Stop;

/// Commands a connection may have waiting: enough to send ahead of a slow reader, small enough
/// that thousands of connections stay cheap.
pub(super) const QUEUE: usize = 256;
/// Bytes of commands waiting in all the queues together: a capture of large values stays within
/// it however many connections wait.
pub(super) const QUEUED_BYTES: usize = 32 << 20;

/// The queued bytes, shared by the reader (which waits for room) and the workers (which free it
/// as they write).
pub(super) struct Budget {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    fn new() -> Arc<Budget> {
        Arc::new(Budget {
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    /// Waits until `n` more bytes fit (a command always fits an empty budget); None when stopped.
    fn take(self: &Arc<Self>, n: usize, stop: &Stop) -> Option<Ticket> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + n > QUEUED_BYTES {
            if stop.is_stopped() {
                return None;
            }
            let wait = self.freed.wait_timeout(used, Duration::from_millis(50));
            used = wait.unwrap_or_else(|e| e.into_inner()).0;
        }
        *used += n;
        Some(Ticket {
            budget: self.clone(),
            n,
        })
    }
}

/// A queued command's bytes, given back when it is written (or dropped unsent).
pub(super) struct Ticket {
    budget: Arc<Budget>,
    n: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.n;
        self.budget.freed.notify_one();
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.n)
    }
}

/// One command on its way to its connection.
#[derive(Debug)]
pub(super) struct Item {
    /// Captured time from the capture's start (µs, unscaled; later passes follow on).
    pub due_us: u64,
    /// Its result row.
    pub op: u16,
    /// The command, RESP-encoded.
    pub cmd: Bytes,
    pub slot: Slot,
    /// The database it ran in when captured.
    pub db: u32,
    /// A SELECT: the database it switches to.
    pub select: Option<u32>,
    /// Its place in the queued bytes, taken when it is written.
    pub ticket: std::cell::RefCell<Option<Ticket>>,
}

/// What the reader left out.
#[derive(Debug, Default)]
pub(super) struct FeedReport {
    pub skipped: BTreeMap<String, u64>,
    pub crossslot: BTreeMap<String, u64>,
    /// The file could not be read on a later pass (it changed or went away).
    pub error: Option<CaptureError>,
}

struct Feed {
    spec: ReplaySpec,
    survey: Survey,
    ops: HashMap<String, u16>,
    txs: Vec<Option<mpsc::Sender<Item>>>,
    conn_of: HashMap<u32, usize>,
    sent: u64,
    report: FeedReport,
    stop: Stop,
    budget: Arc<Budget>,
}

/// Starts the reader; it ends at the capture's end (after every pass), at `-n`, when every
/// connection has hung up, or on `stop`.
pub(super) fn spawn(
    spec: &ReplaySpec,
    survey: &Survey,
    txs: Vec<mpsc::Sender<Item>>,
    stop: &Stop,
) -> std::io::Result<JoinHandle<FeedReport>> {
    let feed = Feed {
        spec: spec.clone(),
        survey: survey.clone(),
        ops: (survey.names.iter().cloned()).zip(0u16..).collect(),
        txs: txs.into_iter().map(Some).collect(),
        conn_of: HashMap::new(),
        sent: 0,
        report: FeedReport::default(),
        stop: stop.clone(),
        budget: Budget::new(),
    };
    std::thread::Builder::new()
        .name("rbench-replay-feed".into())
        .spawn(move || feed.run())
}

impl Feed {
    fn run(mut self) -> FeedReport {
        for pass in 0..self.spec.passes.max(1) {
            match self.pass(pass) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.report.error = Some(e);
                    break;
                }
            }
        }
        self.report
    }

    /// One pass over the file: false when the replay is to end.
    fn pass(&mut self, pass: u32) -> Result<bool, CaptureError> {
        let mut r = CaptureReader::open(&self.spec.file)?;
        let offset = u64::from(pass) * self.survey.span_us();
        while let Some(c) = r.next_command() {
            let c = match c {
                Ok(c) => c,
                Err(CaptureError::Bad { .. }) => continue,
                Err(e) => return Err(e),
            };
            if self.stop.is_stopped() || self.spec.requests.is_some_and(|n| self.sent >= n) {
                return Ok(false);
            }
            let due_us = c.t_us.saturating_sub(self.survey.first_t) + offset;
            if self.past_duration(due_us) {
                return Ok(false);
            }
            if !self.one(c, pass, due_us) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A command due after `--duration` (scaled): nothing after it is sent either.
    fn past_duration(&self, due_us: u64) -> bool {
        match (self.spec.duration, self.spec.speed) {
            (Some(d), Speed::Times(f)) => due_us as f64 / f > d.as_micros() as f64,
            _ => false,
        }
    }

    /// Hands one captured command on (or counts why not): false once every connection hung up.
    fn one(&mut self, mut c: Captured, pass: u32, due_us: u64) -> bool {
        if !self.spec.mine(c.client) {
            return true;
        }
        if let Some(why) = self.spec.policy.skipped(&c.args, c.from_script) {
            *self.report.skipped.entry(why).or_default() += 1;
            return true;
        }
        let name = c.name();
        let Some(&op) = self.ops.get(&name) else {
            return true; // The file changed since the survey.
        };
        if pass > 0 && self.spec.rewrite {
            keys::rewrite(&mut c.args, format!(":pass{}", pass + 1).as_bytes());
        }
        let slot = if self.spec.cluster {
            keys::slot(&c.args)
        } else {
            Slot::Any
        };
        if slot == Slot::Cross {
            *self.report.crossslot.entry(name).or_default() += 1;
            return true;
        }
        let select = (name == "SELECT")
            .then(|| {
                c.args
                    .get(1)
                    .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
            })
            .flatten();
        let cmd = encode(&c.args);
        let Some(ticket) = self.budget.take(cmd.len(), &self.stop) else {
            return false;
        };
        let item = Item {
            due_us,
            op,
            cmd,
            slot,
            db: c.db,
            select,
            ticket: std::cell::RefCell::new(Some(ticket)),
        };
        self.deliver(c.client, item)
    }

    fn deliver(&mut self, client: u32, item: Item) -> bool {
        let n = self.txs.len();
        let next = self.conn_of.len();
        let conn = *self.conn_of.entry(client).or_insert(next % n);
        if let Some(tx) = &self.txs[conn] {
            if tx.blocking_send(item).is_ok() {
                self.sent += 1;
            } else {
                // That connection ended (--duration, or it failed): its commands go nowhere.
                self.txs[conn] = None;
            }
        }
        self.txs.iter().any(Option::is_some)
    }
}

fn encode(args: &[Bytes]) -> Bytes {
    let len: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut buf = BytesMut::with_capacity(len + 16);
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    resp::encode_command(&mut buf, &refs);
    buf.freeze()
}
