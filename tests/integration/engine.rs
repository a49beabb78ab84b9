//! The engine's two promises that a lock-step or timer-paced client breaks, against real servers:
//! - one stalled master must not stop a cluster client's traffic to the other masters (a client that
//!   waits for its slowest node shows ~0 successes for as long as any node stalls);
//! - on an idle server, open-loop corrected and uncorrected latencies agree (the client adds no
//!   latency of its own; a schedule that waits on a 1 ms timer adds up to a tick to every
//!   corrected latency).
//!
//! The load phases take turns: they are timing-sensitive and the machine has 2 cores.

use crate::support;

use std::time::{Duration, Instant};

use rbench::deploy::Deployment;

use support::*;

#[test]
fn a_stalled_master_does_not_stop_the_others() {
    // A long node timeout: a 2 s DEBUG SLEEP must not look like a failure to the cluster (the spawn's
    // default is 2 s, which could start a failover mid-test).
    let dep = spawn_cluster(&[
        "--enable-debug-command",
        "yes",
        "--cluster-node-timeout",
        "15000",
    ]);
    let _turn = serial();
    let masters = master_indexes(&dep);
    assert_eq!(masters.len(), 3, "{:?}", dep.nodes());
    let seed = masters[0];
    let victim = dep.nodes()[masters[1]].addr;
    let stall = Duration::from_secs(2);

    let dir = TempDir::new("engine-stall");
    let json = dir.join("r.json");
    let args: Vec<String> = [
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &dep.nodes()[seed].addr.port().to_string(),
        "-t",
        "set",
        "-r",
        "100000",
        "--duration",
        "5s",
        "--clients",
        "8",
        "-P",
        "1",
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--out",
        &dir.arg(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = Running::start(&args, &[]);
    // The measured run starts with its first SETs (discovery and connecting come before); keys are
    // uniform over the slots, so the victim gets some within the first milliseconds.
    wait_for("the run's first SETs", Duration::from_secs(15), || {
        dbsize(victim) > 0
    });
    let run_start = Instant::now();
    // Connected beforehand, so the moment the stall starts is known to a millisecond.
    let mut admin = Redis::connect(victim);
    // Stall well inside the run: two full seconds before it (the baseline), at least one full second
    // inside it, and more than half a second after it.
    std::thread::sleep(Duration::from_millis(2300));
    let stall_begin = run_start.elapsed();
    let reply = admin.cmd(&["DEBUG", "SLEEP", &stall.as_secs().to_string()]);
    let stall_took = run_start.elapsed() - stall_begin;
    let res = run.wait(Duration::from_secs(40));
    eprintln!(
        "rbench {}\n  exit {} after {:.2?}\n  stdout: {}\n  stderr: {}",
        args.join(" "),
        res.code,
        res.elapsed,
        res.stdout.trim(),
        res.stderr.trim()
    );
    res.assert_ok();
    reply.ok();
    assert!(
        stall_took >= stall - Duration::from_millis(50),
        "DEBUG SLEEP returned after {stall_took:?}"
    );

    let r = &read_results(&json)[0];
    assert_eq!(r.requests, r.ok + r.errors, "{r:?}");
    let tl = support::read_timeline(dir.path());
    eprintln!(
        "victim {victim} stalled from {:.3} s to {:.3} s of the run (measured from its first SETs):",
        stall_begin.as_secs_f64(),
        (stall_begin + stall_took).as_secs_f64()
    );
    eprintln!("  {}", tl.header.join(","));
    for row in &tl.rows {
        eprintln!("  {}", row.join(","));
    }
    // Row `elapsed_s = k` covers [k-1, k) of the run. Our clock started up to a poll (~20 ms) after
    // the run's; margins absorb that and the run's own setup. Seconds wholly before the stall are the
    // baseline, seconds wholly inside it are the stall.
    let begin = stall_begin.as_secs_f64();
    let end = begin + stall.as_secs_f64().min(stall_took.as_secs_f64());
    let margin = 0.15;
    let mut before = Vec::new();
    let mut during = Vec::new();
    for row in &tl.rows {
        let k = tl.num(row, "elapsed_s");
        let ok = tl.num(row, "ok");
        if k <= begin - margin {
            before.push(ok);
        } else if k - 1.0 >= begin + margin && k <= end - margin {
            during.push(ok);
        }
    }
    assert!(
        !before.is_empty() && !during.is_empty(),
        "no whole second before ({before:?}) or inside ({during:?}) the stall [{begin:.3}, {end:.3}] s\n{}",
        tl.text
    );
    let baseline = before.iter().sum::<f64>() / before.len() as f64;
    let stalled = during.iter().sum::<f64>() / during.len() as f64;
    eprintln!(
        "ok/s before the stall {baseline:.0} (seconds {before:?}), during it {stalled:.0} ({:.0}%, seconds {during:?}); requests={} ok={} errors={} classes={:?}",
        100.0 * stalled / baseline.max(1.0),
        r.requests,
        r.ok,
        r.errors,
        r.classes
    );
    assert!(baseline > 0.0, "no successes before the stall\n{}", tl.text);
    // Two of three masters keep serving: about 2/3 of the baseline (more, as the stalled server's CPU
    // goes to the others). A client that waits for its slowest node would show ~0.
    assert!(
        stalled >= 0.25 * baseline,
        "while one master of three slept, the others served {stalled:.0} ok/s, {:.0}% of the \
         {baseline:.0} ok/s before: the clients waited for the stalled master\n{}",
        100.0 * stalled / baseline,
        tl.text
    );
}

/// One open-loop run on an idle server: (achieved rps, errors, corrected p50, p99, uncorrected p50,
/// p99, max lag), all latencies in ms.
fn open_loop_run(dep: &Deployment, attempt: usize) -> [f64; 8] {
    let dir = TempDir::new("engine-openloop");
    let json = dir.join("r.json");
    let res = run_rbench(&args_for(
        dep,
        &[
            "-t",
            "get",
            "--rps",
            "2000",
            "--clients",
            "10",
            "--duration",
            "2s",
            "--json",
            json.to_str().unwrap(),
            "-q",
            "--no-save",
        ],
    ));
    res.assert_ok();
    let doc = read_json(&json);
    let r = &doc["results"][0];
    let v = [
        json_f64(r, &["achieved_rps"]),
        json_f64(r, &["errors"]),
        json_f64(r, &["latency", "p50_ms"]),
        json_f64(r, &["latency", "p99_ms"]),
        json_f64(r, &["latency_uncorrected", "p50_ms"]),
        json_f64(r, &["latency_uncorrected", "p99_ms"]),
        json_f64(r, &["max_lag_ms"]),
        json_f64(r, &["client_lag", "p50_ms"]),
    ];
    eprintln!(
        "attempt {attempt}: --rps 2000, 10 clients, idle server: achieved {:.1} rps, errors {}; \
         corrected p50 {:.3} ms p99 {:.3} ms; uncorrected p50 {:.3} ms p99 {:.3} ms; max lag {:.3} ms; \
         client delay p50 {:.3} ms",
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    );
    v
}

/// Loose bounds (the scripts measure precisely): a client that waits for a 1 ms timer tick before
/// sending shifts every corrected latency by ~0.5 ms on average, far past the p50 bound. A busy
/// machine can delay a few dozen of the 4000 requests by milliseconds (the client is descheduled),
/// which moves p99 but not p50; so a second attempt is allowed when the first one misses, and
/// the test fails only when both do.
#[test]
fn open_loop_corrected_and_uncorrected_agree_on_an_idle_server() {
    let dep = spawn_standalone(&[]);
    let _turn = serial();
    let mut failures = Vec::new();
    for attempt in 1..=2 {
        let [achieved, errors, p50, p99, u50, u99, _, own50] = open_loop_run(&dep, attempt);
        // Hard failures, not noise: errors, or a rate the client could not keep.
        assert_eq!(errors, 0.0, "errors on an idle server");
        assert!(
            (1900.0..=2100.0).contains(&achieved),
            "achieved {achieved} rps for a 2000 rps target"
        );
        let mut why = Vec::new();
        if (p50 - u50).abs() >= 0.3 {
            why.push(format!("corrected p50 {p50} ms vs uncorrected {u50} ms"));
        }
        if (p99 - u99).abs() >= 2.0 {
            why.push(format!("corrected p99 {p99} ms vs uncorrected {u99} ms"));
        }
        // The client's own delay from due time to send: a timer-tick client shows ~0.5 ms here.
        if own50 >= 0.2 {
            why.push(format!("client delay p50 {own50} ms"));
        }
        if why.is_empty() {
            return;
        }
        failures.push(format!("attempt {attempt}: {}", why.join("; ")));
    }
    panic!(
        "the client delays requests past their intended send time on an idle server:\n{}",
        failures.join("\n")
    );
}

/// A closed-loop `-n` run whose server dies must end (v0.1 and the first engine retried connecting
/// forever: no request was left to time out), with the failures counted by class.
#[test]
fn a_run_whose_server_dies_ends_with_the_failures_counted() {
    let mut dep = spawn_standalone(&[]);
    let _turn = serial();
    let dir = TempDir::new("dead-server");
    let json = dir.join("dead.json");
    let args = args_for(
        &dep,
        &[
            "-t",
            "set",
            "-n",
            "100000000",
            "--clients",
            "4",
            "-q",
            "--no-save",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let run = Running::start(&args, &[]);
    let addr = dep.addr();
    wait_for("the run's first SETs", Duration::from_secs(15), || {
        dbsize(addr) > 0
    });
    dep.kill_node(0);
    let killed = Instant::now();
    let res = run.wait(Duration::from_secs(40));
    res.assert_no_panic();
    assert!(!res.timed_out, "rbench kept retrying a dead server");
    assert!(
        killed.elapsed() < Duration::from_secs(25),
        "took {:?} after the server died",
        killed.elapsed()
    );
    let r = &read_results(&json)[0];
    assert!(r.ok > 0, "{r:?}");
    assert!(r.errors >= 1, "{r:?}");
    assert!(r.class("conn_refused") > 0, "{r:?}");
    assert_eq!(r.unanswered, 0, "{r:?}");
}
