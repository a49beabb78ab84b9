//! One pass over the tests on one target: each phase (its warm-up, then the measured run with the
//! plan's faults), or the plan's scenario, printed and saved as it ends.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::orchestrate::{self, execute_phase};
use super::{Outcome, Session, on_target};
use crate::config;
use crate::exit::RunError;
use crate::fault;
use crate::observe;
use crate::report::{self, console, rows, server_timeline, stream};
use crate::runner::{self, PhaseSpec};
use crate::signals;
use crate::target::ReadyTarget;
use crate::workload;
use crate::workload::lanes::Lanes;
use crate::workload::shape::Rate;

/// The LRANGE fill and the LRANGE tests run on the lists the fill fills (`workload::fill`): their
/// own key space, and for the fill sequential keys and, in a timed run, a request count. Returns
/// the workload changed for them (None: the phase runs the plan's) and the phase's key space.
fn list_workload(
    w: &config::Workload,
    phase: &[(workload::Cmd, u32)],
    keyspace: u64,
) -> (Option<config::Workload>, u64) {
    let threads = w.threads.clamp(1, w.clients.max(1)) as u64;
    let Some(l) = workload::fill::list_phase(phase, w.requests, keyspace, threads) else {
        return (None, keyspace);
    };
    let mut changed = w.clone();
    if l.sequential {
        changed.key_dist = workload::generator::KeyDist::Seq;
    }
    if l.requests != w.requests {
        changed.requests = l.requests;
        changed.duration = None;
    }
    (Some(changed), l.keyspace)
}

impl Session<'_> {
    /// One pass over the tests on one target.
    pub(super) fn run_repeat(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut ReadyTarget,
        repeat: u32,
    ) -> Result<Outcome, RunError> {
        let plan = self.plan;
        self.printer
            .pass_header(self.out, self.err, &prepared.name, repeat);
        // Every pass over the tests starts from an empty dataset: spawned servers are empty at
        // first, existing ones only with --flush.
        if (plan.flush || (prepared.spawned.is_some() && repeat > 1))
            && let Err(e) = rt.block_on(prepared.flush())
        {
            let line = format!("{}: FLUSHALL failed: {e}", prepared.name);
            return Err(RunError::failed("rbench", line));
        }
        if plan.scenario.is_some() {
            return self.run_scenario(rt, prepared, repeat);
        }
        if let Err(e) = rt.block_on(prepared.load_scripts(&plan.workload.scripts())) {
            let line = format!("{}: loading scripts: {e}", prepared.name);
            return Err(RunError::failed("rbench", line));
        }
        for phase in &plan.workload.phases {
            if self.run_one(rt, prepared, phase, repeat)? == Outcome::Interrupted {
                return Ok(Outcome::Interrupted);
            }
        }
        Ok(Outcome::Completed)
    }

    /// Runs one phase: its search with `--slo`, else its warm-up and its measured run.
    fn run_one(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut ReadyTarget,
        phase: &[(workload::Cmd, u32)],
        repeat: u32,
    ) -> Result<Outcome, RunError> {
        let plan = self.plan;
        let keyspace = plan.workload.keyspace.unwrap_or(if prepared.is_cluster() {
            config::DEFAULT_CLUSTER_KEYSPACE
        } else {
            1
        });
        let (lists, keyspace) = list_workload(&plan.workload, phase, keyspace);
        let w = lists.as_ref().unwrap_or(&plan.workload);
        let lanes = Lanes::build(phase, w, keyspace, prepared.is_cluster());
        let spec = PhaseSpec {
            workload: w,
            lanes: Arc::new(lanes),
            keyspace,
            seed: w.seed.wrapping_add(repeat as u64),
            retry_window: config::RETRY_WINDOW,
            started: None,
            // The run's first phase (its warm-up, if any) waits for --start-at.
            start_at: self.start_at.take(),
            // A search's chosen step writes its whole .hlog; a measured phase streams it.
            keep_hists: plan.slo.is_some(),
        };
        let (names, label) = phase_names(&spec.lanes, phase.len());
        // The LRANGE tests' fill runs as counted, whatever the search: it only prepares the lists.
        if plan.slo.is_some() && !workload::fill::is_fill(phase) {
            let job = super::slo::Job {
                spec: &spec,
                names: &names,
                label: &label,
                repeat,
            };
            return self.run_slo(rt, prepared, &job);
        }
        let mut start_at = spec.start_at;
        if let Some(warmup) = w.warmup {
            match self.warm_up(rt, prepared, &spec, warmup)? {
                Outcome::Completed => start_at = None,
                Outcome::Interrupted => return Ok(Outcome::Interrupted),
            }
        }
        let started = Arc::new(OnceLock::new());
        let spec = PhaseSpec {
            started: Some(&*started),
            start_at,
            ..spec
        };
        let sampler = self.start_sampler(prepared, &started, &label, repeat);
        let demand = Demand::start(prepared);
        let measured = self.measure(rt, prepared, (&spec, &started), label, repeat);
        let server_demand = demand.busiest();
        let window = sampler.map(Watch::finish).map(|(w, e)| {
            if let Some(e) = e {
                let _ = writeln!(self.err, "rbench: {e}");
            }
            w
        });
        let (phase_res, faults) = measured?;
        let shard = plan.scale.shard;
        let mut new = rows::of_phase(prepared, &spec, &names, repeat, shard, &phase_res);
        report::experiment::attach_faults(&mut new, &faults);
        let seen = report::observed::PhaseObservation {
            window: window.as_ref(),
            client: &phase_res.client,
            commands: spec.lanes.lanes.iter().map(|l| &l.commands[..]).collect(),
            server_demand,
        };
        seen.fill(&mut new);
        let _saving = signals::saving();
        let elapsed = phase_res.elapsed.as_secs_f64();
        self.printer
            .mix_total(self.out, &prepared.name, &new, elapsed);
        self.publish(new);
        Ok(Outcome::of(phase_res.interrupted))
    }

    /// Runs the measured phase `spec` (whose clock is `started`) with the plan's faults, and
    /// progress on the console; its seconds are written as they close (`report::stream`).
    fn measure(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut ReadyTarget,
        (spec, started): (&PhaseSpec<'_>, &OnceLock<std::time::Instant>),
        label: String,
        repeat: u32,
    ) -> Result<(runner::PhaseResult, Vec<fault::FaultOutcome>), RunError> {
        let live_ok = self.printer.verbose();
        let w = spec.workload;
        let names = spec.lanes.names();
        let shares = spec.lanes.weight_shares();
        let o = &self.plan.output;
        let dir = o.out_dir.as_deref().filter(|_| o.run_files);
        let (meta, target) = (&self.meta, prepared.name.clone());
        let mut streamed = None;
        let (res, faults) = orchestrate::with_faults(
            &self.plan.faults,
            prepared,
            started,
            &mut *self.out,
            |p, out| {
                let live: Option<&mut dyn Write> = if live_ok { Some(out) } else { None };
                let mut console = console::ConsoleProgress::new(
                    label,
                    names.clone(),
                    w.requests,
                    w.duration,
                    live,
                )
                .with_rate(w.rps.as_ref());
                let to = dir.map(|dir| stream::Destination {
                    dir,
                    meta,
                    target: &target,
                    tests: &names,
                    repeat,
                    duration: w.duration,
                    rate: w.rps.as_ref().map(|r| (r, shares.clone())),
                });
                let mut progress = stream::SecondsWriter::new(&mut console, to);
                let res = execute_phase(rt, p, spec, self.stop, &mut progress);
                streamed = progress.finish();
                console.finish();
                res
            },
        );
        if let Some(e) = streamed {
            let _ = writeln!(self.err, "rbench: {e}");
        }
        match res {
            Ok(r) => {
                self.warn_late(r.late);
                Ok((r, faults))
            }
            Err(e) => Err(on_target(&prepared.name, &e)),
        }
    }

    /// Starts the server sampler for the phase about to run (None: `--server-stats off`): its
    /// rows go to the run's server timeline as they come, its window is read when it finishes.
    fn start_sampler(
        &mut self,
        prepared: &ReadyTarget,
        started: &Arc<OnceLock<std::time::Instant>>,
        label: &str,
        repeat: u32,
    ) -> Option<Watch> {
        let observe = &self.plan.observe;
        let interval = observe.interval?;
        // Spawned servers are ours: the monitor on (1 ms unless asked), stats reset so the
        // latencystats percentiles are the window's own. Existing ones only when asked.
        let spawned = prepared.spawned.is_some();
        let latency_monitor = match observe.latency_monitor {
            Some(0) => None,
            Some(ms) => Some(ms),
            None => spawned.then_some(1),
        };
        let opts = observe::SamplerOpts {
            interval,
            reset_stats: spawned,
            latency_monitor,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let o = &self.plan.output;
        let dir = o.out_dir.clone().filter(|_| o.run_files);
        let label = server_timeline::Label {
            target: prepared.name.clone(),
            phase: label.to_string(),
            repeat,
        };
        let writer = match server_timeline::spawn_writer(dir, &self.meta.run_id, label, rx) {
            Ok(w) => w,
            Err(e) => {
                let _ = writeln!(self.err, "rbench: warning: server stats off: {e}");
                return None;
            }
        };
        let (route, auth, dial) = (
            prepared.route.clone(),
            prepared.auth.clone(),
            prepared.dial.clone(),
        );
        let sampler = observe::Sampler::start(route, auth, dial, opts, started.clone(), tx);
        Some(Watch { sampler, writer })
    }

    /// The connections came up after `--start-at`: this process's window starts late, which
    /// `rbench merge` shows as the shards' start spread.
    fn warn_late(&mut self, late: Option<Duration>) {
        if let Some(by) = late {
            let _ = writeln!(
                self.err,
                "rbench: warning: connected {:.3} s after --start-at; the load started late",
                by.as_secs_f64()
            );
        }
    }

    /// Runs the plan's scenario on `prepared` (with the plan's faults).
    fn run_scenario(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut ReadyTarget,
        repeat: u32,
    ) -> Result<Outcome, RunError> {
        let plan = self.plan;
        let seed = plan.workload.seed.wrapping_add(repeat as u64);
        let Some(spec) = orchestrate::scenario_spec(plan, prepared, seed) else {
            return Ok(Outcome::Completed);
        };
        let started = Arc::new(OnceLock::new());
        let clock = started.clone();
        let (res, faults) =
            orchestrate::with_faults(&plan.faults, prepared, &started, &mut *self.out, |p, _| {
                orchestrate::run_scenario(rt, p, &spec, self.stop, clock)
            });
        let outcome = res.map_err(|e| on_target(&prepared.name, &e))?;
        let (w, shard) = (&plan.workload, plan.scale.shard);
        let mut new = rows::of_scenario(prepared, w, &spec, repeat, shard, &outcome);
        report::experiment::attach_faults(&mut new, &faults);
        let _saving = signals::saving();
        self.publish(new);
        Ok(Outcome::of(outcome.interrupted))
    }

    /// Runs the phase for `warmup`, recording nothing: the measured run then starts on a server
    /// whose tables, caches and allocator have settled.
    pub(super) fn warm_up(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &ReadyTarget,
        spec: &PhaseSpec<'_>,
        warmup: Duration,
    ) -> Result<Outcome, RunError> {
        let w = config::Workload {
            duration: Some(warmup),
            requests: None,
            // A shape's warm-up holds its first rate: the measured run starts the shape itself.
            rps: spec.workload.rps.as_ref().map(Rate::at_start),
            ..spec.workload.clone()
        };
        let warm = spec.with_workload(&w);
        match execute_phase(rt, prepared, &warm, self.stop, &mut runner::NoProgress) {
            Ok(r) => {
                self.warn_late(r.late);
                Ok(Outcome::of(r.interrupted))
            }
            Err(e) => {
                let line = format!("{}: warm-up: {}", prepared.name, e);
                Err(RunError::failed("rbench", line))
            }
        }
    }
}

/// Each row's name, and the phase's: the test's, or `mix SET+GET` (its follow-up rows, such as
/// `session:expire`, are not commands of the mix).
fn phase_names(lanes: &Lanes, commands: usize) -> (Vec<String>, String) {
    let names = lanes.names();
    let label = match &names[..commands.min(names.len())] {
        [one] => one.clone(),
        some => format!("mix {}", some.join("+")),
    };
    (names, label)
}

/// A phase's server sampler and the thread writing its rows.
struct Watch {
    sampler: observe::Sampler,
    writer: std::thread::JoinHandle<Option<crate::report::files::WriteError>>,
}

impl Watch {
    /// Stops sampling: the window's summary, and the writer's error if it met one (it has
    /// written every row by then: the sampler hung up).
    fn finish(
        self,
    ) -> (
        observe::ServerWindow,
        Option<crate::report::files::WriteError>,
    ) {
        let window = self.sampler.finish();
        (window, self.writer.join().ok().flatten())
    }
}

/// Spawned servers' main threads over a phase: how much of it each ran or waited to run.
struct Demand {
    at: std::time::Instant,
    /// (pid, run + wait ns at the start).
    start: Vec<(u32, u64)>,
}

impl Demand {
    fn start(prepared: &ReadyTarget) -> Demand {
        let pids: Vec<u32> = prepared
            .spawned
            .as_ref()
            .map(|d| (0..d.nodes().len()).filter_map(|i| d.node_pid(i)).collect())
            .unwrap_or_default();
        Demand {
            at: std::time::Instant::now(),
            start: pids
                .into_iter()
                .filter_map(|p| Some((p, observe::threads::main_thread_demand(p)?)))
                .collect(),
        }
    }

    /// The busiest main thread's share of the phase (None: nothing spawned, or no schedstat).
    fn busiest(&self) -> Option<f64> {
        let wall = self.at.elapsed().as_nanos() as f64;
        self.start
            .iter()
            .filter_map(|&(pid, ns)| {
                let now = observe::threads::main_thread_demand(pid)?;
                Some(now.saturating_sub(ns) as f64 / wall.max(1.0))
            })
            .reduce(f64::max)
    }
}
