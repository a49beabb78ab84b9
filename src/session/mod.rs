//! The run driver: a plan's targets prepared, each repeat's phases (or scenario, or `--slo`
//! search) run and measured, every result printed and saved as it comes, the run's files and
//! verdict at the end. The bench command, `nightly` and `-I` call [`plan`] and [`execute`];
//! nothing else here is public.
//!
//! A measured phase: `execute` → `run_all` (here) → `run_repeat` → `run_one` → `measure` (all in
//! `phase`) → `orchestrate::execute_phase` → `runner::run_phase`; `--slo` branches off in
//! `run_one` to `slo`, scenarios in `run_repeat`.

mod meta;
mod orchestrate;
mod output;
mod phase;
mod replay;
mod slo;

pub use replay::replay;

use std::io::Write;
use std::time::SystemTime;

use crate::config::{self, Mode, Plan};
use crate::exit::RunError;
use crate::report::{RunMeta, TestResult, console};
use crate::stop::Stop;
use crate::{cli, deploy, observe, signals, target};

/// How a phase (or scenario, or search) ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    /// A signal (or an in-process stop) cut it short; what it measured was kept.
    Interrupted,
}

impl Outcome {
    fn of(interrupted: bool) -> Outcome {
        if interrupted {
            Outcome::Interrupted
        } else {
            Outcome::Completed
        }
    }
}

/// Resolves flags and profile into a plan.
pub fn plan(c: &cli::Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, RunError> {
    config::plan(c, env).map_err(|e| match e {
        config::ConfigError::Profile(_) => RunError::Profile(e.into()),
        config::ConfigError::Unresolvable(_) => RunError::failed("rbench", e),
        e => RunError::usage("rbench", e),
    })
}

/// Runs a plan to the end (or the first failure, or a signal): how it ended, and the identity its
/// rows were written under. `stop` must be watching for signals already (from the very start, so
/// no signal is missed).
pub fn execute(
    plan: &Plan,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> (Result<(), RunError>, RunMeta) {
    execute_with(plan, stop, out, err, |s, rt| s.run_all(rt))
}

/// As [`execute`], with `run` doing the session's work in place of the plan's phases (`replay`
/// plays a capture instead).
fn execute_with(
    plan: &Plan,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
    run: impl FnOnce(&mut Session<'_>, &tokio::runtime::Runtime) -> Result<(), RunError>,
) -> (Result<(), RunError>, RunMeta) {
    remove_leftovers(err);
    let meta = meta::run_meta(plan);
    if let Err(e) = target::raise_nofile_limit(meta::plan_connections(plan)) {
        return (Err(RunError::failed("rbench", e)), meta);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = format!("cannot start the runtime: {e}");
            return (Err(RunError::failed("rbench", e)), meta);
        }
    };
    let mut session = Session {
        plan,
        meta: meta.clone(),
        results: Vec::new(),
        start_at: plan.scale.start_at,
        slo_found: Default::default(),
        stop,
        printer: console::Printer::new(plan),
        out,
        err,
    };
    let ran = run(&mut session, &rt);
    (session.finish(ran), meta)
}

/// Temp dirs of runs that were killed, removed (and said so).
fn remove_leftovers(err: &mut dyn Write) {
    match deploy::remove_leftover_temp_dirs() {
        0 => {}
        1 => {
            let _ = writeln!(
                err,
                "rbench: removed 1 leftover temp dir of a run that was killed"
            );
        }
        n => {
            let _ = writeln!(
                err,
                "rbench: removed {n} leftover temp dirs of runs that were killed"
            );
        }
    }
}

/// A runtime failure on target `name`, as `rbench: name: ...` (connection errors name the address,
/// which is the target's name for `-h/-p` runs: it is not said twice).
fn on_target(name: &str, e: &dyn std::fmt::Display) -> RunError {
    let msg = e.to_string();
    let line = if msg.starts_with(name) {
        msg
    } else {
        format!("{name}: {msg}")
    };
    RunError::failed("rbench", line)
}

/// What a stopped run ends with: the signal that stopped it (SIGINT for an in-process stop).
fn stopped(stop: &Stop) -> RunError {
    RunError::Stopped(signals::stopped_by(stop).unwrap_or(libc::SIGINT))
}

struct Session<'a> {
    plan: &'a Plan,
    meta: RunMeta,
    results: Vec<TestResult>,
    /// `--start-at`, until the first phase takes it.
    start_at: Option<SystemTime>,
    /// `--slo`: what each (target, phase label) search found, for the repeats that re-run it.
    slo_found: std::collections::HashMap<(String, String), crate::slo::SloResult>,
    stop: &'a Stop,
    /// The console text, in the output mode the plan chose.
    printer: console::Printer,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Session<'_> {
    /// The machine's settings that distort what `p` is about to measure: one warning line each,
    /// once per run, recorded in the run's files (`environment-<run>.txt`, the JSON, the HTML).
    fn check_environment(&mut self, p: &target::ReadyTarget) {
        let server_pids = p
            .spawned
            .as_ref()
            .map(|d| (0..d.nodes().len()).filter_map(|i| d.node_pid(i)).collect())
            .unwrap_or_default();
        let facts = observe::env::RunFacts {
            clients: self.plan.workload.clients,
            persistence: !matches!(p.persistence.as_str(), "none" | "unknown"),
            local_server: p.spawned.is_some() || p.is_local(),
            server_pids,
            open_files: observe::env::open_files_limit(),
        };
        for line in observe::env::check(&observe::env::Root::default(), &facts) {
            if !self.meta.environment.contains(&line) {
                let _ = writeln!(self.err, "rbench: warning: environment: {line}");
                self.meta.environment.push(line);
            }
        }
    }

    /// Runs every repeat of every target. Repeats go round the targets (repeat 1 of each, then
    /// repeat 2 of each, ...), so a slow minute on a shared machine lands a little on every
    /// configuration instead of wholly on one: with `--repeat`, deployments stay up until the end.
    fn run_all(&mut self, rt: &tokio::runtime::Runtime) -> Result<(), RunError> {
        let plan = self.plan;
        self.printer.header(self.out);
        let mut prepared: Vec<Option<target::ReadyTarget>> = Vec::new();
        // -l: pass after pass until a signal (each a repeat, numbered on).
        let passes = match plan.mode {
            Mode::Loop => u32::MAX,
            _ => plan.repeat,
        };
        for repeat in 1..=passes {
            for (i, t) in plan.targets.iter().enumerate() {
                if let Some(sig) = signals::stopped_by(self.stop) {
                    return Err(RunError::Stopped(sig));
                }
                if repeat == 1 {
                    prepared.push(Some(self.prepare(rt, t)?));
                }
                let Some(p) = prepared[i].as_mut() else {
                    continue;
                };
                if self.run_repeat(rt, p, repeat)? == Outcome::Interrupted {
                    return Err(stopped(self.stop));
                }
                if passes == 1 {
                    // Stopped by PID on drop: one deployment up at a time when nothing repeats.
                    prepared[i] = None;
                }
            }
        }
        // A signal the last phase ended too soon to notice still asked rbench to stop.
        signals::stopped_by(self.stop).map_or(Ok(()), |sig| Err(RunError::Stopped(sig)))
    }

    /// Starts (spawned) or reaches the target. Spawned servers are started here, on the calling
    /// thread (PDEATHSIG follows the thread), and stopped by PID when the result drops — on
    /// success, error or a signal alike.
    fn prepare(
        &mut self,
        rt: &tokio::runtime::Runtime,
        t: &config::Target,
    ) -> Result<target::ReadyTarget, RunError> {
        match target::prepare(t, &self.plan.workload, rt, self.stop) {
            Ok(p) => {
                for w in &p.warnings {
                    let _ = writeln!(self.err, "rbench: warning: {w}");
                }
                self.check_environment(&p);
                Ok(p)
            }
            // A target a signal stopped while it came up exits as the signal.
            Err(e) => Err(match signals::stopped_by(self.stop) {
                Some(sig) => RunError::Signalled {
                    inner: Box::new(on_target(&t.name, &e)),
                    sig,
                },
                None => on_target(&t.name, &e),
            }),
        }
    }
}
