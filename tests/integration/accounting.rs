//! What rbench makes a real server run, read back from the server itself (`INFO commandstats`,
//! `INFO stats`, the keys left behind): `-n N` means exactly N calls of each test's command, whatever
//! `-P`, `--clients` and `--threads`; nothing is sent that the user did not ask for but one CONFIG
//! GET; the LRANGE tests read full lists; `-r K` touches at most K keys of each kind.

use crate::support;

use std::collections::BTreeMap;

use support::*;

/// Commands the test itself or rbench's set-up may add: the test's CONFIG RESETSTAT and INFO,
/// and rbench's one CONFIG GET.
fn bookkeeping(name: &str) -> bool {
    name == "info" || name == "config" || name.starts_with("config|")
}

/// Resets the counters, runs rbench with `args`, and checks the server ran exactly `want`
/// (command → calls) and nothing else.
fn assert_runs_exactly(dep: &Deployment, args: &[&str], want: &[(&str, u64)]) {
    assert_eq!(cli(dep, &["CONFIG", "RESETSTAT"]), "OK");
    // The server sampler's INFO and CONFIG calls are its own (observe.rs counts them): off here,
    // where every command the server saw must be the load's or rbench's one set-up.
    let mut all = vec!["-q", "--no-save", "--server-stats", "off"];
    all.extend_from_slice(args);
    run_rbench(&args_for(dep, &all)).assert_ok();
    let mut got = command_calls(dep);
    got.retain(|name, _| !bookkeeping(name));
    let want: BTreeMap<String, u64> = want.iter().map(|(c, n)| (c.to_string(), *n)).collect();
    assert_eq!(got, want, "rbench {args:?}");
    // rbench's own set-up is one CONFIG GET (Redis 7 takes several names at once).
    let config_gets = command_calls(dep).get("config|get").copied();
    assert_eq!(config_gets, Some(1), "rbench {args:?}");
}

/// With no -t: redis-benchmark 7's suite, in its order, each command run exactly -n times (the
/// LRANGE fill is an LPUSH test of its own, the two PING tests are both PING).
#[test]
fn the_default_suite_runs_exactly_n_of_each_command() {
    let dep = spawn_standalone(&[]);
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    let res = run_rbench(&args_for(&dep, &["-q", "-n", "200", "--no-save"]));
    res.assert_ok();
    let names: Vec<String> = res
        .stdout
        .lines()
        .map(|l| parse_quiet_line(l).unwrap_or_else(|| panic!("{l}")).0)
        .collect();
    assert_eq!(names, DEFAULT_SUITE);
    let mut got = command_calls(&dep);
    got.retain(|name, _| !bookkeeping(name));
    let want: BTreeMap<String, u64> = [
        ("ping", 400),
        ("set", 200),
        ("get", 200),
        ("incr", 200),
        ("lpush", 400),
        ("rpush", 200),
        ("lpop", 200),
        ("rpop", 200),
        ("sadd", 200),
        ("hset", 200),
        ("spop", 200),
        ("zadd", 200),
        ("zpopmin", 200),
        ("lrange", 800),
        ("mset", 200),
        ("xadd", 200),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_string(), n))
    .collect();
    assert_eq!(got, want);
}

/// Pipelines, clients and threads that do not divide -n change nothing in what the server runs.
#[test]
fn exact_counts_with_any_pipeline_clients_and_threads() {
    let dep = spawn_standalone(&[]);
    for (p, clients, threads) in [("1", "1", "1"), ("16", "7", "2"), ("3", "50", "3")] {
        let knobs = ["-P", p, "--clients", clients, "--threads", threads];
        let mut args = vec!["-n", "1001", "-r", "100", "-t", "set,get,incr,mset,ping"];
        args.extend_from_slice(&knobs);
        let want = [
            ("set", 1001),
            ("get", 1001),
            ("incr", 1001),
            ("mset", 1001),
            ("ping", 2002),
        ];
        assert_runs_exactly(&dep, &args, &want);
        // LPUSH asked for and the LRANGE fill: two LPUSH tests, as redis-benchmark runs them.
        let mut args = vec!["-n", "333", "-t", "lpush,lrange_100,lpop"];
        args.extend_from_slice(&knobs);
        let want = [("lpush", 666), ("lrange", 333), ("lpop", 333)];
        assert_runs_exactly(&dep, &args, &want);
    }
}

/// `-t lrange` is the four LRANGE tests after one fill; every read returns the elements its test
/// names (600 for LRANGE_600), checked by the bytes the server sent and the lists it holds.
#[test]
fn lrange_tests_read_full_lists() {
    let dep = spawn_standalone(&[]);
    let n: u64 = 2000;
    let keyspace = 50;
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    // No sampler: its INFO replies would be bytes the server sent too.
    let args = [
        "-q",
        "--no-save",
        "--server-stats",
        "off",
        "-t",
        "lrange_600",
        "-n",
        "2000",
        "-r",
        "50",
        "--clients",
        "5",
        "--threads",
        "2",
    ];
    let res = run_rbench(&args_for(&dep, &args));
    res.assert_ok();
    let names: Vec<String> = res
        .stdout
        .lines()
        .filter_map(|l| parse_quiet_line(l).map(|q| q.0))
        .collect();
    assert_eq!(names, ["LPUSH (needed to benchmark LRANGE)", "LRANGE_600"]);
    // Each LRANGE reply is `*600` and 600 × `$3 xxx`: 5406 bytes. What else the server sent (the
    // fill's `:N` replies, CONFIG GET's, RESETSTAT's +OK) is far below one more element per read.
    let sent: u64 = node_info_field(&dep, 0, "stats", "total_net_output_bytes")
        .parse()
        .expect("a byte count");
    let reply = 6 + 600 * 9;
    assert!(sent >= n * reply, "{sent} bytes for {n} LRANGE_600");
    assert!(sent < n * (reply + 9), "{sent} bytes for {n} LRANGE_600");
    // The lists: within -r, each holding at least 600.
    let lists = count_keys(&dep, "mylist:*");
    assert!((1..=keyspace).contains(&lists), "{lists} lists");
    let shortest = cli_int(
        &dep,
        &[
            "EVAL",
            "local m = -1 for _, k in ipairs(redis.call('KEYS', 'mylist:*')) do \
             local l = redis.call('LLEN', k) if m < 0 or l < m then m = l end end return m",
            "0",
        ],
    );
    assert!(shortest >= 600, "shortest list {shortest}");
    assert_eq!(sum_over_keys(&dep, "mylist:*", "LLEN"), n as i64);

    // `-t lrange`: one fill, then the four tests, reading 100, 300, 450 and 600 elements.
    assert_runs_exactly(
        &dep,
        &["-t", "lrange", "-n", "1000", "-r", "3"],
        &[("lpush", 1000), ("lrange", 4000)],
    );
}

/// `-r K`: every test of the suite, MSET's ten keys included, touches at most K keys of its kind;
/// SET, GET and MSET share theirs, as in redis-benchmark.
#[test]
fn keyspace_bounds_the_keys_every_test_touches() {
    let dep = spawn_standalone(&[]);
    let k = 7;
    run_rbench(&args_for(
        &dep,
        &["-q", "--no-save", "-n", "700", "-r", "7"],
    ))
    .assert_ok();
    // (SPOP and ZPOPMIN may have emptied their keys: at most K, maybe none.)
    for prefix in [
        "key", "counter", "mylist", "myset", "myhash", "myzset", "mystream",
    ] {
        let keys = count_keys(&dep, &format!("{prefix}:*"));
        assert!(keys <= k, "{keys} {prefix} keys for -r {k}");
    }
    assert!(count_keys(&dep, "key:*") >= 1);
    assert!(cli_int(&dep, &["DBSIZE"]) <= 7 * k);
    // MSET alone, on 13 keys: its groups of ten stop at the key space's end.
    cli(&dep, &["FLUSHALL"]);
    run_rbench(&args_for(
        &dep,
        &["-q", "--no-save", "-t", "mset", "-n", "500", "-r", "13"],
    ))
    .assert_ok();
    let keys = cli(&dep, &["KEYS", "*"]);
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort();
    let want: Vec<String> = (0..13).map(|i| format!("key:{i:012}")).collect();
    assert_eq!(keys, want);
}
