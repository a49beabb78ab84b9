//! The experiments a plan runs instead of tests (`--scenario`) and the faults scheduled into its
//! runs (`--fault`, `[[fault]]`): read from flags, else the profile, and checked against the rest
//! of the plan here, once, so a run never starts with a fault it cannot carry out.

use std::time::Duration;

use super::layers::Layers;
use super::{AtLine, ConfigError, Target, TargetKind, Workload, invalid};
use crate::cli::{Cli, ExperimentFlags};
use crate::fault::{self, Fault};
use crate::profile::Profile;
use crate::workload;

/// What `--scenario` runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Scenario {
    Stream(StreamConf),
    /// INCR writers and GET readers: `--clients` of each, over `-r` counters.
    Consistency,
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Stream(_) => "stream",
            Scenario::Consistency => "consistency",
        }
    }
}

/// The stream scenario's own settings (the rest come from the workload: -n, --duration, --rps, -d).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConf {
    pub producers: usize,
    pub consumers: usize,
    pub claim_idle: Duration,
    pub crash_rate: f64,
    pub drain: Duration,
}

pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(1);
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
/// Counters of the consistency scenario without `-r`: as consistency-test.rb's default.
pub const DEFAULT_COUNTERS: u64 = 1000;

/// `--scenario`, else the profile's `scenario`, with its settings; stream settings without the
/// stream scenario are refused (they would silently do nothing).
pub fn scenario(s: &Layers) -> Result<Option<Scenario>, ConfigError> {
    let name = s.parse(
        "scenario",
        s.merged.experiment.scenario.as_deref(),
        parse_name,
    )?;
    let stream = stream_conf(s)?;
    match name {
        Some("stream") => Ok(Some(Scenario::Stream(stream.conf))),
        Some(_) => match stream.first_set {
            Some(key) => Err(invalid(format!(
                "{key} is a setting of the stream scenario, not of --scenario consistency"
            ))),
            None => Ok(Some(Scenario::Consistency)),
        },
        None => match stream.first_set {
            Some(key) => Err(invalid(format!(
                "{key} is a setting of the stream scenario: add --scenario stream"
            ))),
            None => Ok(None),
        },
    }
}

fn parse_name(s: &str) -> Result<&'static str, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "stream" => Ok("stream"),
        "consistency" => Ok("consistency"),
        other => Err(format!(
            "unknown scenario `{other}`: the scenarios are stream and consistency"
        )),
    }
}

struct StreamSettings {
    conf: StreamConf,
    /// The first stream setting given, by its flag's name (for a refusal without the scenario).
    first_set: Option<&'static str>,
}

fn stream_conf(s: &Layers) -> Result<StreamSettings, ConfigError> {
    let m = &s.merged.experiment;
    let set = [
        ("--producers", m.producers.is_some()),
        ("--consumers", m.consumers.is_some()),
        ("--claim-idle", m.claim_idle.is_some()),
        ("--crash-rate", m.crash_rate.is_some()),
        ("--drain", m.drain.is_some()),
    ];
    let producers = s.at_least_1("producers", m.producers)?.unwrap_or(1);
    let consumers = m.consumers.unwrap_or(1);
    if producers > 10_000 || consumers > 10_000 {
        return Err(invalid("--producers and --consumers must be at most 10000"));
    }
    let crash_rate = s
        .parse("crash_rate", m.crash_rate.as_ref(), |r| check_share(*r))?
        .unwrap_or(0.0);
    let claim_idle = s
        .parse(
            "claim_idle",
            m.claim_idle.as_deref(),
            workload::parse_duration,
        )?
        .unwrap_or(DEFAULT_CLAIM_IDLE);
    if claim_idle < Duration::from_millis(1) {
        return Err(invalid("--claim-idle must be at least 1ms"));
    }
    let drain = s
        .parse("drain", m.drain.as_deref(), workload::parse_duration)?
        .unwrap_or(DEFAULT_DRAIN);
    Ok(StreamSettings {
        conf: StreamConf {
            producers,
            consumers,
            claim_idle,
            crash_rate,
            drain,
        },
        first_set: set.iter().find(|(_, s)| *s).map(|(k, _)| *k),
    })
}

fn check_share(r: f64) -> Result<f64, String> {
    if r.is_finite() && (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!(
            "--crash-rate must be a share from 0 to 1 (e.g. 0.05), got {r}"
        ))
    }
}

/// What a scenario cannot be combined with: tests of its own, and the flags that shape them.
pub fn check_scenario(cli: &Cli, s: &Scenario, w: &Workload) -> Result<(), ConfigError> {
    let name = s.name();
    let clash = if cli.load.tests.is_some() {
        Some("-t")
    } else if cli.load.mix.is_some() {
        Some("--mix")
    } else if !cli.command.is_empty() {
        Some("a custom command")
    } else if cli.modes.idle {
        Some("-I")
    } else if cli.modes.loop_tests {
        Some("-l")
    } else if w.pipeline > 1 {
        Some("-P")
    } else if w.warmup.is_some() {
        Some("--warmup")
    } else {
        None
    };
    match clash {
        Some(what) => Err(invalid(format!(
            "--scenario {name} runs its own commands, one at a time per client: it cannot be combined with {what}"
        ))),
        None => Ok(()),
    }
}

/// A planned fault and the profile line it came from (None: a `--fault` flag).
pub type Placed = (Fault, Option<usize>);

/// `--fault` flags, else the profile's `[[fault]]` entries, in time order.
pub fn faults(
    e: &ExperimentFlags,
    prof: Option<&Profile>,
    at: AtLine,
) -> Result<Vec<Placed>, ConfigError> {
    let mut out = Vec::new();
    if !e.fault.is_empty() {
        for s in &e.fault {
            let f = fault::parse_fault(s).map_err(|e| invalid(format!("--fault {s}: {e}")))?;
            out.push((f, None));
        }
    } else if let Some(p) = prof {
        for f in &p.faults {
            let when = workload::parse_duration(&f.at.value)
                .map_err(|e| at(f.at.line, format!("at: {e}")))?;
            let action = fault::Action::parse(&f.action.value)
                .map_err(|e| at(f.action.line, format!("action: {e}")))?;
            out.push((Fault { at: when, action }, Some(f.at.line)));
        }
    }
    out.sort_by_key(|(f, _)| f.at);
    Ok(out)
}

/// Faults need a run of known length that they fall within, one phase to act on, and, for the
/// actions that signal processes, deployments rbench spawned.
pub fn check_faults(
    faults: &[Placed],
    w: &Workload,
    scenario: Option<&Scenario>,
    targets: &[Target],
    at: AtLine,
) -> Result<(), ConfigError> {
    let refuse = |(f, line): &Placed, why: String| match line {
        Some(l) => at(*l, format!("fault {}: {why}", f.action.label())),
        None => invalid(format!("--fault {}: {why}", f.action.label())),
    };
    let Some(first) = faults.first() else {
        return Ok(());
    };
    let Some(len) = w.duration else {
        return Err(refuse(
            first,
            "faults need --duration (a fault's time must fall within the run)".into(),
        ));
    };
    if let Some(late) = faults.iter().find(|(f, _)| f.at >= len) {
        let why = format!(
            "at {} is past the run's end ({} of --duration)",
            secs(late.0.at),
            secs(len)
        );
        return Err(refuse(late, why));
    }
    if scenario.is_none() && w.phases.len() > 1 {
        return Err(refuse(
            first,
            "faults act on one run at a time: give one test (-t set) or one --mix, not several tests".into(),
        ));
    }
    let existing = targets
        .iter()
        .find(|t| !matches!(t.kind, TargetKind::Spawn(_)));
    match (
        faults.iter().find(|(f, _)| f.action.needs_spawned()),
        existing,
    ) {
        (Some(f), Some(t)) => Err(refuse(
            f,
            format!(
                "needs a deployment rbench spawned, and target {} is an existing one (there only failover, reshard and debug-sleep work: they go through the protocol)",
                t.name
            ),
        )),
        _ => Ok(()),
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
