//! Runs one phase of tests, or one scenario, against a prepared target, with the plan's faults
//! carried out while it runs. With faults, the workload runs on a thread of its own and the faults
//! on the calling thread: `restart` spawns a server, and a spawned server dies with the thread that
//! started it (PDEATHSIG), so that thread must outlive the phase.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{self, Plan, Scenario};
use crate::fault::{self, Fault, FaultEnv, FaultOutcome};
use crate::runner::{self, PhaseSpec};
use crate::scenario;
use crate::stop::{Stop, StopOnDrop};
use crate::target::ReadyTarget;

/// Runs `work` (which stops with the run's stop) on `rt`, with the cluster map of `prepared`
/// refreshed while it runs.
fn watched<T>(
    rt: &tokio::runtime::Runtime,
    prepared: &ReadyTarget,
    work: impl std::future::Future<Output = T>,
) -> T {
    rt.block_on(async {
        let _refresher = prepared.start_refresher();
        work.await
    })
}

/// Runs one phase on `prepared`.
pub(super) fn execute_phase(
    rt: &tokio::runtime::Runtime,
    prepared: &ReadyTarget,
    spec: &PhaseSpec<'_>,
    stop: &Stop,
    progress: &mut dyn runner::Progress,
) -> Result<runner::PhaseResult, runner::RunError> {
    let work = runner::run_phase(
        spec,
        prepared.route.clone(),
        &prepared.auth,
        &prepared.dial,
        stop,
        progress,
    );
    watched(rt, prepared, work)
}

/// The scenario the plan asks for, shaped for `prepared` (a cluster gets a stream per master).
pub(super) fn scenario_spec(
    plan: &Plan,
    prepared: &ReadyTarget,
    seed: u64,
) -> Option<scenario::Scenario> {
    let w = &plan.workload;
    Some(match plan.scenario.as_ref()? {
        Scenario::Stream(c) => scenario::Scenario::Stream(scenario::StreamSpec {
            producers: c.producers,
            consumers: c.consumers,
            entries: w.requests,
            duration: w.duration,
            rps: w.rps.clone(),
            claim_idle: c.claim_idle,
            crash_rate: c.crash_rate,
            drain: c.drain,
            streams: if prepared.is_cluster() {
                prepared.masters.max(1)
            } else {
                1
            },
            count: 100,
            block: Duration::from_millis(100),
            data_size: w.sizes.max,
            seed,
        }),
        Scenario::Consistency => scenario::Scenario::Consistency(scenario::ConsistencySpec {
            writers: w.clients,
            readers: w.clients,
            keys: w.keyspace.unwrap_or(config::experiment::DEFAULT_COUNTERS),
            ops: w.requests,
            duration: w.duration,
            rps: w.rps.clone(),
            seed,
        }),
    })
}

/// Runs a scenario on `prepared`, measuring from `started` on.
pub(super) fn run_scenario(
    rt: &tokio::runtime::Runtime,
    prepared: &ReadyTarget,
    s: &scenario::Scenario,
    stop: &Stop,
    started: Arc<OnceLock<Instant>>,
) -> Result<scenario::Outcome, scenario::ScenarioError> {
    let env = scenario::Env {
        route: prepared.route.clone(),
        auth: prepared.auth.clone(),
        dial: prepared.dial.clone(),
        stop: stop.clone(),
        retry_window: config::RETRY_WINDOW,
        started,
    };
    watched(rt, prepared, scenario::run(s, &env))
}

/// What the workload thread writes, passed to the caller's output while the faults run.
struct ChannelWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on `prepared` while `faults` are carried out on it. `work` gets the output to write
/// live lines to; `started` is set by the workload when its measurement starts, and the faults'
/// times count from it.
pub(super) fn with_faults<T: Send>(
    faults: &[Fault],
    prepared: &mut ReadyTarget,
    started: &OnceLock<Instant>,
    out: &mut dyn Write,
    work: impl FnOnce(&ReadyTarget, &mut dyn Write) -> T + Send,
) -> (T, Vec<FaultOutcome>) {
    if faults.is_empty() {
        return (work(prepared, out), Vec::new());
    }
    let mut deployment = prepared.spawned.take();
    let env = FaultEnv {
        deployment: deployment.as_mut(),
        route: prepared.route.clone(),
        auth: prepared.auth.clone(),
        dial: prepared.dial.clone(),
    };
    // The fault schedule ends with the workload, even one that panicked.
    let done = Stop::new();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let shared: &ReadyTarget = prepared;
    let (value, outcomes) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let _done = StopOnDrop(&done);
            work(shared, &mut ChannelWriter(tx))
        });
        let mut pass_on = || {
            for bytes in rx.try_iter() {
                let _ = out.write_all(&bytes);
            }
        };
        let outcomes = fault::run_schedule(faults, env, started, &done, &mut pass_on);
        let value = h.join();
        pass_on();
        (value, outcomes)
    });
    prepared.spawned = deployment;
    match value {
        Ok(v) => (v, outcomes),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
