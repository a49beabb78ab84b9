//! End-to-end tests of the core client against real redis-server processes, driving the rbench binary:
//! every test name, output formats, pipelining and threads, auth, errors, results files.

use crate::support;

use support::*;

fn contains_all(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "missing {n:?} in:\n{haystack}");
    }
}

#[test]
fn every_test_prints_a_quiet_line_and_counts_no_errors() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("all-tests");
    let n = 2000;
    let res = run_rbench(&args_for(
        &dep,
        &["-q", "-n", &n.to_string(), "-r", "10", "--out", &out.arg()],
    ));
    res.assert_ok();
    let lines: Vec<&str> = res.stdout.lines().collect();
    assert_eq!(lines.len(), DEFAULT_SUITE.len(), "stdout:\n{}", res.stdout);
    for (line, want) in lines.iter().zip(DEFAULT_SUITE) {
        let (name, rps, p50) =
            parse_quiet_line(line).unwrap_or_else(|| panic!("bad -q line {line:?}"));
        assert_eq!(name, want);
        assert!(rps > 0.0, "{line}");
        assert!(p50 > 0.0, "{line}");
    }
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), DEFAULT_SUITE.len(), "{}", csv.text);
    for test in DEFAULT_SUITE {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "requests"), n as f64, "{test}");
        assert_eq!(csv.num(row, "ok"), n as f64, "{test}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{test}");
        assert_eq!(csv.get(row, "error_classes"), "", "{test}");
        assert!(csv.num(row, "rps") > 0.0, "{test}");
    }
    // What the writers left behind (the pops ran after the pushes; XADD ran last).
    assert_eq!(sum_over_keys(&dep, "counter:*", "GET"), n);
    assert_eq!(sum_over_keys(&dep, "mystream:*", "XLEN"), n);
    assert!(count_keys(&dep, "key:*") > 0);
}

#[test]
fn writes_are_visible_in_the_server() {
    let dep = spawn_standalone(&[]);
    let n: i64 = 1000;
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "set,incr,lpush,rpush,xadd,sadd,hset,zadd",
            "-n",
            &n.to_string(),
            "-r",
            "5",
            "-d",
            "7",
            "--no-save",
        ],
    ));
    res.assert_ok();
    assert_eq!(res.stdout.lines().count(), 8, "{}", res.stdout);

    // SET: at most 5 keys, each holding the 7-byte 'x' payload.
    let keys = count_keys(&dep, "key:*");
    assert!((1..=5).contains(&keys), "{keys} SET keys");
    assert_eq!(cli(&dep, &["GET", "key:000000000000"]), "xxxxxxx");
    assert_eq!(cli_int(&dep, &["STRLEN", "key:000000000004"]), 7);
    // INCR: every increment landed exactly once.
    assert_eq!(sum_over_keys(&dep, "counter:*", "GET"), n);
    // LPUSH and RPUSH share the mylist: keys; each push adds one element.
    assert_eq!(sum_over_keys(&dep, "mylist:*", "LLEN"), 2 * n);
    assert!(count_keys(&dep, "mylist:*") <= 5);
    // XADD appends one entry per request.
    assert_eq!(sum_over_keys(&dep, "mystream:*", "XLEN"), n);
    // SADD / HSET / ZADD create members (members are drawn from the key space, so at most 5 each).
    for (pattern, card) in [
        ("myset:*", "SCARD"),
        ("myhash:*", "HLEN"),
        ("myzset:*", "ZCARD"),
    ] {
        let members = sum_over_keys(&dep, pattern, card);
        assert!(
            (1..=25).contains(&members),
            "{pattern}: {members} members via {card}"
        );
    }
    assert_eq!(
        cli(
            &dep,
            &["HGET", "myhash:000000000000", "element:000000000000"]
        )
        .len(),
        7
    );
}

#[test]
fn csv_output_is_redis_benchmark_compatible() {
    let dep = spawn_standalone(&[]);
    let res = run_rbench(&args_for(
        &dep,
        &["--csv", "-t", "set,get,lrange", "-n", "1000", "--no-save"],
    ));
    res.assert_ok();
    let lines: Vec<&str> = res.stdout.lines().collect();
    assert_eq!(
        lines[0],
        r#""test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms""#
    );
    // `lrange` is redis-benchmark's four LRANGE tests, after the LPUSH that fills their lists.
    let want = [
        "SET",
        "GET",
        "LPUSH (needed to benchmark LRANGE)",
        "LRANGE_100",
        "LRANGE_300",
        "LRANGE_500",
        "LRANGE_600",
    ];
    assert_eq!(lines.len(), 1 + want.len(), "{}", res.stdout);
    for (line, want) in lines[1..].iter().zip(want) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 8, "{line}");
        for c in &cells {
            assert!(
                c.len() >= 2 && c.starts_with('"') && c.ends_with('"'),
                "unquoted cell {c} in {line}"
            );
        }
        let v: Vec<&str> = cells.iter().map(|c| &c[1..c.len() - 1]).collect();
        assert_eq!(v[0], want);
        assert!(is_fixed_decimal(v[1], 2), "rps {} in {line}", v[1]);
        for x in &v[2..] {
            assert!(is_fixed_decimal(x, 3), "latency {x} in {line}");
        }
        let nums: Vec<f64> = v[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(nums[0] > 0.0, "{line}");
        // min <= p50 <= p95 <= p99 <= max
        assert!(
            nums[2] <= nums[3] && nums[3] <= nums[4] && nums[4] <= nums[5] && nums[5] <= nums[6],
            "{line}"
        );
    }
}

/// `-q --csv` over several passes: stdout is one CSV a reader takes whole (redis-benchmark's header
/// once, then every pass's rows), and which pass a row is of goes to stderr; `-q` text keeps its
/// pass headers on stdout.
#[test]
fn csv_over_several_passes_is_one_table() {
    let dep = spawn_standalone(&[]);
    let target = format!("127.0.0.1:{}", dep.addr().port());
    let flags = ["-t", "set,get", "-n", "500", "--repeat", "2", "--no-save"];
    let res = run_rbench(&args_for(&dep, &[&["-q", "--csv"][..], &flags].concat()));
    res.assert_ok();
    let mut reader = csv::ReaderBuilder::new().from_reader(res.stdout.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        [
            "test",
            "rps",
            "avg_latency_ms",
            "min_latency_ms",
            "p50_latency_ms",
            "p95_latency_ms",
            "p99_latency_ms",
            "max_latency_ms"
        ]
    );
    // A record of another width (a `[target, repeat i/n]` line) is an error for a strict reader.
    let tests: Vec<String> = reader
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}:\n{}", res.stdout))[0].to_string())
        .collect();
    assert_eq!(tests, ["SET", "GET", "SET", "GET"], "{}", res.stdout);
    let passes: Vec<&str> = res
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with('['))
        .collect();
    assert_eq!(
        passes,
        [
            format!("[{target}, repeat 1/2]"),
            format!("[{target}, repeat 2/2]")
        ],
        "{}",
        res.stderr
    );
    // -q text: the headers stay on stdout, each before its pass's lines.
    let res = run_rbench(&args_for(&dep, &[&["-q"][..], &flags].concat()));
    res.assert_ok();
    let lines: Vec<&str> = res.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", res.stdout);
    assert_eq!(lines[0], format!("[{target}, repeat 1/2]"));
    assert_eq!(lines[3], format!("[{target}, repeat 2/2]"));
    for i in [1, 2, 4, 5] {
        assert!(parse_quiet_line(lines[i]).is_some(), "{}", res.stdout);
    }
}

#[test]
fn default_output_has_the_block_and_the_table() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("default-out");
    let port = dep.addr().port();
    let res = run_rbench(&args_for(
        &dep,
        &["-t", "set,get", "-n", "1000", "--out", &out.arg()],
    ));
    res.assert_ok();
    let target = format!("127.0.0.1:{port}");
    contains_all(
        &res.stdout,
        &[
            &format!("====== SET on {target} ======"),
            &format!("====== GET on {target} ======"),
            "1000 requests completed in",
            "50 parallel clients",
            "throughput summary:",
            "requests per second",
            "latency summary (msec):",
            "p50",
            "p99",
            "errors: none",
            &format!("| test | {target} TPS | p50 ms |"),
            "| SET  |",
            "| GET  |",
            "runs.csv",
        ],
    );
}

#[test]
fn pipelining_and_threads_complete_exactly_n() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("pipeline");
    let cases: [&[&str]; 3] = [
        &["-P", "16", "-n", "10007", "-t", "set"],
        &["--threads", "2", "-n", "5003", "-t", "get"],
        &[
            "-P",
            "16",
            "--threads",
            "2",
            "--clients",
            "7",
            "-n",
            "9999",
            "-t",
            "incr",
        ],
    ];
    for case in cases {
        let mut args: Vec<&str> = case.to_vec();
        args.extend(["-q", "--out", out.path().to_str().unwrap()]);
        run_rbench(&args_for(&dep, &args)).assert_ok();
    }
    let csv = results_csv(out.path());
    for (test, n, pipeline, clients, threads) in [
        ("SET", 10007, 16, 50, None),
        ("GET", 5003, 1, 50, Some(2)),
        ("INCR", 9999, 16, 7, Some(2)),
    ] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.num(row, "requests"), n as f64, "{test}");
        assert_eq!(csv.num(row, "ok"), n as f64, "{test}");
        assert_eq!(csv.num(row, "errors"), 0.0, "{test}");
        assert_eq!(csv.num(row, "pipeline"), pipeline as f64, "{test}");
        assert_eq!(csv.num(row, "clients"), clients as f64, "{test}");
        if let Some(t) = threads {
            assert_eq!(csv.num(row, "threads"), t as f64, "{test}");
        }
    }
    // Pipelined INCRs all landed once.
    assert_eq!(sum_over_keys(&dep, "counter:*", "GET"), 9999);
}

#[test]
fn password_auth_flag_env_and_user() {
    let dep = spawn_standalone(&["--requirepass", "secret"]);
    let out = TempDir::new("auth");
    let base = |extra: &[&str]| {
        let mut v = vec!["-q", "-t", "set", "-n", "500"];
        v.extend_from_slice(extra);
        args_for(&dep, &v)
    };
    let outdir = out.arg();

    // -a, with redis-cli's warning that it shows in ps
    let res = run_rbench(&base(&["-a", "secret", "--out", &outdir]));
    res.assert_ok();
    assert!(
        res.stderr
            .contains("warning: a password given with -a is visible"),
        "{}",
        res.stderr
    );
    assert!(
        parse_quiet_line(res.stdout.trim()).is_some(),
        "{}",
        res.stdout
    );
    // REDISCLI_AUTH
    let res = run_rbench_env(
        &base(&["--out", &outdir]),
        &[("REDISCLI_AUTH", "secret")],
        RUN_TIMEOUT,
    );
    res.assert_ok();
    assert!(
        parse_quiet_line(res.stdout.trim()).is_some(),
        "{}",
        res.stdout
    );
    // --user default -a
    let res = run_rbench(&base(&[
        "--user",
        "default",
        "-a",
        "secret",
        "--no-auth-warning",
        "--out",
        &outdir,
    ]));
    res.assert_ok();
    assert_eq!(res.stderr, "", "--no-auth-warning silences the warning");
    assert!(
        parse_quiet_line(res.stdout.trim()).is_some(),
        "{}",
        res.stdout
    );
    assert!(!res.stdout.contains("secret") && !res.stderr.contains("secret"));
    // The password never reaches the results files.
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), 3);
    for row in &csv.rows {
        assert_eq!(csv.num(row, "ok"), 500.0);
    }
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(!text.contains("secret"), "password in {}", p.display());
        }
    }
    assert_eq!(
        cli_auth(&dep, "secret", &["GET", "key:000000000000"]),
        "xxx"
    );
}

#[test]
fn wrong_or_missing_password_fails_cleanly() {
    let dep = spawn_standalone(&["--requirepass", "secret"]);
    // Wrong password, from the flag and from the environment.
    for (args, env) in [
        (vec!["-a", "wrong-pw-4711", "--no-auth-warning"], vec![]),
        (vec![], vec![("REDISCLI_AUTH", "wrong-pw-4711")]),
    ] {
        let mut a = vec!["-q", "-t", "set", "-n", "100", "--no-save"];
        a.extend(args);
        let res = run_rbench_env(&args_for(&dep, &a), &env, RUN_TIMEOUT);
        res.assert_no_panic();
        assert_ne!(res.code, 0, "{res:?}");
        assert_eq!(res.stderr_lines().len(), 1, "stderr: {}", res.stderr);
        for s in [&res.stdout, &res.stderr] {
            assert!(!s.contains("wrong-pw-4711"), "password echoed: {s}");
            assert!(!s.contains("secret"), "password echoed: {s}");
        }
        let msg = res.stderr.to_lowercase();
        assert!(
            msg.contains("auth") || msg.contains("wrongpass"),
            "unclear: {}",
            res.stderr
        );
    }
    // No password at all.
    let res = run_rbench(&args_for(
        &dep,
        &["-q", "-t", "set", "-n", "100", "--no-save"],
    ));
    res.assert_no_panic();
    assert_ne!(res.code, 0);
    assert_eq!(res.stderr_lines().len(), 1, "stderr: {}", res.stderr);
    assert!(res.stderr.contains("NOAUTH"), "{}", res.stderr);
    assert!(res.stderr.contains("-a") || res.stderr.contains("REDISCLI_AUTH"));
    // Nothing was written.
    assert_eq!(cli_auth(&dep, "secret", &["DBSIZE"]), "0");
}

#[test]
fn acl_users() {
    let dep = spawn_standalone(&[]);
    assert_eq!(
        cli(
            &dep,
            &["ACL", "SETUSER", "bench", "on", ">benchpw", "~*", "+@all"]
        ),
        "OK"
    );
    // A user allowed GET only (not even PING, CONFIG or INFO): its GETs run, its SETs are
    // refused with NOPERM, counted as errors, and fail the run (exit 3) in the server's words.
    assert_eq!(
        cli(
            &dep,
            &["ACL", "SETUSER", "reader", "on", ">readpw", "~*", "+get"]
        ),
        "OK"
    );
    let out = TempDir::new("acl");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "--user",
            "bench",
            "-a",
            "benchpw",
            "-t",
            "set",
            "-n",
            "300",
            "-r",
            "3",
            "--out",
            &out.arg(),
        ],
    ));
    res.assert_ok();
    assert!(
        parse_quiet_line(res.stdout.trim()).is_some(),
        "{}",
        res.stdout
    );
    assert!(count_keys(&dep, "key:*") >= 1);

    let res = run_rbench(&args_for(
        &dep,
        &[
            "--user",
            "reader",
            "-a",
            "readpw",
            "--no-auth-warning",
            "-t",
            "get,set",
            "-n",
            "200",
            "--out",
            &out.arg(),
        ],
    ));
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    assert!(res.stdout.contains("noperm=200"), "{}", res.stdout);
    assert!(
        res.stdout.contains("persistence: unknown"),
        "{}",
        res.stdout
    );
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("SET on") && lines[0].contains("noperm=200: NOPERM"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("GET on"), "{}", lines[0]);
    let csv = results_csv(out.path());
    let get = &csv.rows[csv.rows.len() - 2];
    assert_eq!(csv.num(get, "ok"), 200.0);
    let last = csv.rows.last().unwrap();
    assert_eq!(csv.num(last, "ok"), 0.0);
    assert_eq!(csv.num(last, "errors"), 200.0);

    // A wrong password for an ACL user fails before the run.
    let res = run_rbench(&args_for(
        &dep,
        &[
            "--user",
            "bench",
            "-a",
            "nope-pw",
            "--no-auth-warning",
            "-t",
            "set",
            "-n",
            "10",
            "--no-save",
        ],
    ));
    res.assert_no_panic();
    assert_ne!(res.code, 0);
    assert_eq!(res.stderr_lines().len(), 1, "{}", res.stderr);
    assert!(!res.stderr.contains("nope-pw"));
}

#[test]
fn refused_port_is_a_one_line_error() {
    let port = free_port();
    let res = run_rbench(&[
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-n",
        "100",
        "-t",
        "set",
        "--no-save",
    ]);
    assert_eq!(res.code, 1, "{res:?}");
    assert!(!res.stderr.contains("panicked"), "{}", res.stderr);
    res.assert_no_panic();
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "stderr: {}", res.stderr);
    assert!(lines[0].contains(&port.to_string()), "{}", lines[0]);
    assert!(lines[0].to_lowercase().contains("refused"), "{}", lines[0]);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let port = free_port().to_string();
    let unknown = run_rbench(&["-p", &port, "-t", "nope", "--no-save"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert_eq!(unknown.stderr_lines().len(), 1, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    unknown.assert_no_panic();

    let cases: [&[&str]; 12] = [
        &["-n", "abc"],
        // Negative numbers are bad values for their flag, not unknown flags `-1`.
        &["-n", "-1"],
        &["--rps", "-5"],
        &["--clients", "-3"],
        &["--max-error-rate", "2"],
        &["-P", "0"],
        &["--clients", "0"],
        &["-d", "5-1"],
        &["--rps", "0"],
        &["--mix", "set=0"],
        &["--key-dist", "gauss"],
        &["--duration", "0s"],
    ];
    for case in cases {
        let mut args = vec!["-p", &port, "--no-save"];
        args.extend_from_slice(case);
        let res = run_rbench(&args);
        res.assert_no_panic();
        assert_eq!(res.code, 2, "{case:?}: {res:?}");
        assert_eq!(
            res.stderr_lines().len(),
            1,
            "{case:?}: stderr:\n{}",
            res.stderr
        );
        assert!(res.stdout.trim().is_empty(), "{case:?}: {}", res.stdout);
        // The message names what was wrong.
        let named = case[0].trim_start_matches('-');
        let value = case[1];
        assert!(
            res.stderr.contains(named) || res.stderr.contains(value),
            "{case:?}: {}",
            res.stderr
        );
        assert!(
            !res.stderr.contains("unexpected argument"),
            "{}",
            res.stderr
        );
    }
}

/// A host that does not resolve is a runtime failure (exit 1, as README says), not bad input.
#[test]
fn unresolvable_host_exits_1() {
    let res = run_rbench(&["-h", "no-such-host.invalid", "-n", "10", "--no-save"]);
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    assert_eq!(res.stderr_lines().len(), 1, "{}", res.stderr);
    assert!(
        res.stderr.contains("no-such-host.invalid"),
        "{}",
        res.stderr
    );
}

/// A server over its maxclients accepts rbench's connections, answers with its refusal and closes.
/// rbench sends no set-up PING (it would show in the server's command counts): the refusal comes as
/// the first reply on a connection opened at set-up, and fails the run just the same (exit 1) with
/// the server's words, instead of counting lost connections.
#[test]
fn maxclients_refusal_fails_at_setup_with_the_servers_words() {
    let dep = spawn_standalone(&["--maxclients", "5"]);
    let res = run_rbench(&args_for(
        &dep,
        &["-t", "get", "-n", "1000", "--clients", "20", "--no-save"],
    ));
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("refused the connection: ERR max number of clients reached"),
        "{}",
        lines[0]
    );
    assert!(res.stdout.is_empty(), "{}", res.stdout);
    // Within the limit, the same server runs.
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-t",
            "get",
            "-n",
            "1000",
            "--clients",
            "3",
            "--no-save",
            "-q",
        ],
    ));
    res.assert_ok();
}

#[test]
fn results_files_append_and_have_every_column() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("results");
    run_rbench(&args_for(
        &dep,
        &["-q", "-t", "set,get", "-n", "1000", "--out", &out.arg()],
    ))
    .assert_ok();
    let first = results_csv(out.path());
    assert_eq!(first.rows.len(), 2);
    run_rbench(&args_for(
        &dep,
        &["-q", "-t", "incr", "-n", "1000", "--out", &out.arg()],
    ))
    .assert_ok();
    let csv = results_csv(out.path());

    // Header once, then whole rows: 2 from the first run, 1 appended by the second.
    let header_line = csv.text.lines().next().unwrap();
    assert_eq!(
        csv.text.lines().filter(|l| *l == header_line).count(),
        1,
        "{}",
        csv.text
    );
    assert_eq!(csv.rows.len(), 3, "{}", csv.text);
    assert_eq!(&csv.header[..26], &LONG_CSV_COLUMNS[..], "{:?}", csv.header);
    let tests: Vec<&str> = csv.rows.iter().map(|r| csv.get(r, "test")).collect();
    assert_eq!(tests, ["SET", "GET", "INCR"]);
    let run_ids: Vec<&str> = csv.rows.iter().map(|r| csv.get(r, "run_id")).collect();
    assert_eq!(run_ids[0], run_ids[1]);
    assert_ne!(run_ids[0], run_ids[2], "each invocation has its own run_id");

    let numeric = [
        "clients",
        "pipeline",
        "data_size",
        "keyspace",
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
    for row in &csv.rows {
        for c in numeric {
            let v = csv.num(row, c);
            assert!(v.is_finite() && v >= 0.0, "{c}={v}");
        }
        assert_eq!(csv.num(row, "requests"), 1000.0);
        assert_eq!(csv.num(row, "ok"), 1000.0);
        assert!(csv.num(row, "rps") > 0.0);
        assert!(csv.num(row, "p50_ms") <= csv.num(row, "p99_ms"));
        assert!(csv.num(row, "p99_ms") <= csv.num(row, "max_ms"));
        assert_eq!(csv.get(row, "deployment"), "standalone");
        assert_eq!(
            csv.get(row, "target"),
            format!("127.0.0.1:{}", dep.addr().port())
        );
        assert!(csv.get(row, "timestamp").ends_with('Z'));
        assert_eq!(csv.get(row, "target_rps"), "");
        assert_eq!(csv.get(row, "interrupted"), "false");
    }

    for run_id in [run_ids[0], run_ids[2]] {
        let timeline = timeline_of(out.path(), run_id);
        assert_eq!(
            timeline.text.lines().next().unwrap(),
            "elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s,repeat,client_cpu,client_lag_ms"
        );
        assert!(!timeline.rows.is_empty(), "{}", timeline.text);
        // A test of 1000 requests lasts a fraction of a second: its one row says how much.
        for row in &timeline.rows {
            let span = timeline.num(row, "span_s");
            assert!(span > 0.0 && span < 1.0, "span_s {span}: {}", timeline.text);
        }
        let table = std::fs::read_to_string(out.join(&format!("table-{run_id}.md")))
            .expect("table-<run_id>.md");
        assert!(table.starts_with("| test "), "{table}");
    }
    // The first run's timeline holds both of its tests, with every request counted.
    let timeline = timeline_of(out.path(), run_ids[0]);
    for test in ["SET", "GET"] {
        let ok: f64 = timeline
            .rows_for_test(test)
            .iter()
            .map(|r| timeline.num(r, "ok"))
            .sum();
        assert_eq!(ok, 1000.0, "{test}: {}", timeline.text);
    }
}

#[test]
fn server_errors_are_errors_not_successes() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("wrongtype");
    assert_eq!(cli(&dep, &["SET", "mylist:000000000000", "x"]), "OK");
    let res = run_rbench(&args_for(
        &dep,
        &["-t", "lpush", "-r", "1", "-n", "500", "--out", &out.arg()],
    ));
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    assert!(res.stdout.contains("wrongtype=500"), "{}", res.stdout);
    assert!(
        res.stdout.contains(
            "wrongtype: WRONGTYPE Operation against a key holding the wrong kind of value"
        ),
        "{}",
        res.stdout
    );
    assert!(!res.stdout.contains("errors: none"), "{}", res.stdout);
    let csv = results_csv(out.path());
    let row = csv.row_for_test("LPUSH");
    assert_eq!(csv.num(row, "ok"), 0.0);
    assert_eq!(csv.num(row, "errors"), 500.0);
    assert_eq!(csv.num(row, "rps"), 0.0);
    assert_eq!(csv.get(row, "error_classes"), "wrongtype=500");
    // The timeline gets a column for the class, and counts every failure in some second.
    let run_id = csv.get(row, "run_id");
    let timeline = timeline_of(out.path(), run_id);
    assert_eq!(
        timeline.text.lines().next().unwrap(),
        "elapsed_s,target,test,ok,errors,p50_ms,p99_ms,max_ms,span_s,wrongtype,repeat,client_cpu,client_lag_ms"
    );
    let (ok, errors, wrongtype) = timeline.rows.iter().fold((0.0, 0.0, 0.0), |a, r| {
        (
            a.0 + timeline.num(r, "ok"),
            a.1 + timeline.num(r, "errors"),
            a.2 + timeline.num(r, "wrongtype"),
        )
    });
    assert_eq!(
        (ok, errors, wrongtype),
        (0.0, 500.0, 500.0),
        "{}",
        timeline.text
    );
    // The string is untouched.
    assert_eq!(cli(&dep, &["GET", "mylist:000000000000"]), "x");
}

#[test]
fn custom_commands() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("custom");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-n",
            "1000",
            "-r",
            "50",
            "-d",
            "5",
            "--out",
            &out.arg(),
            "SET",
            "foo:__rand_int__",
            "__data__",
        ],
    ));
    res.assert_ok();
    let (name, rps, _) = parse_quiet_line(res.stdout.trim())
        .unwrap_or_else(|| panic!("bad -q line {:?}", res.stdout));
    assert_eq!(name, "SET foo:__rand_int__ __data__");
    assert!(rps > 0.0);
    let keys = count_keys(&dep, "foo:*");
    assert!((2..=50).contains(&keys), "{keys} foo: keys");
    assert_eq!(cli_int(&dep, &["DBSIZE"]), keys);
    let any = cli(&dep, &["RANDOMKEY"]);
    assert!(any.starts_with("foo:") && any.len() == 4 + 12, "{any}");
    assert_eq!(cli(&dep, &["GET", &any]), "xxxxx");

    let res = run_rbench(&args_for(
        &dep,
        &["-n", "10", "--out", &out.arg(), "NOSUCHCMD"],
    ));
    res.assert_no_panic();
    assert_eq!(res.code, 3, "{res:?}");
    assert!(
        res.stderr.contains("ERR unknown command 'NOSUCHCMD'"),
        "{}",
        res.stderr
    );
    assert!(res.stdout.contains("10 failed requests"), "{}", res.stdout);
    let csv = results_csv(out.path());
    let row = csv.row_for_test("NOSUCHCMD");
    assert_eq!(csv.num(row, "ok"), 0.0);
    assert_eq!(csv.num(row, "errors"), 10.0);
    assert_eq!(csv.get(row, "error_classes"), "err=10");
}

#[test]
fn dbnum_selects_the_database() {
    let dep = spawn_standalone(&[]);
    run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "--dbnum",
            "3",
            "-t",
            "set",
            "-n",
            "500",
            "-r",
            "20",
            "--no-save",
        ],
    ))
    .assert_ok();
    let db3 = cli_int(&dep, &["-n", "3", "DBSIZE"]);
    assert!((1..=20).contains(&db3), "db 3 has {db3} keys");
    assert_eq!(cli_int(&dep, &["-n", "0", "DBSIZE"]), 0);
    assert_eq!(cli(&dep, &["-n", "3", "GET", "key:000000000000"]).len(), 3);
}

#[test]
fn json_summary_is_valid() {
    let dep = spawn_standalone(&[]);
    let dir = TempDir::new("json");
    let path = dir.join("summary.json");
    let res = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "set,get",
            "-n",
            "1500",
            "--json",
            path.to_str().unwrap(),
            "--no-save",
        ],
    ));
    res.assert_ok();
    let doc = read_json(&path);
    assert!(
        doc["run_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{doc}"
    );
    let results = doc["results"].as_array().expect("results array");
    assert_eq!(results.len(), 2);
    for (r, test) in results.iter().zip(["SET", "GET"]) {
        assert_eq!(r["test"], test);
        assert_eq!(json_f64(r, &["requests"]), 1500.0);
        assert_eq!(json_f64(r, &["ok"]), 1500.0);
        assert_eq!(json_f64(r, &["errors"]), 0.0);
        assert!(json_f64(r, &["rps"]) > 0.0);
        let p50 = json_f64(r, &["latency", "p50_ms"]);
        let p99 = json_f64(r, &["latency", "p99_ms"]);
        assert!(p50 > 0.0 && p50 <= p99, "{r}");
        // Closed loop: no uncorrected latency, no target rate.
        assert!(r["latency_uncorrected"].is_null());
        assert!(r["target_rps"].is_null());
    }
}
