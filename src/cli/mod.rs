//! Command-line flags. redis-benchmark's flags keep their meaning (DESIGN §2); `-h` is the host, so clap's
//! automatic `-h` help is replaced by `--help` only.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser};
use serde::Deserialize;

pub mod layer;
pub mod text;

use layer::layered;
pub use text::TestList;

/// The main benchmark command (`rbench [options] [COMMAND ARG...]`).
#[derive(Parser, Debug, Clone, Default, PartialEq)]
#[command(
    name = "rbench",
    version,
    about = "A pipelined Redis (RESP) load generator in the style of redis-benchmark",
    disable_help_flag = true,
    // `-n -1` is a bad value for -n, not an unknown flag `-1`.
    allow_negative_numbers = true,
    after_help = "Subcommands:\n  rbench compare BASELINE.csv CANDIDATE.csv [--max-drop 5%] [--max-p99-rise 10%]\n  \
                  rbench nightly -c PROFILE [--out DIR] [--nights 5] [--accept] [--max-drop 5%] [--max-p99-rise 10%]\n  \
                  rbench report DIR [--run RUN_ID] [--compare BASELINE_RUN CANDIDATE_RUN] [--trend [--nights 5]]\n  \
                  rbench merge FILE.hdr|FILE.hlog... [--json OUT]\n  \
                  rbench merge SHARD_DIR... [--out DIR] [-q|--csv] [--json OUT]\n  \
                  rbench kube [run flags] --workers N [--results-pvc NAME] [--password-secret NAME[:KEY]]\n  \
                  rbench replay FILE [-h HOST -p PORT|--cluster] [--speed 2|max] [--loop N] [--skip CMD,...]\n\n\
                  Custom command: rbench [options] SET mykey:__rand_int__ __data__\n  \
                  placeholders: __rand_int__ (the drawn key), __rand_1st__ .. __rand_9th__ (keys of their own), __data__ (the value)"
)]
pub struct Cli {
    /// Print help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    // Groups in the order their help headings first appear in `--help` (clap lists headings in
    // the order of their first flag, and flags by declaration).
    #[command(flatten)]
    pub conn: ConnectionFlags,

    #[command(flatten)]
    pub load: LoadFlags,

    #[command(flatten)]
    pub search: SearchFlags,

    #[command(flatten)]
    pub output: OutputFlags,

    #[command(flatten)]
    pub modes: ModeFlags,

    #[command(flatten)]
    pub scale: ScaleFlags,

    #[command(flatten)]
    pub runs: RunsFlags,

    #[command(flatten)]
    pub experiment: ExperimentFlags,

    /// Custom command to benchmark, e.g. SET foo:__rand_int__ __data__
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = false,
        help_heading = "Custom command"
    )]
    pub command: Vec<String>,

    /// With -x: what stdin held, the custom command's last argument (read before planning, so the
    /// plan stays a pure function of its inputs).
    #[arg(skip)]
    pub stdin_value: Option<Vec<u8>>,
}

impl Cli {
    /// The keys a profile's `[defaults]` may hold: the profile keys of every group it fills.
    pub fn profile_keys() -> Vec<&'static str> {
        use layer::keys;
        [
            keys::<LoadFlags>(),
            keys::<SearchFlags>(),
            keys::<RunsFlags>(),
            keys::<ExperimentFlags>(),
            keys::<ConnectionFlags>(),
        ]
        .concat()
    }

    /// A profile's `[defaults]` as settings: each group takes its keys from a deserializer of the
    /// table (`table()` makes one per group); flags-only fields stay at their defaults.
    pub fn from_profile<'de, D: serde::Deserializer<'de>>(
        table: impl Fn() -> D,
    ) -> Result<Cli, D::Error> {
        Ok(Cli {
            load: LoadFlags::deserialize(table())?,
            search: SearchFlags::deserialize(table())?,
            runs: RunsFlags::deserialize(table())?,
            experiment: ExperimentFlags::deserialize(table())?,
            conn: ConnectionFlags::deserialize(table())?,
            ..Cli::default()
        })
    }

    /// Flag > profile: takes `lower`'s value (a profile's settings) for every setting the command
    /// line left unset; returns the keys taken.
    pub fn fill_from(&mut self, lower: &Cli) -> Vec<&'static str> {
        use layer::Layered;
        let mut taken = Vec::new();
        self.load.fill_from(&lower.load, &mut taken);
        self.search.fill_from(&lower.search, &mut taken);
        self.runs.fill_from(&lower.runs, &mut taken);
        self.experiment.fill_from(&lower.experiment, &mut taken);
        self.conn.fill_from(&lower.conn, &mut taken);
        taken
    }
}

layered! {
    /// Where the server is and how each connection to it is set up.
    #[derive(Args, Deserialize, Debug, Clone, Default, PartialEq)]
    #[serde(default)]
    #[command(next_help_heading = "Connection")]
    pub struct ConnectionFlags {
        /// Server hostname (a seed node with --cluster) [default: 127.0.0.1]
        #[arg(short = 'h', long = "host")]
        #[serde(skip)]
        pub host: Option<String>,

        /// Server port [default: 6379]
        #[arg(short = 'p', long = "port", value_parser = whole::<u16>)]
        #[serde(skip)]
        pub port: Option<u16>,

        /// Password for AUTH (default: the REDISCLI_AUTH environment variable)
        #[arg(short = 'a', long = "pass", hide_env_values = true)]
        #[serde(skip)]
        pub password: Option<String>,

        /// Do not warn that -a on the command line is visible to other users (as redis-cli)
        #[arg(long = "no-auth-warning")]
        #[serde(skip)]
        pub no_auth_warning: bool,

        /// ACL user name, sent with the password
        #[arg(long = "user")]
        #[serde(skip)]
        pub user: Option<String>,

        /// Database number (SELECT)
        #[arg(long = "dbnum", value_parser = whole::<u32>)]
        #[serde(skip)]
        pub dbnum: Option<u32>,

        /// Treat the server as a Redis Cluster seed node
        #[arg(long = "cluster")]
        #[serde(skip)]
        pub cluster: bool,

        /// Server URI: redis://[user:password@]host[:port][/db], or rediss:// for TLS
        #[arg(short = 'u', long = "uri")]
        #[serde(skip)]
        pub uri: Option<String>,

        /// Server unix socket (overrides host and port; standalone only)
        #[arg(short = 's', long = "socket")]
        #[serde(skip)]
        pub socket: Option<PathBuf>,

        /// 1 = keep connections alive, 0 = reconnect for every request (measures connection cost)
        #[arg(short = 'k', long = "keepalive", value_parser = keepalive)]
        #[serde(skip)]
        pub keepalive: Option<bool>,

        /// Send read commands (GET, LRANGE...) to replicas in cluster mode
        #[arg(long = "read-from-replicas")]
        #[serde(skip)]
        pub read_from_replicas: bool,

        /// Speak RESP3: send HELLO 3 on every connection
        #[arg(short = '3', long = "resp3")]
        pub resp3: bool,

        /// Send CLIENT TRACKING on on every connection (server-assisted client-side caching)
        #[arg(long = "enable-tracking")]
        pub enable_tracking: bool,

        // Last: its heading stays set for whatever clap adds after it.
        #[command(flatten, next_help_heading = "TLS")]
        #[serde(skip)]
        pub tls: TlsFlags,
    }
}

layered! {
    /// What each test sends, how much of it, and how fast.
    #[derive(Args, Deserialize, Debug, Clone, Default, PartialEq)]
    #[serde(default)]
    #[command(next_help_heading = "Load")]
    pub struct LoadFlags {
        /// Comma-separated list of tests (set,get,lpush,lpop,xadd,...)
        #[arg(short = 't', long = "tests", value_parser = TestList::parse)]
        #[serde(deserialize_with = "text::tests")]
        pub tests: Option<TestList>,

        /// Weighted mix in one run of tests and --command names, e.g. set=3,get=7 or read=70,write=30
        #[arg(long = "mix")]
        pub mix: Option<String>,

        /// A command of your own, NAME=TEMPLATE (repeatable), e.g. 'read=GET __key__' or
        /// 'txn=MULTI; INCR c:__key__; EXEC'; profiles use [[command]]
        #[arg(long = "command", value_name = "NAME=TEMPLATE")]
        #[serde(skip)]
        pub commands: Vec<String>,

        /// Number of parallel clients (each keeps one connection per master in cluster mode)
        #[arg(long = "clients", value_parser = whole::<usize>)]
        pub clients: Option<usize>,

        /// Number of OS threads running clients
        #[arg(long = "threads", value_parser = whole::<usize>)]
        pub threads: Option<usize>,

        /// Total number of requests per test
        #[arg(short = 'n', long = "requests", value_parser = whole::<u64>)]
        pub requests: Option<u64>,

        /// Run each test for this long (e.g. 30s, 2m, 500ms) instead of -n requests
        #[arg(long = "duration")]
        #[serde(deserialize_with = "text::duration")]
        pub duration: Option<String>,

        /// Run each test this long first, uncounted (warms the server's caches and tables), e.g. 1s
        #[arg(long = "warmup")]
        #[serde(deserialize_with = "text::duration")]
        pub warmup: Option<String>,

        /// Pipeline depth: requests in flight per connection (per master in cluster mode)
        #[arg(short = 'P', long = "pipeline", value_parser = whole::<usize>)]
        pub pipeline: Option<usize>,

        /// Value size in bytes, a range like 16-512, or a weighted list like 32:60,1024:30,16384:10
        #[arg(short = 'd', long = "data-size")]
        #[serde(deserialize_with = "text::data_size")]
        pub data_size: Option<String>,

        /// What values are made of: x (as redis-benchmark), random (incompressible bytes), text
        #[arg(long = "data-kind")]
        pub data_kind: Option<String>,

        /// TTL of the keys --command writes (not read-only commands), e.g. 60s or a range 30s-300s
        /// (SET gets PX, other commands a pipelined PEXPIRE counted as NAME:expire)
        #[arg(long = "ttl")]
        pub ttl: Option<String>,

        /// Key space: keys are drawn from 0..N
        #[arg(short = 'r', long = "keyspace", value_parser = whole::<u64>)]
        pub keyspace: Option<u64>,

        /// Key distribution over the key space: uniform, zipf[:S], seq, gaussian[:MEAN,STDDEV],
        /// hot:P%:Q% (Q% of requests to P% of the keys)
        #[arg(long = "key-dist")]
        pub key_dist: Option<String>,

        /// Use keys sequentially instead of randomly (valkey-benchmark's flag; same as --key-dist seq)
        #[arg(long = "sequential")]
        #[serde(skip)]
        pub sequential: bool,

        /// Open-loop target rate (requests per second across all clients), or a shape over time:
        /// ramp:FROM..TO/DURATION, steps:R1,R2,.../EACH, spike:BASE,PEAK@AT/LENGTH,
        /// sine:MEAN±AMP/PERIOD, file:PATH (a CSV of t_s,rps points)
        #[arg(long = "rps")]
        #[serde(deserialize_with = "text::rps")]
        pub rps: Option<String>,

        /// Bound streams: XADD ... MAXLEN ~ N
        #[arg(long = "stream-maxlen", value_parser = whole::<u64>)]
        pub stream_maxlen: Option<u64>,

        /// FCALL test: functions in the library it loads (valkey-benchmark's flag) [default: 10]
        #[arg(long = "num-functions", value_parser = whole::<u32>)]
        pub num_functions: Option<u32>,

        /// FCALL test: keys passed to each call [default: 1]
        #[arg(long = "num-keys-in-fcall", value_parser = whole::<u16>)]
        pub num_keys_in_fcall: Option<u16>,

        /// Bound lists: every LPUSH/RPUSH is followed by LTRIM to N elements
        #[arg(long = "list-maxlen", value_parser = whole::<u64>)]
        pub list_maxlen: Option<u64>,

        /// Seed for the key/value generators (reproducible runs)
        #[arg(long = "seed", value_parser = whole::<u64>)]
        pub seed: Option<u64>,
    }
}

layered! {
    /// `--slo`: the saturation search.
    #[derive(Args, Deserialize, Debug, Clone, Default, PartialEq)]
    #[serde(default)]
    #[command(next_help_heading = "Saturation search")]
    pub struct SearchFlags {
        /// Saturation search: find the highest rate at which these latency objectives hold, e.g.
        /// p99=1ms (also p50, p90, p95, p999, p9999, max; comma-separated or repeated: all must hold)
        #[arg(long = "slo")]
        #[serde(deserialize_with = "text::one_string")]
        pub slo: Vec<String>,

        /// Length of each open-loop step of the search [default: 5s]
        #[arg(long = "slo-step")]
        #[serde(deserialize_with = "text::duration")]
        pub slo_step: Option<String>,

        /// The search stops when the highest pass and the lowest miss are this close [default: 2%]
        #[arg(long = "slo-resolution")]
        #[serde(deserialize_with = "text::rate")]
        pub slo_resolution: Option<String>,

        /// The rate reported must meet the objectives this many times in a row (1-20): a rate
        /// that misses once while confirming is a miss, and the search goes on below it [default: 5]
        #[arg(long = "slo-confirm", value_parser = whole::<u32>)]
        pub slo_confirm: Option<u32>,
    }
}

/// What is printed, and which results files are written where.
#[derive(Args, Debug, Clone, Default, PartialEq)]
#[command(next_help_heading = "Output")]
pub struct OutputFlags {
    /// Quiet: one line per test
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Print redis-benchmark's CSV format on stdout
    #[arg(long = "csv")]
    pub csv: bool,

    /// Decimals of the latencies in the default output (-q and --csv keep redis-benchmark's 3)
    /// [default: 3]
    #[arg(long = "precision", value_parser = whole::<usize>)]
    pub precision: Option<usize>,

    /// Also show latency measured from the actual send time (open loop)
    #[arg(long = "latency-uncorrected")]
    pub latency_uncorrected: bool,

    /// Write a JSON summary to FILE (`-`: print it to stdout at the end)
    #[arg(long = "json")]
    pub json: Option<PathBuf>,

    /// Results folder (long CSV, timelines, tables)
    #[arg(long = "out", default_value = "results")]
    pub out: PathBuf,

    /// Do not write any results files
    #[arg(long = "no-save")]
    pub no_save: bool,
}

/// redis-benchmark's modes: `-x`, `-I`, `-l`.
#[derive(Args, Debug, Clone, Default, PartialEq)]
#[command(next_help_heading = "Modes")]
pub struct ModeFlags {
    /// Read the last argument of the custom command from stdin (all of it, as-is)
    #[arg(short = 'x')]
    pub stdin_arg: bool,

    /// Idle mode: open --clients connections and hold them until Ctrl-C (or SIGTERM)
    #[arg(short = 'I', long = "idle")]
    pub idle: bool,

    /// Loop: run the tests over and over until Ctrl-C (or SIGTERM); every pass is reported and saved
    #[arg(short = 'l', long = "loop")]
    pub loop_tests: bool,
}

/// This process's part in a run of several (`--shard`, `--start-at`, `--run-id`).
#[derive(Args, Debug, Clone, Default, PartialEq)]
#[command(next_help_heading = "Scale-out")]
pub struct ScaleFlags {
    /// This process is shard I of N of one run (I from 0): -n and --rps are split exactly among
    /// the shards, each draws keys with a seed of its own; `rbench merge` adds their folders up
    #[arg(long = "shard", value_name = "I/N")]
    pub shard: Option<String>,

    /// Connect first, then start the load at this instant (RFC 3339, e.g. 2026-12-04T09:00:00Z,
    /// or Unix seconds), so every shard measures the same window
    #[arg(long = "start-at", value_name = "TIME")]
    pub start_at: Option<String>,

    /// The run id the results carry (shards of one run share it) [default: the start time and a
    /// process number; with --shard, derived from --start-at]
    #[arg(long = "run-id", value_name = "ID")]
    pub run_id: Option<String>,
}

layered! {
    /// How often the tests run, when they fail the run, and the profile (`-c`).
    #[derive(Args, Deserialize, Debug, Clone, Default, PartialEq)]
    #[serde(default)]
    #[command(next_help_heading = "Runs and profiles")]
    pub struct RunsFlags {
        /// Run each configuration N times (the table shows medians)
        #[arg(long = "repeat", value_parser = whole::<u32>)]
        pub repeat: Option<u32>,

        /// Fail the run (exit 3) when a test's failed requests exceed this share: a fraction or a
        /// percentage, e.g. 0.001 or 0.1% [default: 0]
        #[arg(long = "max-error-rate", allow_hyphen_values = true)]
        #[serde(deserialize_with = "text::rate")]
        pub max_error_rate: Option<String>,

        /// Sample every server node's INFO this often while a test runs, on a connection of its
        /// own (CPU, memory, forks, rewrites, evictions, per-command server time), or `off`
        /// [default: 1s]
        #[arg(long = "server-stats")]
        #[serde(deserialize_with = "text::duration")]
        pub server_stats: Option<String>,

        /// Set latency-monitor-threshold to MS on existing servers, so their latency events (fork,
        /// aof-fsync-always, expire-cycle, ...) are read; spawned servers get 1 ms unless given.
        /// 0 leaves every server's setting alone
        #[arg(long = "set-latency-monitor", value_name = "MS", value_parser = whole::<u32>)]
        pub set_latency_monitor: Option<u32>,

        /// FLUSHALL existing targets before each test
        #[arg(long = "flush")]
        #[serde(skip)]
        pub flush: bool,

        /// Profile file (TOML) with targets and workload defaults
        #[arg(short = 'c', long = "config")]
        #[serde(skip)]
        pub profile: Option<PathBuf>,
    }
}

layered! {
    /// Experiments run instead of the tests (`--scenario`), and faults scheduled into a run.
    #[derive(Args, Deserialize, Debug, Clone, Default, PartialEq)]
    #[serde(default)]
    #[command(next_help_heading = "Scenarios and faults")]
    pub struct ExperimentFlags {
        /// Run an experiment instead of tests: `stream` (producers, a consumer group, XAUTOCLAIM) or
        /// `consistency` (INCR writers and readers that find lost writes)
        #[arg(long = "scenario")]
        pub scenario: Option<String>,

        /// Stream scenario: XADD producers (-n entries in all, or for --duration) [default: 1]
        #[arg(long = "producers", value_parser = whole::<usize>)]
        pub producers: Option<usize>,

        /// Stream scenario: consumers in the group; 0 fills the stream until the server refuses
        /// (the OOM drill) [default: 1]
        #[arg(long = "consumers", value_parser = whole::<usize>)]
        pub consumers: Option<usize>,

        /// Stream scenario: XAUTOCLAIM entries pending longer than this [default: 1s]
        #[arg(long = "claim-idle")]
        #[serde(deserialize_with = "text::duration")]
        pub claim_idle: Option<String>,

        /// Stream scenario: share of read entries a consumer drops unacked, as if it crashed
        /// (0 to 1) [default: 0]
        #[arg(long = "crash-rate")]
        pub crash_rate: Option<f64>,

        /// Stream scenario: after producing, wait up to this long for every entry to be acked
        /// [default: 10s]
        #[arg(long = "drain")]
        #[serde(deserialize_with = "text::duration")]
        pub drain: Option<String>,

        /// A fault at a time of the run, e.g. 5s:kill-master, 10s:restart, 20s:reshard=100 (repeatable).
        /// Actions: kill-master, kill-node[=I], pause[=I], resume[=I], restart[=I] (spawned
        /// deployments only), failover, reshard=N, debug-sleep=S, bgrewriteaof, bgsave
        #[arg(long = "fault")]
        #[serde(skip)]
        pub fault: Vec<String>,
    }
}

/// redis-benchmark's TLS flags (rustls underneath: no OpenSSL).
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct TlsFlags {
    /// Establish a secure TLS connection
    #[arg(long = "tls")]
    pub tls: bool,
    /// Server name indication for TLS (and the name the certificate is checked against)
    #[arg(long = "sni")]
    pub sni: Option<String>,
    /// CA certificate file to verify the server with
    #[arg(long = "cacert")]
    pub cacert: Option<PathBuf>,
    /// Directory of trusted CA certificates
    #[arg(long = "cacertdir")]
    pub cacertdir: Option<PathBuf>,
    /// Allow an insecure TLS connection: skip certificate validation
    #[arg(long = "insecure")]
    pub insecure: bool,
    /// Client certificate to authenticate with
    #[arg(long = "cert")]
    pub cert: Option<PathBuf>,
    /// Private key file of --cert
    #[arg(long = "key")]
    pub key: Option<PathBuf>,
    /// Preferred TLS 1.2 ciphers, `:`-separated (OpenSSL or IANA names)
    #[arg(long = "tls-ciphers")]
    pub ciphers: Option<String>,
    /// Preferred TLS 1.3 ciphersuites, `:`-separated
    #[arg(long = "tls-ciphersuites")]
    pub ciphersuites: Option<String>,
}

impl TlsFlags {
    /// Any TLS flag given without `--tls` (they would be ignored silently otherwise).
    pub fn stray(&self) -> Option<&'static str> {
        let given = [
            (self.sni.is_some(), "--sni"),
            (self.cacert.is_some(), "--cacert"),
            (self.cacertdir.is_some(), "--cacertdir"),
            (self.insecure, "--insecure"),
            (self.cert.is_some(), "--cert"),
            (self.key.is_some(), "--key"),
            (self.ciphers.is_some(), "--tls-ciphers"),
            (self.ciphersuites.is_some(), "--tls-ciphersuites"),
        ];
        given.into_iter().find(|(g, _)| *g).map(|(_, f)| f)
    }
}

/// A profile sets no TLS flag: a `[[target]]` carries its own TLS settings.
impl layer::Layer for TlsFlags {
    fn fill(&mut self, _lower: &Self) -> bool {
        false
    }
}

/// `-k 1` / `-k 0`, as redis-benchmark takes it.
fn keepalive(s: &str) -> Result<bool, String> {
    match s.trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(format!(
            "must be 1 (keep alive) or 0 (reconnect per request), got `{s}`"
        )),
    }
}

/// `rbench compare BASELINE CANDIDATE`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rbench compare",
    disable_help_flag = true,
    after_help = "Exit: 0 every configuration judged and none regressed, 1 a regression, 2 unusable input, \
                  4 a configuration moved past its threshold but could not be judged (too few repeats, a p99 \
                  of too few requests; the status says what would judge it)."
)]
pub struct CompareCli {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    pub baseline: PathBuf,
    pub candidate: PathBuf,
    #[command(flatten)]
    pub thresholds: Thresholds,
    /// Compare only the newest run of each configuration in each file (history files)
    #[arg(long = "latest")]
    pub latest: bool,
    /// Exit 0, not 4, when a configuration moved past its threshold but could not be judged
    #[arg(long = "inconclusive-ok")]
    pub inconclusive_ok: bool,
}

#[derive(Args, Debug, Clone)]
pub struct Thresholds {
    /// Largest tolerated throughput drop
    #[arg(long = "max-drop", default_value = "5%")]
    pub max_drop: String,
    /// Largest tolerated p99 latency rise
    #[arg(long = "max-p99-rise", default_value = "10%")]
    pub max_p99_rise: String,
}

/// `rbench nightly -c PROFILE --out DIR`: run, keep the history, judge against the last good nights.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rbench nightly",
    disable_help_flag = true,
    about = "Run a profile, append its rows to DIR/history.csv, and judge them against the last accepted nights",
    after_help = "Exit: 0 pass (or first night, or --accept), 1 regression (or the run failed), 2 unusable input, \
                  3 a test failed the error check, 4 a configuration moved past its threshold but could not be judged, \
                  130 Ctrl-C.\n\
                  Files in DIR: history.csv (every night's rows), nights.csv (each night's verdict and whether it joined the baseline)."
)]
pub struct NightlyCli {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Profile file (TOML): targets, tests, repeats
    #[arg(short = 'c', long = "config")]
    pub profile: PathBuf,
    /// Folder of the history (history.csv, nights.csv)
    #[arg(long = "out", default_value = "results/nightly")]
    pub out: PathBuf,
    /// Baseline: the last K accepted nights
    #[arg(long = "nights", default_value_t = 5)]
    pub nights: usize,
    /// Accept this night into the baseline even if it regresses (after an intended change)
    #[arg(long = "accept")]
    pub accept: bool,
    /// Exit 0, not 4, and accept the night, when a configuration moved past its threshold but could not be judged
    #[arg(long = "inconclusive-ok")]
    pub inconclusive_ok: bool,
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// `rbench report DIR`: the HTML report and Markdown table of a saved run, or two runs side by side.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rbench report",
    disable_help_flag = true,
    about = "Render a saved run of a results folder as report-<run>.html and table-<run>.md, or two runs side by side, or a nightly folder's trend",
    after_help = "Exit: 0 written, 1 a file could not be written, 2 unusable input (no results, unknown run, bad HDR file, no nightly history)."
)]
pub struct ReportCli {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Results folder (the --out of the runs): runs.csv, timeline-*.csv, hdr/
    pub dir: PathBuf,
    /// The run to render [default: the newest in the folder]
    #[arg(long = "run", conflicts_with = "compare")]
    pub run: Option<String>,
    /// Render two runs side by side with the `rbench compare` verdict of the second against the first
    #[arg(long = "compare", num_args = 2, value_names = ["BASELINE_RUN", "CANDIDATE_RUN"])]
    pub compare: Option<Vec<String>>,
    /// Render a nightly folder (the --out of `rbench nightly`) as trend.html and trend.md: every night against its baseline
    #[arg(long = "trend", conflicts_with_all = ["run", "compare"])]
    pub trend: bool,
    /// With --trend: a night's baseline is the last K accepted nights before it (as `rbench nightly --nights`)
    #[arg(long = "nights", value_name = "K", default_value_t = 5)]
    pub nights: usize,
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// `rbench merge FILE...|DIR...`: the union of HDR histograms, or the shards of one run.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rbench merge",
    disable_help_flag = true,
    about = "Add HDR histograms (.hdr, or .hlog interval logs) into one, or the results folders of a \
             run's shards (--shard I/N) into the run they are",
    after_help = "Percentiles are those of the union of every latency, never an average of percentiles.\n\
                  Folders: requests, ok and errors are summed, TPS is taken over the union of the shards' \
                  measured windows, timelines are added second by second; the run is printed as a run is \
                  (blocks and table, -q or --csv) and written to --out as a results folder (runs.csv rows \
                  with shards = N, HDR files, timeline, table, HTML report). Shards of another run id, with \
                  other tests or options, given twice or missing are refused.\n\
                  Exit: 0 done, 1 a file could not be written, 2 bad input (a file missing or not HDR, \
                  mismatched shards, files and folders mixed, nothing given)."
)]
pub struct MergeCli {
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Histogram files (V2 or V2-deflate .hdr, or .hlog interval logs, told apart by content), or
    /// the results folders of every shard of one run
    #[arg(value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// Also write the summary as JSON to OUT (`-`: to stdout)
    #[arg(long = "json", value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Folders: the run in each folder to merge [default: each folder's newest]
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Folders: write the merged run to this results folder [default: results]
    #[arg(long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Folders: print the merged run only, write no results folder
    #[arg(long = "no-save")]
    pub no_save: bool,
    /// Folders: one line per test
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Folders: redis-benchmark's CSV
    #[arg(long = "csv")]
    pub csv: bool,
}

/// `rbench replay FILE`: captured traffic sent again, with its timing.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "rbench replay",
    disable_help_flag = true,
    // `--speed -1` is a bad speed, not an unknown flag.
    allow_negative_numbers = true,
    about = "Replay captured traffic (redis-cli MONITOR output, or a memtier --monitor-input file) \
             against a server or cluster, keeping each captured client's order and the captured \
             inter-arrival times",
    after_help = "Each captured client's commands go in order on one connection (clients beyond \
                  --clients share connections: client i by first appearance uses connection \
                  i % clients). A command is due at its captured time divided by --speed, and is sent \
                  then whatever is still in flight; latency counts from that due time, so a server \
                  that falls behind shows as latency, not as a slower replay. --speed max sends each \
                  connection's next command when the previous reply came.\n\
                  Never sent: MONITOR, SHUTDOWN, FLUSHALL, FLUSHDB, CONFIG SET, DEBUG (--allow lifts \
                  one), what --skip names, and commands scripts ran ([0 lua]); they are counted and \
                  listed at the end. On a cluster, commands go to their keys' slot; multi-key commands \
                  whose keys span slots are not sent and are counted as crossslot; a SELECT other than \
                  0 is refused. Results: one row per captured command name, saved as a run's are.\n\
                  The capture is read once first (a bad line is found before anything is sent), then \
                  streamed: memory does not grow with its size.\n\
                  Exit: 0 done, 1 runtime failure, 2 bad input (a bad line, with its number; a missing, \
                  unreadable or empty capture; a bad flag), 3 a command failed the error check, \
                  128 + signal when stopped."
)]
pub struct ReplayCli {
    /// Print help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    /// The capture: redis-cli MONITOR output, or a memtier_benchmark --monitor-input file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub conn: ConnectionFlags,

    #[command(flatten)]
    pub replay: ReplayFlags,

    #[command(flatten)]
    pub output: OutputFlags,

    #[command(flatten)]
    pub scale: ScaleFlags,
}

/// How a capture is replayed.
#[derive(Args, Debug, Clone, Default, PartialEq)]
#[command(next_help_heading = "Replay")]
pub struct ReplayFlags {
    /// Play the capture this many times as fast (2: twice as fast), or `max`: each connection
    /// sends as soon as its previous reply came (closed loop) [default: 1]
    #[arg(long = "speed", value_name = "FACTOR|max")]
    pub speed: Option<String>,

    /// Connections: captured clients beyond this share them (client % N) [default: 50]
    #[arg(long = "clients", value_parser = whole::<usize>)]
    pub clients: Option<usize>,

    /// Play the capture N times, one pass after the other [default: 1]
    #[arg(long = "loop", value_name = "N", value_parser = whole::<u32>)]
    pub passes: Option<u32>,

    /// With --loop: append `:pass<K>` to the keys of pass K (2..N), so repeats are not all hits
    /// (keys of the common commands; other commands are sent as captured)
    #[arg(long = "loop-rewrite")]
    pub loop_rewrite: bool,

    /// Do not send these commands (comma-separated, repeatable; `NAME` or `NAME SUB`, e.g.
    /// KEYS,"CLIENT KILL")
    #[arg(long = "skip", value_name = "CMD,...")]
    pub skip: Vec<String>,

    /// Send a command excluded by default (MONITOR, SHUTDOWN, FLUSHALL, FLUSHDB, "CONFIG SET",
    /// DEBUG)
    #[arg(long = "allow", value_name = "CMD")]
    pub allow: Vec<String>,

    /// Pass over lines that do not parse (counted) instead of refusing the capture
    #[arg(long = "skip-bad-lines")]
    pub skip_bad_lines: bool,

    /// Send at most this many commands
    #[arg(short = 'n', long = "requests", value_parser = whole::<u64>)]
    pub requests: Option<u64>,

    /// Stop sending after this long (e.g. 30s, 2m)
    #[arg(long = "duration")]
    pub duration: Option<String>,

    /// Fail the run (exit 3) when a command's failed requests exceed this share: a fraction or a
    /// percentage, e.g. 0.001 or 0.1% [default: 0]
    #[arg(long = "max-error-rate", allow_hyphen_values = true)]
    pub max_error_rate: Option<String>,
}

/// What the process was asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    Bench(Box<Cli>),
    Compare(CompareCli),
    Nightly(NightlyCli),
    Report(ReportCli),
    Merge(MergeCli),
    Kube(KubeCli),
    Replay(Box<ReplayCli>),
}

/// A whole number, with a message that says so (clap's own names Rust's parse error).
fn whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| {
        if s.trim().starts_with('-') {
            "must not be negative".to_string()
        } else {
            format!("must be a whole number in range, got `{s}`")
        }
    })
}

/// Parses argv (including the program name). Help and version come back as `Err` with clap's kind set,
/// so the caller prints them and exits 0.
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let sub = |name: &str| {
        let mut rest = vec![std::ffi::OsString::from(format!("rbench {name}"))];
        rest.extend(args.iter().skip(2).cloned());
        rest
    };
    match args.get(1).and_then(|a| a.to_str()) {
        Some("compare") => return CompareCli::try_parse_from(sub("compare")).map(Command::Compare),
        Some("nightly") => return NightlyCli::try_parse_from(sub("nightly")).map(Command::Nightly),
        Some("report") => return ReportCli::try_parse_from(sub("report")).map(Command::Report),
        Some("merge") => return MergeCli::try_parse_from(sub("merge")).map(Command::Merge),
        Some("kube") => return kube(&args[2..]).map(Command::Kube),
        Some("replay") => {
            return ReplayCli::try_parse_from(sub("replay")).map(|c| Command::Replay(Box::new(c)));
        }
        _ => {}
    }
    Cli::try_parse_from(resp3_flag(args)).map(|c| Command::Bench(Box::new(c)))
}

/// `-3` (RESP3) reads as a negative number to clap, which is told to accept those (so `-n -1` is a
/// bad value, not an unknown flag): a `-3` standing where a flag may stand is spelled `--resp3`.
/// Not after a flag that takes a value, nor inside the custom command (after its first word).
fn resp3_flag(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = Vec::with_capacity(args.len());
    let mut flags = true;
    let mut value_next = false;
    for (i, a) in args.into_iter().enumerate() {
        let tok = a.to_str().unwrap_or("");
        if i == 0 || !flags {
            out.push(a);
            continue;
        }
        if value_next {
            value_next = false;
        } else if tok == "-3" {
            out.push("--resp3".into());
            continue;
        } else if tok == "--" || !tok.starts_with('-') {
            flags = false;
        } else {
            value_next = takes_value(&cmd, tok);
        }
        out.push(a);
    }
    out
}

/// Whether the flag `tok` (`-P`, `--pipeline`, a cluster such as `-qP`) of `cmd` takes its value
/// from the next argument.
fn takes_value(cmd: &clap::Command, tok: &str) -> bool {
    let valued = |a: &clap::Arg| a.get_action().takes_values() && !a.is_positional();
    if let Some(long) = tok.strip_prefix("--") {
        return !long.contains('=')
            && cmd
                .get_arguments()
                .any(|a| valued(a) && a.get_long() == Some(long));
    }
    let Some(shorts) = tok.strip_prefix('-') else {
        return false;
    };
    // In a cluster of short flags the first that takes a value takes the rest of the cluster, or
    // the next argument when it comes last.
    for (i, c) in shorts.char_indices() {
        match cmd.get_arguments().find(|a| a.get_short() == Some(c)) {
            Some(a) if valued(a) => return i + c.len_utf8() == shorts.len(),
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// Whether the run flag `tok` takes its value from the next argument (for code that walks run
/// flags, as `rbench kube` does to rewrite paths).
pub fn run_flag_takes_value(tok: &str) -> bool {
    use clap::CommandFactory;
    takes_value(&Cli::command(), tok)
}

/// `rbench kube [run flags] --workers N ...`: a Kubernetes Indexed Job running N shards of a run.
/// Only kube's own flags are declared here; every other argument is a run flag (see [`RunFlags`]).
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "rbench kube",
    disable_help_flag = true,
    override_usage = "rbench kube [RUN FLAGS] --workers N [OPTIONS] [COMMAND ARG...]",
    about = "Print a Kubernetes Indexed Job (YAML, on stdout) that runs one rbench run as N shards, \
             one pod each on different nodes where it can, all starting their load at one instant",
    after_help = "Every other flag is a run flag (rbench --help), given to each shard as it is: it must \
                  parse as an rbench run, and -n and --rps are the whole run's, split among the shards. \
                  Give kube's flags before a custom command.\n\
                  Each pod runs: rbench RUN FLAGS --shard $(JOB_COMPLETION_INDEX)/N --start-at T --run-id ID, \
                  then --out /results/ID/shard-I (with --results-pvc) or --no-save --json - (its JSON \
                  summary ends its log).\n\
                  Refused: -a/--pass and a password in -u (use --password-secret); --shard, --out, --json, \
                  --no-save (kube sets them); -l, -I (a Job must end); --scenario, --fault, --slo (one \
                  process must own them); -s, -x, --flush; -n or --rps below N; --cacert, --cert, --key, --cacertdir without \
                  --tls-secret (paths on this machine). -c PROFILE reads the profile in the image (its \
                  working dir has profiles/): a profile of your own must be built into the image.\n\n\
                  Example:\n  \
                  rbench kube -h redis.prod.svc -t set,get --duration 60s --clients 50 -P 16 \\\n    \
                  --workers 4 --password-secret redis-auth --results-pvc rbench-results > job.yaml\n  \
                  kubectl apply -f job.yaml\n\n\
                  Exit: 0 manifest printed, 2 bad input (one line on stderr, nothing on stdout)."
)]
pub struct KubeCli {
    /// Print help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Shards: the Job's pods, one per machine where the scheduler can
    #[arg(long = "workers", value_name = "N", value_parser = workers)]
    pub workers: u32,
    /// Container image with rbench as its entrypoint [default: rbench:VERSION]
    #[arg(long = "image", value_name = "IMG")]
    pub image: Option<String>,
    /// Namespace of the Job [default: kubectl's]
    #[arg(long = "namespace", value_name = "NS")]
    pub namespace: Option<String>,
    /// PersistentVolumeClaim mounted at /results, where each shard writes /results/ID/shard-I
    /// (ReadWriteMany when pods run on several nodes) [default: none: --no-save --json -]
    #[arg(long = "results-pvc", value_name = "NAME")]
    pub results_pvc: Option<String>,
    /// Secret holding the Redis password, given to rbench as REDISCLI_AUTH [KEY default: password]
    #[arg(long = "password-secret", value_name = "NAME[:KEY]")]
    pub password_secret: Option<String>,
    /// Secret mounted at /etc/rbench/tls: --cacert, --cert and --key then name its keys (their
    /// file names, as kubectl create secret generic --from-file names them)
    #[arg(long = "tls-secret", value_name = "NAME")]
    pub tls_secret: Option<String>,
    /// Start instant of the load (RFC 3339 or Unix seconds; in the future)
    #[arg(long = "start-at", value_name = "TIME", conflicts_with = "start_in")]
    pub start_at: Option<String>,
    /// Start this long from now (s, m, h), rounded up to a whole 10 seconds [default: 2m]
    #[arg(long = "start-in", value_name = "DURATION")]
    pub start_in: Option<String>,
    /// Run id of the shards' results [default: the start instant and the shard count,
    /// e.g. 20261204T090000Z-s4]
    #[arg(long = "run-id", value_name = "ID")]
    pub run_id: Option<String>,
    /// The run flags (everything else), parsed as `rbench` parses them.
    #[arg(skip)]
    pub run: RunFlags,
}

/// `rbench kube`'s run flags: as given, and as `rbench` reads them.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    /// The arguments, verbatim and in order.
    pub args: Vec<String>,
    /// How many of `args` are flags and their values; a custom command (or `--`) follows them.
    pub flags: usize,
    pub cli: Box<Cli>,
    /// `--out` was given (its default hides that in `cli`).
    pub out_given: bool,
}

/// `--workers N`: 1 to [`crate::shard::MAX_SHARDS`].
fn workers(s: &str) -> Result<u32, String> {
    let n: u32 = whole(s)?;
    if n == 0 || n > crate::shard::MAX_SHARDS {
        return Err(format!(
            "must be from 1 to {}, got `{s}`",
            crate::shard::MAX_SHARDS
        ));
    }
    Ok(n)
}

/// `rbench kube ARGS`: kube's own flags are taken out of ARGS (wherever they stand before a custom
/// command); the rest must parse as an `rbench` run.
fn kube(args: &[std::ffi::OsString]) -> Result<KubeCli, clap::Error> {
    let args = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                "arguments must be UTF-8 text\n",
            )
        })?;
    let (mine, run, flags) = split_kube(&args);
    let mut k = KubeCli::try_parse_from(std::iter::once("rbench kube".to_string()).chain(mine))?;
    k.run = run_flags(run, flags)?;
    Ok(k)
}

/// Kube's flags (with their values), the run's arguments, and how many of those are flags.
fn split_kube(args: &[String]) -> (Vec<String>, Vec<String>, usize) {
    use clap::CommandFactory;
    let (kube, run) = (KubeCli::command(), Cli::command());
    let is_kube = |tok: &str| {
        let name = tok
            .strip_prefix("--")
            .map(|t| t.split('=').next().unwrap_or(t));
        name.is_some_and(|n| kube.get_arguments().any(|a| a.get_long() == Some(n)))
    };
    let (mut mine, mut rest) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(tok) = it.next() {
        // A custom command's words (or what follows `--`) are never flags: they stay as given.
        if tok == "--" || tok == "-" || !tok.starts_with('-') {
            let flags = rest.len();
            rest.push(tok.clone());
            rest.extend(it.cloned());
            return (mine, rest, flags);
        }
        let (to, cmd) = if is_kube(tok) {
            (&mut mine, &kube)
        } else {
            (&mut rest, &run)
        };
        to.push(tok.clone());
        if takes_value(cmd, tok)
            && let Some(v) = it.next()
        {
            to.push(v.clone());
        }
    }
    let flags = rest.len();
    (mine, rest, flags)
}

fn run_flags(args: Vec<String>, flags: usize) -> Result<RunFlags, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut argv = vec![std::ffi::OsString::from("rbench")];
    argv.extend(args.iter().map(Into::into));
    let m = Cli::command().try_get_matches_from(resp3_flag(argv))?;
    let cli = Cli::from_arg_matches(&m)?;
    let out_given = m.value_source("out") == Some(clap::parser::ValueSource::CommandLine);
    Ok(RunFlags {
        args,
        flags,
        cli: Box::new(cli),
        out_given,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(args: &[&str]) -> Cli {
        let mut argv = vec!["rbench"];
        argv.extend_from_slice(args);
        match parse(argv) {
            Ok(Command::Bench(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn run_flags_parse() {
        let c = bench(&["-3", "-x", "-I", "-l", "--precision", "2", "--sequential"]);
        assert!(c.conn.resp3 && c.modes.stdin_arg && c.modes.idle && c.modes.loop_tests);
        assert!(c.load.sequential);
        assert_eq!(c.output.precision, Some(2));
        assert!(c.command.is_empty());
        let c = bench(&["--enable-tracking", "--resp3", "-t", "get"]);
        assert!(c.conn.enable_tracking && c.conn.resp3);
        // -3 inside the custom command, or as a flag's value, is not the flag.
        let c = bench(&["-n", "10", "INCRBY", "k", "-3"]);
        assert!(!c.conn.resp3);
        assert_eq!(c.command, ["INCRBY", "k", "-3"]);
        let c = bench(&["-3", "-P", "4", "SET", "k", "v"]);
        assert!(c.conn.resp3 && c.load.pipeline == Some(4));
        assert!(parse(["rbench", "-n", "-3"]).is_err());
        assert!(parse(["rbench", "--precision", "-1"]).is_err());
    }
}
