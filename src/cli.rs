//! Command-line flags. redis-benchmark's flags keep their meaning (DESIGN §2); `-h` is the host, so clap's
//! automatic `-h` help is replaced by `--help` only.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser};

/// The main benchmark command (`rbench [options] [COMMAND ARG...]`).
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "rbench",
    version,
    about = "A pipelined Redis (RESP) load generator in the style of redis-benchmark",
    disable_help_flag = true,
    // `-n -1` is a bad value for -n, not an unknown flag `-1`.
    allow_negative_numbers = true,
    after_help = "Subcommands:\n  rbench compare BASELINE.csv CANDIDATE.csv [--max-drop 5%] [--max-p99-rise 10%]\n  \
                  rbench nightly -c PROFILE [--out DIR] [--nights 5] [--accept] [--max-drop 5%] [--max-p99-rise 10%]\n\n\
                  Custom command: rbench [options] SET mykey:__rand_int__ __data__   (placeholders: __rand_int__, __data__)"
)]
pub struct Cli {
    /// Print help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Server hostname (a seed node with --cluster) [default: 127.0.0.1]
    #[arg(short = 'h', long = "host")]
    pub host: Option<String>,

    /// Server port [default: 6379]
    #[arg(short = 'p', long = "port", value_parser = whole::<u16>)]
    pub port: Option<u16>,

    /// Password for AUTH (default: the REDISCLI_AUTH environment variable)
    #[arg(short = 'a', long = "pass", hide_env_values = true)]
    pub password: Option<String>,

    /// Do not warn that -a on the command line is visible to other users (as redis-cli)
    #[arg(long = "no-auth-warning")]
    pub no_auth_warning: bool,

    /// ACL user name, sent with the password
    #[arg(long = "user")]
    pub user: Option<String>,

    /// Database number (SELECT)
    #[arg(long = "dbnum", value_parser = whole::<u32>)]
    pub dbnum: Option<u32>,

    /// Treat the server as a Redis Cluster seed node
    #[arg(long = "cluster")]
    pub cluster: bool,

    /// Send read commands (GET, LRANGE...) to replicas in cluster mode
    #[arg(long = "read-from-replicas")]
    pub read_from_replicas: bool,

    /// Comma-separated list of tests (set,get,lpush,lpop,xadd,...)
    #[arg(short = 't', long = "tests")]
    pub tests: Option<String>,

    /// Weighted mix in one run, e.g. set=3,get=7
    #[arg(long = "mix")]
    pub mix: Option<String>,

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
    pub duration: Option<String>,

    /// Run each test this long first, uncounted (warms the server's caches and tables), e.g. 1s
    #[arg(long = "warmup")]
    pub warmup: Option<String>,

    /// Pipeline depth: requests in flight per connection (per master in cluster mode)
    #[arg(short = 'P', long = "pipeline", value_parser = whole::<usize>)]
    pub pipeline: Option<usize>,

    /// Value size in bytes, or a range like 16-512
    #[arg(short = 'd', long = "data-size")]
    pub data_size: Option<String>,

    /// Key space: keys are drawn from 0..N
    #[arg(short = 'r', long = "keyspace", value_parser = whole::<u64>)]
    pub keyspace: Option<u64>,

    /// Key distribution over the key space: uniform, zipf[:S], seq
    #[arg(long = "key-dist")]
    pub key_dist: Option<String>,

    /// Open-loop target rate (requests per second across all clients)
    #[arg(long = "rps")]
    pub rps: Option<f64>,

    /// Bound streams: XADD ... MAXLEN ~ N
    #[arg(long = "stream-maxlen", value_parser = whole::<u64>)]
    pub stream_maxlen: Option<u64>,

    /// Bound lists: every LPUSH/RPUSH is followed by LTRIM to N elements
    #[arg(long = "list-maxlen", value_parser = whole::<u64>)]
    pub list_maxlen: Option<u64>,

    /// Seed for the key/value generators (reproducible runs)
    #[arg(long = "seed", value_parser = whole::<u64>)]
    pub seed: Option<u64>,

    /// Quiet: one line per test
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Print redis-benchmark's CSV format on stdout
    #[arg(long = "csv")]
    pub csv: bool,

    /// Also show latency measured from the actual send time (open loop)
    #[arg(long = "latency-uncorrected")]
    pub latency_uncorrected: bool,

    /// Write a JSON summary to FILE
    #[arg(long = "json")]
    pub json: Option<PathBuf>,

    /// Results folder (long CSV, timelines, tables)
    #[arg(long = "out", default_value = "results")]
    pub out: PathBuf,

    /// Do not write any results files
    #[arg(long = "no-save")]
    pub no_save: bool,

    /// Run each configuration N times (the table shows medians)
    #[arg(long = "repeat", value_parser = whole::<u32>)]
    pub repeat: Option<u32>,

    /// Fail the run (exit 3) when a test's failed requests exceed this share: a fraction or a
    /// percentage, e.g. 0.001 or 0.1% [default: 0]
    #[arg(long = "max-error-rate", allow_hyphen_values = true)]
    pub max_error_rate: Option<String>,

    /// FLUSHALL existing targets before each test
    #[arg(long = "flush")]
    pub flush: bool,

    /// Profile file (TOML) with targets and workload defaults
    #[arg(short = 'c', long = "config")]
    pub profile: Option<PathBuf>,

    /// Custom command to benchmark, e.g. SET foo:__rand_int__ __data__
    #[arg(trailing_var_arg = true, allow_hyphen_values = false)]
    pub command: Vec<String>,
}

/// `rbench compare BASELINE CANDIDATE`.
#[derive(Parser, Debug, Clone)]
#[command(name = "rbench compare", disable_help_flag = true)]
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
    after_help = "Exit: 0 pass (or first night, or --accept), 1 regression (or the run failed), 2 unusable input, 130 Ctrl-C.\n\
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
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// What the process was asked to do.
#[derive(Debug, Clone)]
pub enum Command {
    Bench(Box<Cli>),
    Compare(CompareCli),
    Nightly(NightlyCli),
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
        _ => {}
    }
    Cli::try_parse_from(args).map(|c| Command::Bench(Box::new(c)))
}
