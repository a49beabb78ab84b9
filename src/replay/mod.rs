//! `rbench replay FILE`: captured traffic (`redis-cli MONITOR` output, memtier's
//! `--monitor-input`) sent again with its timing. Each captured client's commands stay in order on
//! one connection (clients beyond `--clients` share them, `client % clients` by first appearance),
//! each command is due at its captured time scaled by `--speed`, and latency is measured from
//! that due time, so a server that falls behind shows as latency and lag, not as a slower replay.
//!
//! `capture` parses the file one line at a time; `policy` says what must not be sent; `keys`
//! knows where keys are (cluster routing, CROSSSLOT, `--loop-rewrite`); `survey` reads the file
//! once before anything is sent (bad lines, the command names, the timing); `feed` streams it to
//! the connections through bounded channels; `driver` runs the connections.

mod alarm;
pub mod capture;
mod clock;
mod driver;
mod feed;
pub mod keys;
mod link;
pub mod policy;
mod survey;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::Route;
use crate::conn::Auth;
use crate::net::Dialer;
use crate::shard::Shard;
use crate::stats::{OpStats, Second, Tick};
use crate::stop::Stop;

pub use capture::{CaptureError, Captured};
pub use driver::run;
pub use policy::Policy;
pub use survey::{Survey, survey};

/// How fast the capture is played.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// The captured gaps divided by this factor (open loop).
    Times(f64),
    /// Each connection sends its next command when the previous reply came (closed loop).
    Max,
}

impl Speed {
    /// `1`, `2.5`, `max`.
    pub fn parse(s: &str) -> Result<Speed, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Times(f)),
            Ok(_) => Err(format!("must be above 0 (or `max`), got `{s}`")),
            Err(_) => Err(format!("must be a number or `max`, got `{s}`")),
        }
    }
}

/// One replay, as asked.
#[derive(Clone, Debug)]
pub struct ReplaySpec {
    pub file: PathBuf,
    /// Connections (captured clients beyond this share them).
    pub clients: usize,
    pub speed: Speed,
    /// `--loop N`: passes over the capture.
    pub passes: u32,
    /// `--loop-rewrite`: keys of pass k ≥ 2 get `:pass<k>` appended.
    pub rewrite: bool,
    pub policy: Policy,
    pub skip_bad_lines: bool,
    /// `-n`: commands to send at most.
    pub requests: Option<u64>,
    /// `--duration`: stop sending after this long.
    pub duration: Option<Duration>,
    /// `--shard I/N`: captured clients with index % N == I.
    pub shard: Option<Shard>,
    /// `--start-at`: the first command is due then.
    pub start_at: Option<std::time::SystemTime>,
    pub cluster: bool,
}

impl ReplaySpec {
    /// Whether this process replays captured client `c`.
    pub fn mine(&self, c: u32) -> bool {
        self.shard.is_none_or(|s| c % s.count == s.index)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{}: no commands to replay{why}", path.display())]
    NoCommands { path: PathBuf, why: &'static str },
    #[error(
        "{}:{line}: SELECT {db}: a cluster has only database 0 (replay on a standalone server, or --skip SELECT)",
        path.display()
    )]
    SelectOnCluster {
        path: PathBuf,
        line: u64,
        db: String,
    },
    #[error("{0}")]
    Connect(crate::conn::ConnError),
    #[error("cannot start the capture's reader: {0}")]
    Thread(std::io::Error),
}

impl ReplayError {
    /// Bad input (exit 2), as opposed to a server that could not be reached (exit 1).
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            ReplayError::Connect(_)
                | ReplayError::Thread(_)
                | ReplayError::Capture(CaptureError::Read { .. })
        )
    }
}

/// Where the replay goes.
pub struct Env {
    pub route: Route,
    pub auth: Auth,
    pub dial: Dialer,
    pub stop: Stop,
}

/// What a replay measured: one row per captured command name that was sent.
pub struct Outcome {
    pub names: Vec<String>,
    pub stats: Vec<OpStats>,
    /// Each command's timeline, second by second from the start (counts and percentiles; the
    /// seconds themselves went to the `Seconds` sink as they closed).
    pub timeline: Vec<Vec<Tick>>,
    /// From the start (the first command's due time) to the last reply.
    pub elapsed: Duration,
    pub started_at: std::time::SystemTime,
    pub interrupted: bool,
    /// How late the latest command was sent after its due time (rbench's own lag).
    pub max_lag: Duration,
    /// Not sent, by name (`CONFIG SET`, `(run by scripts)`...).
    pub skipped: BTreeMap<String, u64>,
    /// Not sent on a cluster: the keys of these commands now span slots.
    pub crossslot: BTreeMap<String, u64>,
    /// Lines that did not parse, passed over with `--skip-bad-lines`.
    pub bad_lines: u64,
    pub connections: usize,
    /// Captured clients replayed (this shard's).
    pub captured_clients: u64,
    /// Replies still awaited when the replay stopped.
    pub unanswered: u64,
}

/// What a replay's first result row carries (and the JSON summary shows): what was played, and
/// what was not sent.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Report {
    pub file: String,
    /// `1`, `2`, `max`.
    pub speed: String,
    pub passes: u32,
    pub captured_clients: u64,
    pub connections: usize,
    pub skipped: BTreeMap<String, u64>,
    pub crossslot: BTreeMap<String, u64>,
    pub bad_lines: u64,
}

impl Report {
    pub fn of(spec: &ReplaySpec, o: &Outcome) -> Report {
        Report {
            file: spec.file.display().to_string(),
            speed: match spec.speed {
                Speed::Times(f) => format!("{f}"),
                Speed::Max => "max".into(),
            },
            passes: spec.passes,
            captured_clients: o.captured_clients,
            connections: o.connections,
            skipped: o.skipped.clone(),
            crossslot: o.crossslot.clone(),
            bad_lines: o.bad_lines,
        }
    }
}

/// Where each second of the replay goes as it closes (the session writes it to the timeline and
/// `.hlog`s and shows it live), so nothing of it is kept in memory but its `Tick`.
pub trait Seconds {
    /// The first command is due at `at`.
    fn started(&mut self, at: std::time::SystemTime);
    /// Second `sec` (0-based) closed: a row per command name, in the survey's order.
    fn second(&mut self, sec: usize, rows: &[Option<Second>]);
    /// The second the replay ended in.
    fn partial(&mut self, sec: usize, rows: &[Option<Second>]);
}

/// `map`'s counts as `NAME n, NAME n` (most first).
pub fn counts_line(map: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds() {
        assert_eq!(Speed::parse("2"), Ok(Speed::Times(2.0)));
        assert_eq!(Speed::parse("MAX"), Ok(Speed::Max));
        assert!(Speed::parse("0").is_err());
        assert!(Speed::parse("-1").is_err());
        assert!(Speed::parse("fast").is_err());
        assert!(Speed::parse("inf").is_err());
    }

    #[test]
    fn counts() {
        let m: BTreeMap<String, u64> = [("A".to_string(), 1), ("B".to_string(), 3)].into();
        assert_eq!(counts_line(&m), "B 3, A 1");
    }
}
