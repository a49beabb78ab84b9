//! rbench: a pipelined RESP load generator. `run()` is the whole tool (Plan → Deployment → execute →
//! report), so tests drive it exactly as the binary does.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod deploy;
pub mod engine;
pub mod fault;
pub mod idle;
pub mod kube;
pub mod merge;
pub mod net;
pub mod nightly;
pub mod orchestrate;
pub mod profile;
pub mod render;
pub mod report;
pub mod resp;
pub mod runner;
pub mod scenario;
pub mod schema;
pub mod shard;
pub mod signals;
pub mod slo;
pub mod start_at;
pub mod stats;
pub mod stop;
pub mod target;
pub mod timefmt;
pub mod uri;
pub mod workload;

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::config::{Mode, Plan, TargetKind};
use crate::orchestrate::execute_phase;
use crate::report::{RunMeta, TestResult, console, files, rows};
use crate::runner::PhaseSpec;
use crate::stop::Stop;

/// Exit codes: 0 done, 1 runtime failure (or a regression for `compare`), 2 bad input, 3 the run
/// finished but a test failed the error check, 128 + the signal that stopped the run: 129 SIGHUP,
/// 130 SIGINT (Ctrl-C), 143 SIGTERM.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CHECK: i32 = 3;
/// Ctrl-C (SIGINT); see [`signals::exit_code`] for the others.
pub const EXIT_INTERRUPTED: i32 = 130;

/// The signal that stopped the run, if it was stopped (SIGINT when stopped without a signal, as
/// an in-process caller's stop).
pub(crate) fn stop_signal(stop: &Stop) -> Option<i32> {
    stop.is_stopped()
        .then(|| stop.signal_received().unwrap_or(libc::SIGINT))
}

/// The exit code of a stopped run: 128 + the signal.
fn stopped_code(stop: &Stop) -> i32 {
    stop_signal(stop).map_or(EXIT_INTERRUPTED, signals::exit_code)
}

/// Looks up an environment variable.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a run takes from the process around it. `run` passes the real environment and stops on
/// SIGINT, SIGTERM and SIGHUP; a caller running rbench in-process passes its own, so runs side by
/// side in one process share nothing (each stops on the signals too, while it runs).
pub struct Context {
    /// Environment variables (REDISCLI_AUTH, a profile's `${VAR}`s, Kubernetes' job index).
    pub env: EnvLookup,
    /// Stops the run as a signal does: what was measured is reported and saved.
    pub stop: Stop,
}

impl Context {
    /// The process's environment, and a fresh stop.
    pub fn process() -> Context {
        Context {
            env: Box::new(|k| std::env::var(k).ok()),
            stop: Stop::new(),
        }
    }
}

/// Runs rbench with `args` (argv, program name first), printing to stdout/stderr; returns the exit
/// code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(args, &mut stdout.lock(), &mut stderr.lock())
}

/// As `run`, writing to the given streams.
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_in(args, &Context::process(), out, err)
}

/// As `run_with`, in the given context (tests run rbench in-process with their own).
pub fn run_in<I, T>(args: I, ctx: &Context, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // merge, report and kube promise that every bad input is one `rbench <sub>: ` line, flag errors
    // included.
    let who = match args.get(1).and_then(|a| a.to_str()) {
        Some("merge") => "rbench merge",
        Some("report") => "rbench report",
        Some("kube") => "rbench kube",
        _ => "rbench",
    };
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = write!(out, "{}", e.render());
                    EXIT_OK
                }
                _ => {
                    let _ = writeln!(err, "{who}: {}", first_line(&e.render().to_string()));
                    EXIT_USAGE
                }
            };
        }
    };
    match cmd {
        cli::Command::Compare(c) => compare(&c, out, err),
        cli::Command::Nightly(c) => nightly::run(&c, ctx, out, err),
        cli::Command::Report(c) => render::run(&c, out, err),
        cli::Command::Merge(c) => merge::run(&c, out, err),
        cli::Command::Kube(c) => kube::run(&c, out, err),
        cli::Command::Bench(c) => bench(&c, ctx, out, err),
    }
}

/// Prefixes an error with the target's name, unless it already starts with it (connection errors
/// name the address, which is the target's name for `-h/-p` runs).
fn with_target(name: &str, e: &dyn std::fmt::Display) -> String {
    let msg = e.to_string();
    if msg.starts_with(name) {
        msg
    } else {
        format!("{name}: {msg}")
    }
}

/// clap's message as one line: its first line, with the list that follows when it ends in a colon
/// ("the following required arguments were not provided: <DIR>").
fn first_line(s: &str) -> String {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut line = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    if line.ends_with(':') {
        let items: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
        line = format!("{line} {}", items.join(" "));
    }
    line
}

fn compare(c: &cli::CompareCli, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use report::compare::{CompareOpts, Verdict, thresholds};
    let th = match thresholds(&c.thresholds.max_drop, &c.thresholds.max_p99_rise) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "rbench compare: {e}");
            return EXIT_USAGE;
        }
    };
    let opts = CompareOpts {
        baseline: c.baseline.clone(),
        candidate: c.candidate.clone(),
        thresholds: th,
        latest_only: c.latest,
    };
    match report::compare::compare(&opts, out) {
        Ok(Verdict::Pass) => EXIT_OK,
        Ok(Verdict::Regression) => EXIT_FAIL,
        Err(e) => {
            let _ = writeln!(err, "rbench compare: {e}");
            EXIT_USAGE
        }
    }
}

fn bench(c: &cli::Cli, ctx: &Context, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let _signals = signals::watch(&ctx.stop);
    if c.conn.password.is_some() && !c.conn.no_auth_warning {
        let _ = writeln!(
            err,
            "rbench: warning: a password given with -a is visible to other users (ps, shell history); set REDISCLI_AUTH instead, or pass --no-auth-warning"
        );
    }
    let c = match with_stdin_arg(c) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "rbench: -x: cannot read stdin: {e}");
            return EXIT_FAIL;
        }
    };
    match plan_or_exit(&c, &*ctx.env, err) {
        Ok(plan) if plan.mode == Mode::Idle => idle::run(&plan, &ctx.stop, out, err),
        Ok(plan) => execute(&plan, &ctx.stop, out, err).0,
        Err(code) => code,
    }
}

/// `-x`: the whole of stdin, as-is, becomes the custom command's last argument (as redis-benchmark
/// reads it). Without a command there is nothing to read it for: planning says so.
fn with_stdin_arg(c: &cli::Cli) -> std::io::Result<cli::Cli> {
    let mut c = c.clone();
    if c.modes.stdin_arg && !c.command.is_empty() {
        let mut value = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut value)?;
        c.stdin_value = Some(value);
    }
    Ok(c)
}

/// Resolves flags and profile into a plan, or prints why not and gives the exit code.
fn plan_or_exit(
    c: &cli::Cli,
    env: &dyn Fn(&str) -> Option<String>,
    err: &mut dyn Write,
) -> Result<Plan, i32> {
    match config::plan(c, env) {
        Ok(p) => Ok(p),
        // A profile mistake is `file:line: message`, first on the line, the form editors and CI
        // annotations jump to.
        Err(e @ config::ConfigError::Profile(_)) => {
            let _ = writeln!(err, "{e}");
            Err(EXIT_USAGE)
        }
        Err(e @ config::ConfigError::Unresolvable(_)) => {
            let _ = writeln!(err, "rbench: {e}");
            Err(EXIT_FAIL)
        }
        Err(e) => {
            let _ = writeln!(err, "rbench: {e}");
            Err(EXIT_USAGE)
        }
    }
}

/// Runs a plan to the end (or the first failure, or a signal): the exit code, and the identity its
/// rows were written under. `stop` must be watching for signals already (from the very start, so
/// no signal is missed).
fn execute(plan: &Plan, stop: &Stop, out: &mut dyn Write, err: &mut dyn Write) -> (i32, RunMeta) {
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
    let meta = run_meta(plan);
    if let Err(e) = target::raise_nofile_limit(plan_connections(plan)) {
        let _ = writeln!(err, "rbench: {e}");
        return (EXIT_FAIL, meta);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "rbench: cannot start the runtime: {e}");
            return (EXIT_FAIL, meta);
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
    let code = session.run_all(&rt);
    (session.finish(code), meta)
}

/// Upper bound of sockets a run opens (clients × nodes for clusters, checked again at preflight).
fn plan_connections(plan: &Plan) -> usize {
    let nodes = plan
        .targets
        .iter()
        .map(|t| match &t.kind {
            TargetKind::Spawn(deploy::SpawnSpec::Cluster { masters, .. }) => *masters,
            TargetKind::Cluster(_) => 3,
            _ => 1,
        })
        .max()
        .unwrap_or(1);
    plan.workload.clients * nodes
}

fn run_meta(plan: &Plan) -> RunMeta {
    let now = SystemTime::now();
    let ts = report::rfc3339(now);
    let compact: String = ts.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    RunMeta {
        run_id: plan
            .scale
            .run_id
            .clone()
            .unwrap_or_else(|| format!("{compact}-{:04x}", run_suffix())),
        timestamp: ts,
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_rev: option_env!("RBENCH_GIT_REV")
            .unwrap_or("unknown")
            .to_string(),
        profile: plan.profile.clone(),
    }
}

/// Tells apart the runs started in one second: the process id, plus the runs this process
/// started before (in-process callers run several).
fn run_suffix() -> u32 {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let before = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::process::id().wrapping_add(before.wrapping_mul(0x9e37)) & 0xffff
}

/// The LRANGE fill and the LRANGE tests run on the lists the fill fills (`workload::fill`): their
/// own key space, and for the fill sequential keys and, in a timed run, a request count. Returns
/// the workload changed for them (None: the phase runs the plan's) and the phase's key space.
fn list_workload(
    w: &config::Workload,
    ops: &[workload::Op],
    keyspace: u64,
) -> (Option<config::Workload>, u64) {
    let threads = w.threads.clamp(1, w.clients.max(1)) as u64;
    let Some(l) = workload::fill::list_phase(ops, w.requests, keyspace, threads) else {
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

struct Session<'a> {
    plan: &'a Plan,
    meta: RunMeta,
    results: Vec<TestResult>,
    /// `--start-at`, until the first phase takes it.
    start_at: Option<SystemTime>,
    /// `--slo`: what each (target, phase label) search found, for the repeats that re-run it.
    slo_found: std::collections::HashMap<(String, String), slo::SloResult>,
    stop: &'a Stop,
    /// The console text, in the output mode the plan chose.
    printer: console::Printer,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Session<'_> {
    /// Runs every repeat of every target. Repeats go round the targets (repeat 1 of each, then
    /// repeat 2 of each, ...), so a slow minute on a shared machine lands a little on every
    /// configuration instead of wholly on one: with `--repeat`, deployments stay up until the end.
    fn run_all(&mut self, rt: &tokio::runtime::Runtime) -> i32 {
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
                if let Some(sig) = stop_signal(self.stop) {
                    return signals::exit_code(sig);
                }
                if repeat == 1 {
                    match self.prepare(rt, t) {
                        Ok(p) => prepared.push(Some(p)),
                        Err(code) => return code,
                    }
                }
                let Some(p) = prepared[i].as_mut() else {
                    continue;
                };
                if let Err(code) = self.run_repeat(rt, p, repeat) {
                    return code;
                }
                if passes == 1 {
                    // Stopped by PID on drop: one deployment up at a time when nothing repeats.
                    prepared[i] = None;
                }
            }
        }
        // A signal the last phase ended too soon to notice still asked rbench to stop.
        stop_signal(self.stop).map_or(EXIT_OK, signals::exit_code)
    }

    /// Starts (spawned) or reaches the target. Spawned servers are started here, on the calling
    /// thread (PDEATHSIG follows the thread), and stopped by PID when the result drops — on
    /// success, error or a signal alike.
    fn prepare(
        &mut self,
        rt: &tokio::runtime::Runtime,
        t: &config::Target,
    ) -> Result<target::ReadyTarget, i32> {
        match target::prepare(t, &self.plan.workload, rt, self.stop) {
            Ok(p) => {
                for w in &p.warnings {
                    let _ = writeln!(self.err, "rbench: warning: {w}");
                }
                Ok(p)
            }
            Err(e) => {
                let _ = writeln!(self.err, "rbench: {}", with_target(&t.name, &e));
                Err(stop_signal(self.stop).map_or(EXIT_FAIL, signals::exit_code))
            }
        }
    }

    /// One pass over the tests on one target.
    fn run_repeat(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut target::ReadyTarget,
        repeat: u32,
    ) -> Result<(), i32> {
        let plan = self.plan;
        self.printer.pass_header(self.out, &prepared.name, repeat);
        // Every pass over the tests starts from an empty dataset: spawned servers are empty at
        // first, existing ones only with --flush.
        if (plan.flush || (prepared.spawned.is_some() && repeat > 1))
            && let Err(e) = rt.block_on(prepared.flush())
        {
            let _ = writeln!(self.err, "rbench: {}: FLUSHALL failed: {e}", prepared.name);
            return Err(EXIT_FAIL);
        }
        if plan.scenario.is_some() {
            return match self.run_scenario(rt, prepared, repeat) {
                Ok(false) => Ok(()),
                Ok(true) => Err(stopped_code(self.stop)),
                Err(code) => Err(code),
            };
        }
        for phase in &plan.workload.phases {
            match self.run_one(rt, prepared, phase, repeat) {
                Ok(false) => {}
                Ok(true) => return Err(stopped_code(self.stop)),
                Err(code) => return Err(code),
            }
        }
        Ok(())
    }

    /// Runs one phase; Ok(true) when the run was interrupted.
    fn run_one(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut target::ReadyTarget,
        phase: &[(workload::Op, u32)],
        repeat: u32,
    ) -> Result<bool, i32> {
        let plan = self.plan;
        let keyspace = plan.workload.keyspace.unwrap_or(if prepared.is_cluster() {
            config::DEFAULT_CLUSTER_KEYSPACE
        } else {
            1
        });
        let ops: Vec<workload::Op> = phase.iter().map(|(o, _)| *o).collect();
        let (lists, keyspace) = list_workload(&plan.workload, &ops, keyspace);
        let w = lists.as_ref().unwrap_or(&plan.workload);
        let spec = PhaseSpec {
            workload: w,
            ops,
            weights: phase.iter().map(|(_, w)| *w).collect(),
            keyspace,
            seed: w.seed.wrapping_add(repeat as u64),
            retry_window: config::RETRY_WINDOW,
            started: None,
            // The run's first phase (its warm-up, if any) waits for --start-at.
            start_at: self.start_at.take(),
        };
        let (names, label) = self.phase_names(&spec.ops);
        // The LRANGE tests' fill runs as counted, whatever the search: it only prepares the lists.
        if plan.slo.is_some() && spec.ops != [workload::Op::LpushFill] {
            let job = slo::drive::Job {
                spec: &spec,
                names: &names,
                label: &label,
                repeat,
            };
            return self.run_slo(rt, prepared, &job);
        }
        let mut start_at = spec.start_at;
        if let Some(warmup) = w.warmup {
            match self.warm_up(rt, prepared, &spec, warmup) {
                Ok(false) => start_at = None,
                done => return done,
            }
        }
        let started = OnceLock::new();
        let spec = PhaseSpec {
            started: Some(&started),
            start_at,
            ..spec
        };
        let (phase_res, faults) = self.measure(rt, prepared, (&spec, &started), label)?;
        let shard = plan.scale.shard;
        let mut new = rows::of_phase(prepared, &spec, &names, repeat, shard, &phase_res);
        report::experiment::attach_faults(&mut new, &faults);
        let _saving = signals::saving();
        let elapsed = phase_res.elapsed.as_secs_f64();
        self.printer
            .mix_total(self.out, &prepared.name, &new, elapsed);
        self.publish(new);
        Ok(phase_res.interrupted)
    }

    /// Runs the measured phase `spec` (whose clock is `started`) with the plan's faults, and
    /// progress on the console.
    fn measure(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut target::ReadyTarget,
        (spec, started): (&PhaseSpec<'_>, &OnceLock<std::time::Instant>),
        label: String,
    ) -> Result<(runner::PhaseResult, Vec<fault::FaultOutcome>), i32> {
        let live_ok = self.printer.verbose();
        let w = spec.workload;
        // Live lines name the commands as the engine does (CUSTOM, not the custom command's name).
        let names: Vec<String> = spec.ops.iter().map(|o| o.name().to_string()).collect();
        let (res, faults) = orchestrate::with_faults(
            &self.plan.faults,
            prepared,
            started,
            &mut *self.out,
            |p, out| {
                let live: Option<&mut dyn Write> = if live_ok { Some(out) } else { None };
                let mut progress =
                    console::ConsoleProgress::new(label, names, w.requests, w.duration, live);
                let res = execute_phase(rt, p, spec, self.stop, &mut progress);
                progress.finish();
                res
            },
        );
        match res {
            Ok(r) => {
                self.warn_late(r.late);
                Ok((r, faults))
            }
            Err(e) => {
                let _ = writeln!(self.err, "rbench: {}", with_target(&prepared.name, &e));
                Err(EXIT_FAIL)
            }
        }
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

    /// Prints the rows, keeps them, and saves them at once. A phase stopped before it began (while
    /// waiting for --start-at) has none, and leaves no files.
    fn publish(&mut self, new: Vec<TestResult>) {
        if new.is_empty() {
            return;
        }
        for r in &new {
            self.printer.row(self.out, self.err, r);
        }
        let first_new = self.results.len();
        self.results.extend(new);
        self.save(first_new);
    }

    /// Runs the plan's scenario on `prepared` (with the plan's faults); Ok(true) when interrupted.
    fn run_scenario(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &mut target::ReadyTarget,
        repeat: u32,
    ) -> Result<bool, i32> {
        let plan = self.plan;
        let seed = plan.workload.seed.wrapping_add(repeat as u64);
        let Some(spec) = orchestrate::scenario_spec(plan, prepared, seed) else {
            return Ok(false);
        };
        let started = Arc::new(OnceLock::new());
        let clock = started.clone();
        let (res, faults) =
            orchestrate::with_faults(&plan.faults, prepared, &started, &mut *self.out, |p, _| {
                orchestrate::run_scenario(rt, p, &spec, self.stop, clock)
            });
        let outcome = match res {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(self.err, "rbench: {}", with_target(&prepared.name, &e));
                return Err(EXIT_FAIL);
            }
        };
        let (w, shard) = (&plan.workload, plan.scale.shard);
        let mut new = rows::of_scenario(prepared, w, &spec, repeat, shard, &outcome);
        report::experiment::attach_faults(&mut new, &faults);
        let _saving = signals::saving();
        self.publish(new);
        Ok(outcome.interrupted)
    }

    /// Runs the phase for `warmup`, recording nothing: the measured run then starts on a server
    /// whose tables, caches and allocator have settled. Ok(true) when interrupted.
    fn warm_up(
        &mut self,
        rt: &tokio::runtime::Runtime,
        prepared: &target::ReadyTarget,
        spec: &PhaseSpec<'_>,
        warmup: Duration,
    ) -> Result<bool, i32> {
        let w = config::Workload {
            duration: Some(warmup),
            requests: None,
            ..spec.workload.clone()
        };
        let warm = spec.with_workload(&w);
        match execute_phase(rt, prepared, &warm, self.stop, &mut runner::NoProgress) {
            Ok(r) => {
                self.warn_late(r.late);
                Ok(r.interrupted)
            }
            Err(e) => {
                let _ = writeln!(self.err, "rbench: {}: warm-up: {}", prepared.name, e);
                Err(EXIT_FAIL)
            }
        }
    }

    /// Each command's test name, and the phase's: the test's, or `mix SET+GET`.
    fn phase_names(&self, ops: &[workload::Op]) -> (Vec<String>, String) {
        let names: Vec<String> = ops.iter().map(|o| self.test_name(*o)).collect();
        let label = match names.as_slice() {
            [one] => one.clone(),
            _ => format!("mix {}", names.join("+")),
        };
        (names, label)
    }

    fn test_name(&self, op: workload::Op) -> String {
        match (&self.plan.workload.encode.custom, op) {
            (Some(c), workload::Op::Custom) => c.name.clone(),
            _ => op.name().to_string(),
        }
    }

    /// Appends the newest rows and rewrites the run's other files; a failure to write is reported
    /// but does not throw away the rest of the run.
    fn save(&mut self, first_new: usize) {
        let Some(dir) = &self.plan.output.out_dir else {
            return;
        };
        let o = &self.plan.output;
        if let Err(e) =
            files::append_long_csv(dir, o.long_csv, &self.meta, &self.results[first_new..])
        {
            let _ = writeln!(self.err, "rbench: {e}");
        }
        if !o.run_files {
            return;
        }
        if let Err(e) = files::write_run_files(dir, &self.meta, &self.results) {
            let _ = writeln!(self.err, "rbench: {e}");
        } else if let Err(e) = render::write_run(dir, &self.meta.run_id) {
            let _ = writeln!(self.err, "rbench: the HTML report: {e}");
        }
    }

    fn finish(self, code: i32) -> i32 {
        let _saving = signals::saving();
        let o = &self.plan.output;
        self.printer
            .summary(self.out, &self.results, &self.meta.run_id);
        if o.json.as_ref().is_some_and(|p| p.as_os_str() == "-") {
            let _ = writeln!(self.out, "{}", files::json(&self.meta, &self.results));
        } else if let Some(path) = &o.json
            && let Err(e) =
                files::write_atomic(path, files::json(&self.meta, &self.results).as_bytes())
        {
            let _ = writeln!(self.err, "rbench: {e}");
            return if code == EXIT_OK { EXIT_FAIL } else { code };
        }
        if let Some(sig) = stop_signal(self.stop)
            && code == signals::exit_code(sig)
        {
            let _ = writeln!(
                self.err,
                "rbench: interrupted by {}; results measured so far were reported and saved",
                signals::name(sig)
            );
        }
        if code != EXIT_OK {
            return code;
        }
        match report::error_check(&self.results, self.plan.max_error_rate) {
            Some(line) => {
                let _ = writeln!(self.err, "rbench: {line}");
                EXIT_CHECK
            }
            None => code,
        }
    }
}
