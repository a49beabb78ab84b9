//! rbench: a pipelined RESP load generator. `run()` is the whole tool (Plan → Deployment → execute →
//! report), so tests drive it exactly as the binary does. This file holds the module list, the
//! `Context` a run takes and the dispatch of the subcommands; `session` drives a run; every
//! subcommand's error becomes its line and exit code here, once (`exit`).

pub mod cli;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod deploy;
pub mod engine;
pub mod exit;
pub mod fault;
pub mod idle;
pub mod kube;
pub mod merge;
pub mod net;
pub mod nightly;
pub mod observe;
pub mod profile;
pub mod render;
pub mod replay;
pub mod report;
pub mod resp;
pub mod runner;
pub mod scenario;
pub mod schema;
pub mod session;
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

use crate::config::Mode;
use crate::exit::RunError;
use crate::stop::Stop;

pub use crate::exit::{EXIT_CHECK, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE};

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
        Some("replay") => "rbench replay",
        _ => "rbench",
    };
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if let ErrorKind::DisplayHelp | ErrorKind::DisplayVersion = e.kind() {
                let _ = write!(out, "{}", e.render());
                return EXIT_OK;
            }
            let line = first_line(&e.render().to_string());
            return exit::code(Err(RunError::usage(who, line)), err);
        }
    };
    let res = match cmd {
        cli::Command::Compare(c) => compare(&c, out),
        cli::Command::Nightly(c) => nightly::run(&c, ctx, out, err),
        cli::Command::Report(c) => render::run(&c, out),
        cli::Command::Merge(c) => merge::run(&c, out),
        cli::Command::Kube(c) => kube::run(&c, out, err),
        cli::Command::Bench(c) => bench(&c, ctx, out, err),
        cli::Command::Replay(c) => replay(&c, ctx, out, err),
    };
    exit::code(res, err)
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

fn compare(c: &cli::CompareCli, out: &mut dyn Write) -> Result<(), RunError> {
    use report::compare::{CompareOpts, Verdict, thresholds};
    let th = thresholds(&c.thresholds.max_drop, &c.thresholds.max_p99_rise)
        .map_err(|e| RunError::usage("rbench compare", e))?;
    let opts = CompareOpts {
        baseline: c.baseline.clone(),
        candidate: c.candidate.clone(),
        thresholds: th,
        latest_only: c.latest,
    };
    match report::compare::compare(&opts, out) {
        Ok(Verdict::Pass) => Ok(()),
        Ok(Verdict::Inconclusive) if c.inconclusive_ok => Ok(()),
        Ok(Verdict::Inconclusive) => Err(RunError::Inconclusive),
        Ok(Verdict::Regression) => Err(RunError::Regression),
        Err(e) => Err(RunError::usage("rbench compare", e)),
    }
}

fn bench(
    c: &cli::Cli,
    ctx: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let _signals = signals::watch(&ctx.stop);
    warn_password("rbench", &c.conn, err);
    let c = with_stdin_arg(c)
        .map_err(|e| RunError::failed("rbench", format!("-x: cannot read stdin: {e}")))?;
    let plan = session::plan(&c, &*ctx.env)?;
    if plan.mode == Mode::Idle {
        return idle::run(&plan, &ctx.stop, out, err);
    }
    session::execute(&plan, &ctx.stop, out, err).0
}

fn replay(
    c: &cli::ReplayCli,
    ctx: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let _signals = signals::watch(&ctx.stop);
    warn_password("rbench replay", &c.conn, err);
    session::replay(c, &*ctx.env, &ctx.stop, out, err)
}

/// `-a` puts the password where other users see it: said once, unless --no-auth-warning.
fn warn_password(who: &str, conn: &cli::ConnectionFlags, err: &mut dyn Write) {
    if conn.password.is_some() && !conn.no_auth_warning {
        let _ = writeln!(
            err,
            "{who}: warning: a password given with -a is visible to other users (ps, shell history); set REDISCLI_AUTH instead, or pass --no-auth-warning"
        );
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
