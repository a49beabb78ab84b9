//! redis-benchmark's and valkey-benchmark's run flags against real servers: `-x`, `-I`, `-l`,
//! `--precision`, `__rand_1st__`.., `--sequential`, `-3` and `--enable-tracking`.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// rbench's connections in CLIENT LIST (every line but redis-cli's own).
fn rbench_clients(dep: &Deployment, node: usize) -> Vec<String> {
    cli_node(dep, node, &["CLIENT", "LIST"])
        .lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .map(String::from)
        .collect()
}

/// The value of `field=` in a CLIENT LIST line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
}

/// Runs rbench with `input` on its stdin.
fn run_with_stdin(args: &[String], input: &[u8]) -> RunOutput {
    let started = Instant::now();
    let mut child = Command::new(rbench_bin())
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rbench");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("rbench output");
    RunOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
        timed_out: false,
    }
}

#[test]
fn x_sends_stdin_as_the_last_argument() {
    let dep = spawn_standalone(&[]);
    // Whole, as-is: newlines, a NUL byte, and a placeholder that stays literal.
    let value = b"line 1\nline 2 __rand_int__\x00end\n";
    let res = run_with_stdin(
        &args_for(&dep, &["-x", "-n", "10", "-q", "--no-save", "SET", "xkey"]),
        value,
    );
    res.assert_ok();
    assert!(res.stdout.starts_with("SET xkey: "), "{}", res.stdout);
    let mut r = Redis::connect(dep.addr());
    assert_eq!(
        r.cmd(&["GET", "xkey"]).as_bytes(),
        Some(&value[..]),
        "{res:?}"
    );
    // Without a custom command there is nothing to read stdin for.
    let res = run_with_stdin(&args_for(&dep, &["-x", "-t", "set"]), b"v");
    assert_eq!(res.code, 2, "{res:?}");
    assert_eq!(res.stderr_lines().len(), 1, "{}", res.stderr);
    assert!(res.stderr.contains("-x"), "{}", res.stderr);
}

#[test]
fn idle_holds_connections_until_sigint() {
    let dep = spawn_standalone(&[]);
    let mut run = start_rbench_signals(&args_for(&dep, &["-I", "--clients", "12"]), &[], &[]);
    wait_for("12 idle connections", Duration::from_secs(20), || {
        rbench_clients(&dep, 0).len() == 12
    });
    // Idle: nothing is sent after the handshake (a PING, or nothing at all).
    std::thread::sleep(Duration::from_millis(300));
    let held = rbench_clients(&dep, 0);
    assert_eq!(held.len(), 12);
    assert!(
        held.iter()
            .all(|l| ["ping", "NULL"].contains(&field(l, "cmd"))),
        "{held:?}"
    );
    run.signal(libc::SIGINT);
    let res = run.wait(Duration::from_secs(20));
    res.assert_no_panic();
    assert_eq!(res.code, 130, "{res:?}");
    assert!(
        res.stdout
            .contains("12 idle connections open to 127.0.0.1:"),
        "{}",
        res.stdout
    );
    wait_for("the connections closed", Duration::from_secs(10), || {
        rbench_clients(&dep, 0).is_empty()
    });
}

#[test]
fn idle_reports_connections_the_server_closes() {
    let dep = spawn_standalone(&[]);
    let mut run = start_rbench_signals(&args_for(&dep, &["-I", "--clients", "3"]), &[], &[]);
    wait_for("3 idle connections", Duration::from_secs(20), || {
        rbench_clients(&dep, 0).len() == 3
    });
    let id = field(&rbench_clients(&dep, 0)[0], "id").to_string();
    assert_eq!(cli(&dep, &["CLIENT", "KILL", "ID", &id]), "1");
    wait_for("2 left", Duration::from_secs(10), || {
        rbench_clients(&dep, 0).len() == 2
    });
    run.signal(libc::SIGTERM);
    let res = run.wait(Duration::from_secs(20));
    assert_eq!(res.code, 143, "{res:?}");
    assert!(
        res.stderr.contains("closed by the server"),
        "{}",
        res.stderr
    );
    assert!(res.stdout.contains("clients: 2"), "{}", res.stdout);
}

#[test]
fn idle_over_maxclients_fails_with_the_servers_words() {
    let dep = spawn_standalone(&["--maxclients", "5"]);
    let res = run_rbench(&args_for(&dep, &["-I", "--clients", "20"]));
    res.assert_no_panic();
    assert_eq!(res.code, 1, "{res:?}");
    let lines = res.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", res.stderr);
    assert!(
        lines[0].contains("ERR max number of clients reached"),
        "{}",
        lines[0]
    );
    // Nothing is left open.
    wait_for("no idle connection left", Duration::from_secs(10), || {
        rbench_clients(&dep, 0).is_empty()
    });
}

#[test]
fn loop_reports_and_saves_every_pass_until_sigint() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("loop");
    let json = out.join("r.json");
    let args = args_for(
        &dep,
        &[
            "-l",
            "-q",
            "-n",
            "2000",
            "-t",
            "set,get",
            "--out",
            &out.arg(),
            "--json",
            &json.to_string_lossy(),
        ],
    );
    let mut run = start_rbench_signals(&args, &[], &[]);
    wait_for("two passes saved", Duration::from_secs(30), || {
        out.join("runs.csv").exists() && results_csv(out.path()).rows.len() >= 4
    });
    run.signal(libc::SIGINT);
    let res = run.wait(Duration::from_secs(20));
    res.assert_no_panic();
    assert_eq!(res.code, 130, "{res:?}");
    let printed = res
        .stdout
        .lines()
        .filter_map(parse_quiet_line)
        .collect::<Vec<_>>();
    assert!(printed.len() >= 4, "{}", res.stdout);
    let csv = results_csv(out.path());
    assert_eq!(csv.rows.len(), printed.len(), "{}", res.stdout);
    let passes: Vec<u32> = csv
        .rows
        .iter()
        .map(|r| csv.get(r, "repeat").parse().unwrap())
        .collect();
    // Pass after pass, SET then GET in each, every row whole; only the last may be interrupted.
    for (i, row) in csv.rows.iter().enumerate() {
        assert_eq!(passes[i], (i / 2 + 1) as u32, "{passes:?}");
        assert_eq!(csv.get(row, "test"), ["SET", "GET"][i % 2]);
        let interrupted = csv.get(row, "interrupted") == "true";
        assert!(!interrupted || i == csv.rows.len() - 1, "row {i}");
        if !interrupted {
            assert_eq!(csv.num(row, "ok"), 2000.0, "row {i}");
        }
    }
    assert_eq!(read_results(&json).len(), csv.rows.len());
}

#[test]
fn precision_sets_the_decimals_of_the_default_output_only() {
    let dep = spawn_standalone(&[]);
    let run = |extra: &[&str]| {
        let mut a = vec!["-t", "get", "-n", "2000", "--no-save"];
        a.extend_from_slice(extra);
        let res = run_rbench(&args_for(&dep, &a));
        res.assert_ok();
        res.stdout
    };
    let latencies = |out: &str| -> Vec<String> {
        let mut lines = out.lines().skip_while(|l| !l.contains("latency summary"));
        lines
            .nth(2)
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let default = latencies(&run(&[]));
    assert_eq!(default.len(), 7, "{default:?}");
    assert!(
        default.iter().all(|v| is_fixed_decimal(v, 3)),
        "{default:?}"
    );
    let five = latencies(&run(&["--precision", "5"]));
    assert!(five.iter().all(|v| is_fixed_decimal(v, 5)), "{five:?}");
    let none = latencies(&run(&["--precision", "0"]));
    assert!(none.iter().all(|v| v.parse::<u64>().is_ok()), "{none:?}");
    // -q and --csv keep redis-benchmark's 3 decimals, as redis-benchmark 7 does.
    let q = run(&["--precision", "1", "-q"]);
    let p50 = q
        .trim()
        .rsplit("p50=")
        .next()
        .unwrap()
        .trim_end_matches(" msec");
    assert!(is_fixed_decimal(p50, 3), "{q}");
    let csv = run(&["--precision", "1", "--csv"]);
    let row = csv.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split(',').map(|c| c.trim_matches('"')).collect();
    assert!(cells[2..].iter().all(|c| is_fixed_decimal(c, 3)), "{row}");
}

#[test]
fn rand_nth_placeholders_are_keys_of_their_own() {
    let dep = spawn_standalone(&[]);
    // The same placeholder twice in one command: the same value both times.
    run_rbench(&args_for(
        &dep,
        &[
            "-r",
            "1000000",
            "-n",
            "300",
            "-q",
            "--no-save",
            "SET",
            "a:__rand_1st__",
            "__rand_1st__",
        ],
    ))
    .assert_ok();
    let mut r = Redis::connect(dep.addr());
    let keys = count_keys(&dep, "a:*");
    assert!(keys > 250, "{keys} keys: drawn from the key space");
    for _ in 0..20 {
        let key = r.cmd(&["RANDOMKEY"]).into_text().unwrap();
        let value = r.cmd(&["GET", &key]).into_text().unwrap();
        assert_eq!(key.strip_prefix("a:"), Some(value.as_str()));
        assert_eq!(value.len(), 12);
    }
    // Different placeholders: independent keys.
    cli(&dep, &["FLUSHALL"]);
    run_rbench(&args_for(
        &dep,
        &[
            "-r",
            "1000000",
            "-n",
            "300",
            "-q",
            "--no-save",
            "SET",
            "b:__rand_int__",
            "__rand_2nd__",
        ],
    ))
    .assert_ok();
    let differ = (0..20)
        .filter(|_| {
            let key = r.cmd(&["RANDOMKEY"]).into_text().unwrap();
            let value = r.cmd(&["GET", &key]).into_text().unwrap();
            key.strip_prefix("b:") != Some(value.as_str())
        })
        .count();
    assert!(differ > 15, "{differ} of 20 differ");
}

#[test]
fn sequential_covers_the_key_space_in_order() {
    let dep = spawn_standalone(&[]);
    let args = [
        "-r",
        "50",
        "-n",
        "50",
        "--clients",
        "1",
        "-t",
        "set",
        "-q",
        "--no-save",
        "--sequential",
    ];
    run_rbench(&args_for(&dep, &args)).assert_ok();
    assert_eq!(count_keys(&dep, "key:*"), 50);
    // Each placeholder keeps its own sequence: two of them cover the space twice over.
    cli(&dep, &["FLUSHALL"]);
    let args = [
        "-r",
        "50",
        "-n",
        "50",
        "--clients",
        "1",
        "-q",
        "--no-save",
        "--sequential",
        "MSET",
        "j:__rand_int__",
        "x",
        "k:__rand_1st__",
        "y",
    ];
    run_rbench(&args_for(&dep, &args)).assert_ok();
    assert_eq!(count_keys(&dep, "j:*"), 50);
    assert_eq!(count_keys(&dep, "k:*"), 50);
    let res = run_rbench(&args_for(
        &dep,
        &["--sequential", "--key-dist", "zipf", "-t", "get"],
    ));
    assert_eq!(res.code, 2, "{res:?}");
    assert_eq!(res.stderr_lines().len(), 1, "{}", res.stderr);
    assert!(res.stderr.contains("--sequential"), "{}", res.stderr);
}

/// Waits, while a `--duration` run goes, until `want` of rbench's connections in CLIENT LIST pass
/// `check` (lines of connections still in their handshake, or of an earlier run not yet reaped by
/// the server, may not: they are waited out, and the wait fails if it never happens).
fn clients_during(dep: &Deployment, want: usize, check: impl Fn(&str) -> bool) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        seen = rbench_clients(dep, 0);
        if seen.iter().filter(|l| check(l)).count() >= want {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("never {want} connections passing the check: {seen:#?}");
}

#[test]
fn resp3_connections_say_resp_3_and_results_are_correct() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("resp3");
    let json = out.join("r.json");
    let args = args_for(
        &dep,
        &[
            "-3",
            "--duration",
            "3s",
            "-t",
            "get",
            "--clients",
            "4",
            "--no-save",
            "-q",
            "--json",
            &json.to_string_lossy(),
        ],
    );
    let run = Running::start(&args, &[]);
    clients_during(&dep, 4, |l| field(l, "resp") == "3");
    let res = run.wait(RUN_TIMEOUT);
    res.assert_ok();
    let r = &read_results(&json)[0];
    assert!(r.ok > 100 && r.errors == 0, "{r:?}");
    // Set-up replies in RESP3 (CONFIG GET as a map, INFO as a verbatim string) read as in RESP2.
    let resp2 = out.join("r2.json");
    let args = [
        "-t",
        "get",
        "-n",
        "100",
        "--no-save",
        "-q",
        "--json",
        &resp2.to_string_lossy(),
    ];
    run_rbench(&args_for(&dep, &args)).assert_ok();
    let persistence = |p: &std::path::Path| read_json(p)["results"][0]["persistence"].clone();
    assert_eq!(persistence(&json), persistence(&resp2));
    assert_ne!(persistence(&json), "unknown");
}

#[test]
fn tracking_pushes_are_not_counted_as_replies() {
    let dep = spawn_standalone(&[]);
    let out = TempDir::new("tracking");
    let json = out.join("r.json");
    // GET and SET of one key in one phase: every SET invalidates what the GETs read, so RESP3
    // pushes stream in between the replies.
    let args = args_for(
        &dep,
        &[
            "-3",
            "--enable-tracking",
            "--mix",
            "get=1,set=1",
            "-n",
            "20000",
            "--clients",
            "4",
            "--no-save",
            "-q",
            "--json",
            &json.to_string_lossy(),
        ],
    );
    let run = Running::start(&args, &[]);
    clients_during(&dep, 4, |l| {
        field(l, "flags").contains('t') && field(l, "resp") == "3"
    });
    let res = run.wait(RUN_TIMEOUT);
    res.assert_ok();
    let results = read_results(&json);
    let total: u64 = results.iter().map(|r| r.ok).sum();
    assert_eq!(total, 20000, "{results:?}");
    assert!(
        results.iter().all(|r| r.errors == 0 && r.ok > 0),
        "{results:?}"
    );
    // The server ran exactly what rbench counted.
    let stats = cli(&dep, &["INFO", "commandstats"]);
    let calls = |cmd: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(calls("get") + calls("set"), 20000, "{stats}");
    // RESP2 accepts tracking too (invalidations need RESP3 or a redirect, and none come).
    let run = Running::start(
        &args_for(
            &dep,
            &[
                "--enable-tracking",
                "--duration",
                "2s",
                "-t",
                "get",
                "--clients",
                "2",
                "--no-save",
                "-q",
            ],
        ),
        &[],
    );
    clients_during(&dep, 2, |l| {
        field(l, "flags").contains('t') && field(l, "resp") == "2"
    });
    run.wait(RUN_TIMEOUT).assert_ok();
}

#[test]
fn resp3_cluster_run_routes_and_counts_correctly() {
    let dep = spawn_cluster(&[]);
    let out = TempDir::new("resp3-cluster");
    let json = out.join("r.json");
    let args = args_for(
        &dep,
        &[
            "--cluster",
            "-3",
            "-t",
            "set,get",
            "-n",
            "6000",
            "-r",
            "1000",
            "--clients",
            "2",
            "--no-save",
            "-q",
            "--json",
            &json.to_string_lossy(),
        ],
    );
    let res = run_rbench(&args);
    res.assert_ok();
    let results = read_results(&json);
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!((r.ok, r.errors), (6000, 0), "{r:?}");
    }
    assert!(results.iter().all(|r| r.class("moved") == 0), "{results:?}");
    // -I on a cluster: --clients connections to every master, held until the signal.
    let mut run = start_rbench_signals(
        &args_for(&dep, &["--cluster", "-3", "-I", "--clients", "2"]),
        &[],
        &[],
    );
    let held = |dep: &Deployment| -> Vec<usize> {
        (0..dep.nodes().len())
            .map(|i| {
                let lines = rbench_clients(dep, i);
                lines.iter().filter(|l| field(l, "resp") == "3").count()
            })
            .collect()
    };
    wait_for("2 connections per master", Duration::from_secs(20), || {
        let per_node = held(&dep);
        per_node.iter().sum::<usize>() == 6 && per_node.iter().all(|&n| n == 0 || n == 2)
    });
    run.signal(libc::SIGINT);
    let res = run.wait(Duration::from_secs(20));
    assert_eq!(res.code, 130, "{res:?}");
    assert!(
        res.stdout.contains("6 idle connections open"),
        "{}",
        res.stdout
    );
}
