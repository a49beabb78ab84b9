//! Precedence: a flag wins over the profile's `[defaults]` (or its target), which wins over the
//! built-in default. Each setting is planned with both, with the profile only, with the flag only,
//! and with neither; flag, profile and default values all differ so a wrong source shows.

use std::fmt::Debug;
use std::time::Duration;

use clap::Parser;

use super::*;

const TARGET: &str = "[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\n";

/// Plans `args` (and `profile`, written to a temporary file and given with `-c`), looking up
/// environment variables in `env`.
pub(super) fn plan_with(
    args: &[&str],
    profile: Option<&str>,
    env: &[(&str, &str)],
) -> Result<Plan, ConfigError> {
    // Tests run in parallel: every profile gets its own dir, removed once read.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("rbench-prec-{}-{n}", std::process::id()));
    let mut argv = vec!["rbench".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    if let Some(text) = profile {
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("p.toml");
        std::fs::write(&p, text).unwrap();
        argv.push("-c".into());
        argv.push(p.to_string_lossy().into_owned());
    }
    let lookup = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let plan = plan(&Cli::parse_from(argv), &lookup);
    let _ = std::fs::remove_dir_all(&dir);
    plan
}

/// Asserts `get` of the plan is `flag` with the flag (with and without the profile line `key`),
/// `prof` with the profile line only, and `default` with neither.
#[track_caller]
fn precedence<T: PartialEq + Debug>(
    args: &[&str],
    key: &str,
    get: impl Fn(&Plan) -> T,
    (flag, prof, default): (T, T, T),
) {
    let profile = format!("[defaults]\n{key}\n{TARGET}");
    let got = |a: &[&str], p: Option<&str>| get(&plan_with(a, p, &[]).unwrap());
    assert_eq!(got(args, Some(&profile)), flag, "{args:?} over `{key}`");
    assert_eq!(got(args, None), flag, "{args:?} alone");
    assert_eq!(got(&[], Some(&profile)), prof, "`{key}` alone");
    assert_eq!(got(&[], None), default, "neither {args:?} nor `{key}`");
}

#[test]
fn concurrency_flag_over_profile_over_default() {
    let w = |f: fn(&Workload) -> usize| move |p: &Plan| f(&p.workload);
    precedence(
        &["--clients", "7"],
        "clients = 9",
        w(|w| w.clients),
        (7, 9, DEFAULT_CLIENTS),
    );
    precedence(
        &["--threads", "3"],
        "threads = 2",
        w(|w| w.threads),
        (3, 2, default_threads(DEFAULT_CLIENTS)),
    );
    precedence(&["-P", "7"], "pipeline = 9", w(|w| w.pipeline), (7, 9, 1));
}

#[test]
fn amounts_flag_over_profile_over_default() {
    precedence(
        &["-n", "7"],
        "requests = 9",
        |p| p.workload.requests,
        (Some(7), Some(9), Some(DEFAULT_REQUESTS)),
    );
    let secs = |s| Some(Duration::from_secs(s));
    precedence(
        &["--duration", "2s"],
        "duration = \"3s\"",
        |p| p.workload.duration,
        (secs(2), secs(3), None),
    );
    precedence(
        &["--rps", "700"],
        "rps = 900",
        |p| {
            p.workload
                .rps
                .as_ref()
                .and_then(crate::workload::shape::Rate::fixed)
        },
        (Some(700.0), Some(900.0), None),
    );
    precedence(&["--repeat", "2"], "repeat = 3", |p| p.repeat, (2, 3, 1));
}

#[test]
fn keys_and_values_flag_over_profile_over_default() {
    let size = |s| DataSize::parse(s).unwrap();
    precedence(
        &["-d", "7"],
        "data_size = \"16-512\"",
        |p| p.workload.sizes.clone(),
        (size("7"), size("16-512"), DataSize::default()),
    );
    precedence(
        &["-r", "7"],
        "keyspace = 9",
        |p| p.workload.keyspace,
        (Some(7), Some(9), None),
    );
    precedence(
        &["--key-dist", "zipf:0.5"],
        "key_dist = \"seq\"",
        |p| p.workload.key_dist.clone(),
        (KeyDist::Zipf(0.5), KeyDist::Seq, KeyDist::Uniform),
    );
    precedence(
        &["--stream-maxlen", "7"],
        "stream_maxlen = 9",
        |p| p.workload.encode.stream_maxlen,
        (Some(7), Some(9), None),
    );
    precedence(
        &["--list-maxlen", "7"],
        "list_maxlen = 9",
        |p| p.workload.encode.list_maxlen,
        (Some(7), Some(9), None),
    );
}

#[test]
fn seed_flag_over_profile() {
    // Without either the seed comes from the clock: no fixed default to compare.
    let prof = format!("[defaults]\nseed = 9\n{TARGET}");
    let seed = |a: &[&str], p| plan_with(a, p, &[]).unwrap().workload.seed;
    assert_eq!(seed(&["--seed", "7"], Some(&prof)), 7);
    assert_eq!(seed(&["--seed", "7"], None), 7);
    assert_eq!(seed(&[], Some(&prof)), 9);
}

#[test]
fn output_flags_over_defaults() {
    // The profile has no output keys: it leaves them at their defaults.
    let prof = format!("[defaults]\nclients = 9\n{TARGET}");
    for (args, profile) in [(&[][..], None), (&[][..], Some(prof.as_str()))] {
        let o = plan_with(args, profile, &[]).unwrap().output;
        assert!(o.mode == OutputMode::Blocks && !o.pass_headers);
        assert!(!o.latency_uncorrected && o.json.is_none());
        assert_eq!(o.out_dir.as_deref(), Some(std::path::Path::new("results")));
        assert_eq!(o.precision, DEFAULT_PRECISION);
    }
    let flags = [
        "-q",
        "--csv",
        "--precision",
        "1",
        "--json",
        "-",
        "--out",
        "o",
    ];
    let o = plan_with(&flags, Some(&prof), &[]).unwrap().output;
    assert!(o.mode == OutputMode::Csv && o.pass_headers);
    assert_eq!(o.precision, 1);
    assert_eq!(o.json.as_deref(), Some(std::path::Path::new("-")));
    assert_eq!(o.out_dir.as_deref(), Some(std::path::Path::new("o")));
    let o = plan_with(&["--no-save"], Some(&prof), &[]).unwrap().output;
    assert_eq!(o.out_dir, None);
}

/// The first target's password, as planned.
fn password_of(args: &[&str], profile: Option<&str>, env: &[(&str, &str)]) -> Option<String> {
    plan_with(args, profile, env).unwrap().targets[0]
        .auth
        .password
        .clone()
}

#[test]
fn password_flag_over_environment() {
    let env = [("REDISCLI_AUTH", "from-env")];
    let got = |a: &[&str], e: &[(&str, &str)]| password_of(a, None, e);
    assert_eq!(
        got(&["-a", "from-flag"], &env).as_deref(),
        Some("from-flag")
    );
    assert_eq!(got(&[], &env).as_deref(), Some("from-env"));
    assert_eq!(got(&[], &[]), None);
    // An empty variable is no password; the URI's comes after both.
    assert_eq!(got(&[], &[("REDISCLI_AUTH", "")]), None);
    let uri = ["-u", "redis://:from-uri@127.0.0.1:6379"];
    assert_eq!(got(&uri, &env).as_deref(), Some("from-env"));
    assert_eq!(got(&uri, &[]).as_deref(), Some("from-uri"));
}

#[test]
fn password_flag_over_profile_variable() {
    let named = "[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\npassword_env = \"VAR\"\n";
    let env = [("VAR", "from-var"), ("REDISCLI_AUTH", "from-env")];
    let got = |a: &[&str], p, e: &[(&str, &str)]| password_of(a, Some(p), e);
    assert_eq!(got(&["-a", "flag"], named, &env).as_deref(), Some("flag"));
    // The profile's variable, and only it: REDISCLI_AUTH is not its stand-in.
    assert_eq!(got(&[], named, &env).as_deref(), Some("from-var"));
    assert_eq!(got(&[], named, &env[1..]), None);
    // A target that names no variable takes REDISCLI_AUTH, as the flags' target does.
    assert_eq!(got(&[], TARGET, &env).as_deref(), Some("from-env"));
    let p = plan_with(&["-a", "flag"], Some(named), &env).unwrap();
    assert_eq!(p.targets[0].auth.password_env, None, "no variable to name");
    let p = plan_with(&[], Some(named), &env).unwrap();
    assert_eq!(p.targets[0].auth.password_env.as_deref(), Some("VAR"));
}

#[test]
fn user_and_dbnum_flag_over_profile_target() {
    let prof = "[[target]]\nname = \"t\"\naddr = \"127.0.0.1:6379\"\nuser = \"pu\"\ndbnum = 2\n";
    let auth = |a: &[&str], p| plan_with(a, p, &[]).unwrap().targets[0].auth.clone();
    let a = auth(&["--user", "fu", "--dbnum", "3"], Some(prof));
    assert_eq!((a.user.as_deref(), a.dbnum), (Some("fu"), Some(3)));
    let a = auth(&[], Some(prof));
    assert_eq!((a.user.as_deref(), a.dbnum), (Some("pu"), Some(2)));
    let a = auth(&[], None);
    assert_eq!((a.user, a.dbnum), (None, None));
}

#[test]
fn a_zero_count_is_refused_as_written() {
    for key in [
        "clients",
        "pipeline",
        "repeat",
        "threads",
        "keyspace",
        "requests",
        "stream_maxlen",
        "list_maxlen",
        "producers",
    ] {
        let profile = format!("[defaults]\n\n{key} = 0\n{TARGET}");
        let e = plan_with(&[], Some(&profile), &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Profile(_)), "{key}: {e}");
        let e = e.to_string();
        assert!(
            e.ends_with(&format!("p.toml:3: {key} must be at least 1")),
            "{e}"
        );
    }
    for (flag, name) in [
        ("--clients", "--clients"),
        ("-P", "-P (pipeline)"),
        ("--repeat", "--repeat"),
        ("--threads", "--threads"),
        ("-r", "-r (keyspace)"),
        ("-n", "-n (requests)"),
        ("--stream-maxlen", "--stream-maxlen"),
    ] {
        let e = plan_with(&[flag, "0"], None, &[]).unwrap_err().to_string();
        assert_eq!(e, format!("{name} must be at least 1"));
    }
}

#[test]
fn a_bound_names_the_key_at_its_line_or_the_flag() {
    let profile = format!("[defaults]\npipeline = 200000\n{TARGET}");
    let e = plan_with(&[], Some(&profile), &[]).unwrap_err().to_string();
    assert!(
        e.ends_with("p.toml:2: pipeline must be at most 100000"),
        "{e}"
    );
    let e = plan_with(&["-P", "200000"], None, &[])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "-P (pipeline) must be at most 100000");
    // A flag overrides the profile's value before it is judged.
    assert!(plan_with(&["-P", "4"], Some(&profile), &[]).is_ok());
}

#[test]
fn a_profile_value_is_parsed_with_its_line_a_flag_without() {
    let profile = format!("[defaults]\n\nduration = \"forever\"\n{TARGET}");
    let e = plan_with(&[], Some(&profile), &[]).unwrap_err().to_string();
    assert!(e.contains("p.toml:3: "), "{e}");
    let flag = plan_with(&["--duration", "forever"], None, &[])
        .unwrap_err()
        .to_string();
    assert!(!flag.contains("p.toml"), "{flag}");
    assert!(e.ends_with(&flag), "{e} / {flag}");
}

/// The run's --ttl goes to the commands that write, with their follow-up rows, not to reads.
#[test]
fn the_runs_ttl_is_for_writes() {
    let args = [
        "--command",
        "r=GET __key__",
        "--command",
        "h=HSET h:__key__ f v",
        "--command",
        "s=SET __key__ v",
        "--ttl",
        "60s",
    ];
    let p = plan_with(&args, None, &[]).unwrap();
    let w = &p.workload;
    let lanes = crate::workload::lanes::Lanes::build(&w.phases[0], w, 100, false);
    assert_eq!(lanes.names(), ["r", "h", "s", "h:expire"]);
    let ttls: Vec<_> = lanes.lanes.iter().map(|l| l.draw.ttl).collect();
    assert_eq!(
        ttls,
        [
            None,
            Some((60_000, 60_000)),
            Some((60_000, 60_000)),
            Some((60_000, 60_000))
        ]
    );
    let e = plan_with(&["--command", "r=GET __key__", "--ttl", "1s"], None, &[]).unwrap_err();
    assert!(
        e.to_string().contains("read-only commands take none"),
        "{e}"
    );
}

/// Each row knows the commands the server counts it under (its server-side time comes from them).
#[test]
fn lanes_name_their_server_commands() {
    let args = [
        "--command",
        "tx=MULTI; incr c:__key__; EXEC",
        "--command",
        "h=HSET h:__key__ f v",
        "--mix",
        "set=1,mget=1,tx=1,h=1",
        "--ttl",
        "60s",
    ];
    let p = plan_with(&args, None, &[]).unwrap();
    let w = &p.workload;
    let lanes = crate::workload::lanes::Lanes::build(&w.phases[0], w, 100, false);
    let commands: Vec<_> = lanes.lanes.iter().map(|l| l.commands.join(",")).collect();
    assert_eq!(
        commands,
        [
            "set",
            "mget",
            "multi,incr,exec",
            "hset",
            "pexpire",
            "pexpire"
        ]
    );
    let p = plan_with(
        &["--server-stats", "off", "--set-latency-monitor", "5"],
        None,
        &[],
    )
    .unwrap();
    assert_eq!(p.observe.interval, None);
    assert_eq!(p.observe.latency_monitor, Some(5));
    let p = plan_with(&[], None, &[]).unwrap();
    assert_eq!(p.observe.interval, Some(std::time::Duration::from_secs(1)));
    let e = plan_with(&["--server-stats", "5ms"], None, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--server-stats 5ms: an interval from 100ms to 60s (e.g. 1s), or off"
    );
}
