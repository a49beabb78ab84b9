//! The resolved workload: every setting of what the load sends, how much and how fast, as config
//! resolved it from flags, profile and defaults. It sits here, below the engine, so the engine
//! reads a setting where config put it: adding one takes its flag-group field (`cli`), its
//! resolution (`config`), its field here and its use.

use std::time::Duration;

use super::command::{Script, fcall_library};
use super::generator::{DataKind, DataSize, KeyDist};
use super::shape::Rate;
use super::{Cmd, EncodeOpts, Op, UserCommand};

/// One run's sequence of phases: each is one test, or one mix.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Each phase: commands and their weights (a single test has one entry).
    pub phases: Vec<Vec<(Cmd, u32)>>,
    /// The user's commands (`Cmd::User(i)` is `commands[i]`): `--command`, `[[command]]`, or the
    /// redis-benchmark style command line.
    pub commands: Vec<UserCommand>,
    pub clients: usize,
    pub threads: usize,
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// Each phase first runs this long unrecorded.
    pub warmup: Option<Duration>,
    pub pipeline: usize,
    pub sizes: DataSize,
    /// `--ttl`: the TTL range (ms) of user commands without one of their own.
    pub ttl: Option<(u64, u64)>,
    /// What values are made of (`--data-kind`).
    pub data_kind: DataKind,
    /// None: 1 key on standalone (as redis-benchmark without -r), DEFAULT_CLUSTER_KEYSPACE on clusters.
    pub keyspace: Option<u64>,
    pub key_dist: KeyDist,
    /// `--rps`: the open loop's rate, fixed or shaped (None: closed loop).
    pub rps: Option<Rate>,
    pub seed: u64,
    pub encode: EncodeOpts,
    pub read_from_replicas: bool,
    /// `-k 0`: a new connection for every request (every window's worth with `-P`), as
    /// redis-benchmark does, so connection set-up cost shows in the throughput.
    pub keepalive: bool,
}

impl Workload {
    /// The scripts and function libraries to load on every master before the run: the user
    /// commands', and the FCALL test's library when a phase runs it.
    pub fn scripts(&self) -> Vec<Script> {
        let mut out: Vec<Script> = self
            .commands
            .iter()
            .filter_map(|c| c.script.clone())
            .collect();
        let fcall = (Cmd::Builtin(Op::Fcall), 1);
        if self.phases.iter().flatten().any(|(c, _)| *c == fcall.0) {
            out.push(fcall_library(self.encode.fcall.0));
        }
        out
    }
}
