//! One run from several processes (`--shard I/N`, `--start-at`) against one real server: the
//! shards' `-n` add up to exactly the calls the server ran, they start the same instant, a shard
//! with `--rps` sends its share, and `rbench merge` of their folders is the union of their samples.
//! Mismatched shards are refused.

use crate::support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use support::*;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Starts the shards of one run at once (as separate processes) and waits for them all.
fn run_shards(dep: &Deployment, dirs: &[&Path], rest: &[&str]) -> Vec<RunOutput> {
    let n = dirs.len();
    let running: Vec<Running> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let shard = format!("{i}/{n}");
            let out = d.display().to_string();
            let mut args = vec!["-q", "--shard", &shard, "--out", &out];
            args.extend_from_slice(rest);
            Running::start(&args_for(dep, &args), &[])
        })
        .collect();
    running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(60)))
        .collect()
}

fn read_hdr(path: &Path) -> Histogram<u64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

/// The one `.hdr` file of `test` in a results folder.
fn hdr_of(dir: &Path, test: &str) -> Histogram<u64> {
    let want = format!("-{test}-r1.hdr");
    let path = std::fs::read_dir(dir.join("hdr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&want))
        .unwrap_or_else(|| panic!("no {want} in {}", dir.display()));
    read_hdr(&path)
}

/// The `#[StartTime: ...]` of a test's interval log: when its first timeline second began.
fn hlog_start(dir: &Path, test: &str) -> f64 {
    let want = format!("-{test}-r1.hlog");
    let path = std::fs::read_dir(dir.join("hdr"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&want))
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("#[StartTime: "))
        .unwrap();
    line["#[StartTime: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn three_shards_add_up_to_the_servers_calls_start_together_and_merge_to_the_union() {
    let _serial = serial();
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("shards");
    let dirs: Vec<_> = (0..3).map(|i| tmp.join(&format!("shard{i}"))).collect();
    let dirs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    // Far enough ahead that every process is up and connected before it.
    let start_at = unix_now().ceil() + 2.0;
    let at = format!("{start_at}");
    let outs = run_shards(
        &dep,
        &dirs,
        &[
            "-t",
            "set,get",
            "-n",
            "30001",
            "-r",
            "1000",
            "--start-at",
            &at,
        ],
    );
    for o in &outs {
        o.assert_ok();
    }
    let calls = command_calls(&dep);
    assert_eq!(calls.get("set"), Some(&30001), "{calls:?}");
    assert_eq!(calls.get("get"), Some(&30001), "{calls:?}");

    // The shares: 10001, 10000, 10000, each its shard's.
    let run_id = format!("{}-s3", compact_rfc3339(start_at));
    for (i, d) in dirs.iter().enumerate() {
        let csv = results_csv(d);
        let row = csv.row_for_test("SET");
        assert_eq!(
            csv.get(row, "requests"),
            if i == 0 { "10001" } else { "10000" }
        );
        assert_eq!(csv.get(row, "shard"), i.to_string());
        assert_eq!(csv.get(row, "shards"), "3");
        assert_eq!(csv.get(row, "run_id"), run_id);
    }

    // The same first instant: every shard's SET window (and its interval log) began at --start-at.
    let starts: Vec<f64> = dirs
        .iter()
        .map(|d| {
            let csv = results_csv(d);
            csv.num(csv.row_for_test("SET"), "start_unix_s")
        })
        .collect();
    for (s, d) in starts.iter().zip(&dirs) {
        assert!(
            *s >= start_at && *s < start_at + 0.25,
            "{}: started at {s}, --start-at {start_at}",
            d.display()
        );
        assert!((hlog_start(d, "SET") - s).abs() < 0.002);
    }

    let merged = tmp.join("merged");
    merges_to_the_union(&dirs, &merged, &run_id);
    refuses_mismatched_shards(&dep, &dirs, &merged);
}

/// `rbench merge` of the shards' folders: the run's totals, the union's percentiles and
/// histogram, TPS over the union of the windows, every request in the merged timeline.
fn merges_to_the_union(dirs: &[&Path], merged: &Path, run_id: &str) {
    let m = run_rbench(&[
        "merge",
        &dirs[0].display().to_string(),
        &dirs[1].display().to_string(),
        &dirs[2].display().to_string(),
        "--out",
        &merged.display().to_string(),
    ]);
    m.assert_ok();
    assert!(m.stdout.contains("merged from 3 shards"), "{}", m.stdout);
    let csv = results_csv(merged);
    for test in ["SET", "GET"] {
        let row = csv.row_for_test(test);
        assert_eq!(csv.get(row, "requests"), "30001");
        assert_eq!(csv.get(row, "ok"), "30001");
        assert_eq!(csv.get(row, "shards"), "3");
        assert_eq!(csv.get(row, "shard"), "");
        assert_eq!(csv.get(row, "clients"), "150");
        assert_eq!(csv.get(row, "run_id"), run_id);
        // Percentiles of a histogram of every shard's samples.
        // A resizing histogram: a shard's own stops at the largest value it saw.
        let mut all = Histogram::<u64>::new(3).unwrap();
        for d in dirs {
            all.add(hdr_of(d, test)).unwrap();
        }
        assert_eq!(all.len(), 30001);
        let q = |q: f64| format!("{:.3}", all.value_at_quantile(q) as f64 / 1000.0);
        assert_eq!(csv.get(row, "p50_ms"), q(0.5), "{test} p50");
        assert_eq!(csv.get(row, "p99_ms"), q(0.99), "{test} p99");
        assert_eq!(
            csv.get(row, "max_ms"),
            format!("{:.3}", all.max() as f64 / 1000.0)
        );
        let merged_hdr = hdr_of(merged, test);
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged_hdr.value_at_quantile(q),
                all.value_at_quantile(q),
                "{test}: the merged .hdr is the union (q {q})"
            );
        }
        assert_eq!(merged_hdr.len(), all.len());
        // TPS over the union of the windows: no more than the sum of the shards' rates.
        let sum_rps: f64 = dirs
            .iter()
            .map(|d| {
                let c = results_csv(d);
                c.num(c.row_for_test(test), "rps")
            })
            .sum();
        let rps = csv.num(row, "rps");
        assert!(
            rps > 0.0 && rps <= sum_rps * 1.001,
            "{test}: {rps} of {sum_rps}"
        );
    }
    // Timelines added second by second: every request is in the merged seconds.
    let timeline = timeline_of(merged, run_id);
    let ok: f64 = timeline
        .rows_for_test("SET")
        .iter()
        .map(|r| timeline.num(r, "ok"))
        .sum();
    assert_eq!(ok, 30001.0);
    assert!(merged.join(format!("report-{run_id}.html")).is_file());
}

/// Each way of not being shards of one run: one line, exit 2, nothing written.
fn refuses_mismatched_shards(dep: &Deployment, dirs: &[&Path], merged: &Path) {
    let tmp = TempDir::new("shards-bad");
    let s = |p: &Path| p.display().to_string();
    let refused = |args: &[String], want: &str| {
        let mut argv = vec!["merge".to_string()];
        argv.extend_from_slice(args);
        argv.push("--out".into());
        argv.push(s(&tmp.join("out")));
        let o = run_rbench(&argv);
        assert_eq!(o.code, 2, "{argv:?}: {}", o.stderr);
        assert_eq!(o.stderr_lines().len(), 1, "{}", o.stderr);
        assert!(
            o.stderr.starts_with("rbench merge: ") && o.stderr.contains(want),
            "{argv:?}: {}",
            o.stderr
        );
        assert!(!tmp.join("out").exists());
    };
    refused(&[s(dirs[0]), s(dirs[1])], "shard 2 of 3 missing");
    refused(&[s(dirs[0]), s(dirs[1]), s(dirs[1])], "given twice");
    // Shard 2 of a SET-only run: of another run (another id), or of this id but other tests.
    let set_only_shard = |run_id: &str, name: &str| {
        let dir = tmp.join(name);
        let args = [
            "-q", "-t", "set", "-n", "30", "--shard", "2/3", "--run-id", run_id,
        ];
        let mut argv = args_for(dep, &args);
        argv.extend(["--out".to_string(), s(&dir)]);
        run_rbench(&argv).assert_ok();
        dir
    };
    let other = set_only_shard("another", "other");
    refused(
        &[s(dirs[0]), s(dirs[1]), s(&other)],
        "not shards of one run",
    );
    let first = results_csv(dirs[0]);
    let fewer = set_only_shard(first.get(&first.rows[0], "run_id"), "fewer");
    refused(&[s(dirs[0]), s(dirs[1]), s(&fewer)], "2 against 1 tests");
    let plain = tmp.join("plain");
    run_rbench(&args_for(
        dep,
        &["-q", "-t", "set", "-n", "30", "--out", &s(&plain)],
    ))
    .assert_ok();
    refused(&[s(dirs[0]), s(&plain)], "was not run with --shard");
    // The merged run written twice, and into a shard's own folder.
    let again = run_rbench(&[
        "merge",
        &s(dirs[0]),
        &s(dirs[1]),
        &s(dirs[2]),
        "--out",
        &s(merged),
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already holds run"),
        "{}",
        again.stderr
    );
    let into = run_rbench(&[
        "merge",
        &s(dirs[0]),
        &s(dirs[1]),
        &s(dirs[2]),
        "--out",
        &s(dirs[1]),
    ]);
    assert_eq!(into.code, 2);
    assert!(into.stderr.contains("a shard's folder"), "{}", into.stderr);
}

/// `2026-12-04T09:00:00Z` as `20261204T090000Z`, from Unix seconds.
fn compact_rfc3339(unix: f64) -> String {
    rbench::report::rfc3339(UNIX_EPOCH + Duration::from_secs_f64(unix))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn a_shard_with_a_rate_sends_its_share() {
    let _serial = serial();
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("shard-rate");
    assert_eq!(cli(&dep, &["CONFIG", "RESETSTAT"]), "OK");
    // Shard 1 of 3 of 3000 rps and 3000 requests: 1000 rps, 1000 requests, about a second.
    let o = run_rbench(&args_for(
        &dep,
        &[
            "-q",
            "-t",
            "set",
            "-n",
            "3000",
            "--rps",
            "3000",
            "--shard",
            "1/3",
            "--run-id",
            "rate",
            "--out",
            &tmp.arg(),
        ],
    ));
    o.assert_ok();
    assert_eq!(command_calls(&dep).get("set"), Some(&1000));
    let csv = results_csv(tmp.path());
    let row = csv.row_for_test("SET");
    assert_eq!(csv.num(row, "target_rps"), 1000.0);
    assert_eq!(csv.num(row, "requests"), 1000.0);
    let achieved = csv.num(row, "achieved_rps");
    assert!(
        (950.0..=1050.0).contains(&achieved),
        "achieved {achieved} rps of 1000"
    );
    let took = csv.num(row, "duration_s");
    assert!((0.9..1.5).contains(&took), "took {took} s");
}

#[test]
fn bad_shard_flags_are_one_line_and_exit_2() {
    let past = format!("{}", unix_now() as u64 - 10);
    let cases: &[(&[&str], &str)] = &[
        (&["--shard", "3/3", "--run-id", "x"], "the last of 3 is 2/3"),
        (&["--shard", "0/0", "--run-id", "x"], "at least 1 shard"),
        (&["--shard", "1", "--run-id", "x"], "I/N"),
        (&["--start-at", "tomorrow"], "RFC 3339"),
        (&["--start-at", &past], "in the past"),
        (&["--shard", "0/2"], "give --start-at"),
        (&["--shard", "0/2", "--run-id", "a/b"], "--run-id"),
        (
            &["--shard", "2/3", "--run-id", "x", "-n", "2"],
            "no requests",
        ),
        (
            &["--shard", "0/2", "--run-id", "x", "--scenario", "stream"],
            "cannot be sharded",
        ),
        (
            &["--shard", "0/2", "--run-id", "x", "--slo", "p99=1ms"],
            "cannot be sharded",
        ),
        (&["--shard", "0/2", "--run-id", "x", "-l"], "must end"),
        (&["--shard", "0/2", "--run-id", "x", "--flush"], "FLUSHALL"),
    ];
    for (args, want) in cases {
        let mut argv = vec!["-p", "1", "--no-save"];
        argv.extend_from_slice(args);
        let o = run_rbench(&argv);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr_lines().len(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
    }
}

/// A signal while a shard waits for its start: nothing was measured, nothing is written, and the
/// exit code names the signal.
#[test]
fn a_signal_during_the_wait_for_the_start_writes_nothing() {
    let dep = spawn_standalone(&[]);
    let tmp = TempDir::new("shard-wait");
    let out = tmp.join("out");
    let at = format!("{}", unix_now().ceil() + 30.0);
    let args = args_for(
        &dep,
        &[
            "-t",
            "set",
            "-n",
            "100",
            "--start-at",
            &at,
            "--out",
            &out.display().to_string(),
            // Its connection would be one more client than the load's.
            "--server-stats",
            "off",
        ],
    );
    let mut r = Running::process(&args, &[]);
    // Connected and waiting: the server sees the clients.
    wait_for("the clients to connect", Duration::from_secs(10), || {
        cli(&dep, &["INFO", "clients"]).contains("connected_clients:51")
    });
    r.signal(libc::SIGTERM);
    let o = r.wait(Duration::from_secs(10));
    assert_eq!(o.code, 143, "{}", o.stderr);
    assert!(
        !out.exists(),
        "a run stopped before it began wrote {}",
        out.display()
    );
    assert_eq!(cli(&dep, &["DBSIZE"]), "0");
}
