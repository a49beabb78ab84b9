//! Shared helpers for the integration tests: spawn real Redis deployments (standalone or a 3+3 cluster)
//! on free loopback ports, run rbench with a timeout (in this process through `rbench::run_in`, or the
//! binary where the process itself is the point), temp dirs that clean up after
//! themselves, a `redis-cli` shortcut, a RESP client (the crate's own) for admin commands, and parsers
//! for rbench's outputs.
//!
//! Every file that does `mod support;` uses only part of this, hence the `dead_code` allowances.
//! Servers are stopped by PID when their `Deployment` drops; a run that exceeds its timeout is
//! stopped (an rbench child is killed by PID). Nothing here ever signals a process it did not start.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod procs;

use rbench::Context;
use rbench::deploy::Role;
pub use rbench::deploy::{Deployment, SpawnSpec};
use rbench::resp::Value;
use rbench::resp::blocking::Client;
use rbench::stop::Stop;

/// Default bound for one rbench invocation in tests.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of the rbench binary Cargo built for this test run.
pub fn rbench_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rbench")
}

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

/// Owned copies of `args`, for an argv.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// One redis-server on a free loopback port; extra `redis_args` (e.g. `["--requirepass", "x"]`) follow
/// the defaults. Call from the test's own thread: the server dies with the thread that spawned it.
pub fn spawn_standalone(redis_args: &[&str]) -> Deployment {
    let spec = SpawnSpec::Standalone {
        redis_args: strings(redis_args),
    };
    Deployment::spawn(&spec, &Stop::new())
        .unwrap_or_else(|e| panic!("spawning a standalone redis-server {redis_args:?}: {e}"))
}

/// A 3-master, 1-replica-each cluster on free loopback ports, ready (all slots covered, replicas
/// synced) when this returns.
pub fn spawn_cluster(redis_args: &[&str]) -> Deployment {
    let spec = SpawnSpec::Cluster {
        masters: 3,
        replicas: 1,
        redis_args: strings(redis_args),
    };
    Deployment::spawn(&spec, &Stop::new())
        .unwrap_or_else(|e| panic!("spawning a 3+3 cluster {redis_args:?}: {e}"))
}

/// `redis-cli -p <node 0> ARGS...`, trimmed stdout; panics when redis-cli cannot run or connect.
/// Error replies come back as text (redis-cli exits 0 for them).
pub fn cli(dep: &Deployment, args: &[&str]) -> String {
    cli_node(dep, 0, args)
}

/// As [`cli`], against node `index`.
pub fn cli_node(dep: &Deployment, index: usize, args: &[&str]) -> String {
    dep.cli(index, args)
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"))
}

/// As [`cli`], authenticating with `password` (without redis-cli's warning about -a).
pub fn cli_auth(dep: &Deployment, password: &str, args: &[&str]) -> String {
    let mut all = vec!["-a", password, "--no-auth-warning"];
    all.extend_from_slice(args);
    cli(dep, &all)
}

/// An integer reply from redis-cli (DBSIZE, LLEN, EVAL...); panics with the text otherwise.
pub fn cli_int(dep: &Deployment, args: &[&str]) -> i64 {
    let out = cli(dep, args);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("redis-cli {args:?}: expected an integer, got {out:?}"))
}

/// Sums `per_key` (an integer command such as LLEN, XLEN, SCARD, or GET of a counter) over every key
/// matching `pattern`, server-side in one Lua call.
pub fn sum_over_keys(dep: &Deployment, pattern: &str, per_key: &str) -> i64 {
    let script = format!(
        "local s = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
         s = s + tonumber(redis.call('{per_key}', k)) end return s"
    );
    cli_int(dep, &["EVAL", &script, "0", pattern])
}

/// Number of keys matching `pattern`.
pub fn count_keys(dep: &Deployment, pattern: &str) -> i64 {
    cli_int(
        dep,
        &["EVAL", "return #redis.call('KEYS', ARGV[1])", "0", pattern],
    )
}

/// `-h 127.0.0.1 -p PORT` for node 0 of `dep`.
pub fn target_args(dep: &Deployment) -> Vec<String> {
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        dep.addr().port().to_string(),
    ]
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a probe socket");
    l.local_addr().expect("probe address").port()
}

/// The indexes of `dep`'s masters among its nodes.
pub fn master_indexes(dep: &Deployment) -> Vec<usize> {
    (0..dep.nodes().len())
        .filter(|&i| dep.nodes()[i].role == Role::Master)
        .collect()
}

/// DBSIZE of the server at `addr`.
pub fn dbsize(addr: SocketAddr) -> i64 {
    Redis::connect(addr).cmd(&["DBSIZE"]).int()
}

// ---------------------------------------------------------------------------------------------
// RESP client
// ---------------------------------------------------------------------------------------------

/// rbench's own blocking RESP client, for admin commands with binary keys or pipelines (CLUSTER
/// SETSLOT, MIGRATE...). Panics on I/O errors: a test cannot go on without the answer.
pub struct Redis {
    client: Client,
    addr: SocketAddr,
}

impl Redis {
    pub fn connect(addr: SocketAddr) -> Redis {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.set_nodelay(true);
        Redis {
            client: Client::new(s),
            addr,
        }
    }

    /// One command; error replies come back as `Value::Error`.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        self.client
            .request(args)
            .unwrap_or_else(|e| panic!("{}: {e}", self.addr))
    }

    /// Sends every command in one write, then reads one reply per command.
    pub fn pipeline<C: AsRef<[A]>, A: AsRef<[u8]>>(&mut self, cmds: &[C]) -> Vec<Value> {
        self.client
            .pipeline(cmds)
            .unwrap_or_else(|e| panic!("{}: {e}", self.addr))
    }
}

/// Reply accessors that panic with the reply when it is not what the test expects.
pub trait Expect {
    fn int(&self) -> i64;
    fn string(&self) -> String;
    fn bytes(self) -> Vec<u8>;
    fn array(self) -> Vec<Value>;
    /// Asserts +OK.
    fn ok(&self);
}

impl Expect for Value {
    fn int(&self) -> i64 {
        self.as_int()
            .unwrap_or_else(|| panic!("expected an integer, got {self:?}"))
    }

    fn string(&self) -> String {
        match self.text() {
            Some(t) => t.into_owned(),
            None => panic!("expected text, got {self:?}"),
        }
    }

    fn bytes(self) -> Vec<u8> {
        match self {
            Value::Bulk(b) => b,
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    fn array(self) -> Vec<Value> {
        match self {
            Value::Array(v) => v,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    fn ok(&self) {
        assert!(
            matches!(self, Value::Simple(s) if s == "OK"),
            "expected OK, got {self:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fake servers' side of RESP
// ---------------------------------------------------------------------------------------------

/// A command parsed off the front of a buffer and the bytes it used (None: incomplete); Err for
/// bytes that are not RESP.
pub type ParsedCommand = Result<Option<(Vec<Vec<u8>>, usize)>, ()>;

/// One command (a RESP array of bulk strings, or an inline command) from the front of `buf`.
pub fn parse_command(buf: &[u8]) -> ParsedCommand {
    let Some(first) = buf.first() else {
        return Ok(None);
    };
    let line = |from: usize| -> Option<(&[u8], usize)> {
        let end = buf[from..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[from..from + end], from + end + 2))
    };
    if *first != b'*' {
        let Some((l, used)) = line(0) else {
            return Ok(None);
        };
        let args = l
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| w.to_vec())
            .collect();
        return Ok(Some((args, used)));
    }
    let Some((l, mut pos)) = line(1) else {
        return Ok(None);
    };
    let n: usize = std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(())?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(());
        }
        let Some((l, data)) = line(pos + 1) else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(())?;
        if buf.len() < data + len + 2 {
            return Ok(None);
        }
        args.push(buf[data..data + len].to_vec());
        pos = data + len + 2;
    }
    Ok(Some((args, pos)))
}

// ---------------------------------------------------------------------------------------------
// Temp dirs
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "rbench-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The path as a string, for command lines.
    pub fn arg(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes `text` to `dir/name`; its path.
pub fn write_file(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

/// As [`write_file`], the path as a command-line argument.
pub fn write_file_arg(dir: &TempDir, name: &str, text: &str) -> String {
    write_file(dir, name, text).to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// What one rbench invocation did.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit code; a child ended by a signal reports 128 + signal, as a shell would.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The run outlived its timeout and was stopped (a child: killed).
    pub timed_out: bool,
}

impl RunOutput {
    /// Panics (showing everything) unless the run exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.code == 0 && !self.timed_out,
            "rbench failed (code {}, timed out: {})\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.timed_out,
            self.stdout,
            self.stderr
        );
        self.assert_no_panic()
    }

    /// Panics when rbench panicked or printed a backtrace.
    pub fn assert_no_panic(&self) -> &Self {
        for s in [&self.stdout, &self.stderr] {
            assert!(
                !s.contains("panicked")
                    && !s.contains("RUST_BACKTRACE")
                    && !s.contains("stack backtrace"),
                "rbench panicked\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// A running rbench: in this process (`rbench::run_in` on a thread of its own, with its own
/// environment and stop), or a child process where the process itself is the point (its PID, its
/// signal dispositions, its temp dirs).
pub struct Running {
    how: How,
    started: Instant,
}

enum How {
    InProcess {
        stop: Stop,
        done: Option<JoinHandle<(i32, String, String)>>,
    },
    Child {
        child: Child,
        out: Option<JoinHandle<String>>,
        err: Option<JoinHandle<String>>,
    },
}

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// How long an in-process run that outlived its timeout gets to stop before it is left behind.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl Running {
    /// Starts rbench in this process with `args` and extra environment `env`. REDISCLI_AUTH is
    /// unset unless `env` sets it, so the caller's environment cannot leak a password into a test.
    pub fn start<S: AsRef<str>>(args: &[S], env: &[(&str, &str)]) -> Running {
        start_in_process(args, env, &[])
    }

    /// Starts the rbench binary as a child process, with the same environment rules.
    pub fn process<S: AsRef<str>>(args: &[S], env: &[(&str, &str)]) -> Running {
        start_rbench_with(args, env, &[], &[])
    }

    /// The child's PID (child processes only).
    pub fn pid(&self) -> u32 {
        match &self.how {
            How::Child { child, .. } => child.id(),
            How::InProcess { .. } => panic!("an in-process run has no PID: use Running::process"),
        }
    }

    /// Stops the run as signal `sig` does: sent to the child by its PID (while it has not been
    /// reaped yet), or set on the in-process run's stop.
    pub fn signal(&mut self, sig: libc::c_int) {
        match &mut self.how {
            How::Child { child, .. } => {
                if matches!(child.try_wait(), Ok(None)) {
                    // SAFETY: kill(2) on our own child, which is not reaped yet (so the PID is
                    // still ours).
                    unsafe {
                        libc::kill(child.id() as libc::pid_t, sig);
                    }
                }
            }
            How::InProcess { stop, .. } => {
                stop.signal(sig);
            }
        }
    }

    /// Waits for the run to end; past `timeout` it is stopped (a child by SIGKILL, an in-process
    /// run by its stop) and reported as timed out.
    pub fn wait(mut self, timeout: Duration) -> RunOutput {
        let deadline = self.started + timeout;
        let (code, stdout, stderr, timed_out) = match &mut self.how {
            How::Child { child, out, err } => {
                let (code, timed_out) = wait_child(child, deadline);
                (code, joined(out), joined(err), timed_out)
            }
            How::InProcess { stop, done } => wait_in_process(stop, done, deadline),
        };
        RunOutput {
            code,
            stdout,
            stderr,
            elapsed: self.started.elapsed(),
            timed_out,
        }
    }
}

fn joined(h: &mut Option<JoinHandle<String>>) -> String {
    h.take().and_then(|h| h.join().ok()).unwrap_or_default()
}

/// The child's exit code (128 + signal for one a signal ended, as a shell reports it), and whether
/// it had to be killed at `deadline`.
fn wait_child(child: &mut Child, deadline: Instant) -> (i32, bool) {
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("reaping a killed rbench");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for rbench: {e}"),
        }
    };
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (code, timed_out)
}

fn wait_in_process(
    stop: &Stop,
    done: &mut Option<JoinHandle<(i32, String, String)>>,
    deadline: Instant,
) -> (i32, String, String, bool) {
    let Some(h) = done.take() else {
        return (-1, String::new(), String::new(), true);
    };
    let mut timed_out = false;
    while !h.is_finished() {
        if Instant::now() >= deadline && !timed_out {
            timed_out = true;
            stop.request();
        }
        if timed_out && Instant::now() >= deadline + STOP_TIMEOUT {
            let msg = "the in-process run did not stop: left behind".to_string();
            return (-1, String::new(), msg, true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, out, err) = h.join().expect("the run's thread catches panics");
    (code, out, err, timed_out)
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked before wait(): do not leave the run behind.
        match &mut self.how {
            How::Child { child, .. } => {
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            How::InProcess { stop, .. } => {
                stop.request();
            }
        }
    }
}

/// Runs rbench to completion in this process (or stops it after `timeout`).
pub fn run_rbench_env<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
    timeout: Duration,
) -> RunOutput {
    Running::start(args, env).wait(timeout)
}

/// As [`run_rbench_env`], as a child process: for what only a process shows (its temp dirs under
/// `TMPDIR`, which rbench reads from the process environment).
pub fn run_rbench_process_env<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
    timeout: Duration,
) -> RunOutput {
    Running::process(args, env).wait(timeout)
}

/// Runs rbench with no extra environment and the default timeout.
pub fn run_rbench<S: AsRef<str>>(args: &[S]) -> RunOutput {
    run_rbench_env(args, &[], RUN_TIMEOUT)
}

/// Prints what a run did, for the test's log: its command line, exit, time and output.
pub fn log_run(args: &str, out: &RunOutput) {
    eprintln!(
        "rbench {args}\n  exit {} after {:.2?}{}\n  stdout: {}\n  stderr: {}",
        out.code,
        out.elapsed,
        if out.timed_out {
            " (timed out, stopped)"
        } else {
            ""
        },
        out.stdout.trim(),
        out.stderr.trim()
    );
}

/// An rbench run in the background that is logged when it ends (stopped on drop if the test fails
/// first).
pub struct LoggedRun {
    run: Running,
    args: String,
}

impl LoggedRun {
    pub fn start(args: &[&str]) -> LoggedRun {
        LoggedRun {
            run: Running::start(args, &[]),
            args: args.join(" "),
        }
    }

    /// Waits for it (stopping it past `timeout`), logs it, and insists it did not panic.
    pub fn finish_any(self, timeout: Duration) -> RunOutput {
        let out = self.run.wait(timeout);
        log_run(&self.args, &out);
        out.assert_no_panic();
        out
    }

    /// As [`LoggedRun::finish_any`], insisting it exited 0.
    pub fn finish(self, timeout: Duration) -> RunOutput {
        let out = self.run.wait(timeout);
        log_run(&self.args, &out);
        out.assert_ok();
        out
    }
}

/// Runs rbench (stopped past `timeout`), logs what it did, and insists it exited 0.
pub fn rbench(args: &[&str], timeout: Duration) -> RunOutput {
    LoggedRun::start(args).finish(timeout)
}

/// As [`rbench`], whatever the exit code.
pub fn rbench_any(args: &[&str], timeout: Duration) -> RunOutput {
    LoggedRun::start(args).finish_any(timeout)
}

/// Builds an argv: `target_args(dep)` followed by `rest`.
pub fn args_for(dep: &Deployment, rest: &[&str]) -> Vec<String> {
    let mut v = target_args(dep);
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

// ---------------------------------------------------------------------------------------------
// Parsing rbench's outputs
// ---------------------------------------------------------------------------------------------

/// The long CSV's first 26 columns, in order: later ones are only ever appended (ARCHITECTURE.md,
/// "Results are written and read through one schema").
pub const LONG_CSV_COLUMNS: [&str; 26] = [
    "timestamp",
    "run_id",
    "rbench_version",
    "git_rev",
    "profile",
    "target",
    "deployment",
    "persistence",
    "test",
    "clients",
    "pipeline",
    "data_size",
    "keyspace",
    "target_rps",
    "requests",
    "duration_s",
    "rps",
    "ok",
    "errors",
    "avg_ms",
    "min_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
];

/// Digits with exactly `decimals` digits after the point (`12.34` for 2).
pub fn is_fixed_decimal(s: &str, decimals: usize) -> bool {
    match s.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.len() == decimals
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Parses redis-benchmark's `-q` line, `NAME: 123.45 requests per second, p50=0.311 msec`, strictly
/// (2 decimals for the rate, 3 for p50). Returns (name, rps, p50 ms).
pub fn parse_quiet_line(line: &str) -> Option<(String, f64, f64)> {
    let rest = line.strip_suffix(" msec")?;
    let (head, p50) = rest.rsplit_once(" requests per second, p50=")?;
    let (name, rps) = head.rsplit_once(": ")?;
    if name.is_empty() || name.trim() != name || !is_fixed_decimal(rps, 2) {
        return None;
    }
    if !is_fixed_decimal(p50, 3) {
        return None;
    }
    Some((name.to_string(), rps.parse().ok()?, p50.parse().ok()?))
}

/// A CSV file (the results `runs.csv`, or a timeline) read into a header and rows.
#[derive(Debug, Clone)]
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The raw text, for byte-level checks and messages.
    pub text: String,
}

impl Csv {
    pub fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Csv::parse(&text)
    }

    pub fn parse(text: &str) -> Csv {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .unwrap_or_else(|e| panic!("bad CSV header: {e}\n{text}"))
            .iter()
            .map(String::from)
            .collect();
        let rows = r
            .records()
            .map(|rec| {
                rec.unwrap_or_else(|e| panic!("bad CSV row: {e}\n{text}"))
                    .iter()
                    .map(String::from)
                    .collect()
            })
            .collect();
        Csv {
            header,
            rows,
            text: text.to_string(),
        }
    }

    /// Index of column `name`; panics when it is missing.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header))
    }

    pub fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }

    /// A numeric cell; panics with context when it does not parse.
    pub fn num(&self, row: &[String], name: &str) -> f64 {
        let v = self.get(row, name);
        v.parse()
            .unwrap_or_else(|_| panic!("column {name} = {v:?} is not a number in {row:?}"))
    }

    /// Rows as column-name → value maps.
    pub fn maps(&self) -> Vec<HashMap<String, String>> {
        self.rows
            .iter()
            .map(|r| self.header.iter().cloned().zip(r.iter().cloned()).collect())
            .collect()
    }

    /// The rows whose `test` column equals `test`.
    pub fn rows_for_test(&self, test: &str) -> Vec<&Vec<String>> {
        let c = self.col("test");
        self.rows.iter().filter(|r| r[c] == test).collect()
    }

    /// The single row for `test`; panics when there is not exactly one.
    pub fn row_for_test(&self, test: &str) -> &Vec<String> {
        let rows = self.rows_for_test(test);
        assert_eq!(rows.len(), 1, "want one {test} row in\n{}", self.text);
        rows[0]
    }
}

/// `<dir>/runs.csv`, the long-format results file.
pub fn results_csv(dir: &Path) -> Csv {
    Csv::read(&dir.join("runs.csv"))
}

/// `<dir>/timeline-<run_id>.csv`, one run's per-second timeline.
pub fn timeline_of(dir: &Path, run_id: &str) -> Csv {
    Csv::read(&dir.join(format!("timeline-{run_id}.csv")))
}

/// The median of exactly three values.
pub fn median3(mut v: Vec<f64>) -> f64 {
    assert_eq!(v.len(), 3, "{v:?}");
    v.sort_by(f64::total_cmp);
    v[1]
}

/// One load test at a time within a test binary: they measure, and a 2-core machine gains
/// nothing from overlapping them (a poisoned lock still serializes).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parses a `--json` file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}\n{text}", path.display()))
}

/// A numeric field of a JSON object, by path (`["latency", "p99_ms"]`).
pub fn json_f64(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("JSON {path:?} is not a number: {cur}"))
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// As [`Running::start`], with each variable named in `unset` unset too (so a test can check what
/// happens when, e.g., a profile's `password_env` variable is not set).
pub fn start_rbench_unset<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
    unset: &[&str],
) -> Running {
    start_in_process(args, env, unset)
}

/// Runs `rbench::run_in` on a thread of its own. The environment is this process's, with
/// REDISCLI_AUTH and `unset` removed and `env` on top; a panic becomes the run's stderr, where
/// [`RunOutput::assert_no_panic`] finds it.
fn start_in_process<S: AsRef<str>>(args: &[S], env: &[(&str, &str)], unset: &[&str]) -> Running {
    let argv: Vec<String> = std::iter::once("rbench".to_string())
        .chain(args.iter().map(|a| a.as_ref().to_string()))
        .collect();
    let given: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut hidden: Vec<String> = unset.iter().map(|k| k.to_string()).collect();
    hidden.push("REDISCLI_AUTH".into());
    let stop = Stop::new();
    let ctx = Context {
        env: Box::new(move |k| match given.get(k) {
            Some(v) => Some(v.clone()),
            None if hidden.iter().any(|h| h == k) => None,
            None => std::env::var(k).ok(),
        }),
        stop: stop.clone(),
    };
    let done = std::thread::Builder::new()
        .name("rbench-in-process".into())
        .spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rbench::run_in(argv, &ctx, &mut out, &mut err)
            }));
            let mut err = String::from_utf8_lossy(&err).into_owned();
            let code = ran.unwrap_or_else(|p| {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                err.push_str(&format!("rbench panicked: {what}\n"));
                101
            });
            (code, String::from_utf8_lossy(&out).into_owned(), err)
        })
        .expect("starting the run's thread");
    Running {
        how: How::InProcess {
            stop,
            done: Some(done),
        },
        started: Instant::now(),
    }
}

/// As [`Running::start`], with the child's disposition of each listed signal set (`libc::SIG_IGN` or
/// `libc::SIG_DFL`) before it starts: a background job of a script starts with SIGINT ignored, a
/// `nohup` one with SIGHUP ignored.
pub fn start_rbench_signals<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
    dispositions: &[(libc::c_int, libc::sighandler_t)],
) -> Running {
    start_rbench_with(args, env, &[], dispositions)
}

fn start_rbench_with<S: AsRef<str>>(
    args: &[S],
    env: &[(&str, &str)],
    unset: &[&str],
    dispositions: &[(libc::c_int, libc::sighandler_t)],
) -> Running {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(rbench_bin());
    cmd.args(args.iter().map(|a| a.as_ref()))
        .env_remove("REDISCLI_AUTH")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in unset {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if !dispositions.is_empty() {
        let dispositions = dispositions.to_vec();
        // SAFETY: signal(2) is async-signal-safe, and the closure allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &(sig, handler) in &dispositions {
                    libc::signal(sig, handler);
                }
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", rbench_bin()));
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    Running {
        how: How::Child { child, out, err },
        started: Instant::now(),
    }
}

/// One entry of `--json`'s results (typed view shared by the cluster test files).
#[allow(dead_code)]
#[derive(Debug)]
pub struct JsonResult {
    pub test: String,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub keyspace: u64,
    pub unanswered: u64,
    pub rps: f64,
    pub classes: BTreeMap<String, u64>,
    /// ok per second.
    pub timeline_ok: Vec<u64>,
}

impl JsonResult {
    pub fn class(&self, name: &str) -> u64 {
        self.classes.get(name).copied().unwrap_or(0)
    }
}

#[allow(dead_code)]
pub fn read_results(path: &Path) -> Vec<JsonResult> {
    let doc = read_json(path);
    let n = |v: &serde_json::Value, k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    };
    doc["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| JsonResult {
            test: r["test"].as_str().unwrap_or_default().to_string(),
            requests: n(r, "requests"),
            ok: n(r, "ok"),
            errors: n(r, "errors"),
            keyspace: n(r, "keyspace"),
            unanswered: n(r, "unanswered"),
            rps: r["rps"].as_f64().expect("rps"),
            classes: r["error_classes"]
                .as_object()
                .expect("error_classes object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect(),
            timeline_ok: r["timeline"]
                .as_array()
                .expect("timeline array")
                .iter()
                .map(|s| n(s, "ok"))
                .collect(),
        })
        .collect()
}

/// The one `timeline-*.csv` in `dir`, checked to start with the documented columns.
pub fn read_timeline(dir: &Path) -> Csv {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("timeline-") && n.ends_with(".csv"))
        })
        .collect();
    assert_eq!(
        files.len(),
        1,
        "timeline files in {}: {files:?}",
        dir.display()
    );
    let csv = Csv::read(&files[0]);
    assert_eq!(
        csv.header[..8],
        [
            "elapsed_s",
            "target",
            "test",
            "ok",
            "errors",
            "p50_ms",
            "p99_ms",
            "max_ms"
        ]
    );
    csv
}

// ---------------------------------------------------------------------------------------------
// TLS-only servers
// ---------------------------------------------------------------------------------------------

pub use rbench::deploy::tls::TlsFiles;

/// A CA and a server certificate (for localhost, 127.0.0.1 and ::1) made by rbench's own
/// `deploy::tls::make` in a new directory `dir/name`.
pub fn make_tls_files(dir: &TempDir, name: &str) -> TlsFiles {
    rbench::deploy::tls::make(&dir.join(name))
        .unwrap_or_else(|e| panic!("making TLS certificates in {}: {e}", dir.arg()))
}

/// A fresh CA and a server certificate for localhost/127.0.0.1 signed by it that expired on
/// 2021-01-01 (valid from 2020-01-01), written as PEM files into the new directory `dir/name`.
pub fn make_expired_tls_files(dir: &TempDir, name: &str) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let out = dir.join(name);
    std::fs::create_dir(&out).unwrap_or_else(|e| panic!("creating {}: {e}", out.display()));
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rbench test CA (expired leaf)");
    let ca_cert = ca.self_signed(&ca_key).expect("self-signing the CA");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.not_before = rcgen::date_time_ymd(2020, 1, 1);
    server.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = server
        .signed_by(&key, &issuer)
        .expect("signing the server cert");
    let files = TlsFiles {
        ca: out.join("ca.crt"),
        cert: out.join("server.crt"),
        key: out.join("server.key"),
    };
    for (path, pem) in [
        (&files.ca, ca_cert.pem()),
        (&files.cert, cert.pem()),
        (&files.key, key.serialize_pem()),
    ] {
        std::fs::write(path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    files
}

/// A redis-server with no plain TCP port (`--port 0`), listening only on a TLS port of
/// loopback with `files`' certificate. Started directly (not through `Deployment`); killed by
/// its PID on drop.
pub struct TlsServer {
    child: Child,
    pub port: u16,
    pub files: TlsFiles,
    dir: TempDir,
}

impl TlsServer {
    /// A server with a fresh CA and certificate made by `deploy::tls::make`; `extra` redis-server
    /// arguments follow the TLS ones (so `["--tls-auth-clients", "yes"]` overrides the default).
    pub fn start(extra: &[&str]) -> TlsServer {
        let dir = TempDir::new("tls-server");
        let files = make_tls_files(&dir, "tls");
        Self::start_with(dir, files, extra)
    }

    /// A server using `files`, running in `dir` (kept until the server is dropped).
    pub fn start_with(dir: TempDir, files: TlsFiles, extra: &[&str]) -> TlsServer {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = dir.join(&format!("redis-{port}.log"));
            let mut args: Vec<String> = vec![
                "--port".into(),
                "0".into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
                "--dir".into(),
                dir.arg(),
                "--logfile".into(),
                log.to_string_lossy().into_owned(),
            ];
            args.extend(files.server_args(port, false));
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut cmd = Command::new("redis-server");
            cmd.args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl(2) is async-signal-safe; the server dies with the test thread that
            // started it even if the test process is killed before Drop runs.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting redis-server {args:?}: {e}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    // Lost the race for the port (or a bad argument): keep the log, maybe retry.
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    break;
                }
                if tls_ping(port, &files) {
                    return TlsServer {
                        child,
                        port,
                        files,
                        dir,
                    };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "TLS redis-server on port {port} did not answer PING within 20 s; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("TLS redis-server would not start; last log:\n{last_log}");
    }

    /// `redis-cli --tls --cacert CA --cert C --key K -h 127.0.0.1 -p PORT ARGS...`, trimmed stdout;
    /// panics when redis-cli fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("--tls")
            .arg("--cacert")
            .arg(&self.files.ca)
            .arg("--cert")
            .arg(&self.files.cert)
            .arg("--key")
            .arg(&self.files.key)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running redis-cli: {e}"));
        assert!(
            out.status.success(),
            "redis-cli --tls {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn port_arg(&self) -> String {
        self.port.to_string()
    }

    pub fn ca_arg(&self) -> String {
        self.files.ca.to_string_lossy().into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        // Our own child, not yet reaped: kill(2) by its PID, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-cli --tls --insecure` PING (the certificate may be one redis-cli would refuse, such as
/// an expired one): first without a client certificate (an expired one would be refused by the
/// server), then offering the server's own (for `--tls-auth-clients yes`).
fn tls_ping(port: u16, files: &TlsFiles) -> bool {
    let ping = |with_cert: bool| {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "--insecure"]);
        if with_cert {
            cmd.arg("--cert")
                .arg(&files.cert)
                .arg("--key")
                .arg(&files.key);
        }
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "PING"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
            .unwrap_or(false)
    };
    ping(false) || ping(true)
}

/// The `calls=` count of `cmdstat_<cmd>` in an `INFO commandstats` text (0 when absent).
pub fn cmdstat_calls(info: &str, cmd: &str) -> u64 {
    let prefix = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .map(|rest| {
            rest.split(',')
                .next()
                .unwrap_or("")
                .parse()
                .unwrap_or_else(|_| panic!("bad cmdstat line for {cmd} in {info}"))
        })
        .unwrap_or(0)
}

/// A field of an INFO text (`connected_clients`...), as text.
pub fn info_field(info: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.to_string()))
}

/// Field `name` of node `i`'s `INFO section` (through the RESP client), trimmed; panics showing the
/// section when it is not there.
pub fn node_info_field(dep: &Deployment, i: usize, section: &str, name: &str) -> String {
    let text = Redis::connect(dep.nodes()[i].addr)
        .cmd(&["INFO", section])
        .string();
    info_field(&text, name)
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{name} not in INFO {section}: {text}"))
}

/// redis-benchmark 7's default suite, in its order: what a run with no `-t` must report.
pub const DEFAULT_SUITE: [&str; 21] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100",
    "LRANGE_300",
    "LRANGE_500",
    "LRANGE_600",
    "MSET (10 keys)",
    "XADD",
];

/// `INFO commandstats` as command → calls (`config|get` → n; Redis 6 says `config`).
pub fn command_calls(dep: &Deployment) -> std::collections::BTreeMap<String, u64> {
    let text = cli(dep, &["INFO", "commandstats"]);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("cmdstat_"))
        .map(|l| {
            let (name, rest) = l.split_once(':').expect("cmdstat line");
            let calls = rest
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no calls in {l}"));
            (name.to_string(), calls)
        })
        .collect()
}

/// Runs `python3 scripts/<script> ARGS...`: its exit code and its stdout then stderr.
pub fn python_script<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> (i32, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The largest resident set size seen while `run` runs, in kB (sampled from /proc every 20 ms).
pub fn peak_rss_kb(run: Running, timeout: Duration) -> (RunOutput, u64) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let status = format!("/proc/{}/status", run.pid());
    let (stop, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let text = std::fs::read_to_string(&status).unwrap_or_default();
                let kb = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                if let Some(kb) = kb {
                    peak.fetch_max(kb, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let res = run.wait(timeout);
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    (res, peak.load(Ordering::SeqCst))
}
