//! `--shard`, `--start-at` and `--run-id`: how this process takes part in a run spread over several
//! (one per machine, or the pods of a Kubernetes Indexed Job). A shard splits the run's totals,
//! draws keys with a seed of its own, and names its results with the run's id, so `rbench merge`
//! can add the shards' folders into the one run they are.

use std::time::SystemTime;

use super::{ConfigError, Mode, Target, TargetKind, Workload, invalid};
use crate::cli::{Cli, ScaleFlags};
use crate::shard::{self, Shard};
use crate::workload::shape::Rate;

/// The scale-out part of a plan (all empty for a run of one process).
#[derive(Clone, Debug, Default)]
pub struct ScaleOut {
    pub shard: Option<Shard>,
    /// Every shard connects, then waits for this instant before its first phase.
    pub start_at: Option<SystemTime>,
    /// The id the results carry instead of one made from this process's start.
    pub run_id: Option<String>,
}

/// This process's part in the run: the flags read and checked against the rest of the plan, and
/// the workload cut to its share.
pub fn resolve(cli: &Cli, others: &Others<'_>, w: &mut Workload) -> Result<ScaleOut, ConfigError> {
    let scale = scale_out(&cli.scale, SystemTime::now())?;
    check(&scale, others)?;
    split(&scale, w)?;
    Ok(scale)
}

/// Reads the flags; `now` decides whether `--start-at` is already past.
pub fn scale_out(flags: &ScaleFlags, now: SystemTime) -> Result<ScaleOut, ConfigError> {
    let shard = flags
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(invalid)?;
    let start_at = flags
        .start_at
        .as_deref()
        .map(|s| crate::start_at::parse(s, now))
        .transpose()
        .map_err(invalid)?;
    if let Some(id) = &flags.run_id {
        shard::check_run_id(id).map_err(invalid)?;
    }
    let run_id = match (&flags.run_id, shard, start_at) {
        (Some(id), _, _) => Some(id.clone()),
        // The shards were given one instant: it names their run alike without a flag more.
        (None, Some(s), Some(t)) => Some(format!("{}-s{}", compact(t), s.count)),
        (None, Some(s), None) => {
            return Err(invalid(format!(
                "--shard {s}: give --start-at TIME (or --run-id ID) so every shard's results carry one run id for rbench merge"
            )));
        }
        (None, None, _) => None,
    };
    Ok(ScaleOut {
        shard,
        start_at,
        run_id,
    })
}

/// `2026-12-04T09:00:00Z` as `20261204T090000Z`, the form run ids take.
fn compact(t: SystemTime) -> String {
    crate::timefmt::rfc3339(t)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// This shard's part of the workload: its share of `-n` and `--rps`, and its own seed.
pub fn split(s: &ScaleOut, w: &mut Workload) -> Result<(), ConfigError> {
    let Some(sh) = s.shard else {
        return Ok(());
    };
    if let Some(n) = w.requests {
        w.requests = Some(sh.share(n));
        if w.requests == Some(0) {
            return Err(invalid(format!(
                "-n {n} over {} shards leaves shard {sh} no requests: give at least {} requests",
                sh.count, sh.count
            )));
        }
    }
    match w.rps.take() {
        Some(Rate::Fixed(r)) => {
            let share = sh.share_rate(r);
            if share <= 0.0 {
                return Err(invalid(format!(
                    "--rps {r} over {} shards leaves shard {sh} no rate",
                    sh.count
                )));
            }
            w.rps = Some(Rate::Fixed(share));
        }
        // A shape is split in proportion: every shard runs it at 1/N of the rate, in phase.
        Some(shaped) => w.rps = Some(shaped.scaled(1.0 / f64::from(sh.count))),
        None => {}
    }
    w.seed = sh.seed(w.seed);
    Ok(())
}

/// What a sharded or synchronized run cannot be combined with.
pub struct Others<'a> {
    pub mode: Mode,
    pub scenario: bool,
    pub faults: bool,
    pub slo: bool,
    pub flush: bool,
    pub targets: &'a [Target],
}

pub fn check(s: &ScaleOut, o: &Others<'_>) -> Result<(), ConfigError> {
    if let Some(sh) = s.shard {
        let refuse = |what: &str| {
            invalid(format!(
                "--shard {sh}: {what} cannot be sharded (one process must own it)"
            ))
        };
        if o.scenario {
            return Err(refuse("a scenario"));
        }
        if o.faults {
            return Err(refuse("a fault"));
        }
        if o.slo {
            return Err(refuse("a --slo search"));
        }
        if o.flush {
            return Err(invalid(format!(
                "--shard {sh}: --flush would have each shard FLUSHALL the server while the others run"
            )));
        }
        if o.mode == Mode::Loop {
            return Err(invalid(format!(
                "--shard {sh}: -l runs until a signal, but the shards of a run must end to be merged"
            )));
        }
        if let Some(t) = o
            .targets
            .iter()
            .find(|t| matches!(t.kind, TargetKind::Spawn(_)))
        {
            return Err(invalid(format!(
                "--shard {sh}: target {} is a deployment this process spawns; shards load one existing deployment together",
                t.name
            )));
        }
    }
    if s.start_at.is_some() {
        let what = match o.mode {
            Mode::Idle => Some("-I (it sends nothing)"),
            _ if o.scenario => Some("a scenario"),
            _ if o.slo => Some("a --slo search (it sets its own steps)"),
            _ => None,
        };
        if let Some(w) = what {
            return Err(invalid(format!(
                "--start-at starts a run's tests; it cannot be combined with {w}"
            )));
        }
    }
    Ok(())
}
