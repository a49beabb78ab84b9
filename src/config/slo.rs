//! `--slo` and its settings (flags, else the profile's `slo`, `slo_step`, `slo_resolution`,
//! `slo_confirm`), and what
//! a search cannot be combined with. A search sets the rate and the length of every step itself, so
//! a fixed rate or run length from the same source is a contradiction; one from the profile gives
//! way to a flag, as every profile value does.

use std::time::Duration;

use super::layers::Layers;
use super::objectives::{self as slo, DEFAULT_CONFIRM, MAX_CONFIRM, Slo};
use super::{ConfigError, Mode, invalid};
use crate::workload;
use crate::workload::shape::Rate;

/// The search the plan asks for, if any.
pub fn slo(s: &Layers) -> Result<Option<Slo>, ConfigError> {
    let (f, m) = (s.flags, &s.merged.search);
    // A --rps flag asks for one fixed rate: the profile's search gives way to it.
    let overridden = f.search.slo.is_empty() && f.load.rps.is_some();
    let objectives = match m.slo.is_empty() || overridden {
        true => None,
        false => Some(
            slo::parse_objectives(&m.slo.join(","))
                .map_err(|e| s.error("slo", format!("{}: {e}", s.name("slo"))))?,
        ),
    };
    let Some(objectives) = objectives else {
        let given = [
            ("--slo-step", f.search.slo_step.is_some()),
            ("--slo-resolution", f.search.slo_resolution.is_some()),
            ("--slo-confirm", f.search.slo_confirm.is_some()),
        ];
        return match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(invalid(format!(
                "{flag} needs --slo (the objectives to search for)"
            ))),
            None => Ok(None),
        };
    };
    let step = s
        .parse("slo_step", m.slo_step.as_deref(), workload::parse_duration)?
        .unwrap_or(slo::DEFAULT_STEP);
    if step < slo::MIN_STEP {
        return Err(invalid(format!(
            "--slo-step must be at least {} ms: shorter steps measure start-up more than the rate",
            slo::MIN_STEP.as_millis()
        )));
    }
    let resolution = s
        .parse("slo_resolution", m.slo_resolution.as_deref(), |t| {
            slo::parse_resolution(t).map_err(|e| format!("{}: {e}", s.name("slo_resolution")))
        })?
        .unwrap_or(slo::DEFAULT_RESOLUTION);
    let confirm = m.slo_confirm.unwrap_or(DEFAULT_CONFIRM);
    if !(1..=MAX_CONFIRM).contains(&confirm) {
        return Err(s.error(
            "slo_confirm",
            format!(
                "{} must be 1 to {MAX_CONFIRM} (the runs the rate reported must hold)",
                s.name("slo_confirm")
            ),
        ));
    }
    Ok(Some(Slo {
        objectives,
        step,
        resolution,
        confirm,
    }))
}

/// What a search cannot run with: a fixed rate, a fixed run length, a scenario, faults, `-l`/`-I`.
pub fn check(s: &Layers, mode: Mode) -> Result<(), ConfigError> {
    let cli = s.flags;
    let from_flags = !cli.search.slo.is_empty();
    let refuse = |what: &str| {
        invalid(format!(
            "--slo searches for the rate itself, in steps of --slo-step; it cannot be combined with {what}"
        ))
    };
    if cli.load.rps.is_some() && from_flags {
        return Err(refuse("--rps (a fixed rate or a shape)"));
    }
    if cli.load.requests.is_some() || cli.load.duration.is_some() {
        return Err(refuse("-n or --duration (each step runs for --slo-step)"));
    }
    if s.in_profile("rps") && !from_flags {
        return Err(s.error_at_key(
            "rps",
            "rps: a rate (fixed or shaped) cannot be combined with slo, which searches for the rate",
        ));
    }
    match mode {
        Mode::Loop => return Err(refuse("-l")),
        Mode::Idle => return Err(refuse("-I")),
        Mode::Bench => {}
    }
    if cli.experiment.scenario.is_some() || s.in_profile("scenario") {
        return Err(refuse("--scenario"));
    }
    if !cli.experiment.fault.is_empty() {
        return Err(refuse("--fault"));
    }
    Ok(())
}

/// A step's workload: open loop at `rate` for `step`, counted by time alone.
pub fn step_workload(w: &super::Workload, rate: Option<f64>, step: Duration) -> super::Workload {
    super::Workload {
        rps: rate.map(Rate::Fixed),
        duration: Some(step),
        requests: None,
        warmup: None,
        ..w.clone()
    }
}
