//! `rbench replay FILE`: the replay's flags resolved (with the connection, output and scale-out
//! flags a run takes, planned as a run plans them), the capture surveyed before anything is
//! contacted, then one target prepared, the capture played on it, and its rows printed and saved
//! as a mix's are.

use std::io::Write;

use super::{Outcome, Session, execute_with, on_target, stopped};
use crate::exit::RunError;
use crate::replay::{self, Policy, ReplaySpec, Speed, Survey};
use crate::report::{console, rows, stream};
use crate::runner;
use crate::stats::Second;
use crate::stop::Stop;
use crate::{cli, signals, workload};

const WHO: &str = "rbench replay";

/// Connections when `--clients` is not given (redis-benchmark's default).
const DEFAULT_CLIENTS: usize = 50;

/// Runs `rbench replay`.
pub fn replay(
    c: &cli::ReplayCli,
    env: &dyn Fn(&str) -> Option<String>,
    stop: &Stop,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let plan = super::plan(&run_flags(c), env).map_err(|e| match e {
        RunError::Usage { cause, .. } => RunError::usage(WHO, cause),
        RunError::Failed { cause, .. } => RunError::failed(WHO, cause),
        e => e,
    })?;
    let mut spec = spec_of(c, plan.scale.shard)?;
    spec.start_at = plan.scale.start_at;
    let survey = replay::survey(&spec).map_err(replay_error)?;
    if survey.bad_lines > 0 {
        let n = survey.bad_lines;
        let _ = writeln!(
            err,
            "{WHO}: warning: {n} lines that do not parse passed over"
        );
    }
    let run = |s: &mut Session<'_>, rt: &tokio::runtime::Runtime| s.run_replay(rt, &spec, &survey);
    execute_with(&plan, stop, out, err, run).0
}

/// The run flags a replay shares with `rbench`: where to connect, what to print and save, the
/// shard; its connections as `--clients`.
fn run_flags(c: &cli::ReplayCli) -> cli::Cli {
    cli::Cli {
        conn: c.conn.clone(),
        output: c.output.clone(),
        scale: c.scale.clone(),
        load: cli::LoadFlags {
            clients: Some(c.replay.clients.unwrap_or(DEFAULT_CLIENTS)),
            ..Default::default()
        },
        runs: cli::RunsFlags {
            max_error_rate: c.replay.max_error_rate.clone(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn spec_of(c: &cli::ReplayCli, shard: Option<crate::shard::Shard>) -> Result<ReplaySpec, RunError> {
    let r = &c.replay;
    let usage = |msg: String| RunError::usage(WHO, msg);
    let speed = match &r.speed {
        Some(s) => Speed::parse(s).map_err(|e| usage(format!("--speed {e}")))?,
        None => Speed::Times(1.0),
    };
    let clients = r.clients.unwrap_or(DEFAULT_CLIENTS);
    if clients == 0 {
        return Err(usage("--clients must be at least 1".into()));
    }
    let passes = r.passes.unwrap_or(1);
    if passes == 0 {
        return Err(usage("--loop must be at least 1".into()));
    }
    let duration = match &r.duration {
        Some(d) => {
            Some(workload::parse_duration(d).map_err(|e| usage(format!("--duration {d}: {e}")))?)
        }
        None => None,
    };
    if r.requests == Some(0) {
        return Err(usage("-n (requests) must be at least 1".into()));
    }
    if c.conn.keepalive == Some(false) {
        return Err(usage(
            "-k 0: a replay keeps its connections (each carries a captured client's order)".into(),
        ));
    }
    if c.conn.read_from_replicas {
        return Err(usage(
            "--read-from-replicas: a replay sends every command to its slot's master".into(),
        ));
    }
    let policy = Policy::new(&r.skip, &r.allow).map_err(|e| usage(e.to_string()))?;
    Ok(ReplaySpec {
        file: c.file.clone(),
        clients,
        speed,
        passes,
        rewrite: r.loop_rewrite,
        policy,
        skip_bad_lines: r.skip_bad_lines,
        requests: r.requests,
        duration,
        shard,
        start_at: None,
        cluster: c.conn.cluster,
    })
}

fn replay_error(e: replay::ReplayError) -> RunError {
    if e.is_input() {
        RunError::usage(WHO, e)
    } else {
        RunError::failed(WHO, e)
    }
}

impl Session<'_> {
    /// Prepares the plan's target and plays the capture on it.
    fn run_replay(
        &mut self,
        rt: &tokio::runtime::Runtime,
        spec: &ReplaySpec,
        survey: &Survey,
    ) -> Result<(), RunError> {
        self.printer.header(self.out);
        let Some(t) = self.plan.targets.first() else {
            return Ok(());
        };
        let prepared = self.prepare(rt, t)?;
        self.printer
            .pass_header(self.out, self.err, &prepared.name, 1);
        let env = replay::Env {
            route: prepared.route.clone(),
            auth: prepared.auth.clone(),
            dial: prepared.dial.clone(),
            stop: self.stop.clone(),
        };
        let outcome = self.play(rt, &prepared, (spec, survey), &env);
        let outcome = outcome.map_err(|e| match e {
            e if e.is_input() => RunError::usage(WHO, e),
            e => on_target(&prepared.name, &e),
        })?;
        let (w, shard) = (&self.plan.workload, self.plan.scale.shard);
        let new = rows::of_replay(&prepared, w, spec, shard, &outcome);
        let _saving = signals::saving();
        self.publish(new);
        self.left_out(&outcome, spec.cluster);
        match Outcome::of(outcome.interrupted) {
            Outcome::Interrupted => Err(stopped(self.stop)),
            Outcome::Completed => Ok(()),
        }
    }

    /// Plays the capture with live lines (default output) and its seconds written as they close
    /// (the timeline CSV and the `.hlog`s), as a measured phase does.
    fn play(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &crate::target::ReadyTarget,
        (spec, survey): (&ReplaySpec, &Survey),
        env: &replay::Env,
    ) -> Result<replay::Outcome, replay::ReplayError> {
        let live_ok = self.printer.verbose();
        let o = &self.plan.output;
        let dir = o.out_dir.as_deref().filter(|_| o.run_files);
        let names = survey.names.clone();
        let label = format!("replay {}", spec.file.display());
        let live: Option<&mut dyn Write> = if live_ok { Some(&mut *self.out) } else { None };
        let mut console =
            console::ConsoleProgress::new(label, names.clone(), None, spec.duration, live);
        let to = dir.map(|dir| stream::Destination {
            dir,
            meta: &self.meta,
            target: &prepared.name,
            tests: &names,
            repeat: 1,
            duration: None,
            // A replay's schedule is the capture's own, not a rate.
            rate: None,
        });
        let mut progress = stream::SecondsWriter::new(&mut console, to);
        let res = {
            let _in_rt = rt.enter();
            let _refresher = prepared.start_refresher();
            let mut sink = ToProgress {
                to: &mut progress,
                done: 0,
                started: std::time::Instant::now(),
            };
            replay::run(rt, spec, survey, env, &mut sink)
        };
        if let Some(e) = progress.finish() {
            let _ = writeln!(self.err, "rbench: {e}");
        }
        console.finish();
        res
    }

    /// What was not sent, one line each: on stdout with the default output, on stderr beside
    /// `-q` and `--csv` (whose stdout stays redis-benchmark's).
    fn left_out(&mut self, o: &replay::Outcome, cluster: bool) {
        let mut lines = vec![format!(
            "skipped (not sent): {}",
            or_none(replay::counts_line(&o.skipped))
        )];
        if cluster || !o.crossslot.is_empty() {
            lines.push(format!(
                "crossslot (not sent, keys in different slots): {}",
                or_none(replay::counts_line(&o.crossslot))
            ));
        }
        let to: &mut dyn Write = if self.printer.verbose() {
            &mut *self.out
        } else {
            &mut *self.err
        };
        for l in lines {
            let _ = writeln!(to, "{l}");
        }
    }
}

/// The replay's seconds as a phase's progress (1-based seconds, a tick for the bar each second).
struct ToProgress<'p> {
    to: &'p mut dyn runner::Progress,
    done: u64,
    started: std::time::Instant,
}

impl replay::Seconds for ToProgress<'_> {
    fn started(&mut self, at: std::time::SystemTime) {
        self.started = std::time::Instant::now();
        self.to.started(at);
    }

    fn second(&mut self, sec: usize, rows: &[Option<Second>]) {
        self.done += rows.iter().flatten().map(|s| s.ok + s.failed).sum::<u64>();
        self.to.tick(self.done, None, self.started.elapsed());
        self.to.second(sec + 1, rows);
    }

    fn partial(&mut self, sec: usize, rows: &[Option<Second>]) {
        self.to.partial(sec + 1, rows);
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "none".into() } else { s }
}
