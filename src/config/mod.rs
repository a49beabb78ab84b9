//! Flags and an optional profile resolve into a Plan: targets × one workload. Flags override the
//! profile (`layers`: once, for every setting). Each check is made once: the form of what only a
//! profile holds (an address, a target's keys, both tests and mix) where the profile is read; every setting's value
//! (a count of at least 1, a duration, a rate) and how settings combine, here, with a complaint
//! about a profile value at its file and line and one about a flag under the flag's name.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Cli, ConnectionFlags, OutputFlags};
use crate::conn::Auth;
use crate::deploy::SpawnSpec;
use crate::net::tls::{self, TlsOptions};
use crate::net::{Dialer, Peer};
use crate::profile::{self, Profile, TargetSpecKind};
use crate::workload::generator::DataKind;
use crate::workload::generator::{DataSize, KeyDist};
use crate::workload::shape::Rate;
use crate::workload::{self, Cmd, EncodeOpts, Op, UserCommand, WorkloadError};
use layers::Layers;

mod commands;
pub mod experiment;
pub mod layers;
pub mod objectives;
pub mod shard;
pub mod slo;
#[cfg(test)]
mod tests;
pub use experiment::{Scenario, StreamConf};

pub const DEFAULT_REQUESTS: u64 = 100_000;
pub const DEFAULT_CLIENTS: usize = 50;
/// Cluster runs spread keys over every slot by default; a single key would load one master only.
pub const DEFAULT_CLUSTER_KEYSPACE: u64 = 100_000;
/// How long each address of a many-address host name gets to accept (see `resolve`).
const PROBE_CONNECT: Duration = Duration::from_millis(500);
pub const RETRY_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Profile(#[from] profile::ProfileError),
    #[error("{0}")]
    Workload(#[from] WorkloadError),
    #[error("{0}")]
    Invalid(String),
    /// A host name that does not resolve: the network's answer, not a mistake in the flags.
    #[error("{0}")]
    Unresolvable(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// Where a target lives.
#[derive(Clone, Debug)]
pub enum TargetKind {
    /// One server: a TCP address, or a unix socket (`-s`).
    Standalone(Peer),
    Cluster(Vec<SocketAddr>),
    Spawn(SpawnSpec),
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub auth: Auth,
    /// How connections reach it (TCP, unix socket, TLS). A spawned TLS deployment's is made
    /// once its CA exists (target::prepare), from `tls`.
    pub dial: Dialer,
    pub tls: Option<TlsOptions>,
}

pub use crate::workload::Workload;

/// What the console shows of each result, chosen once from `-q` and `--csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// The default: a block per result, live lines, the closing table.
    Blocks,
    /// `-q`: one line per result.
    Quiet,
    /// `--csv`: redis-benchmark's CSV; it outranks `-q`, as in redis-benchmark.
    Csv,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub mode: OutputMode,
    /// `-q` was given (also with `--csv`): each pass of several is headed `[target, repeat i/n]`,
    /// the one thing `-q` still does under `--csv` (there on stderr, so stdout stays one CSV).
    pub pass_headers: bool,
    pub json: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    /// The long CSV's name in `out_dir` (rows appended run after run).
    pub long_csv: &'static str,
    /// Also write each run's timeline, table and histograms (not for `nightly`, whose history is
    /// the long CSV).
    pub run_files: bool,
    pub latency_uncorrected: bool,
    /// Decimals of the latencies in the default block (`--precision`).
    pub precision: usize,
}

/// What the run does with its targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run the tests `repeat` times.
    Bench,
    /// `-l`: run them until a signal stops the run.
    Loop,
    /// `-I`: open the clients' connections, send nothing, hold them until a signal.
    Idle,
}

/// redis-benchmark's default latency precision, and what rbench prints without `--precision`.
pub const DEFAULT_PRECISION: usize = 3;
/// More decimals than the histogram resolves (microseconds) would print noise.
pub const MAX_PRECISION: usize = 6;

#[derive(Clone, Debug)]
pub struct Plan {
    pub profile: String,
    pub targets: Vec<Target>,
    pub workload: Workload,
    pub output: Output,
    pub repeat: u32,
    pub mode: Mode,
    pub flush: bool,
    /// A test whose failed requests exceed this share of its requests fails the run (exit 3).
    pub max_error_rate: f64,
    /// Runs this experiment instead of the workload's tests.
    pub scenario: Option<Scenario>,
    /// Scheduled into every run (each target, each repeat), in time order.
    pub faults: Vec<crate::fault::Fault>,
    /// `--slo`: each test searches for its highest rate within these objectives.
    pub slo: Option<crate::slo::Slo>,
    /// `--shard`, `--start-at`, `--run-id`: this process's part in a run of several.
    pub scale: shard::ScaleOut,
    /// `--server-stats`, `--set-latency-monitor`: what the server sampler does.
    pub observe: Observe,
}

/// How the servers are observed while a test runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Observe {
    /// The sampler's interval; None: `--server-stats off`.
    pub interval: Option<Duration>,
    /// `--set-latency-monitor MS`: the threshold set on existing servers (None: read, never set);
    /// spawned servers get this or 1 ms. 0: left alone everywhere.
    pub latency_monitor: Option<u32>,
}

impl Default for Observe {
    fn default() -> Observe {
        Observe {
            interval: Some(Duration::from_secs(1)),
            latency_monitor: None,
        }
    }
}

/// `--server-stats`: `off`, or an interval from 100ms to 60s.
fn observe(s: &Layers) -> Result<Observe, ConfigError> {
    let name = s.name("server_stats");
    let interval = s.parse(
        "server_stats",
        s.merged.runs.server_stats.as_deref(),
        |v: &str| match v {
            "off" | "0" => Ok(None),
            _ => {
                let bad = || format!("{name} {v}: an interval from 100ms to 60s (e.g. 1s), or off");
                let d = workload::parse_duration(v).map_err(|_| bad())?;
                if d < Duration::from_millis(100) || d > Duration::from_secs(60) {
                    return Err(bad());
                }
                Ok(Some(d))
            }
        },
    )?;
    Ok(Observe {
        interval: interval.unwrap_or(Some(Duration::from_secs(1))),
        latency_monitor: s.merged.runs.set_latency_monitor,
    })
}

impl Target {
    /// Known to be a cluster before it is contacted (seeds, or a spawned cluster).
    pub fn is_cluster(&self) -> bool {
        matches!(
            self.kind,
            TargetKind::Cluster(_) | TargetKind::Spawn(SpawnSpec::Cluster { .. })
        )
    }
}

/// Reports a profile value's error at its file:line (a plain usage error without a profile).
type AtLine<'a> = &'a dyn Fn(usize, String) -> ConfigError;

/// Turns a target's host and port into the address to dial.
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Result<SocketAddr, ConfigError>;

/// Resolves flags (and the profile they name) into a plan. `env` looks up environment variables
/// (injected so tests need not touch the process environment).
pub fn plan(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, ConfigError> {
    plan_with(cli, env, &resolve)
}

/// [`plan`] with the host names resolved by `resolve`: `rbench kube` checks a plan whose hosts
/// exist only inside the cluster, so it passes one that does not ask DNS.
pub fn plan_with(
    cli: &Cli,
    env: &dyn Fn(&str) -> Option<String>,
    resolve: Resolver,
) -> Result<Plan, ConfigError> {
    let prof = match &cli.runs.profile {
        Some(p) => Some(profile::load_profile(p)?),
        None => None,
    };
    let s = Layers::new(cli, prof.as_ref());
    // A profile value that fails validation is reported at its file:line.
    let at = |line: usize, e: String| s.at(line, e);
    let mut workload = workload(&s)?;
    let mode = mode(cli)?;
    let slo = slo::slo(&s)?;
    if slo.is_some() {
        slo::check(&s, mode)?;
        // A profile's fixed rate gives way to the --slo flag.
        workload.rps = None;
    }
    let repeat = s.at_least_1("repeat", s.merged.runs.repeat)?.unwrap_or(1);
    let protocol = (s.merged.conn.resp3, s.merged.conn.enable_tracking);
    let targets = targets(&cli.conn, prof.as_ref(), env, resolve, protocol)?;
    if targets.iter().any(Target::is_cluster) {
        commands::check_slots(&workload.commands, &s)?;
    }
    let max_error_rate = s
        .parse(
            "max_error_rate",
            s.merged.runs.max_error_rate.as_deref(),
            parse_error_rate,
        )?
        .unwrap_or(0.0);
    let scenario = experiment::scenario(&s)?;
    if let Some(sc) = &scenario {
        experiment::check_scenario(cli, sc, &workload)?;
    }
    let faults = experiment::faults(&cli.experiment, prof.as_ref(), &at)?;
    experiment::check_faults(&faults, &workload, scenario.as_ref(), &targets, &at)?;
    if slo.is_some() && !faults.is_empty() {
        return Err(invalid(
            "--slo searches for a rate in steps; faults on the run's clock cannot be combined with it",
        ));
    }
    let others = shard::Others {
        mode,
        scenario: scenario.is_some(),
        faults: !faults.is_empty(),
        slo: slo.is_some(),
        flush: cli.runs.flush,
        targets: &targets,
    };
    let scale = shard::resolve(cli, &others, &mut workload)?;
    Ok(Plan {
        profile: cli
            .runs
            .profile
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        targets,
        workload,
        output: output(&cli.output),
        repeat,
        mode,
        flush: cli.runs.flush,
        max_error_rate,
        scenario,
        faults: faults.into_iter().map(|(f, _)| f).collect(),
        slo,
        scale,
        observe: observe(&s)?,
    })
}

/// The profile's targets, or the one the flags name, each speaking the protocol asked for
/// (`(resp3, tracking)`).
fn targets(
    conn: &ConnectionFlags,
    prof: Option<&Profile>,
    env: &dyn Fn(&str) -> Option<String>,
    resolve: Resolver,
    (resp3, tracking): (bool, bool),
) -> Result<Vec<Target>, ConfigError> {
    let mut targets = match prof {
        Some(p) if !cli_names_target(conn) => profile_targets(p, conn, env, resolve)?,
        _ => vec![cli_target(conn, env, resolve)?],
    };
    for t in &mut targets {
        (t.auth.resp3, t.auth.tracking) = (resp3, tracking);
    }
    Ok(targets)
}

/// The workload: each setting as the layers resolved it, else its default.
fn workload(s: &Layers) -> Result<Workload, ConfigError> {
    let m = &s.merged.load;
    let (commands, phases) = match custom_command(s.flags)? {
        Some(c) => (vec![c], vec![vec![(Cmd::User(0), 1)]]),
        None => {
            let commands = commands::user_commands(s)?;
            let phases = phases(s, &commands)?;
            (commands, phases)
        }
    };
    let data_kind = s
        .parse("data_kind", m.data_kind.as_deref(), DataKind::parse)?
        .unwrap_or_default();
    let ttl = s.parse("ttl", m.ttl.as_deref(), workload::command::parse_ttl)?;
    if ttl.is_some() && !commands.iter().any(|c| c.has_key() && !c.read) {
        let msg = format!(
            "{} gives the keys your commands write a TTL (--command, [[command]]); the built-in tests and read-only commands take none",
            s.name("ttl")
        );
        return Err(s.error("ttl", msg));
    }
    let (clients, threads, pipeline) = concurrency(s)?;
    let sizes = s
        .parse("data_size", m.data_size.as_deref(), DataSize::parse)?
        .unwrap_or_default();
    let keyspace = s.at_least_1("keyspace", m.keyspace)?;
    let key_dist = key_dist(s)?;
    // A profile's `file:` shape is found beside the profile, as its scripts are.
    let dir = match s.flags.load.rps {
        Some(_) => None,
        None => s.profile().and_then(|p| p.path.parent()),
    };
    let name = s.name("rps");
    let rps = s.parse("rps", m.rps.as_deref(), |r| {
        workload::shape::parse(r, dir).map_err(|e| format!("{name}: {e}"))
    })?;
    let mut duration = s.parse("duration", m.duration.as_deref(), workload::parse_duration)?;
    // A shape given neither -n nor --duration runs its own length.
    if let (None, None, Some(shape)) = (duration, m.requests, rps.as_ref().and_then(Rate::shape)) {
        duration = Some(Duration::from_secs_f64(shape.length()));
    }
    let warmup = s.parse("warmup", m.warmup.as_deref(), workload::parse_duration)?;
    let requests = s
        .at_least_1("requests", m.requests)?
        // A duration alone runs for that long; otherwise redis-benchmark's default request count.
        .or(duration.is_none().then_some(DEFAULT_REQUESTS));
    let encode = EncodeOpts {
        stream_maxlen: s.at_least_1("stream_maxlen", m.stream_maxlen)?,
        list_maxlen: s.at_least_1("list_maxlen", m.list_maxlen)?,
        fcall: fcall(s)?,
        ..EncodeOpts::default()
    };
    Ok(Workload {
        phases: workload::fill::with_fill(phases),
        commands,
        data_kind,
        ttl,
        clients,
        threads,
        requests,
        duration,
        warmup: warmup.filter(|w| !w.is_zero()),
        pipeline,
        sizes,
        keyspace,
        key_dist,
        rps,
        seed: m.seed.unwrap_or_else(time_seed),
        encode,
        read_from_replicas: s.flags.conn.read_from_replicas,
        keepalive: s.flags.conn.keepalive.unwrap_or(true),
    })
}

/// What runs: -t tests, a --mix, the profile's tests or mix, the user's commands as one mix by
/// their weights, else the default suite.
fn phases(s: &Layers, commands: &[UserCommand]) -> Result<Vec<Vec<(Cmd, u32)>>, ConfigError> {
    let (f, m) = (&s.flags.load, &s.merged.load);
    let mix = |spec: &str| workload::parse_mix(spec, commands);
    let own = || -> Vec<(Cmd, u32)> {
        let all = commands.iter().enumerate();
        all.map(|(i, c)| (Cmd::User(i as u16), c.weight)).collect()
    };
    if f.tests.is_some() && f.mix.is_some() {
        return Err(invalid(
            "-t and --mix cannot be combined: -t runs tests one after another, --mix interleaves them in one run",
        ));
    }
    if let Some(spec) = f.mix.as_ref() {
        return Ok(vec![mix(spec)?]);
    }
    if let Some(t) = &f.tests {
        if !f.commands.is_empty() {
            return Err(invalid(
                "-t runs built-in tests: name your --command in --mix (e.g. --mix set=1,mine=1), or give no -t to run the commands as one mix",
            ));
        }
        return Ok(singles(workload::parse_tests(&t.0)?));
    }
    if let Some(spec) = &m.mix {
        return Ok(vec![mix(spec).map_err(|e| s.error("mix", e.to_string()))?]);
    }
    let mut out = match &m.tests {
        Some(t) => {
            singles(workload::parse_tests(&t.0).map_err(|e| s.error("tests", e.to_string()))?)
        }
        None if commands.is_empty() => singles(Op::BUILTIN.to_vec()),
        None => Vec::new(),
    };
    if !commands.is_empty() {
        out.push(own());
    }
    Ok(out)
}

/// The FCALL test's library size and keys per call: valkey-benchmark's defaults, 10 and 1.
fn fcall(s: &Layers) -> Result<(u32, u16), ConfigError> {
    let m = &s.merged.load;
    let functions = s
        .at_least_1("num_functions", m.num_functions)?
        .unwrap_or(10);
    if functions > 10_000 {
        return Err(s.error(
            "num_functions",
            format!("{} must be at most 10000", s.name("num_functions")),
        ));
    }
    let keys = m.num_keys_in_fcall.unwrap_or(1);
    if keys > workload::command::MAX_MULTI {
        let msg = format!(
            "{} must be at most {}",
            s.name("num_keys_in_fcall"),
            workload::command::MAX_MULTI
        );
        return Err(s.error("num_keys_in_fcall", msg));
    }
    Ok((functions, keys))
}

/// (clients, threads, pipeline), each at least 1 and within its bound.
fn concurrency(s: &Layers) -> Result<(usize, usize, usize), ConfigError> {
    let m = &s.merged.load;
    let at_most =
        |key: &str, max: usize| s.error(key, format!("{} must be at most {max}", s.name(key)));
    let clients = s
        .at_least_1("clients", m.clients)?
        .unwrap_or(DEFAULT_CLIENTS);
    let pipeline = s.at_least_1("pipeline", m.pipeline)?.unwrap_or(1);
    if pipeline > 100_000 {
        return Err(at_most("pipeline", 100_000));
    }
    if clients > 100_000 {
        return Err(at_most("clients", 100_000));
    }
    let threads = s
        .at_least_1("threads", m.threads)?
        .unwrap_or_else(|| default_threads(clients));
    if threads > 1024 {
        return Err(at_most("threads", 1024));
    }
    Ok((clients, threads, pipeline))
}

fn output(o: &OutputFlags) -> Output {
    Output {
        mode: match (o.quiet, o.csv) {
            (_, true) => OutputMode::Csv,
            (true, false) => OutputMode::Quiet,
            (false, false) => OutputMode::Blocks,
        },
        pass_headers: o.quiet,
        json: o.json.clone(),
        out_dir: if o.no_save { None } else { Some(o.out.clone()) },
        long_csv: crate::schema::LONG_CSV,
        run_files: true,
        latency_uncorrected: o.latency_uncorrected,
        // redis-benchmark clamps too (at its histogram's 4 digits) rather than refuse a script.
        precision: o.precision.unwrap_or(DEFAULT_PRECISION).min(MAX_PRECISION),
    }
}

/// redis-benchmark's command line, with `-x`'s stdin as its last argument.
fn custom_command(cli: &Cli) -> Result<Option<UserCommand>, ConfigError> {
    if cli.command.is_empty() {
        return match cli.modes.stdin_arg {
            true => Err(invalid(
                "-x reads the last argument of a custom command from stdin, but no command was given (e.g. rbench -x SET mykey)",
            )),
            false => Ok(None),
        };
    }
    let load = &cli.load;
    if !load.commands.is_empty() {
        return Err(invalid(format!(
            "`{}` follows --command as a command line of its own: quote the whole NAME=TEMPLATE, e.g. --command 'read=GET __key__'",
            cli.command.join(" ")
        )));
    }
    if load.tests.is_some() || load.mix.is_some() {
        return Err(invalid(format!(
            "a custom command (`{}`) cannot be combined with -t or --mix",
            cli.command.join(" ")
        )));
    }
    let mut c = UserCommand::legacy(&cli.command);
    if cli.modes.stdin_arg {
        c.push_literal(cli.stdin_value.clone().unwrap_or_default());
    }
    Ok(Some(c))
}

/// `--key-dist`, or `--sequential` (valkey-benchmark's spelling of `--key-dist seq`), else the profile's.
fn key_dist(s: &Layers) -> Result<KeyDist, ConfigError> {
    let load = &s.flags.load;
    match &load.key_dist {
        Some(t) => {
            let dist = KeyDist::parse(t)?;
            if load.sequential && dist != KeyDist::Seq {
                return Err(invalid(format!(
                    "--sequential uses keys in order, --key-dist {t} draws them: give one of them"
                )));
            }
            Ok(dist)
        }
        None if load.sequential => Ok(KeyDist::Seq),
        None => Ok(s
            .parse(
                "key_dist",
                s.merged.load.key_dist.as_deref(),
                KeyDist::parse,
            )?
            .unwrap_or(KeyDist::Uniform)),
    }
}

/// `-l` and `-I`: neither with `--repeat`, nor with each other.
fn mode(cli: &Cli) -> Result<Mode, ConfigError> {
    match (cli.modes.idle, cli.modes.loop_tests) {
        (true, true) => Err(invalid(
            "-I (idle connections) and -l (loop the tests) cannot be combined",
        )),
        (_, true) if cli.runs.repeat.is_some() => Err(invalid(
            "-l loops until Ctrl-C and --repeat runs N times: give one of them",
        )),
        (true, _) => Ok(Mode::Idle),
        (_, true) => Ok(Mode::Loop),
        _ => Ok(Mode::Bench),
    }
}

/// `0.01`, `1%`, `0`: a share of requests between 0 and 1.
pub fn parse_error_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "max error rate must be a fraction from 0 to 1 (0.001) or a percentage (0.1%), got `{s}`"
        )),
    }
}

fn singles(ops: Vec<Op>) -> Vec<Vec<(Cmd, u32)>> {
    ops.into_iter()
        .map(|o| vec![(Cmd::Builtin(o), 1)])
        .collect()
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Clients on a few threads saturate a server; on a small machine the server needs the other cores.
pub fn default_threads(clients: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 8).min(clients.max(1))
}

/// With a profile, `-h`/`-p`/`--cluster` given explicitly point at one target instead of the profile's.
fn cli_names_target(conn: &ConnectionFlags) -> bool {
    conn.cluster
        || conn.host.is_some()
        || conn.port.is_some()
        || conn.uri.is_some()
        || conn.socket.is_some()
}

fn password(
    cli_pass: &Option<String>,
    var: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    cli_pass
        .clone()
        .or_else(|| env(var.unwrap_or("REDISCLI_AUTH")))
        .filter(|p| !p.is_empty())
}

fn cli_target(
    conn: &ConnectionFlags,
    env: &dyn Fn(&str) -> Option<String>,
    resolve: Resolver,
) -> Result<Target, ConfigError> {
    // Explicit flags win over what -u says, as in redis-cli.
    let uri = match &conn.uri {
        Some(u) => crate::uri::parse(u).map_err(invalid)?,
        None => crate::uri::RedisUri::default(),
    };
    let host = conn.host.clone().or(uri.host).unwrap_or("127.0.0.1".into());
    let port = conn.port.or(uri.port).unwrap_or(6379);
    let dbnum = conn.dbnum.or(uri.dbnum);
    let auth = Auth {
        user: conn.user.clone().or(uri.user),
        password: password(&conn.password, None, env).or(uri.password),
        dbnum,
        password_env: None,
        ..Auth::default()
    };
    if conn.cluster && dbnum.is_some_and(|d| d != 0) {
        return Err(invalid(
            "--dbnum cannot be used with --cluster: Redis Cluster has only database 0",
        ));
    }
    let tls = (conn.tls.tls || uri.tls).then(|| tls_options(&conn.tls));
    if tls.is_none()
        && let Some(flag) = conn.tls.stray()
    {
        return Err(invalid(format!("{flag} needs --tls (or a rediss:// URI)")));
    }
    if let Some(path) = &conn.socket {
        return socket_target(conn, path, auth, tls.is_some());
    }
    let addr = resolve(&host, port)?;
    let dial = Dialer {
        tls: tls
            .as_ref()
            .map(|o| tls::build(o, Some(&host)).map(Arc::new))
            .transpose()
            .map_err(invalid)?,
    };
    Ok(Target {
        name: format!("{host}:{port}"),
        kind: if conn.cluster {
            TargetKind::Cluster(vec![addr])
        } else {
            TargetKind::Standalone(Peer::Tcp(addr))
        },
        auth,
        dial,
        tls,
    })
}

/// `-s PATH`: one server on a unix socket.
fn socket_target(
    conn: &ConnectionFlags,
    path: &Path,
    auth: Auth,
    tls: bool,
) -> Result<Target, ConfigError> {
    if conn.cluster {
        return Err(invalid(
            "-s (unix socket) cannot be used with --cluster: cluster nodes are reached over TCP",
        ));
    }
    if tls {
        return Err(invalid("-s (unix socket) cannot be combined with TLS"));
    }
    Ok(Target {
        name: path.display().to_string(),
        kind: TargetKind::Standalone(Peer::Unix(Arc::from(path))),
        auth,
        dial: Dialer::default(),
        tls: None,
    })
}

fn tls_options(f: &crate::cli::TlsFlags) -> TlsOptions {
    TlsOptions {
        sni: f.sni.clone(),
        cacert: f.cacert.clone(),
        cacertdir: f.cacertdir.clone(),
        insecure: f.insecure,
        cert: f.cert.clone(),
        key: f.key.clone(),
        ciphers: f.ciphers.clone(),
        ciphersuites: f.ciphersuites.clone(),
    }
}

fn profile_targets(
    p: &Profile,
    conn: &ConnectionFlags,
    env: &dyn Fn(&str) -> Option<String>,
    resolve: Resolver,
) -> Result<Vec<Target>, ConfigError> {
    let mut out = Vec::new();
    for t in &p.targets {
        // Still file:line, but an address that does not resolve is a runtime failure (exit 1).
        let here = |e: ConfigError| match e {
            ConfigError::Unresolvable(m) => {
                ConfigError::Unresolvable(p.error_at(t.line, m).to_string())
            }
            other => ConfigError::Profile(p.error_at(t.line, other.to_string())),
        };
        let kind = match &t.kind {
            TargetSpecKind::Addr(a) => {
                TargetKind::Standalone(Peer::Tcp(resolve_hostport(a, resolve).map_err(here)?))
            }
            TargetSpecKind::Cluster(seeds) => TargetKind::Cluster(
                seeds
                    .iter()
                    .map(|s| resolve_hostport(s, resolve))
                    .collect::<Result<_, _>>()
                    .map_err(here)?,
            ),
            TargetSpecKind::Spawn(s) => TargetKind::Spawn(s.clone()),
        };
        out.push(Target {
            name: t.name.clone(),
            kind,
            auth: Auth {
                user: conn.user.clone().or_else(|| t.user.clone()),
                password: password(&conn.password, t.password_env.as_deref(), env),
                dbnum: conn.dbnum.or(t.dbnum),
                password_env: t.password_env.clone().filter(|_| conn.password.is_none()),
                ..Auth::default()
            },
            dial: profile_dialer(t).map_err(|e| ConfigError::Profile(p.error_at(t.line, e)))?,
            tls: t.tls.clone(),
        });
    }
    Ok(out)
}

/// An existing TLS target's dialer (a spawned one's is made once its CA exists). Certificates are
/// checked against the host the profile names.
fn profile_dialer(t: &profile::TargetSpec) -> Result<Dialer, String> {
    let (Some(o), false) = (&t.tls, matches!(t.kind, TargetSpecKind::Spawn(_))) else {
        return Ok(Dialer::default());
    };
    let first = match &t.kind {
        TargetSpecKind::Addr(a) => a.as_str(),
        TargetSpecKind::Cluster(seeds) => seeds.first().map_or("", String::as_str),
        TargetSpecKind::Spawn(_) => "",
    };
    let host = profile::host_port(first).map_or(first, |(h, _)| h);
    Ok(Dialer {
        tls: Some(Arc::new(tls::build(o, Some(host))?)),
    })
}

/// A host name is tried at every address it resolves to (`localhost` may be 127.0.0.1 and ::1,
/// and the server may listen on only one): the first that accepts a TCP connection is used.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    let unresolvable = || ConfigError::Unresolvable(format!("cannot resolve host `{host}`"));
    match addrs.as_slice() {
        [] => Err(unresolvable()),
        [one] => Ok(*one),
        many => Ok(many
            .iter()
            .copied()
            .find(|a| std::net::TcpStream::connect_timeout(a, PROBE_CONNECT).is_ok())
            .unwrap_or(many[0])),
    }
}

/// A profile's `host:port`, whose form the profile checked (at its line) when it was read.
fn resolve_hostport(s: &str, resolve: Resolver) -> Result<SocketAddr, ConfigError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = profile::host_port(s).map_err(invalid)?;
    resolve(host, port)
}

#[cfg(test)]
mod warmup_tests {
    use super::*;
    use clap::Parser;

    fn plan_of(args: &[&str], profile: Option<&str>) -> Result<Plan, ConfigError> {
        super::tests::plan_with(args, profile, &[])
    }

    #[test]
    fn warmup_from_flag_and_profile() {
        let p = plan_of(&["--warmup", "250ms"], None).unwrap();
        assert_eq!(p.workload.warmup, Some(Duration::from_millis(250)));
        assert_eq!(plan_of(&[], None).unwrap().workload.warmup, None);
        let prof =
            "[defaults]\nwarmup = \"2s\"\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";
        let p = plan_of(&[], Some(prof)).unwrap();
        assert_eq!(p.workload.warmup, Some(Duration::from_secs(2)));
        // The flag wins over the profile.
        let p = plan_of(&["--warmup", "1s"], Some(prof)).unwrap();
        assert_eq!(p.workload.warmup, Some(Duration::from_secs(1)));
        // A bad value in the profile names its line.
        let bad =
            "[defaults]\nwarmup = \"soon\"\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";
        let e = plan_of(&[], Some(bad)).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("soon"), "{e}");
        assert!(plan_of(&["--warmup=-1s"], None).is_err());
    }

    #[test]
    fn slo_from_flag_and_profile() {
        let p = plan_of(&["--slo", "p99=1ms", "--slo", "p50=200us"], None).unwrap();
        let slo = p.slo.unwrap();
        assert_eq!(slo.label(), "p99<=1ms,p50<=200us");
        assert_eq!((slo.step, slo.resolution), (crate::slo::DEFAULT_STEP, 0.02));
        let prof = |extra: &str| {
            format!(
                "[defaults]\nslo = \"p999=5ms\"\nslo_step = \"1s\"\nslo_resolution = \"5%\"\n{extra}\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n"
            )
        };
        let slo = plan_of(&[], Some(&prof(""))).unwrap().slo.unwrap();
        assert_eq!(slo.label(), "p999<=5ms");
        assert_eq!((slo.step, slo.resolution), (Duration::from_secs(1), 0.05));
        assert_eq!(slo.confirm, crate::slo::DEFAULT_CONFIRM);
        let slo = plan_of(&[], Some(&prof("slo_confirm = 3"))).unwrap().slo;
        assert_eq!(slo.unwrap().confirm, 3);
        let slo = plan_of(&["--slo-confirm", "1"], Some(&prof("slo_confirm = 3")));
        assert_eq!(slo.unwrap().slo.unwrap().confirm, 1);
        let e = plan_of(&[], Some(&prof("slo_confirm = 0"))).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains(":5:") && e.contains("slo_confirm must be 1 to 20"),
            "{e}"
        );
        // The flag wins over the profile; --rps asks for one rate, so the profile's search gives way.
        let slo = plan_of(&["--slo", "max=9ms"], Some(&prof("")))
            .unwrap()
            .slo
            .unwrap();
        assert_eq!(slo.label(), "max<=9ms");
        let p = plan_of(&["--rps", "100"], Some(&prof(""))).unwrap();
        assert!(p.slo.is_none() && p.workload.rps == Some(Rate::Fixed(100.0)));
        // The profile's fixed rate gives way to the flag; both in the profile is a contradiction at its line.
        let rps = prof("rps = 500");
        assert_eq!(
            plan_of(&["--slo", "p99=1ms"], Some(&rps))
                .unwrap()
                .workload
                .rps,
            None
        );
        let e = plan_of(&[], Some(&rps)).unwrap_err().to_string();
        assert!(
            e.contains(":5:") && e.contains("cannot be combined with slo"),
            "{e}"
        );
        // Bad values name their line.
        let bad =
            "[defaults]\nslo = \"p42=1ms\"\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";
        let e = plan_of(&[], Some(bad)).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("p42"), "{e}");
        for (args, needle) in [
            (&["--slo", "p99=1ms", "-l"][..], "-l"),
            (&["--slo", "p99=1ms", "--duration", "5s"][..], "--duration"),
            (
                &["--slo", "p99=1ms", "--fault", "1s:failover"][..],
                "--fault",
            ),
            (&["--slo-step", "1s"][..], "needs --slo"),
            (
                &["--slo", "p99=1ms", "--slo-resolution", "80%"][..],
                "at most 50%",
            ),
        ] {
            let e = plan_of(args, None).unwrap_err().to_string();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn max_error_rate_from_flag_and_profile() {
        assert_eq!(plan_of(&[], None).unwrap().max_error_rate, 0.0);
        let p = plan_of(&["--max-error-rate", "0.5%"], None).unwrap();
        assert!((p.max_error_rate - 0.005).abs() < 1e-12);
        let prof = |v: &str| {
            format!(
                "[defaults]\nmax_error_rate = {v}\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n"
            )
        };
        assert_eq!(
            plan_of(&[], Some(&prof("0.25"))).unwrap().max_error_rate,
            0.25
        );
        assert_eq!(
            plan_of(&[], Some(&prof("\"100%\"")))
                .unwrap()
                .max_error_rate,
            1.0
        );
        // The flag wins over the profile.
        let p = plan_of(&["--max-error-rate", "0"], Some(&prof("1"))).unwrap();
        assert_eq!(p.max_error_rate, 0.0);
        let e = plan_of(&[], Some(&prof("\"lots\"")))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("lots"), "{e}");
        for bad in ["-1", "1.5", "101%", "x", "nan"] {
            assert!(parse_error_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_flags_resolve() {
        let p = plan_of(&[], None).unwrap();
        assert_eq!(
            (p.mode, p.output.precision),
            (Mode::Bench, DEFAULT_PRECISION)
        );
        assert!(!p.targets[0].auth.resp3 && !p.targets[0].auth.tracking);
        assert_eq!(plan_of(&["-l"], None).unwrap().mode, Mode::Loop);
        assert_eq!(plan_of(&["-I"], None).unwrap().mode, Mode::Idle);
        for bad in [&["-l", "--repeat", "2"][..], &["-I", "-l"]] {
            let e = plan_of(bad, None).unwrap_err().to_string();
            assert!(!e.contains('\n') && e.contains("-l"), "{e}");
        }
        assert_eq!(
            plan_of(&["--precision", "1"], None)
                .unwrap()
                .output
                .precision,
            1
        );
        // Clamped, as redis-benchmark clamps, rather than refusing a script.
        assert_eq!(
            plan_of(&["--precision", "40"], None)
                .unwrap()
                .output
                .precision,
            MAX_PRECISION
        );
        let p = plan_of(&["--resp3", "--enable-tracking"], None).unwrap();
        assert!(p.targets[0].auth.resp3 && p.targets[0].auth.tracking);
    }

    #[test]
    fn sequential_is_key_dist_seq() {
        let dist = |a: &[&str]| plan_of(a, None).map(|p| p.workload.key_dist);
        assert_eq!(dist(&["--sequential"]).unwrap(), KeyDist::Seq);
        assert_eq!(
            dist(&["--sequential", "--key-dist", "seq"]).unwrap(),
            KeyDist::Seq
        );
        let e = dist(&["--sequential", "--key-dist", "uniform"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--sequential") && e.contains("uniform"), "{e}");
        // The flag wins over the profile's distribution.
        let prof = "[defaults]\nkey_dist = \"zipf\"\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";
        assert_eq!(
            plan_of(&["--sequential"], Some(prof))
                .unwrap()
                .workload
                .key_dist,
            KeyDist::Seq
        );
    }

    #[test]
    fn x_needs_a_custom_command() {
        let e = plan_of(&["-x"], None).unwrap_err().to_string();
        assert!(e.contains("-x") && e.contains("no command"), "{e}");
        let mut cli = Cli::parse_from(["rbench", "-x", "SET", "k"]);
        cli.stdin_value = Some(b"v\n".to_vec());
        let p = plan(&cli, &|_| None).unwrap();
        let custom = &p.workload.commands[0];
        assert_eq!(custom.name, "SET k");
        let space = crate::workload::keys::Space {
            lo: 0,
            n: 1,
            dist: KeyDist::Uniform,
        };
        let keys = crate::workload::keys::Sampler::new(&space, 0, 1);
        let t = crate::workload::template::Template::compile_user(custom, keys, false, None);
        let mut b = Vec::new();
        t.encode(&Default::default(), 0, b"", &mut b);
        assert_eq!(b, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\n\r\n");
    }

    #[test]
    fn resp3_and_tracking_from_the_profile() {
        let prof = "[defaults]\nresp3 = true\nenable_tracking = true\n[[target]]\nname = \"a\"\naddr = \"127.0.0.1:6379\"\n[[target]]\nname = \"b\"\nspawn = \"standalone\"\n";
        let p = plan_of(&[], Some(prof)).unwrap();
        assert!(p.targets.iter().all(|t| t.auth.resp3 && t.auth.tracking));
        let off =
            "[defaults]\nresp3 = false\n[[target]]\nname = \"a\"\naddr = \"127.0.0.1:6379\"\n";
        assert!(!plan_of(&[], Some(off)).unwrap().targets[0].auth.resp3);
        // A flag turns it on over the profile.
        assert!(
            plan_of(&["--resp3"], Some(off)).unwrap().targets[0]
                .auth
                .resp3
        );
        let bad =
            "[defaults]\nresp3 = \"yes\"\n[[target]]\nname = \"a\"\naddr = \"127.0.0.1:6379\"\n";
        let e = plan_of(&[], Some(bad)).unwrap_err().to_string();
        assert!(e.contains(":2:"), "{e}");
    }

    #[test]
    fn a_shard_takes_its_share_of_the_profiles_totals_too() {
        let prof = "[defaults]\nrequests = 10\nrps = 1000\nseed = 7\n[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";
        let p = plan_of(&["--shard", "1/3", "--run-id", "r"], Some(prof)).unwrap();
        let sh = crate::shard::Shard { index: 1, count: 3 };
        assert_eq!(p.scale.shard, Some(sh));
        assert_eq!(p.workload.requests, Some(3));
        assert_eq!(p.workload.rps, Some(Rate::Fixed(333.0)));
        assert_eq!(p.workload.seed, sh.seed(7));
        assert_eq!(p.scale.run_id.as_deref(), Some("r"));
        // Without --shard nothing is split, and --start-at alone keeps the run's own id.
        let p = plan_of(&["--start-at", "4102444800"], Some(prof)).unwrap();
        assert_eq!((p.workload.requests, p.workload.seed), (Some(10), 7));
        assert!(p.scale.run_id.is_none() && p.scale.start_at.is_some());
        // Shards of one start share an id made from it.
        let p = plan_of(
            &["--shard", "0/4", "--start-at", "2100-01-01T00:00:00Z"],
            None,
        )
        .unwrap();
        assert_eq!(p.scale.run_id.as_deref(), Some("21000101T000000Z-s4"));
        // A spawned deployment is one process's own.
        let spawn = "[[target]]\nname = \"s\"\nspawn = \"standalone\"\n";
        let e = plan_of(&["--shard", "0/2", "--run-id", "r"], Some(spawn)).unwrap_err();
        assert!(e.to_string().contains("spawns"), "{e}");
    }
}
