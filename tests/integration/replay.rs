//! `rbench replay FILE` against real servers: a capture written in MONITOR's form (deterministic)
//! replayed to a fresh server sends exactly the captured commands minus the excluded ones (INFO
//! commandstats), keeps each captured client's order (sequence numbers in per-client lists), keeps
//! the captured gaps (loosely: never sooner than the capture allows), shows a stalled server as
//! latency; on a cluster it routes by slot and counts CROSSSLOT commands; a capture made by a real
//! MONITOR replays; bad input is one line and exit 2. No test asserts a timing beyond what cannot
//! come early: `scripts/replay.sh` measures the figures.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use support::*;

const T0: f64 = 1_701_943_201.0;

/// One MONITOR line: `T [DB CLIENT] "ARG" ...`, quoted as MONITOR quotes.
fn line(t: f64, db: u32, client: &str, args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{t:.6} [{db} {client}] {}", quoted.join(" "))
}

fn client(i: usize) -> String {
    format!("127.0.0.1:{}", 50_000 + i)
}

/// INFO commandstats as command → calls.
fn commandstats(dep: &Deployment, node: usize) -> HashMap<String, u64> {
    cli_node(dep, node, &["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats.split(',').next()?.strip_prefix("calls=")?;
            Some((name.to_string(), calls.parse().ok()?))
        })
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn result<'a>(doc: &'a serde_json::Value, test: &str) -> &'a serde_json::Value {
    doc["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["test"] == test))
        .unwrap_or_else(|| panic!("no result {test} in {doc}"))
}

fn port(dep: &Deployment) -> String {
    dep.addr().port().to_string()
}

/// A capture of `clients` clients, each pushing its sequence numbers to its own list, with SETs,
/// GETs and INCRs between, an idle gap in the middle, and commands a replay must not send.
fn scripted_capture(clients: usize, per_client: usize) -> (String, HashMap<&'static str, u64>) {
    let mut lines = vec!["OK".to_string()];
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    for i in 0..per_client {
        // An idle second in the middle of the capture.
        let t = T0 + i as f64 * 0.01 + if i >= per_client / 2 { 1.0 } else { 0.0 };
        for c in 0..clients {
            let (cl, seq) = (client(c), i.to_string());
            let tc = t + c as f64 * 0.001;
            lines.push(line(tc, 0, &cl, &["RPUSH", &format!("seq:{c}"), &seq]));
            lines.push(line(
                tc,
                0,
                &cl,
                &["set", &format!("k:{c}:{i}"), "v \"q\" \\"],
            ));
            lines.push(line(tc, 0, &cl, &["GET", &format!("k:{c}:{i}")]));
            lines.push(line(tc, 0, &cl, &["INCR", "counter"]));
            *counts.entry("rpush").or_default() += 1;
            *counts.entry("set").or_default() += 1;
            *counts.entry("get").or_default() += 1;
            *counts.entry("incr").or_default() += 1;
        }
    }
    let end = T0 + per_client as f64 * 0.01 + 1.0;
    lines.push(line(end, 0, &client(0), &["FLUSHALL"]));
    lines.push(line(
        end,
        0,
        &client(1),
        &["CONFIG", "SET", "maxmemory", "1"],
    ));
    lines.push(line(end, 0, &client(1), &["DEBUG", "SLEEP", "0"]));
    lines.push(line(end, 0, "lua", &["INCR", "counter"]));
    lines.push(line(end, 0, &client(2), &["ECHO", "x"]));
    (lines.join("\n") + "\n", counts)
}

#[test]
fn a_replay_sends_the_captured_commands_in_each_clients_order() {
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("replay-counts");
    let (mut text, counts) = scripted_capture(5, 40);
    // A line that does not parse, passed over with --skip-bad-lines.
    text.push_str("this is not a MONITOR line\n");
    let file = write_file_arg(&tmp, "capture.txt", &text);
    let json = tmp.join("s.json");
    let out = rbench(
        &[
            "replay",
            &file,
            "-p",
            &port(&dep),
            "--speed",
            "10",
            "--clients",
            "2",
            "--skip",
            "echo",
            "--skip-bad-lines",
            "--no-save",
            "--json",
            json.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    let stats = commandstats(&dep, 0);
    for (cmd, n) in &counts {
        assert_eq!(stats.get(*cmd), Some(n), "{cmd}: {stats:?}");
    }
    for never in ["flushall", "config|set", "debug", "echo"] {
        assert_eq!(stats.get(never), None, "{never} was sent: {stats:?}");
    }
    // Each client's pushes arrived in its order, though five clients shared two connections.
    for c in 0..5 {
        let got = cli(&dep, &["LRANGE", &format!("seq:{c}"), "0", "-1"]);
        let want: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        assert_eq!(got.lines().collect::<Vec<_>>(), want, "client {c}");
    }
    assert_eq!(cli(&dep, &["GET", "k:3:7"]), "v \"q\" \\");
    assert_eq!(cli_int(&dep, &["GET", "counter"]), 200);
    assert!(
        out.stdout.contains("skipped (not sent): "),
        "{}",
        out.stdout
    );
    for s in [
        "FLUSHALL 1",
        "CONFIG SET 1",
        "DEBUG 1",
        "ECHO 1",
        "(run by scripts) 1",
    ] {
        assert!(out.stdout.contains(s), "{s}: {}", out.stdout);
    }
    assert!(
        out.stderr.contains("1 lines that do not parse"),
        "{}",
        out.stderr
    );
    let doc = read_json(&json);
    let first = &doc["results"][0];
    assert_eq!(first["test"], "RPUSH");
    assert_eq!(first["replay"]["skipped"]["FLUSHALL"], 1);
    assert_eq!(first["replay"]["captured_clients"], 5);
    assert_eq!(first["replay"]["connections"], 2);
    assert_eq!(first["replay"]["bad_lines"], 1);
    assert_eq!(result(&doc, "SET")["ok"], 200);
}

#[test]
fn speed_scales_the_captured_gaps() {
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("replay-speed");
    // 2 s of capture: a command every 100 ms from two clients.
    let lines: Vec<String> = (0..=20)
        .map(|i| line(T0 + i as f64 * 0.1, 0, &client(i % 2), &["INCR", "n"]))
        .collect();
    let file = write_file_arg(&tmp, "c.txt", &(lines.join("\n") + "\n"));
    let took = |speed: &str| {
        let json = tmp.join(&format!("{speed}.json"));
        rbench(
            &[
                "replay",
                &file,
                "-p",
                &port(&dep),
                "--speed",
                speed,
                "--no-save",
                "--json",
                json.to_str().unwrap(),
            ],
            RUN_TIMEOUT,
        );
        result(&read_json(&json), "INCR")["duration_s"]
            .as_f64()
            .unwrap()
    };
    let (one, two) = (took("1"), took("2"));
    // A replay can be late on a loaded machine, never early: the lower bounds are exact.
    assert!(one >= 1.99, "speed 1 took {one} s");
    assert!(two >= 0.99, "speed 2 took {two} s");
    assert!(two < one, "speed 2 took {two} s, speed 1 {one} s");
    assert_eq!(cli_int(&dep, &["GET", "n"]), 42);
}

#[test]
fn a_stalled_server_shows_as_latency() {
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("replay-stall");
    let mut lines: Vec<String> = (0..400)
        .map(|i| line(T0 + i as f64 * 0.005, 0, &client(i % 2), &["GET", "k"]))
        .collect();
    lines.insert(
        100,
        line(T0 + 0.5, 0, &client(9), &["DEBUG", "SLEEP", "0.5"]),
    );
    let file = write_file_arg(&tmp, "c.txt", &(lines.join("\n") + "\n"));
    let json = tmp.join("s.json");
    rbench(
        &[
            "replay",
            &file,
            "-p",
            &port(&dep),
            "--allow",
            "DEBUG",
            "--no-save",
            "--json",
            json.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    let get = result(&read_json(&json), "GET").clone();
    let p99 = get["latency"]["p99_ms"].as_f64().unwrap();
    assert!(p99 >= 400.0, "p99 {p99} ms with a 500 ms stall: {get}");
    assert_eq!(get["ok"], 400);
    assert_eq!(commandstats(&dep, 0).get("debug"), Some(&1));
}

#[test]
fn loops_rewrite_keys_and_shards_split_clients() {
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("replay-loop");
    let lines: Vec<String> = (0..8)
        .map(|c| {
            line(
                T0 + c as f64 * 0.001,
                0,
                &client(c),
                &["SET", &format!("c{c}"), "x"],
            )
        })
        .collect();
    let file = write_file_arg(&tmp, "c.txt", &(lines.join("\n") + "\n"));
    let p = port(&dep);
    rbench(
        &[
            "replay",
            &file,
            "-p",
            &p,
            "--loop",
            "3",
            "--loop-rewrite",
            "--speed",
            "max",
            "--no-save",
        ],
        RUN_TIMEOUT,
    );
    assert_eq!(commandstats(&dep, 0).get("set"), Some(&24));
    for k in ["c0", "c0:pass2", "c7:pass3"] {
        assert_eq!(cli(&dep, &["EXISTS", k]), "1", "{k}");
    }
    assert_eq!(cli(&dep, &["EXISTS", "c0:pass1"]), "0");
    cli(&dep, &["FLUSHALL"]);
    rbench(
        &[
            "replay",
            &file,
            "-p",
            &p,
            "--shard",
            "1/2",
            "--run-id",
            "r1",
            "--speed",
            "max",
            "--no-save",
        ],
        RUN_TIMEOUT,
    );
    let keys = cli(&dep, &["KEYS", "*"]);
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort();
    assert_eq!(keys, ["c1", "c3", "c5", "c7"]);
}

#[test]
fn a_cluster_routes_by_slot_counts_crossslot_and_refuses_select() {
    let dep = spawn_cluster(&[]);
    let tmp = TempDir::new("replay-cluster");
    let mut lines: Vec<String> = (0..60)
        .map(|i| {
            line(
                T0 + i as f64 * 0.001,
                0,
                &client(i % 3),
                &["SET", &format!("key:{i}"), "v"],
            )
        })
        .collect();
    lines.push(line(
        T0 + 0.1,
        0,
        &client(0),
        &["MSET", "{t}a", "1", "{t}b", "2"],
    ));
    lines.push(line(T0 + 0.1, 0, &client(0), &["MSET", "a", "1", "b", "2"]));
    lines.push(line(T0 + 0.1, 0, &client(1), &["DEL", "key:1", "key:2"]));
    let file = write_file_arg(&tmp, "c.txt", &(lines.join("\n") + "\n"));
    let json = tmp.join("s.json");
    let out = rbench(
        &[
            "replay",
            &file,
            "-p",
            &port(&dep),
            "--cluster",
            "--speed",
            "max",
            "--no-save",
            "--json",
            json.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    let keys: i64 = master_indexes(&dep)
        .iter()
        .map(|&m| cli_node(&dep, m, &["DBSIZE"]).parse::<i64>().unwrap())
        .sum();
    assert_eq!(keys, 62, "60 SETs and one MSET of two keys");
    let doc = read_json(&json);
    assert_eq!(result(&doc, "SET")["ok"], 60);
    assert_eq!(result(&doc, "MSET")["ok"], 1);
    let first = &doc["results"][0];
    assert_eq!(first["replay"]["crossslot"]["MSET"], 1);
    assert_eq!(first["replay"]["crossslot"]["DEL"], 1);
    assert!(
        out.stdout
            .contains("crossslot (not sent, keys in different slots): "),
        "{}",
        out.stdout
    );
    // SELECT cannot be followed on a cluster: refused before anything is sent.
    let mut sel = lines[..3].to_vec();
    sel.insert(1, line(T0, 0, &client(0), &["SELECT", "2"]));
    let file = write_file_arg(&tmp, "select.txt", &(sel.join("\n") + "\n"));
    let out = run_rbench(&["replay", &file, "-p", &port(&dep), "--cluster", "--no-save"]);
    assert_eq!(out.code, 2, "{out:?}");
    let l = out.stderr_lines();
    assert_eq!(l.len(), 1, "{out:?}");
    assert!(
        l[0].contains("select.txt:2: SELECT 2: a cluster has only database 0"),
        "{}",
        l[0]
    );
}

#[test]
fn a_real_monitor_capture_replays() {
    let source = spawn_standalone(&[]);
    let tmp = TempDir::new("replay-monitor");
    let path = tmp.join("monitor.txt");
    let mut monitor = std::process::Command::new("redis-cli")
        .args(["-p", &port(&source), "monitor"])
        .stdout(std::fs::File::create(&path).unwrap())
        .spawn()
        .expect("redis-cli monitor");
    std::thread::sleep(Duration::from_millis(300));
    let mut r = Redis::connect(source.addr());
    let tricky: &[u8] = b"quote\" backslash\\ nl\n cr\r tab\t bell\x07 bs\x08 nul\x00 high\xff\xfe";
    r.cmd(&[&b"SET"[..], b"bin", tricky]);
    r.cmd(&[&b"SELECT"[..], b"3"]);
    r.cmd(&[&b"HSET"[..], b"h", b"f", b"v"]);
    r.cmd(&[&b"SELECT"[..], b"0"]);
    r.cmd(&["EVAL", "return redis.call('INCR', KEYS[1])", "1", "ctr"]);
    r.cmd(&["RPUSH", "l", "a", "b"]);
    std::thread::sleep(Duration::from_millis(300));
    // Our own child, stopped by its PID.
    let _ = monitor.kill();
    let _ = monitor.wait();
    let target = spawn_standalone(&[]);
    rbench(
        &[
            "replay",
            path.to_str().unwrap(),
            "-p",
            &port(&target),
            "--no-save",
        ],
        RUN_TIMEOUT,
    );
    let mut t = Redis::connect(target.addr());
    assert_eq!(t.cmd(&["GET", "bin"]).as_bytes(), Some(tricky));
    assert_eq!(cli(&target, &["-n", "3", "HGET", "h", "f"]), "v");
    assert_eq!(cli(&target, &["EXISTS", "h"]), "0", "HSET went to db 3");
    // The script's INCR ran once: by the EVAL, not again as its own captured line.
    assert_eq!(cli(&target, &["GET", "ctr"]), "1");
    assert_eq!(cli(&target, &["LRANGE", "l", "0", "-1"]), "a\nb");
}

fn assert_usage(args: &[&str], needle: &str) {
    let out = run_rbench(&strings(args));
    assert_eq!(out.code, 2, "{args:?}: {out:?}");
    out.assert_no_panic();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected: {out:?}");
    assert!(lines[0].contains(needle), "{args:?}: {:?}", lines[0]);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tmp = TempDir::new("replay-bad");
    let p = free_port().to_string();
    let good = line(T0, 0, &client(0), &["SET", "k", "v"]);
    let bad = write_file_arg(
        &tmp,
        "bad.txt",
        &format!("{good}\n{good}\n1.0 [0 c \"GET\"\n"),
    );
    assert_usage(&["replay", &bad, "-p", &p], "bad.txt:3: not a MONITOR line");
    let ok = write_file_arg(&tmp, "ok.txt", &format!("{good}\n"));
    assert_usage(
        &["replay", &ok, "-p", &p, "--speed", "0"],
        "--speed must be above 0",
    );
    assert_usage(
        &["replay", &ok, "-p", &p, "--speed", "fast"],
        "--speed must be a number",
    );
    assert_usage(
        &["replay", &ok, "-p", &p, "--allow", "GET"],
        "--allow GET: not excluded by default",
    );
    assert_usage(
        &["replay", &ok, "-p", &p, "--clients", "0"],
        "--clients must be at least 1",
    );
    let missing = tmp.join("missing.txt");
    assert_usage(
        &["replay", missing.to_str().unwrap(), "-p", &p],
        "missing.txt: No such file",
    );
    assert_usage(&["replay", &tmp.arg(), "-p", &p], "is a directory");
    let empty = write_file_arg(&tmp, "empty.txt", "OK\n\n");
    assert_usage(
        &["replay", &empty, "-p", &p],
        "empty.txt: no commands to replay",
    );
    let skipped = write_file_arg(&tmp, "flush.txt", &line(T0, 0, "c", &["FLUSHALL"]));
    assert_usage(&["replay", &skipped, "-p", &p], "every command is skipped");
    assert_usage(&["replay", "-p", &p], "FILE");
}

/// A capture larger than the memory the replay may use (256 MiB of 1 KiB values, against a bound
/// of 100 MiB of RSS) replays in bounded memory: it is streamed, never held.
#[test]
fn a_capture_larger_than_the_memory_bound_streams() {
    use std::io::Write;
    let dep = spawn_standalone(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let tmp = TempDir::new("replay-memory");
    let path = tmp.join("big.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let value = "x".repeat(1024);
    let mut written = 0usize;
    let mut i = 0u64;
    while written < 256 << 20 {
        let l = format!(
            "{}.{:06} [0 127.0.0.1:{}] \"SET\" \"key:{}\" \"{value}\"\n",
            1_701_943_201 + i / 100_000,
            i % 1_000_000,
            40_000 + i % 32,
            i % 10_000
        );
        f.write_all(l.as_bytes()).unwrap();
        written += l.len();
        i += 1;
    }
    f.flush().unwrap();
    drop(f);
    let args = strings(&[
        "replay",
        path.to_str().unwrap(),
        "-p",
        &port(&dep),
        "--speed",
        "max",
        "--duration",
        "2s",
        "--no-save",
        "-q",
    ]);
    let (out, peak_kb) = peak_rss_kb(Running::process(&args, &[]), Duration::from_secs(120));
    log_run("replay big.txt --speed max --duration 2s", &out);
    out.assert_ok();
    assert!(peak_kb > 0, "no RSS sampled");
    assert!(
        peak_kb < 100 * 1024,
        "peak RSS {peak_kb} kB replaying a 256 MiB capture"
    );
}
