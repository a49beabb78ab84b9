//! Runs a saturation search on a prepared target: a closed-loop probe for the ceiling, then the
//! ladder's open-loop steps, each an ordinary phase. The row it publishes carries the numbers of
//! the highest rate that held (or, when none did, of the lowest rate tried). With `--repeat`, each
//! later repeat re-runs that rate once, so the table shows how much it moves from run to run.
//! `slo` judges the steps and picks the next rate; this drives them, as phases of the session.

use std::time::Duration;

use super::orchestrate::execute_phase;
use super::{Outcome, Session, on_target};
use crate::config::slo::step_workload;
use crate::exit::RunError;
use crate::report::{TestResult, console, rows};
use crate::runner::{PhaseResult, PhaseSpec};
use crate::slo::search::{Ladder, Next};
use crate::slo::{self, Slo, SloResult, Step};
use crate::target::ReadyTarget;

/// The phase a search publishes: its rate (None: the probe) and whether it held.
struct Chosen {
    rate: Option<f64>,
    res: PhaseResult,
    held: bool,
}

/// The phase to publish from the steps run: the last run of the ladder's best rate, else the
/// lowest rate tried (None when no step ran: the probe stands in).
fn choose(runs: Vec<Chosen>, best: Option<f64>) -> Option<Chosen> {
    match best {
        Some(b) => runs.into_iter().rev().find(|c| c.held && c.rate == Some(b)),
        None => runs
            .into_iter()
            .min_by(|x, y| x.rate.unwrap_or(0.0).total_cmp(&y.rate.unwrap_or(0.0))),
    }
}

/// The phase being searched, as `run_one` resolved it.
pub(super) struct Job<'a, 'p> {
    pub spec: &'a PhaseSpec<'p>,
    pub names: &'a [String],
    pub label: &'a str,
    pub repeat: u32,
}

impl Session<'_> {
    /// Searches the phase on `prepared` (repeat 1) or re-runs the rate found (later repeats).
    pub(super) fn run_slo(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        job: &Job<'_, '_>,
    ) -> Result<Outcome, RunError> {
        let Some(slo) = self.plan.slo.clone() else {
            return Ok(Outcome::Completed);
        };
        let key = (prepared.name.clone(), job.label.to_string());
        match self.slo_found.get(&key).cloned() {
            Some(found) if job.repeat > 1 => self.rerun(rt, prepared, job, &slo, found),
            _ => self.search(rt, prepared, job, &slo),
        }
    }

    fn search(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        job: &Job<'_, '_>,
        slo: &Slo,
    ) -> Result<Outcome, RunError> {
        let (spec, label) = (job.spec, job.label);
        if let Some(warmup) = spec.workload.warmup
            && self.warm_up(rt, prepared, spec, warmup)? == Outcome::Interrupted
        {
            return Ok(Outcome::Interrupted);
        }
        self.say(&console::slo_header(label, slo));
        let probe = self.slo_phase(
            rt,
            prepared,
            spec,
            None,
            slo.probe(),
            format!("{label} ceiling"),
        )?;
        let ceiling = probe.stats.iter().map(|s| s.ok).sum::<u64>() as f64
            / probe.elapsed.as_secs_f64().max(1e-9);
        self.say(&console::slo_ceiling(ceiling, slo));
        let interrupted = probe.interrupted;
        let mut ladder = Ladder::new(ceiling, slo.step.as_secs_f64(), slo.resolution, slo.confirm);
        let (outcome, steps, runs) = if interrupted {
            (slo::Outcome::Interrupted, Vec::new(), Vec::new())
        } else {
            self.climb(rt, prepared, job, slo, &mut ladder)?
        };
        let chosen = choose(runs, ladder.best()).unwrap_or(Chosen {
            rate: None,
            res: probe,
            held: false,
        });
        let found = SloResult {
            objective: slo.label(),
            max_rps: ladder.best(),
            ceiling_rps: ceiling,
            outcome,
            steps,
            held: chosen.held,
        };
        self.say(&format!("  {label}: {}\n", found.verdict(&slo.display())));
        self.slo_found
            .insert((prepared.name.clone(), label.to_string()), found.clone());
        let rows = self.slo_rows(prepared, job, &chosen, slo, found);
        self.publish(rows);
        Ok(Outcome::of(outcome == slo::Outcome::Interrupted))
    }

    /// The ladder's steps, until it is done or a signal stops it: the outcome, each step as judged,
    /// and each step's phase.
    fn climb(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        job: &Job<'_, '_>,
        slo: &Slo,
        ladder: &mut Ladder,
    ) -> Result<(slo::Outcome, Vec<Step>, Vec<Chosen>), RunError> {
        let mut steps = Vec::new();
        let mut runs = Vec::new();
        loop {
            let rate = match ladder.next() {
                Next::Done(o) => return Ok((o, steps, runs)),
                Next::Try(r) => r,
            };
            let label = format!("{} @ {rate:.0} rps", job.label);
            let res = self.slo_phase(rt, prepared, job.spec, Some(rate), slo.step, label)?;
            // A step cut short by a signal is not judged: its rate was not held for a whole step.
            if res.interrupted {
                return Ok((slo::Outcome::Interrupted, steps, runs));
            }
            let step = Step::judge(slo, rate, &res, self.plan.max_error_rate);
            ladder.record(rate, step.pass, step.over(slo));
            let tally = ladder.tally(rate).map_or((0, 0), |t| (t.held, t.runs));
            self.say(&console::slo_step(&step, tally));
            runs.push(Chosen {
                rate: Some(rate),
                res,
                held: step.pass,
            });
            steps.push(step);
        }
    }

    /// Runs the search's rate again (the highest that held, else the lowest tried): one step.
    fn rerun(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        job: &Job<'_, '_>,
        slo: &Slo,
        found: SloResult,
    ) -> Result<Outcome, RunError> {
        let (spec, label) = (job.spec, job.label);
        let lowest = found.steps.iter().map(|s| s.rate).reduce(f64::min);
        let Some(rate) = found.max_rps.or(lowest) else {
            return Ok(Outcome::Completed);
        };
        self.say(&console::slo_rerun(label, rate, job.repeat));
        let res = self.slo_phase(
            rt,
            prepared,
            spec,
            Some(rate),
            slo.step,
            format!("{label} @ {rate:.0} rps"),
        )?;
        let step = Step::judge(slo, rate, &res, self.plan.max_error_rate);
        self.say(&console::slo_step(&step, (u32::from(step.pass), 1)));
        let interrupted = res.interrupted;
        let chosen = Chosen {
            rate: Some(rate),
            res,
            held: step.pass,
        };
        let result = SloResult {
            steps: vec![step],
            held: chosen.held,
            ..found
        };
        let rows = self.slo_rows(prepared, job, &chosen, slo, result);
        self.publish(rows);
        Ok(Outcome::of(interrupted))
    }

    /// The result rows of the chosen phase, each carrying the search.
    fn slo_rows(
        &self,
        prepared: &ReadyTarget,
        job: &Job<'_, '_>,
        chosen: &Chosen,
        slo: &Slo,
        result: SloResult,
    ) -> Vec<TestResult> {
        let spec = job.spec;
        let len = if chosen.rate.is_some() {
            slo.step
        } else {
            slo.probe()
        };
        let w = step_workload(spec.workload, chosen.rate, len);
        let row_spec = spec.with_workload(&w);
        let (repeat, shard) = (job.repeat, self.plan.scale.shard);
        let mut rows = rows::of_phase(prepared, &row_spec, job.names, repeat, shard, &chosen.res);
        for r in &mut rows {
            r.slo = Some(result.clone());
        }
        rows
    }

    /// One step (or the probe, `rate` None) of `len`, with a progress bar.
    fn slo_phase(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        spec: &PhaseSpec<'_>,
        rate: Option<f64>,
        len: Duration,
        label: String,
    ) -> Result<PhaseResult, RunError> {
        let w = step_workload(spec.workload, rate, len);
        let step = spec.with_workload(&w);
        // A bar alone: a step's seconds are not shown, so no names either.
        let mut progress = console::ConsoleProgress::new(label, Vec::new(), None, Some(len), None);
        let res = execute_phase(rt, prepared, &step, self.stop, &mut progress);
        progress.finish();
        res.map_err(|e| on_target(&prepared.name, &e))
    }
}
