//! `--slo` and its settings (flags, else the profile's `slo`, `slo_step`, `slo_resolution`), and what
//! a search cannot be combined with. A search sets the rate and the length of every step itself, so
//! a fixed rate or run length from the same source is a contradiction; one from the profile gives
//! way to a flag, as every profile value does.

use std::time::Duration;

use super::{AtLine, ConfigError, Mode, duration_of, invalid};
use crate::cli::Cli;
use crate::profile;
use crate::slo::{self, Slo};

/// The search the plan asks for, if any.
pub fn slo(
    cli: &Cli,
    d: Option<&profile::Defaults>,
    at: AtLine,
) -> Result<Option<Slo>, ConfigError> {
    let objectives = match (cli.search.slo.is_empty(), d.and_then(|d| d.slo.as_ref())) {
        // Flags given: they win over the profile's, unless the profile's rps came with them.
        (false, _) => Some(slo::parse_objectives(&cli.search.slo.join(",")).map_err(flag_err)?),
        // A --rps flag asks for one fixed rate: the profile's search gives way to it.
        (true, Some(_)) if cli.load.rps.is_some() => None,
        (true, Some(a)) => {
            Some(slo::parse_objectives(&a.value).map_err(|e| at(a.line, format!("slo: {e}")))?)
        }
        (true, None) => None,
    };
    let Some(objectives) = objectives else {
        return match (&cli.search.slo_step, &cli.search.slo_resolution) {
            (Some(_), _) => Err(invalid(
                "--slo-step needs --slo (the objectives to search for)",
            )),
            (_, Some(_)) => Err(invalid(
                "--slo-resolution needs --slo (the objectives to search for)",
            )),
            _ => Ok(None),
        };
    };
    let step = duration_of(
        &cli.search.slo_step,
        d.and_then(|d| d.slo_step.as_ref()),
        at,
    )?
    .unwrap_or(slo::DEFAULT_STEP);
    if step < slo::MIN_STEP {
        return Err(invalid(format!(
            "--slo-step must be at least {} ms: shorter steps measure start-up more than the rate",
            slo::MIN_STEP.as_millis()
        )));
    }
    let resolution = match (
        &cli.search.slo_resolution,
        d.and_then(|d| d.slo_resolution.as_ref()),
    ) {
        (Some(s), _) => {
            slo::parse_resolution(s).map_err(|e| invalid(format!("--slo-resolution: {e}")))?
        }
        (None, Some(a)) => slo::parse_resolution(&a.value)
            .map_err(|e| at(a.line, format!("slo_resolution: {e}")))?,
        (None, None) => slo::DEFAULT_RESOLUTION,
    };
    Ok(Some(Slo {
        objectives,
        step,
        resolution,
    }))
}

fn flag_err(e: String) -> ConfigError {
    invalid(format!("--slo: {e}"))
}

/// What a search cannot run with: a fixed rate, a fixed run length, a scenario, faults, `-l`/`-I`.
pub fn check(
    cli: &Cli,
    d: Option<&profile::Defaults>,
    at: AtLine,
    mode: Mode,
) -> Result<(), ConfigError> {
    let from_flags = !cli.search.slo.is_empty();
    let refuse = |what: &str| {
        invalid(format!(
            "--slo searches for the rate itself, in steps of --slo-step; it cannot be combined with {what}"
        ))
    };
    if cli.load.rps.is_some() && from_flags {
        return Err(refuse("--rps (a fixed rate)"));
    }
    if cli.load.requests.is_some() || cli.load.duration.is_some() {
        return Err(refuse("-n or --duration (each step runs for --slo-step)"));
    }
    if let Some(a) = d.and_then(|d| d.rps.as_ref()).filter(|_| !from_flags) {
        return Err(at(
            a.line,
            "rps: a fixed rate cannot be combined with slo, which searches for the rate".into(),
        ));
    }
    match mode {
        Mode::Loop => return Err(refuse("-l")),
        Mode::Idle => return Err(refuse("-I")),
        Mode::Bench => {}
    }
    if cli.experiment.scenario.is_some() || d.is_some_and(|d| d.scenario.is_some()) {
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
        rps: rate,
        duration: Some(step),
        requests: None,
        warmup: None,
        ..w.clone()
    }
}
