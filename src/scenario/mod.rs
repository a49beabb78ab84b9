//! The reference experiments as scenarios: producers and a consumer group on streams (`stream`),
//! and writers and readers checking counters for lost writes (`consistency`). A scenario is not a
//! throughput test: every client waits for each reply so it knows exactly what was acknowledged,
//! and what matters is the ledger it keeps, not requests per second. The pipelined engine is not
//! used; the clients here are one request at a time, cluster-aware, and retry as the engine does.

mod client;
mod consistency;
mod pace;
mod stream;

use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::cluster::Route;
use crate::conn::Auth;
use crate::net::Dialer;
use crate::stats::OpStats;
use crate::stop::Stop;

pub use client::Client;

/// The stream experiment: who produces, who consumes, and how the consumers misbehave.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    pub producers: usize,
    pub consumers: usize,
    /// Entries to produce in all (closed or open loop), if bounded by count.
    pub entries: Option<u64>,
    pub duration: Option<Duration>,
    /// Entries per second over all producers (open loop); None: as fast as replies come.
    pub rps: Option<crate::workload::shape::Rate>,
    /// Entries pending longer than this are reclaimed with XAUTOCLAIM.
    pub claim_idle: Duration,
    /// Share of read entries a consumer drops without acking.
    pub crash_rate: f64,
    /// How long consumers may go on after producing stops, until everything is acked.
    pub drain: Duration,
    /// Streams the entries are spread over (one per master on a cluster).
    pub streams: usize,
    /// XREADGROUP COUNT and BLOCK.
    pub count: usize,
    pub block: Duration,
    /// Bytes of payload per entry.
    pub data_size: usize,
    pub seed: u64,
}

/// The consistency experiment (redis-rb-cluster's consistency-test).
#[derive(Clone, Debug, PartialEq)]
pub struct ConsistencySpec {
    pub writers: usize,
    pub readers: usize,
    /// Counters the writers increment.
    pub keys: u64,
    /// Increments to send in all, if bounded by count.
    pub ops: Option<u64>,
    pub duration: Option<Duration>,
    /// Increments per second over all writers (readers read at the same rate).
    pub rps: Option<crate::workload::shape::Rate>,
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Scenario {
    Stream(StreamSpec),
    Consistency(ConsistencySpec),
}

/// Where and how a scenario runs.
pub struct Env {
    pub route: Route,
    pub auth: Auth,
    pub dial: Dialer,
    /// Set by a signal: stop now, no drain, no retries.
    pub stop: Stop,
    /// How long a request is retried through transient faults (failover, lost connections).
    pub retry_window: Duration,
    /// Set when measurement starts; fault times and timeline seconds count from it.
    pub started: Arc<OnceLock<Instant>>,
}

/// The stream experiment's ledger.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StreamReport {
    /// Entries the server acknowledged (XADD replied with an ID).
    pub produced: u64,
    /// Entries handed to a consumer (XREADGROUP and XAUTOCLAIM), counting each delivery.
    pub delivered: u64,
    /// Distinct produced entries acknowledged with XACK.
    pub acked: u64,
    /// Deliveries by XAUTOCLAIM.
    pub reclaimed: u64,
    /// Deliveries of an entry a consumer had already processed.
    pub duplicates: u64,
    /// Produced entries not acked at the end but still in the stream (a consumer could get them).
    pub pending: u64,
    /// Produced entries not acked at the end and gone from the stream: the server lost them.
    pub lost: u64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub e2e_max_ms: f64,
    /// Seconds from the start to the first OOM refusal of an XADD (the OOM drill).
    pub first_oom_s: Option<f64>,
    pub produced_before_oom: Option<u64>,
}

/// The consistency experiment's ledger.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ConsistencyReport {
    /// INCRs sent.
    pub writes: u64,
    /// INCRs the server acknowledged.
    pub acked: u64,
    /// INCRs that ended in an error (applied or not: unknown).
    pub failed: u64,
    /// Acknowledged increments missing from the counters at the end.
    pub lost: u64,
    /// Increments found in the counters beyond what was acknowledged (failed INCRs that applied).
    pub unacked_applied: u64,
    pub reads: u64,
    /// Reads that returned less than was acknowledged before the read was sent.
    pub stale_reads: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    Stream(StreamReport),
    Consistency(ConsistencyReport),
}

/// One role of a scenario (producers, consumers; writers, readers) and what it measured.
pub struct Role {
    /// The command that names the role's row (XADD, XREADGROUP; INCR, GET).
    pub command: &'static str,
    /// How many clients played it.
    pub clients: usize,
    pub stats: OpStats,
    /// The role's timeline, every second of it (a scenario's recorders never close a second).
    pub seconds: Vec<crate::stats::Second>,
}

/// What a scenario measured.
pub struct Outcome {
    /// One row per role, headline first.
    pub rows: Vec<Role>,
    pub report: Report,
    /// Entries produced but not yet acked, per second (stream only).
    pub lag: Vec<u64>,
    /// Producer send → consumer ack, µs (stream only).
    pub e2e: Option<Histogram<u64>>,
    /// The measured part: from the start until the load stopped (drain excluded).
    pub elapsed: Duration,
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Setting up failed (creating the consumer group, clearing the counters).
    #[error("setting up the {scenario} scenario: {msg}")]
    Setup { scenario: &'static str, msg: String },
    /// The ledger could not be checked at the end (the server did not answer).
    #[error("checking the {scenario} scenario's ledger: {msg}")]
    Check { scenario: &'static str, msg: String },
}

/// Runs `s` until its bound (entries or duration) or `env.stop`.
pub async fn run(s: &Scenario, env: &Env) -> Result<Outcome, ScenarioError> {
    match s {
        Scenario::Stream(spec) => stream::run(spec, env).await,
        Scenario::Consistency(spec) => consistency::run(spec, env).await,
    }
}

/// Per-request reply timeout beyond any blocking the command asks for: a paused or hung server
/// must turn into a Timeout the retry policy handles, not a task that waits forever.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
